// `npm install` must succeed where the addon cannot be built (no compiler here): the install
// script exits 0 with a one-line notice, and index.js reports the binding unavailable.
import { execFile } from 'node:child_process';
import { cpSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, expect, it } from 'vitest';

const run = promisify(execFile);
const pkg = join(import.meta.dirname, '..');
const dir = mkdtempSync(join(tmpdir(), 'wasm3-install-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

it('without a working C compiler the install still succeeds, says why in one line, and the binding reports itself unavailable', async () => {
  // A copy of the package with the sources already fetched (deps/), so no network is involved.
  cpSync(pkg, dir, { recursive: true, filter: (src) => !src.includes(`${pkg}/build`) && !src.includes(`${pkg}/test`) });
  const env = { ...process.env, CC: '/bin/false', CXX: '/bin/false', NODE_PATH: join(pkg, '../../node_modules') };
  const { stdout } = await run(process.execPath, [join(dir, 'scripts/install.mjs')], { cwd: dir, env });
  const lines = stdout.trim().split('\n');
  expect(lines.at(-1)).toMatch(/^wasm3: addon not built \(.+\); the simulator will use V8$/);
  const probe = await run(process.execPath, ['-p', 'JSON.stringify({ available: require(".").available, err: String(require(".").loadError) })'], { cwd: dir });
  expect(JSON.parse(probe.stdout)).toMatchObject({ available: false, err: expect.stringContaining('wasm3.node') });
  // --strict (npm run build) reports the same failure with exit 1.
  const strict = await run(process.execPath, [join(dir, 'scripts/install.mjs'), '--strict'], { cwd: dir, env }).catch((e: { code: number }) => e);
  expect(strict).toMatchObject({ code: 1 });
}, 120_000);
