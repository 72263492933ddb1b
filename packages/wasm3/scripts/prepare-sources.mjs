// Fetch wasm3's C sources at a pinned version with a pinned SHA-256, extract only the interpreter
// core into deps/wasm3/ (git-ignored, never committed) and apply our hooks (see README "Metering").
//
// Source: the PyPI sdist of pywasm3 0.5.0, which carries wasm3 0.5.0's core (wasm3/m3_*.c), through
// pip, PyPI's own client. An archive already in deps/cache with the right checksum is reused; an
// extracted tree whose .stamp matches is left alone.
// Exit status: 0 with the tree in place; 1 on a download, checksum or patch failure.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const PROJECT = 'pywasm3';
const VERSION = '0.5.0';
const SHA256 = '5a47c8a39f7f6ae71b3316b2e5d86c9d0db6e771a65f09a86e4d4aa3a19aefcc';
const ARCHIVE = `${PROJECT}-${VERSION}.tar.gz`;

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const cache = join(root, 'deps', 'cache');
const dest = join(root, 'deps', 'wasm3');

// Our hooks into the interpreter, applied as exact text replacements: each must match exactly once
// in the pinned sources, so a changed pin fails here instead of building something unmetered.
const PATCHES = [
  {
    file: 'm3_exec_defs.h',
    why: 'instruction metering: every dispatch of an operation spends one unit of fuel',
    from: `#define nextOpImpl()                ((IM3Operation)(* _pc))(_pc + 1, d_m3OpArgs)
#define jumpOpImpl(PC)              ((IM3Operation)(*  PC))( PC + 1, d_m3OpArgs)`,
    to: `#include "wf_hooks.h"
#define nextOpImpl()                (M3_UNLIKELY(--wf_m3_fuel < 0) ? (m3ret_t) wf_m3_trapFuel : ((IM3Operation)(* _pc))(_pc + 1, d_m3OpArgs))
#define jumpOpImpl(PC)              (M3_UNLIKELY(--wf_m3_fuel < 0) ? (m3ret_t) wf_m3_trapFuel : ((IM3Operation)(*  PC))( PC + 1, d_m3OpArgs))`,
  },
  {
    file: 'm3_exec.h',
    why: 'memory.grow: no u32 wrap-around of the page count; growing past the host limit traps',
    from: `        u32 requiredPages = memory->numPages + numPagesToGrow;

        M3Result r = ResizeMemory (runtime, requiredPages);`,
    to: `        u64 requiredPages = (u64) memory->numPages + numPagesToGrow;

        if (requiredPages <= memory->maxPages and runtime->memoryLimit and requiredPages * d_m3MemPageSize > runtime->memoryLimit)
            { wf_m3_growRequest = (u32) requiredPages; return (m3ret_t) wf_m3_trapMemoryLimit; }

        M3Result r = requiredPages > memory->maxPages ? m3Err_wasmMemoryOverflow : ResizeMemory (runtime, (u32) requiredPages);`,
  },
  {
    file: 'm3_env.c',
    why: 'linear memory in its own anonymous mapping: pages a module never touches cost no RAM',
    from: `        void* newMem = m3_Realloc (memory->mallocated, numBytes, numPreviousBytes);`,
    to: `        void* newMem = wf_m3_linearRealloc (memory->mallocated, numBytes, numPreviousBytes);`,
  },
  {
    file: 'm3_env.c',
    why: 'the matching release of linear memory',
    from: `    m3_Free (i_runtime->stack);
    m3_Free (i_runtime->memory.mallocated);`,
    to: `    wf_m3_pagesFree (i_runtime->stack);
    wf_m3_linearFree (i_runtime->memory.mallocated);`,
  },
  {
    file: 'm3_env.c',
    why: 'the value stack in its own mapping too (untouched stack costs no RAM)',
    from: `        runtime->stack = m3_Malloc (i_stackSizeInBytes + 4*sizeof (m3slot_t));`,
    to: `        runtime->stack = wf_m3_pagesAlloc (i_stackSizeInBytes + 4*sizeof (m3slot_t));`,
  },
  {
    file: 'm3_parse.c',
    why: 'exports are found by their export names only: a name section cannot shadow an export',
    from: `    if (strcmp (name, "name") != 0)
        i_bytes = i_end;`,
    to: `    i_bytes = i_end;`,
  },
  {
    file: 'm3_env.c',
    why: 'the runtime in its own mapping: its compiler scratch area (10 KiB) can be given back after compiling',
    from: `    IM3Runtime runtime = m3_AllocStruct (M3Runtime);`,
    to: `    IM3Runtime runtime = (IM3Runtime) wf_m3_pagesAlloc (sizeof (M3Runtime));`,
  },
  {
    file: 'm3_env.c',
    why: 'no use of a freed runtime when its stack cannot be allocated',
    from: `        else m3_Free (runtime);`,
    to: `        else { wf_m3_pagesFree (runtime); runtime = NULL; }`,
  },
  {
    file: 'm3_env.c',
    why: 'the matching release of the runtime',
    from: `        Runtime_Release (i_runtime);
        m3_Free (i_runtime);`,
    to: `        Runtime_Release (i_runtime);
        wf_m3_pagesFree (i_runtime);`,
  },
  {
    file: 'm3_env.c',
    why: 'declarations of the allocation hooks',
    from: `#include "m3_env.h"`,
    to: `#include "m3_env.h"
#include "wf_hooks.h"`,
  },
];

