import { defineConfig } from 'vitest/config';

// Integration tests start brokers, servers and device processes: generous time limits.
const timeouts = { testTimeout: 60_000, hookTimeout: 120_000 };

/**
 * The server suite runs a second time with the store on PostgreSQL (WF_TEST_STORE=postgres:
 * test/helpers/server.ts gives each test server its own database on the run's cluster).
 * Left out: tests with no server in them, and what only the SQLite store has (disk faults of
 * the data directory on tmpfs, the SQLite Sql itself, console-stream's watcher tests that seed
 * the SQLite file directly; console-live runs the stream on both).
 */
const SERVER_SUITE = [
  'test/audit-cli.test.ts',
  'test/broker-limits.test.ts',
  'test/cbor-bomb.test.ts',
  'test/cli-hardening.test.ts',
  'test/cli.test.ts',
  'test/console-live.test.ts',
  'test/console-reads.test.ts',
  'test/console-session.test.ts',
  'test/firmware-host-freshness.e2e.test.ts',
  'test/firmware-host.e2e.test.ts',
  'test/freshness.test.ts',
  'test/inventory.test.ts',
  'test/keys-lifecycle.test.ts',
  'test/keys-rotation.test.ts',
  'test/link.test.ts',
  'test/mosquitto-dynsec.test.ts',
  'test/mosquitto-fanout.test.ts',
  'test/mosquitto-tls.test.ts',
  'test/rollout-*.test.ts',
  'test/server-*.test.ts',
  'test/sim-*.test.ts',
  'test/tls.test.ts',
];

export default defineConfig({
  test: {
    // Once for the whole run, whatever the projects (they do not repeat it): packages, build, the test PostgreSQL.
    globalSetup: ['test/global-setup.ts'],
    // Shared by the projects: two workers in all, so the projects do not starve each other on 2 cores.
    maxWorkers: 2,
    reporters: ['default', './test/summary-reporter.ts'],
    projects: [
      { test: { name: 'sqlite', include: ['test/**/*.test.ts', 'packages/*/test/**/*.test.mts'], ...timeouts } },
      { test: { name: 'postgres', include: SERVER_SUITE, env: { WF_TEST_STORE: 'postgres' }, ...timeouts } },
    ],
  },
});
