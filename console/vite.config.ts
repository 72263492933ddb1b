// The web console's build: Vite bundles console/src into dist/console (served by the fleet server
// at /). No plugin: esbuild compiles TSX for Preact itself. Everything is bundled, nothing loads
// from elsewhere at run time (the server's CSP is default-src 'self').
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';

const here = (p: string) => fileURLToPath(new URL(p, import.meta.url));

export default defineConfig({
  root: here('.'),
  base: '/',
  publicDir: false,
  logLevel: 'warn',
  esbuild: { jsx: 'automatic', jsxImportSource: 'preact' },
  build: {
    outDir: here('../dist/console'),
    emptyOutDir: true,
    target: 'es2022',
    // One script, one stylesheet: no inline module-preload polyfill (the CSP forbids inline scripts).
    modulePreload: { polyfill: false },
    assetsInlineLimit: 0,
    sourcemap: false,
    reportCompressedSize: false,
  },
});
