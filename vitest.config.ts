import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts', 'packages/*/test/**/*.test.mts'],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    // Integration tests start brokers, servers and device processes: keep them from starving each other on 2 cores.
    maxWorkers: 2,
    globalSetup: ['test/global-setup.ts'],
    reporters: ['default', './test/summary-reporter.ts'],
  },
});
