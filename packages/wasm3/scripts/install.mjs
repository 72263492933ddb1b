// `npm install` of this package: fetch wasm3's sources (prepare-sources.mjs), then build the
// addon with node-gyp against the headers of the Node that runs the install.
// Without a compiler, Python/pip or the network the build cannot happen: then the install still
// succeeds (exit 0) with a one-line notice, and index.js reports the binding as unavailable.
// `--strict` (npm run build) exits 1 instead.
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const strict = process.argv.includes('--strict');

// --if-missing: the root project's `prepare` calls this after installing the system packages
// (compiler, Python), which npm runs only after this package's own install script: build now if
// that first attempt could not.
if (process.argv.includes('--if-missing') && existsSync(join(root, 'build', 'Release', 'wasm3.node'))) process.exit(0);

/**
 * node-gyp needs Node's headers. A Node installed under a prefix carries them in
 * <prefix>/include/node (Debian's nodejs-dev, the official tarballs); point node-gyp there, so it
 * never downloads them. An explicit npm_config_nodedir wins.
 */
function nodedirArgs() {
  if (process.env.npm_config_nodedir) return [`--nodedir=${process.env.npm_config_nodedir}`];
  const prefix = dirname(dirname(process.execPath));
  if (existsSync(join(prefix, 'include', 'node', 'node_api.h'))) return [`--nodedir=${prefix}`];
  return [];
}

/** npm's own node-gyp (npm sets npm_config_node_gyp for install scripts; else beside this Node's npm), else one on the PATH. */
function nodeGyp() {
  const candidates = [
    process.env.npm_config_node_gyp,
    join(dirname(dirname(process.execPath)), 'lib', 'node_modules', 'npm', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'),
  ];
  const js = candidates.find((c) => c && existsSync(c));
  return js ? [process.execPath, [js]] : ['node-gyp', []];
}

try {
  execFileSync(process.execPath, [join(root, 'scripts', 'prepare-sources.mjs')], { stdio: 'inherit' });
  const [cmd, pre] = nodeGyp();
  execFileSync(cmd, [...pre, 'rebuild', '--release', ...nodedirArgs()], { cwd: root, stdio: strict ? 'inherit' : ['ignore', 'ignore', 'pipe'] });
  console.log('wasm3: addon built (build/Release/wasm3.node)');
} catch (err) {
  const why = String(err.stderr ?? err.message ?? err).trim().split('\n').filter(Boolean).at(-1) ?? 'unknown error';
  console.log(`wasm3: addon not built (${why}); the simulator will use V8`);
  process.exit(strict ? 1 : 0);
}
