// Builds the TypeScript once before the suite: integration tests spawn the real CLI (dist/cli/main.js)
// and the device worker threads load compiled JavaScript.
import { execFileSync } from 'node:child_process';

export default function setup(): void {
  execFileSync(process.execPath, ['node_modules/typescript/bin/tsc', '-p', 'tsconfig.json'], { stdio: 'inherit' });
}
