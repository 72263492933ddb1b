// Host ABI v1 (protocol.md §6): the imports a module may use, their exact types, and the
// capability each one needs. Every host registers only the imports of granted capabilities.
export const ABI_VERSION = 1;
export const ABI_MODULE = 'wf';

export type ValType = 'i32' | 'i64' | 'f32' | 'f64';
export interface FuncType {
  params: ValType[];
  results: ValType[];
}

export interface AbiImport {
  capability: string;
  type: FuncType;
  /** Takes offsets into the module's exported memory. */
  pointers: boolean;
}

const fn = (params: ValType[], results: ValType[]): FuncType => ({ params, results });
const imp = (capability: string, type: FuncType, pointers = false): AbiImport => ({ capability, type, pointers });

export const ABI_V1_IMPORTS: Readonly<Record<string, AbiImport>> = {
  log: imp('log', fn(['i32', 'i32'], []), true),
  now_ms: imp('clock', fn([], ['i64'])),
  telemetry: imp('telemetry', fn(['i32', 'i32', 'f64'], ['i32']), true),
  config_get: imp('config', fn(['i32', 'i32', 'i32', 'i32'], ['i32']), true),
  kv_get: imp('kv', fn(['i32', 'i32', 'i32', 'i32'], ['i32']), true),
  kv_set: imp('kv', fn(['i32', 'i32', 'i32', 'i32'], ['i32']), true),
  gpio_read: imp('gpio', fn(['i32'], ['i32'])),
  gpio_write: imp('gpio', fn(['i32', 'i32'], ['i32'])),
  sensor_read: imp('sensor', fn(['i32'], ['f64'])),
};

export const ABI_V1_EXPORTS: Readonly<Record<string, FuncType>> = {
  wf_init: fn([], ['i32']),
  wf_tick: fn([], ['i32']),
  wf_health: fn([], ['i32']),
};

export const REQUIRED_EXPORTS = ['wf_init', 'wf_tick'] as const;

/** Every capability name of ABI v1. */
export const CAPABILITIES = [...new Set(Object.values(ABI_V1_IMPORTS).map((i) => i.capability))].sort();

/** What every host grants unless told otherwise; device I/O (gpio, sensor) is per device. */
export const BASE_CAPABILITIES = ['clock', 'config', 'kv', 'log', 'telemetry'];

/** Limits every host enforces for the kv store and log lines. */
export const ABI_LIMITS = { kvKeyBytes: 64, kvValueBytes: 1024, kvEntries: 64, logBytes: 256, configValueBytes: 256 } as const;

export function sameFuncType(a: FuncType, b: FuncType): boolean {
  return a.params.join() === b.params.join() && a.results.join() === b.results.join();
}
