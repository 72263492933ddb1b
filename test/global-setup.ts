// Before the suite: the Debian packages the tests need (a real mosquitto and PostgreSQL, the C
// toolchain, chromium), the compiled TypeScript, because integration tests spawn the real CLI
// (dist/cli/main.js) and device worker threads load compiled JavaScript, the web console's bundle
// (dist/console), which the server serves to the browser tests, and one throwaway PostgreSQL
// cluster for the run (test/helpers/postgres.ts), stopped when the run ends.
import { execFileSync } from 'node:child_process';
import { PG_URL_ENV, startPostgresCluster } from './helpers/postgres.js';

export default async function setup(): Promise<() => void> {
  execFileSync('bash', ['scripts/system-deps.sh'], { stdio: 'inherit' });
  execFileSync(process.execPath, ['node_modules/typescript/bin/tsc', '-p', 'tsconfig.json'], { stdio: 'inherit' });
  execFileSync(process.execPath, ['node_modules/vite/bin/vite.js', 'build', '--config', 'console/vite.config.ts'], { stdio: 'inherit' });
  const cluster = await startPostgresCluster();
  // Test workers start after this and inherit the environment.
  process.env[PG_URL_ENV] = cluster.url;
  return () => cluster.stop();
}
