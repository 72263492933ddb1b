// The wasm3 binding's API against real modules: load, link, call with every value type, memory,
// the memory limit, metering, traps (in V8's wording, checked against V8 itself) and hostile input.
import { readdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { parse } from '@bytecodealliance/jco';
import { describe, expect, it } from 'vitest';

const w3 = createRequire(import.meta.url)('../index.js') as typeof import('../index.js');
const wat = async (text: string): Promise<Uint8Array> => new Uint8Array(await parse(text));
const codeOf = (fn: () => unknown): string | undefined => {
  try {
    fn();
    return undefined;
  } catch (err) {
    return (err as { code?: string }).code;
  }
};

describe('wasm3 binding', () => {
  it('is built by npm install and reports wasm3 0.5.0', () => {
    expect(w3.loadError).toBeNull();
    expect(w3.available).toBe(true);
    expect(w3.version).toBe('0.5.0');
  });

  it('calls exports with i32, i64, f32 and f64 arguments and results', async () => {
    const inst = new w3.Instance(
      await wat(`(module
        (func (export "add32") (param i32 i32) (result i32) (i32.add (local.get 0) (local.get 1)))
        (func (export "mul64") (param i64 i64) (result i64) (i64.mul (local.get 0) (local.get 1)))
        (func (export "half32") (param f32) (result f32) (f32.div (local.get 0) (f32.const 2)))
        (func (export "sqrt64") (param f64) (result f64) (f64.sqrt (local.get 0)))
        (func (export "nothing")))`),
    );
    inst.start();
    expect(inst.call('add32', [2_000_000_000, 2_000_000_000])).toBe(-294967296); // i32 wraps
    expect(inst.call('mul64', [3n, 2n ** 40n])).toBe(3n * 2n ** 40n);
    expect(inst.call('half32', [3])).toBe(1.5);
    expect(inst.call('sqrt64', [2])).toBe(Math.SQRT2);
    expect(inst.call('nothing')).toBeUndefined();
    expect(codeOf(() => inst.call('add32', [1]))).toBe('WASM3_USAGE');
    expect(codeOf(() => inst.call('missing'))).toBe('WASM3_NO_EXPORT');
    inst.dispose();
    expect(codeOf(() => inst.call('nothing'))).toBe('WASM3_DISPOSED');
  });

  it('links host functions with typed arguments and results; a host exception comes back as is', async () => {
    const inst = new w3.Instance(
      await wat(`(module
        (import "env" "mix" (func $mix (param i32 i64 f32 f64) (result f64)))
        (import "env" "now" (func $now (result i64)))
        (import "env" "boom" (func $boom))
        (func (export "run") (result f64) (call $mix (i32.const -7) (call $now) (f32.const 0.5) (f64.const 0.25)))
        (func (export "explode") (call $boom)))`),
    );
    const seen: unknown[] = [];
    expect(inst.link('env', 'mix', w3.signature({ params: ['i32', 'i64', 'f32', 'f64'], results: ['f64'] }), (...args) => (seen.push(...args), 42.5))).toBe(true);
    expect(inst.link('env', 'now', 'I()', () => 1234567890123n)).toBe(true);
    const boom = new Error('host says no');
    expect(inst.link('env', 'boom', 'v()', () => { throw boom; })).toBe(true);
    expect(inst.link('env', 'not_imported', 'v()', () => 0)).toBe(false);
    inst.start();
    expect(inst.call('run')).toBe(42.5);
    expect(seen).toEqual([-7, 1234567890123n, 0.5, 0.25]);
    expect(() => inst.call('explode')).toThrow(boom);
  });

  it('refuses to start with an import left unlinked or linked with another type', async () => {
    const bytes = await wat(`(module (import "wf" "gpio_write" (func (param i32 i32) (result i32))) (func (export "f")))`);
    const unlinked = new w3.Instance(bytes);
    expect(codeOf(() => unlinked.start())).toBe('WASM3_LINK');
    const mistyped = new w3.Instance(bytes);
    expect(mistyped.link('wf', 'gpio_write', 'i(i)', () => 0)).toBe(false);
    expect(codeOf(() => mistyped.start())).toBe('WASM3_LINK');
  });

  it('reads and writes linear memory in checked ranges', async () => {
    const inst = new w3.Instance(
      await wat(`(module (memory (export "memory") 1 4) (data (i32.const 16) "hello")
        (func (export "load") (param i32) (result i32) (i32.load8_u (local.get 0))))`),
    );
    inst.start();
    expect(inst.memoryBytes).toBe(65536);
    expect(inst.readMemory(16, 5).toString()).toBe('hello');
    inst.writeMemory(65535, new Uint8Array([0xab]));
    expect(inst.call('load', [65535])).toBe(0xab);
    expect(inst.readMemory(65536, 0)).toHaveLength(0);
    for (const [ptr, len] of [[65535, 2], [-1, 1], [0, -1], [1.5, 1], [2 ** 32, 1]]) expect(codeOf(() => inst.readMemory(ptr, len))).toBe('WASM3_BOUNDS');
    expect(codeOf(() => inst.writeMemory(65535, new Uint8Array(2)))).toBe('WASM3_BOUNDS');
  });

  it('memory limit: grow up to maxPages works, past it traps; past the declared maximum returns -1; initial memory past it is refused', async () => {
    const bytes = await wat(`(module (memory (export "memory") 1)
      (func (export "grow") (param i32) (result i32) (memory.grow (local.get 0))))`);
    const inst = new w3.Instance(bytes, { maxPages: 4 });
    inst.start();
    expect(inst.call('grow', [3])).toBe(1);
    expect(inst.memoryBytes).toBe(4 * 65536);
    expect(inst.readMemory(4 * 65536 - 4, 4)).toEqual(Buffer.alloc(4)); // new pages read as zero
    const err = (() => {
      try {
        inst.call('grow', [1]);
      } catch (e) {
        return e as Error & { code: string };
      }
    })();
    expect(err?.code).toBe('WASM3_MEMORY_LIMIT');
    expect(inst.memoryBytes).toBe(4 * 65536);
    expect(inst.call('grow', [-1])).toBe(-1); // 2^32-1 pages: no u32 wrap-around into a shrink
    const capped = new w3.Instance(await wat(`(module (memory 1 2) (func (export "grow") (param i32) (result i32) (memory.grow (local.get 0))))`), { maxPages: 16 });
    capped.start();
    expect(capped.call('grow', [5])).toBe(-1); // the module's own maximum: not a host limit
    expect(codeOf(() => new w3.Instance(bytes, { maxPages: 0 }))).toBe('WASM3_MEMORY_LIMIT');
  });

  it('meters every call: an endless loop stops with WASM3_FUEL after exactly its budget; counts are deterministic', async () => {
    const inst = new w3.Instance(
      await wat(`(module
        (func (export "forever") (loop $l (br $l)))
        (func (export "count") (param i32) (result i32) (local i32)
          (loop $l (local.set 1 (i32.add (local.get 1) (i32.const 1))) (br_if $l (i32.lt_u (local.get 1) (local.get 0))))
          (local.get 1)))`),
    );
    inst.start();
    expect(codeOf(() => inst.call('forever', [], 100_000))).toBe('WASM3_FUEL');
    expect(inst.fuelUsed).toBe(100_000);
    expect(inst.call('count', [1000], 1e6)).toBe(1000);
    const per1000 = inst.fuelUsed;
    expect(inst.call('count', [1000], 1e6)).toBe(1000);
    expect(inst.fuelUsed).toBe(per1000);
    inst.call('count', [2000], 1e6);
    expect(inst.fuelUsed).toBeGreaterThan(1.9 * per1000);
    expect(codeOf(() => inst.call('count', [1_000_000], per1000))).toBe('WASM3_FUEL');
    // The instance is usable after a blown budget (the engine decides what that means).
    expect(inst.call('count', [10], 1e6)).toBe(10);
  });

  it('a start function is metered too', async () => {
    const inst = new w3.Instance(await wat(`(module (func $s (loop $l (br $l))) (start $s))`));
    expect(codeOf(() => inst.start(50_000))).toBe('WASM3_FUEL');
  });

  it('traps carry the same message as in V8', async () => {
    const body: Record<string, string> = {
      unreachable: 'unreachable',
      'divide by zero': '(i32.div_s (i32.const 1) (i32.const 0))',
      overflow: '(i32.div_s (i32.const -2147483648) (i32.const -1))',
      conversion: '(i32.trunc_f64_s (f64.const nan))',
      'out of bounds': '(i32.load (i32.const 70000))',
      'table index': '(call_indirect (type $t) (i32.const 5))',
      'null element': '(call_indirect (type $t) (i32.const 1))',
      recursion: '(call $r)',
    };
    for (const [what, code] of Object.entries(body)) {
      const bytes = await wat(`(module (memory 1 1) (table 2 funcref) (type $t (func (result i32)))
        (func $f (result i32) i32.const 1) (elem (i32.const 0) $f) (func $r (result i32) (call $r))
        (func (export "x") (result i32) ${code}))`);
      let v8Message = '';
      try {
        (new WebAssembly.Instance(new WebAssembly.Module(bytes as Uint8Array<ArrayBuffer>)).exports.x as () => number)();
      } catch (err) {
        v8Message = (err as Error).message;
      }
      const inst = new w3.Instance(bytes);
      inst.start();
      let got: (Error & { code?: string }) | undefined;
      try {
        inst.call('x', [], 1e8);
      } catch (err) {
        got = err as Error & { code?: string };
      }
      expect({ what, code: got?.code, message: got?.message }).toEqual({ what, code: 'WASM3_TRAP', message: v8Message });
    }
  });

  it('a host function cannot re-enter its instance; dispose during a call waits for the call to end', async () => {
    const inst = new w3.Instance(await wat(`(module (import "env" "cb" (func $cb)) (func (export "f") (call $cb)) (func (export "g")))`));
    let inner: string | undefined;
    inst.link('env', 'cb', 'v()', () => {
      inner = codeOf(() => inst.call('g'));
      inst.dispose();
    });
    inst.start();
    inst.call('f');
    expect(inner).toBe('WASM3_BUSY');
    expect(codeOf(() => inst.call('g'))).toBe('WASM3_DISPOSED');
  });

  it('hostile input: the example modules, every truncation and byte flips of them never crash the process', async () => {
    const dir = join(import.meta.dirname, '../../../examples/wat');
    const codes = new Set<string>();
    let attempts = 0;
    const attempt = (bytes: Uint8Array) => {
      attempts++;
      // As the engine does: wasm3 only ever sees what V8's validator accepts; here also what it refuses.
      try {
        const inst = new w3.Instance(bytes, { maxPages: 16 });
        for (const name of ['log', 'kv_get', 'kv_set', 'telemetry', 'config_get', 'gpio_read', 'gpio_write', 'sensor_read', 'now_ms']) {
          for (const sig of ['v(ii)', 'i(iiii)', 'i(iiF)', 'i(i)', 'i(ii)', 'F(i)', 'I()']) inst.link('wf', name, sig, () => 0);
        }
        inst.start(100_000);
        for (const entry of ['wf_init', 'wf_tick', 'wf_health']) {
          try {
            inst.call(entry, [], 100_000);
          } catch (err) {
            codes.add((err as { code: string }).code);
          }
        }
        inst.dispose();
      } catch (err) {
        codes.add((err as { code: string }).code);
      }
    };
    for (const file of readdirSync(dir).filter((f) => f.endsWith('.wat'))) {
      const bytes = await wat(readFileSync(join(dir, file), 'utf8'));
      attempt(bytes);
      for (let n = 0; n < bytes.length; n++) attempt(bytes.subarray(0, n));
      for (let i = 8; i < bytes.length; i++) {
        for (const x of [0x01, 0x80, 0xff]) {
          const flipped = Uint8Array.from(bytes);
          flipped[i] ^= x;
          attempt(flipped);
        }
      }
    }
    expect(attempts).toBeGreaterThan(1000);
    for (const code of codes) expect(['WASM3_INVALID', 'WASM3_LINK', 'WASM3_TRAP', 'WASM3_FUEL', 'WASM3_MEMORY_LIMIT', 'WASM3_NO_EXPORT']).toContain(code);
    expect(codes).toContain('WASM3_INVALID');
  });
});
