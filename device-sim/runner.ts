// Runs one component's module: instantiate, wf_init, then wf_tick every tick_ms under a time
// budget (wf_health after each tick when exported). During probation the caller drives the ticks
// and reads each fault; once committed the runner ticks on its own and restarts the module after
// a fault, backing off, as a watchdog would.
import type { HostEffect, HostEnv } from './host-abi.js';
import type { EntryPoint, Fault, ModuleInstance, WasmEngine } from './engine/types.js';
import { faultOf } from './probation.js';
import type { SlotInfo } from './slots.js';
import { asWfError } from '../protocol/errors.js';

export interface RunnerOptions {
  engine: WasmEngine;
  component: string;
  image: Uint8Array;
  slot: SlotInfo;
  env: HostEnv;
  budgetMs: number;
  /** Host side effects of every call (kv writes to persist, telemetry to publish, logs). */
  onEffects(effects: HostEffect[]): void;
  /** A fault after commit (the runner restarts the module itself). */
  onFault?(fault: Fault): void;
}

export class ModuleRunner {
  private instance: ModuleInstance | null = null;
  private timer: NodeJS.Timeout | null = null;
  private stopped = false;
  private restarts = 0;
  private wake: (() => void) | null = null;

  constructor(private readonly opts: RunnerOptions) {}

  get slot(): SlotInfo {
    return this.opts.slot;
  }

  private async call(entry: EntryPoint): Promise<Fault | null> {
    if (!this.instance) return { code: 'MODULE_TRAP', detail: 'not running' };
    const outcome = await this.instance.call(entry, this.opts.budgetMs);
    if (outcome.effects.length > 0) this.opts.onEffects(outcome.effects);
    return faultOf(entry, outcome);
  }

  /** Instantiate and run wf_init. */
  async start(): Promise<Fault | null> {
    try {
      this.instance = await this.opts.engine.load(this.opts.image, {
        key: this.opts.slot.sha256,
        env: { ...this.opts.env, kv: { ...this.opts.env.kv } },
        maxPages: this.opts.slot.maxPages,
        budgetMs: Math.max(this.opts.budgetMs, 2000),
      });
    } catch (err) {
      const e = asWfError(err, 'MODULE_INVALID');
      return { code: e.code, detail: e.message };
    }
    if (this.stopped) return null;
    return this.call('wf_init');
  }

  /** One tick, then wf_health when the module exports it. */
  async tickOnce(): Promise<Fault | null> {
    const fault = await this.call('wf_tick');
    if (fault || this.stopped) return fault;
    if (this.opts.slot.exports.includes('wf_health')) return this.call('wf_health');
    return null;
  }

  /** Wait one tick period (returns early when stopped). */
  waitTick(): Promise<void> {
    return new Promise((resolve) => {
      if (this.stopped) return resolve();
      this.wake = resolve;
      this.timer = setTimeout(() => {
        this.timer = null;
        this.wake = null;
        resolve();
      }, this.opts.slot.tickMs);
    });
  }

  get isStopped(): boolean {
    return this.stopped;
  }

  /** After commit: tick forever; on a fault, restart the module with a growing pause. */
  runFree(): void {
    void (async () => {
      while (!this.stopped) {
        await this.waitTick();
        if (this.stopped) break;
        const fault = await this.tickOnce();
        if (!fault || this.stopped) continue;
        this.opts.onFault?.(fault);
        await this.instance?.dispose();
        this.instance = null;
        this.restarts++;
        // Back off up to 32 ticks between restarts of a faulting module.
        for (let i = 0; i < Math.min(32, 2 ** this.restarts) && !this.stopped; i++) await this.waitTick();
        if (this.stopped) break;
        const again = await this.start();
        if (again) this.opts.onFault?.(again);
      }
    })();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.wake?.();
    this.wake = null;
    const inst = this.instance;
    this.instance = null;
    await inst?.dispose();
  }
}

