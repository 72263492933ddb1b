// The engine's time budget counts the module's own work: a busy main thread (a loaded simulator)
// does not make a healthy module time out, while a module that loops is still stopped.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NodeEngine } from '../device-sim/engine/node-engine.js';
import type { LoadOptions } from '../device-sim/engine/types.js';
import { wasm } from './device-fixture.js';

let engine: NodeEngine;
const env = { seed: 's', capabilities: ['kv', 'telemetry', 'log', 'clock', 'config'], config: {}, kv: {}, clockOffsetMs: 0 };
const opts = (key: string): LoadOptions => ({ key, env, maxPages: 1, budgetMs: 200 });

/** Keep this thread busy, as a simulator with thousands of devices may be. */
function blockFor(ms: number): void {
  const end = Date.now() + ms;
  while (Date.now() < end);
}

beforeAll(() => {
  engine = new NodeEngine({ workers: 1 });
});
afterAll(() => engine.close());

describe('engine time budget', () => {
  it('a busy main thread does not count against a healthy module (load and call)', async () => {
    const counter = await wasm('counter');
    const loading = engine.load(counter, opts('counter-busy'));
    blockFor(800);
    const inst = await loading;
    const call = inst.call('wf_tick', 200);
    blockFor(800);
    const outcome = await call;
    expect(outcome.fault).toBeUndefined();
    expect(outcome.value).toBe(0);
    await inst.dispose();
  });

  it('a module that loops is still stopped at its budget', async () => {
    const loop = await wasm('infinite-loop');
    const inst = await engine.load(loop, opts('loop'));
    const init = await inst.call('wf_init', 200);
    const outcome = init.fault ? init : await inst.call('wf_tick', 200);
    expect(outcome.fault).toMatchObject({ code: 'MODULE_TIMEOUT' });
    await inst.dispose();
  });
});
