// The device's state directory: two image slots per component (A/B), a state file that is the
// one source of truth for which slot is active (like MCUboot's trailer), the kv store, the
// pending directive and a partial download. Every file that matters is written to a temp file
// and renamed over the old one, so a kill at any point leaves either the old or the new state.
//
//   state.json                 DeviceState (committed sequence, active slots, trial in progress)
//   pending.cbor               the directive bundle being worked on (resumed after a restart)
//   slots/<component>/A.wasm   slot images
//   kv/<component>.json        kv entries (hex → hex)
//   kv/<component>.trial.json  the kv entries before the trial in progress (restored on revert)
//   download/meta.json, part   the partial download and what it is for
import { existsSync, mkdirSync, readFileSync, renameSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export type SlotName = 'A' | 'B';

export interface SlotInfo {
  version: string;
  /** Hex SHA-256 of the release manifest's COSE bytes. */
  manifestDigest: string;
  /** Hex SHA-256 of the image. */
  sha256: string;
  size: number;
  tickMs: number;
  maxPages: number;
  exports: string[];
  config: Record<string, string>;
}

export interface ComponentSlots {
  active: SlotName | null;
  A?: SlotInfo;
  B?: SlotInfo;
}

/** An update under probation: the state to finish (commit) or undo (revert) after a restart. */
export interface Trial {
  sequence: number;
  directiveDigest: string;
  /** component → the slot being tried. */
  slots: Record<string, SlotName>;
  /** Boots of this trial so far; too many without a verdict is a crash loop. */
  boots: number;
}

export interface Outcome {
  sequence: number;
  directiveDigest: string;
  state: 'committed' | 'failed' | 'rolled_back';
  reason?: string;
  detail?: string;
}

export interface DeviceState {
  format: 1;
  committedSequence: number;
  committedDirective: string | null;
  keydocSerial: number;
  /** The root trusted after rotations (protocol.md §3.5); absent: the provisioned root. */
  root?: { version: number; publicKey: string };
  components: Record<string, ComponentSlots>;
  trial?: Trial;
  last?: Outcome;
}

/** A component's kv entries before the trial of `sequence` ran. */
export interface KvBackup {
  sequence: number;
  kv: Record<string, string>;
}

export const spareOf = (slot: SlotName | null): SlotName => (slot === 'A' ? 'B' : 'A');

function emptyState(): DeviceState {
  return { format: 1, committedSequence: 0, committedDirective: null, keydocSerial: 0, components: {} };
}

// Fault injection for the kill-at-every-write tests (MCUboot's habit): with
// WF_SIM_CRASH_AT_WRITE=n the process SIGKILLs itself at the n-th crash point below.
const crashAt = Number(process.env.WF_SIM_CRASH_AT_WRITE ?? 0);
let crashPoints = 0;
export function crashPoint(): void {
  if (crashAt > 0 && ++crashPoints === crashAt) {
    process.kill(process.pid, 'SIGKILL');
    process.exit(137); // not reached
  }
}

/** Write-then-rename: readers see the old or the new file, never half of one. */
export function writeAtomic(path: string, data: string | Uint8Array): void {
  const tmp = `${path}.tmp`;
  writeFileSync(tmp, data);
  crashPoint();
  renameSync(tmp, path);
  crashPoint();
}

/** The file's bytes, or null when there is none. An exists check first: most of these files are
 *  absent most of the time, and a failed open costs a thrown error (three times a stat). */
function readIfThere(path: string): Buffer | null {
  return existsSync(path) ? readFileSync(path) : null;
}

/** A file's bytes as a Uint8Array that owns its whole memory: copied only when the Buffer is a
 *  slice of Node's shared pool (small files), not a 64 KiB image per device per read. */
function ownBytes(b: Buffer): Uint8Array {
  return b.byteOffset === 0 && b.byteLength === b.buffer.byteLength ? new Uint8Array(b.buffer) : new Uint8Array(b);
}

/** Remove a file if it is there (rmSync's checks cost two more system calls; these files are usually there). */
function removeIfThere(path: string): void {
  try {
    unlinkSync(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
}

export class StateDir {
  constructor(readonly dir: string) {
    mkdirSync(join(dir, 'slots'), { recursive: true });
    mkdirSync(join(dir, 'kv'), { recursive: true });
    mkdirSync(join(dir, 'download'), { recursive: true });
  }

  private get statePath(): string {
    return join(this.dir, 'state.json');
  }

  loadState(): DeviceState {
    if (!existsSync(this.statePath)) return emptyState();
    const s = JSON.parse(readFileSync(this.statePath, 'utf8')) as DeviceState;
    if (s.format !== 1) throw new Error(`${this.statePath}: unknown format ${String(s.format)}`);
    return s;
  }

  saveState(s: DeviceState): void {
    writeAtomic(this.statePath, JSON.stringify(s, null, 1));
  }

  slotPath(component: string, slot: SlotName): string {
    return join(this.dir, 'slots', component, `${slot}.wasm`);
  }

  readSlot(component: string, slot: SlotName): Uint8Array {
    return ownBytes(readFileSync(this.slotPath(component, slot)));
  }

  /** Move a verified download into a slot (the state file does not point at it yet). */
  installSlot(component: string, slot: SlotName, fromPath: string): void {
    mkdirSync(join(this.dir, 'slots', component), { recursive: true });
    crashPoint();
    renameSync(fromPath, this.slotPath(component, slot));
    crashPoint();
  }

  loadKv(component: string): Record<string, string> {
    const text = readIfThere(join(this.dir, 'kv', `${component}.json`));
    return text ? (JSON.parse(text.toString('utf8')) as Record<string, string>) : {};
  }

  saveKv(component: string, kv: Record<string, string>): void {
    // Not a crash point: when kv flushes depends on timing, and the tests need a fixed order.
    const path = join(this.dir, 'kv', `${component}.json`);
    writeFileSync(`${path}.tmp`, JSON.stringify(kv));
    renameSync(`${path}.tmp`, path);
  }

  private kvBackupPath(component: string): string {
    return join(this.dir, 'kv', `${component}.trial.json`);
  }

  saveKvBackup(component: string, backup: KvBackup): void {
    writeAtomic(this.kvBackupPath(component), JSON.stringify(backup));
  }

  loadKvBackup(component: string): KvBackup | null {
    const text = readIfThere(this.kvBackupPath(component));
    return text ? (JSON.parse(text.toString('utf8')) as KvBackup) : null;
  }

  dropKvBackup(component: string): void {
    removeIfThere(this.kvBackupPath(component));
  }

  /** Copy the active slot's image into the spare slot (a config change of the running release). */
  copySlot(component: string, from: SlotName, to: SlotName): void {
    const tmp = `${this.slotPath(component, to)}.tmp`;
    writeFileSync(tmp, readFileSync(this.slotPath(component, from)));
    this.installSlot(component, to, tmp);
  }

  loadPending(): Uint8Array | null {
    const bytes = readIfThere(join(this.dir, 'pending.cbor'));
    return bytes ? ownBytes(bytes) : null;
  }

  savePending(bundle: Uint8Array): void {
    writeAtomic(join(this.dir, 'pending.cbor'), bundle);
  }

  clearPending(): void {
    removeIfThere(join(this.dir, 'pending.cbor'));
  }

  get downloadDir(): string {
    return join(this.dir, 'download');
  }
}
