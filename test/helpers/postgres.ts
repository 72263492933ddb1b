// A real, throwaway PostgreSQL for the test run: one cluster (Debian's PostgreSQL, installed by
// scripts/system-deps.sh) in a temp dir, listening on loopback at a free port and on a unix
// socket in that dir, with fsync off (nothing in it outlives the run). The vitest global setup
// starts it and stops it; each test server gets its own fresh database from createDatabase().
import { execFileSync, spawn } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { freePort } from './free-port.js';

/** The environment variable that carries the cluster's admin URL from the global setup to the test workers. */
export const PG_URL_ENV = 'WF_TEST_PG_URL';

export interface PostgresCluster {
  /** postgres://postgres@127.0.0.1:<port>/postgres: the admin database. */
  url: string;
  stop(): void;
}

/** The bin directory of the newest PostgreSQL Debian installed, or undefined. */
function binDir(): string | undefined {
  const root = '/usr/lib/postgresql';
  if (!existsSync(root)) return undefined;
  const versions = readdirSync(root)
    .filter((v) => existsSync(join(root, v, 'bin', 'initdb')))
    .sort((a, b) => Number(b) - Number(a));
  return versions.length ? join(root, versions[0], 'bin') : undefined;
}

export async function startPostgresCluster(): Promise<PostgresCluster> {
  const bin = binDir();
  if (!bin) throw new Error('PostgreSQL is not installed: run "bash scripts/system-deps.sh" or "apt-get install postgresql" (the PostgreSQL store tests need a real server)');
  const dir = mkdtempSync(join(tmpdir(), 'wf-pg-'));
  const data = join(dir, 'data');
  // PostgreSQL refuses to run as root: as root, the cluster belongs to the postgres user.
  const asRoot = userInfo().uid === 0;
  if (asRoot) chownSync(dir, Number(execFileSync('id', ['-u', 'postgres']).toString()), Number(execFileSync('id', ['-g', 'postgres']).toString()));
  const run = (tool: string, args: string[]) =>
    execFileSync(asRoot ? 'runuser' : join(bin, tool), asRoot ? ['-u', 'postgres', '--', join(bin, tool), ...args] : args, { stdio: ['ignore', 'pipe', 'pipe'] });
  const port = await freePort();
  try {
    run('initdb', ['-D', data, '-U', 'postgres', '-A', 'trust', '--no-sync', '-E', 'UTF8', '--locale=C']);
    const settings = ['-h 127.0.0.1', `-p ${port}`, `-k ${dir}`, '-c fsync=off', '-c synchronous_commit=off', '-c full_page_writes=off', '-c max_connections=300', '-c shared_buffers=64MB'];
    run('pg_ctl', ['-D', data, '-l', join(dir, 'log'), '-o', settings.join(' '), '-w', '-t', '60', 'start']);
  } catch (err) {
    rmSync(dir, { recursive: true, force: true });
    const e = err as { stderr?: Buffer; message: string };
    throw new Error(`could not start a test PostgreSQL: ${e.stderr?.toString() || e.message}`);
  }
  // A test run that is killed never reaches stop(): a watchdog outside it stops the cluster
  // and removes its files once this process is gone.
  const pgCtl = asRoot ? `runuser -u postgres -- ${join(bin, 'pg_ctl')}` : join(bin, 'pg_ctl');
  const watchdog = spawn(
    'sh',
    ['-c', `while kill -0 ${process.pid} 2>/dev/null; do sleep 2; done; ${pgCtl} -D '${data}' -m immediate stop >/dev/null 2>&1; rm -rf '${dir}'`],
    { detached: true, stdio: 'ignore' },
  );
  watchdog.unref();
  return {
    url: `postgres://postgres@127.0.0.1:${port}/postgres`,
    stop() {
      watchdog.kill();
      try {
        run('pg_ctl', ['-D', data, '-m', 'immediate', '-w', 'stop']);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    },
  };
}

export interface TestDatabase {
  url: string;
  /** Drop it (open connections are closed by force). */
  drop(): Promise<void>;
}

/** The admin URL of the run's cluster (set by the global setup). */
export function clusterUrl(): string {
  const url = process.env[PG_URL_ENV];
  if (!url) throw new Error(`${PG_URL_ENV} is not set: the test PostgreSQL starts in test/global-setup.ts (run the tests through vitest)`);
  return url;
}

async function admin<T>(fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: clusterUrl() });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

/** A fresh, empty database on the run's cluster. */
export async function createDatabase(prefix = 'wf'): Promise<TestDatabase> {
  const name = `${prefix}_${randomBytes(6).toString('hex')}`;
  await admin((c) => c.query(`CREATE DATABASE ${name}`));
  const url = new URL(clusterUrl());
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    drop: () => admin((c) => c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`)).then(() => undefined),
  };
}
