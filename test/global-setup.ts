// Before the suite: the Debian packages the tests need (a real mosquitto, the C toolchain), and
// the compiled TypeScript, because integration tests spawn the real CLI (dist/cli/main.js) and
// device worker threads load compiled JavaScript; and the web console's bundle (dist/console),
// which the server serves to the browser tests.
import { execFileSync } from 'node:child_process';

export default function setup(): void {
  execFileSync('bash', ['scripts/system-deps.sh'], { stdio: 'inherit' });
  execFileSync(process.execPath, ['node_modules/typescript/bin/tsc', '-p', 'tsconfig.json'], { stdio: 'inherit' });
  execFileSync(process.execPath, ['node_modules/vite/bin/vite.js', 'build', '--config', 'console/vite.config.ts'], { stdio: 'inherit' });
}
