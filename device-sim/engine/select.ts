// Which Wasm engine the simulated devices run: wasm3 (an interpreter, as on a device) when its
// addon is built, else V8 with a one-line notice. `--engine` / WASMFLEET_ENGINE choose explicitly;
// an explicit wasm3 that is not built is refused (ENGINE_UNAVAILABLE), never silently replaced.
import { WfError } from '../../protocol/errors.js';
import { NodeEngine } from './node-engine.js';
import type { WasmEngine } from './types.js';
import { wasm3Binding, Wasm3Engine } from './wasm3-engine.js';

export const ENGINE_KINDS = ['wasm3', 'v8'] as const;
export type EngineKind = (typeof ENGINE_KINDS)[number];

export interface EngineChoice {
  engine: WasmEngine;
  /** Set when the default fell back to V8: one line for the user. */
  notice?: string;
}

export function isEngineKind(value: string): value is EngineKind {
  return (ENGINE_KINDS as readonly string[]).includes(value);
}

/** The engine kind asked for: the argument, else $WASMFLEET_ENGINE, else none (the default). */
function requested(kind: string | undefined): EngineKind | undefined {
  const asked = kind ?? (process.env.WASMFLEET_ENGINE || undefined);
  if (asked === undefined) return undefined;
  if (!isEngineKind(asked)) throw new WfError('ENGINE_UNAVAILABLE', `unknown engine "${asked}" (expected ${ENGINE_KINDS.join(' or ')})`);
  return asked;
}

export function createEngine(kind?: string, opts: { workers?: number } = {}): EngineChoice {
  const asked = requested(kind);
  if (asked === 'v8') return { engine: new NodeEngine({ workers: opts.workers }) };
  if (wasm3Binding() !== null) return { engine: new Wasm3Engine() };
  if (asked === 'wasm3') throw new WfError('ENGINE_UNAVAILABLE', 'the wasm3 addon is not built (npm run build -w @wasmfleet/wasm3 says why)');
  return { engine: new NodeEngine({ workers: opts.workers }), notice: 'wasm3 addon not built: simulated devices run modules on V8' };
}