function sha256Of(file) {
  return createHash('sha256').update(readFileSync(file)).digest('hex');
}

function fetchArchive() {
  mkdirSync(cache, { recursive: true });
  const cached = join(cache, ARCHIVE);
  if (existsSync(cached) && sha256Of(cached) === SHA256) return cached;
  rmSync(cached, { force: true });
  const tmp = mkdtempSync(join(tmpdir(), 'wasm3-src-'));
  try {
    console.log(`wasm3: fetching ${PROJECT} ${VERSION} with pip`);
    execFileSync('python3', ['-m', 'pip', 'download', '--quiet', '--no-deps', '--no-binary', ':all:', '--dest', tmp, `${PROJECT}==${VERSION}`], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    const got = join(tmp, ARCHIVE);
    if (!existsSync(got)) throw new Error(`pip did not download ${ARCHIVE}`);
    const sum = sha256Of(got);
    if (sum !== SHA256) throw new Error(`checksum mismatch for ${ARCHIVE}: got ${sum}, pinned ${SHA256}`);
    copyFileSync(got, `${cached}.part`);
    renameSync(`${cached}.part`, cached);
    return cached;
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

function extract(archive) {
  const stamp = `${SHA256}\n${PATCHES.map((p) => createHash('sha256').update(p.from + p.to).digest('hex')).join('\n')}\n`;
  if (existsSync(join(dest, '.stamp')) && readFileSync(join(dest, '.stamp'), 'utf8') === stamp) return;
  const tmp = `${dest}.tmp`;
  rmSync(tmp, { recursive: true, force: true });
  rmSync(dest, { recursive: true, force: true });
  mkdirSync(tmp, { recursive: true });
  // Only the interpreter core and its licence.
  execFileSync('tar', ['-xzf', archive, '-C', tmp, '--strip-components=2', `${PROJECT}-${VERSION}/wasm3`]);
  execFileSync('tar', ['-xzf', archive, '-C', tmp, '--strip-components=1', `${PROJECT}-${VERSION}/LICENSE`]);
  for (const p of PATCHES) {
    const file = join(tmp, p.file);
    const text = readFileSync(file, 'utf8');
    const n = text.split(p.from).length - 1;
    if (n !== 1) throw new Error(`patch "${p.why}": expected one match in ${p.file}, found ${n}`);
    writeFileSync(file, text.replace(p.from, p.to));
  }
  writeFileSync(join(tmp, '.stamp'), stamp);
  renameSync(tmp, dest);
  console.log(`wasm3: ${readdirSync(dest).filter((f) => f.endsWith('.c')).length} C sources of wasm3 ${VERSION} in ${dest}`);
}

try {
  extract(fetchArchive());
} catch (err) {
  console.error(`wasm3: ${err.message}`);
  process.exit(1);
}
