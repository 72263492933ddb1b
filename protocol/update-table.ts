// The device update state machine as data (docs/protocol.md §5.1): state × event → next state,
// the named step the device takes, and whether the report carries the event's reason code.
// Every host moves its state only through this table: the simulated devices read it here, the
// C host has the same table in firmware-host/src/core/update.c, and protocol/vectors/transitions.json
// (built from this file) makes both prove it entry by entry.
import { DEVICE_STATES, FINAL_STATES, type DeviceState } from './states.js';

export const UPDATE_EVENTS = [
  'bundle_ok', // a directive passed checks 1-4
  'up_to_date', // ... and names exactly what runs
  'start', // spare slot prepared, the image is being fetched
  'chunk', // a chunk was written
  'complete', // all image.size bytes are in the slot
  'digest_ok', // SHA-256 and imports match the manifest
  'loaded', // the trial is recorded; its modules start under probation
  'passed', // the probation window passed
  'reject', // any failure before probation (checks, download, digest, install)
  'failed', // a failure during probation (trap, timeout, health, crash loop)
] as const;
export type UpdateEvent = (typeof UPDATE_EVENTS)[number];

/** The named steps a device takes on a transition. */
export const UPDATE_ACTIONS = [
  'assign', // keep the bundle (resumed after a restart), report assigned
  'supersede', // abandon the directive in progress, assign the newer one
  'record_sequence', // the directive names what runs: only the sequence moves
  'download', // fetch an image into the spare slot
  'write_chunk', // a chunk landed (progress is reported at most once a second)
  'verify', // check the slot's digest and the module's imports
  'install', // record the new slots and the trial atomically
  'probation', // run the trial modules for the probation window
  'commit', // flip the active slots and the sequence in one write
  'fail', // erase the spare slot, keep running what runs, report failed(reason)
  'refuse', // nothing was touched: report failed(reason)
  'revert', // stop the trial, restore the previous slots and their kv, report rolled_back(reason)
] as const;
export type UpdateAction = (typeof UPDATE_ACTIONS)[number];

export interface Transition {
  next: DeviceState;
  action: UpdateAction;
  /** True when the resulting report carries the event's reason code (failed, rolled_back). */
  reason: boolean;
}

const FINAL = new Set<DeviceState>(FINAL_STATES);
const IN_PROGRESS: DeviceState[] = ['assigned', 'downloading', 'verifying', 'installing'];

function build(): ReadonlyMap<string, Transition> {
  const t = new Map<string, Transition>();
  const on = (states: DeviceState[], event: UpdateEvent, next: DeviceState, action: UpdateAction, reason = false) => {
    for (const s of states) t.set(`${s}/${event}`, { next, action, reason });
  };
  // A new directive: from rest it is assigned; before probation it supersedes the one in progress.
  // Probation takes no directive: it ends (commit or revert) first, so a device is never left
  // between two modules; the directive is read again afterwards.
  on([...FINAL], 'bundle_ok', 'assigned', 'assign');
  on(IN_PROGRESS, 'bundle_ok', 'assigned', 'supersede');
  on(['assigned'], 'up_to_date', 'committed', 'record_sequence');
  // verifying → downloading: the next component's image of a multi-component directive.
  on(['assigned', 'verifying'], 'start', 'downloading', 'download');
  on(['downloading'], 'chunk', 'downloading', 'write_chunk');
  on(['downloading'], 'complete', 'verifying', 'verify');
  on(['verifying'], 'digest_ok', 'installing', 'install');
  on(['installing'], 'loaded', 'probation', 'probation');
  on(['probation'], 'passed', 'committed', 'commit');
  on(IN_PROGRESS, 'reject', 'failed', 'fail', true);
  on([...FINAL], 'reject', 'failed', 'refuse', true);
  on(['probation'], 'failed', 'rolled_back', 'revert', true);
  return t;
}

const TABLE = build();

/** The transition for `event` in `state`, or null when the event is not allowed there (ignored). */
export function transition(state: DeviceState, event: UpdateEvent): Transition | null {
  return TABLE.get(`${state}/${event}`) ?? null;
}

/** One row per (state, event) pair, allowed or not, in DEVICE_STATES × UPDATE_EVENTS order. */
export interface TransitionVector {
  state: DeviceState;
  event: UpdateEvent;
  next: DeviceState | null;
  action: UpdateAction | null;
  reason: boolean;
}

export function transitionVectors(): { format: 1; states: readonly DeviceState[]; events: readonly UpdateEvent[]; actions: readonly UpdateAction[]; transitions: TransitionVector[] } {
  const transitions: TransitionVector[] = [];
  for (const state of DEVICE_STATES) {
    for (const event of UPDATE_EVENTS) {
      const t = transition(state, event);
      transitions.push({ state, event, next: t?.next ?? null, action: t?.action ?? null, reason: t?.reason ?? false });
    }
  }
  return { format: 1, states: DEVICE_STATES, events: UPDATE_EVENTS, actions: UPDATE_ACTIONS, transitions };
}
