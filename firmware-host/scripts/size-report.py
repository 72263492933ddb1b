#!/usr/bin/env python3
"""Flash and RAM use of the board image by component, from the GNU ld map file.

Components: host core (src/core + crypto glue), agent + engine glue (src/agent, src/engine),
board port, WAMR (vmlib), libsodium verify path, libc/libm/libgcc. Flash = .isr_vector +
.text (code and rodata) + .data load image; static RAM = .data + .bss; module memory =
.wasm_pool (WAMR pool + image buffer), reported apart.
"""
import re
import sys
from collections import defaultdict

def component(path):
    p = path.replace('\\', '/')
    if 'libwfcore.a' in p and 'crypto_sodium' not in p:
        return 'host core'
    if 'libwfcore.a' in p:
        return 'board crypto glue'
    if 'libwfagent.a' in p:
        return 'agent + engine glue'
    if 'libvmlib.a' in p:
        return 'WAMR (vmlib)'
    if 'libsodium_verify.a' in p:
        return 'libsodium (verify)'
    if 'wasmfleet-board.elf.dir' in p:
        return 'board port + self-test'
    return 'libc / libm / libgcc'

def main(map_path):
    sizes = defaultdict(lambda: defaultdict(int))
    out = None
    pending = None
    in_map = False
    for line in open(map_path, encoding='utf-8', errors='replace'):
        if line.startswith('Linker script and memory map'):
            in_map = True
            continue
        if not in_map:
            continue
        m = re.match(r'^(\.[A-Za-z_.]+)\s', line)
        if m and not line.startswith(' '):
            out = m.group(1)
            continue
        m = re.match(r'^ (\.\S+)\s*$', line)
        if m:
            pending = m.group(1)
            continue
        m = re.match(r'^ (?:(\.\S+)\s+)?\s*0x([0-9a-f]+)\s+0x([0-9a-f]+)\s+(\S.*)$', line)
        if m and out is not None:
            name = m.group(1) or pending
            pending = None
            if name is None or name.startswith('*'):
                continue
            size = int(m.group(3), 16)
            if size:
                sizes[out][component(m.group(4).strip())] += size
    comps = sorted({c for sec in sizes.values() for c in sec})
    def total(c, secs):
        return sum(sizes[s].get(c, 0) for s in secs)
    print(f"{'component':28} {'flash':>8} {'static RAM':>11}")
    for c in comps:
        flash = total(c, ['.isr_vector', '.text', '.ARM.exidx', '.data'])
        ram = total(c, ['.data', '.bss'])
        print(f"{c:28} {flash:8d} {ram:11d}")
    f_all = sum(total(c, ['.isr_vector', '.text', '.ARM.exidx', '.data']) for c in comps)
    r_all = sum(total(c, ['.data', '.bss']) for c in comps)
    pool = sum(sizes['.wasm_pool'].values())
    print(f"{'total':28} {f_all:8d} {r_all:11d}")
    print(f"module memory (.wasm_pool: WAMR pool + image buffer, not counted above): {pool}")
    core = total('host core', ['.isr_vector', '.text', '.ARM.exidx', '.data']) + \
        total('agent + engine glue', ['.text', '.data'])
    print(f"host code on top of WAMR (core + agent + engine glue): {core} bytes "
          f"({core / 1024:.1f} KiB; goal <= 24 KiB)")
    print(f"static RAM without module memory: {r_all} bytes ({r_all / 1024:.1f} KiB; goal <= 16 KiB)")

if __name__ == '__main__':
    main(sys.argv[1])
