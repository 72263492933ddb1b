// Host ABI v1 (protocol.md §6) as the simulated device implements it: one import object per module
// instance, built only from the capabilities the device grants. Everything here runs inside the
// engine (a worker thread for V8, the agent's thread for wasm3), so it keeps its own copy of the kv store and hands side effects
// (log, telemetry, kv writes) back to the agent with each call's result.
import { createHash } from 'node:crypto';
import { ABI_LIMITS, ABI_MODULE, ABI_V1_IMPORTS } from '../protocol/abi.js';

/** Everything a host needs to build the imports; plain data so it crosses a worker boundary. */
export interface HostEnv {
  /** Per-device seed: simulated gpio and sensors are deterministic functions of it. */
  seed: string;
  /** Capabilities this device grants; imports of any other capability are not registered. */
  capabilities: string[];
  /** The directive's config for this component. */
  config: Record<string, string>;
  /** kv entries, key and value as hex (JSON- and clone-friendly). */
  kv: Record<string, string>;
  /** Added to the wall clock for now_ms (fault injection: clock skew). */
  clockOffsetMs: number;
}

export type HostEffect =
  | { kind: 'log'; text: string }
  | { kind: 'telemetry'; name: string; value: number }
  | { kind: 'kv'; key: string; value: string }
  | { kind: 'gpio'; pin: number; value: number };

/** A value in [0, 1) from SHA-256 of (seed, what): a good hash, so ~50/50 splits hold across devices. */
export function seededUnit(seed: string, what: string): number {
  const h = createHash('sha256').update(`wasmfleet-sim\0${seed}\0${what}`).digest();
  // 53 random bits → a double in [0, 1).
  return (h.readUInt32BE(0) * 2 ** 21 + (h.readUInt32BE(4) >>> 11)) / 2 ** 53;
}

/** sensor_read(channel): a deterministic function of the device seed and the channel. */
export function sensorValue(seed: string, channel: number): number {
  return seededUnit(seed, `sensor:${channel}`);
}

/** gpio_read of a pin nobody wrote: a seeded level. */
export function gpioDefault(seed: string, pin: number): number {
  return seededUnit(seed, `gpio:${pin}`) < 0.5 ? 0 : 1;
}

export class HostTrap extends Error {}

/** A module's linear memory as the host functions see it, whatever engine holds it. */
export interface LinearMemory {
  /** Current size in bytes. */
  size(): number;
  /** The bytes at [ptr, ptr + len), already bounds-checked by the caller. */
  read(ptr: number, len: number): Uint8Array;
  write(ptr: number, bytes: Uint8Array): void;
}

/** Node's WebAssembly.Memory as a LinearMemory. */
export function wasmMemory(memory: WebAssembly.Memory): LinearMemory {
  return {
    size: () => memory.buffer.byteLength,
    read: (ptr, len) => new Uint8Array(memory.buffer, ptr, len),
    write: (ptr, bytes) => new Uint8Array(memory.buffer).set(bytes, ptr),
  };
}

export interface HostImports {
  imports: WebAssembly.Imports;
  /** The module's exported memory, once instantiated (pointer imports need it). */
  bindMemory(memory: LinearMemory | undefined): void;
  /** Side effects since the last drain. */
  drain(): HostEffect[];
}

export function buildHostImports(env: HostEnv): HostImports {
  let memory: LinearMemory | undefined;
  let effects: HostEffect[] = [];
  const gpio = new Map<number, number>();
  const kv = new Map<string, string>(Object.entries(env.kv));
  const granted = new Set(env.capabilities);

  // Pointer arguments are checked against the memory's current size: out of bounds traps.
  const checked = (ptr: number, len: number): LinearMemory => {
    if (!memory) throw new HostTrap('module has no exported memory');
    if (ptr < 0 || len < 0 || ptr + len > memory.size()) throw new HostTrap(`pointer ${ptr}+${len} out of bounds`);
    return memory;
  };
  const bytesAt = (ptr: number, len: number): Uint8Array => checked(ptr, len).read(ptr, len);
  const text = (ptr: number, len: number): string => Buffer.from(bytesAt(ptr, len)).toString('utf8');
  /** Copy `value` to out_ptr if it fits out_cap; return its length either way (protocol: length, or -1). */
  const copyOut = (value: Uint8Array, outPtr: number, outCap: number): number => {
    if (value.length <= outCap) checked(outPtr, value.length).write(outPtr, value);
    return value.length;
  };

  const all: Record<string, (...args: never[]) => unknown> = {
    log: (ptr: number, len: number) => {
      const line = Buffer.from(bytesAt(ptr, Math.min(len, ABI_LIMITS.logBytes))).toString('utf8');
      effects.push({ kind: 'log', text: line });
    },
    now_ms: () => BigInt(Date.now() + env.clockOffsetMs),
    telemetry: (namePtr: number, nameLen: number, value: number) => {
      if (nameLen < 1 || nameLen > 64 || !Number.isFinite(value)) return -1;
      effects.push({ kind: 'telemetry', name: text(namePtr, nameLen), value });
      return 0;
    },
    config_get: (keyPtr: number, keyLen: number, outPtr: number, outCap: number) => {
      const value = env.config[text(keyPtr, keyLen)];
      return value === undefined ? -1 : copyOut(Buffer.from(value, 'utf8'), outPtr, outCap);
    },
    kv_get: (keyPtr: number, keyLen: number, outPtr: number, outCap: number) => {
      if (keyLen > ABI_LIMITS.kvKeyBytes) return -1;
      const value = kv.get(Buffer.from(bytesAt(keyPtr, keyLen)).toString('hex'));
      return value === undefined ? -1 : copyOut(Buffer.from(value, 'hex'), outPtr, outCap);
    },
    kv_set: (keyPtr: number, keyLen: number, valPtr: number, valLen: number) => {
      if (keyLen < 1 || keyLen > ABI_LIMITS.kvKeyBytes || valLen > ABI_LIMITS.kvValueBytes) return -1;
      const key = Buffer.from(bytesAt(keyPtr, keyLen)).toString('hex');
      if (!kv.has(key) && kv.size >= ABI_LIMITS.kvEntries) return -1;
      const value = Buffer.from(bytesAt(valPtr, valLen)).toString('hex');
      kv.set(key, value);
      effects.push({ kind: 'kv', key, value });
      return 0;
    },
    gpio_read: (pin: number) => gpio.get(pin) ?? gpioDefault(env.seed, pin),
    gpio_write: (pin: number, value: number) => {
      if (pin < 0 || pin >= 64) return -1; // the pins a device has (as the C host)
      gpio.set(pin, value ? 1 : 0);
      effects.push({ kind: 'gpio', pin, value: value ? 1 : 0 });
      return 0;
    },
    sensor_read: (channel: number) => sensorValue(env.seed, channel),
  };

  // Register only the imports whose capability is granted (a module needing more fails to link).
  const wf: Record<string, (...args: never[]) => unknown> = {};
  for (const [name, spec] of Object.entries(ABI_V1_IMPORTS)) {
    if (granted.has(spec.capability) && all[name]) wf[name] = all[name];
  }
  return {
    imports: { [ABI_MODULE]: wf },
    bindMemory(m) {
      memory = m;
    },
    drain() {
      const out = effects;
      effects = [];
      return out;
    },
  };
}
