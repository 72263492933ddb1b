// Step 7: what counts as a failed probation, as pure functions (no I/O, no timers), so the
// decision table reads in one place and the agent and the runner share it.
import type { ErrorCode } from '../protocol/errors.js';
import type { CallOutcome, EntryPoint, Fault } from './engine/types.js';

export interface ProbationPolicy {
  /** Ticks that must pass cleanly (each followed by wf_health when exported). */
  ticks: number;
  /** Boots of the same trial without a verdict before it counts as a crash loop. */
  maxBoots: number;
}

export const DEFAULT_PROBATION: ProbationPolicy = { ticks: 3, maxBoots: 3 };

/**
 * The fault a call's outcome means, or null when it is fine. Checked in order:
 * 1. the engine stopped the call (MODULE_TRAP, MODULE_TIMEOUT, MODULE_OUT_OF_MEMORY, ...);
 * 2. wf_init returned non-zero → MODULE_INIT_FAILED;
 * 3. wf_health returned non-zero, or wf_tick reported a fault (non-zero) → MODULE_HEALTH.
 */
export function faultOf(entry: EntryPoint, outcome: CallOutcome): Fault | null {
  if (outcome.fault) return outcome.fault;
  const value = outcome.value ?? 0;
  if (value === 0) return null;
  if (entry === 'wf_init') return { code: 'MODULE_INIT_FAILED', detail: `wf_init returned ${value}` };
  return { code: 'MODULE_HEALTH', detail: `${entry} returned ${value}` };
}

/** On boot with a trial pending: resume its probation, or revert it as a crash loop. */
export function bootDecision(boots: number, policy: ProbationPolicy): { action: 'retry' } | { action: 'revert'; code: ErrorCode; detail: string } {
  if (boots > policy.maxBoots) {
    return { action: 'revert', code: 'MODULE_CRASH_LOOP', detail: `${boots - 1} boots without passing probation` };
  }
  return { action: 'retry' };
}
