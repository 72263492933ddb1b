// The modules a device runs, one runner per component: start what is committed (a fault there
// is the watchdog's business, not a rollback), and run a trial under probation (the first
// fault wins). Host side effects come back here: kv writes go to the kv store, telemetry and
// logs to the agent.
import type { RunningComponent, Telemetry } from '../protocol/messages.js';
import { fromHex } from '../protocol/crypto.js';
import type { Fault, WasmEngine } from './engine/types.js';
import type { HostEffect } from './host-abi.js';
import type { KvStore } from './kv-store.js';
import type { ProbationPolicy } from './probation.js';
import { ModuleRunner } from './runner.js';
import type { DeviceState, SlotName, StateDir } from './slots.js';

export interface RunnersOptions {
  engine: WasmEngine;
  store: StateDir;
  kv: KvStore;
  seed: string;
  capabilities: string[];
  clockOffsetMs: number;
  callBudgetMs: number;
  policy: ProbationPolicy;
  /** The device state: which slot of which component is active. */
  state(): DeviceState;
  telemetry(t: Omit<Telemetry, 'time'>): void;
  log(line: string): void;
}

export class Runners {
  private readonly byComponent = new Map<string, ModuleRunner>();

  constructor(private readonly opts: RunnersOptions) {}

  /** What runs, sorted by component (hello and reports carry it). */
  running(): RunningComponent[] {
    return [...this.byComponent.entries()]
      .sort(([a], [b]) => (a < b ? -1 : 1))
      .map(([component, r]) => ({ component, version: r.slot.version, manifestDigest: fromHex(r.slot.manifestDigest) }));
  }

  private onEffects(component: string, effects: HostEffect[]): void {
    for (const e of effects) {
      if (e.kind === 'kv') this.opts.kv.set(component, e.key, e.value);
      else if (e.kind === 'telemetry') this.opts.telemetry({ name: e.name, value: e.value });
      else if (e.kind === 'log') this.opts.log(`${component}: ${e.text}`);
    }
  }

  private make(component: string, slot: SlotName): ModuleRunner {
    const info = this.opts.state().components[component][slot]!;
    return new ModuleRunner({
      engine: this.opts.engine,
      component,
      image: this.opts.store.readSlot(component, slot),
      slot: info,
      env: {
        seed: this.opts.seed,
        capabilities: this.opts.capabilities,
        config: info.config,
        kv: this.opts.kv.entries(component),
        clockOffsetMs: this.opts.clockOffsetMs,
      },
      budgetMs: this.opts.callBudgetMs,
      onEffects: (effects) => this.onEffects(component, effects),
      onFault: (f) => this.opts.log(`${component}: fault after commit: ${f.code} ${f.detail} (restarting it)`),
    });
  }

  /** Start a component's committed slot and let it tick. */
  async startCommitted(component: string): Promise<void> {
    const slot = this.opts.state().components[component]?.active;
    if (!slot) return;
    const runner = this.make(component, slot);
    this.byComponent.set(component, runner);
    const fault = await runner.start();
    if (fault) this.opts.log(`${component}: committed module failed to start: ${fault.code} ${fault.detail}`);
    runner.runFree();
  }

  async startAllCommitted(except: ReadonlySet<string> = new Set()): Promise<void> {
    for (const component of Object.keys(this.opts.state().components)) {
      if (!except.has(component)) await this.startCommitted(component);
    }
  }

  async stop(component: string): Promise<void> {
    const r = this.byComponent.get(component);
    this.byComponent.delete(component);
    await r?.stop();
  }

  /** Swap in the trial slots and watch them for the probation window; the first fault wins. */
  async probation(sequence: number, slots: Record<string, SlotName>): Promise<Fault | null> {
    const runners: ModuleRunner[] = [];
    for (const [component, slot] of Object.entries(slots)) {
      await this.stop(component);
      this.opts.kv.beginTrial(component, sequence);
      const runner = this.make(component, slot);
      this.byComponent.set(component, runner);
      runners.push(runner);
    }
    const ticks = this.opts.policy.ticks;
    const watch = async (runner: ModuleRunner): Promise<Fault | null> => {
      const fault = await runner.start();
      if (fault) return fault;
      for (let i = 0; i < ticks; i++) {
        await runner.waitTick();
        if (runner.isStopped) return null;
        const f = await runner.tickOnce();
        if (f) return f;
      }
      return null;
    };
    const faults = await Promise.all(runners.map(watch));
    return faults.find((f) => f !== null) ?? null;
  }

  /** The trial passed: its modules tick on their own from now on. */
  runFree(components: string[]): void {
    for (const c of components) this.byComponent.get(c)?.runFree();
  }

  async stopAll(): Promise<void> {
    await Promise.all([...this.byComponent.values()].map((r) => r.stop()));
  }

  clear(): void {
    this.byComponent.clear();
  }
}
