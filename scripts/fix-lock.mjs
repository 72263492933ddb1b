#!/usr/bin/env node
// The npm registry serves some platform builds of optional native packages (rolldown, rollup,
// jco, cbor-extract bindings for darwin, win32, musl…) at older versions than their parents
// ask for, so `npm install` leaves them out of package-lock.json and `npm ci` then refuses the
// lock as out of sync. This adds a plain optional entry for each such package: `npm ci` accepts
// the lock, tries the package, and skips it as an optional dependency it cannot install.
// Run after `npm install <pkg>`: `npm run lock:fix`.
import { readFileSync, writeFileSync } from 'node:fs';

const file = new URL('../package-lock.json', import.meta.url);
const lock = JSON.parse(readFileSync(file, 'utf8'));
const packages = lock.packages;
let added = 0;
for (const [path, meta] of Object.entries(packages)) {
  for (const [name, spec] of Object.entries(meta.optionalDependencies ?? {})) {
    const nested = `${path ? `${path}/` : ''}node_modules/${name}`;
    const hoisted = `node_modules/${name}`;
    if (packages[nested] || packages[hoisted]) continue;
    packages[hoisted] = { version: String(spec).replace(/^[\^~=]/, ''), optional: true };
    added++;
  }
}
lock.packages = Object.fromEntries(Object.entries(packages).sort(([a], [b]) => (a === '' ? -1 : b === '' ? 1 : a.localeCompare(b, 'en'))));
writeFileSync(file, JSON.stringify(lock, null, 2) + '\n');
process.stdout.write(`fix-lock: ${added} optional platform entr${added === 1 ? 'y' : 'ies'} added\n`);
