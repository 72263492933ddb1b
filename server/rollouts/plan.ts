// Planning a rollout: which devices the selector picks now, which of them pre-flight excludes
// and why, which releases the targets run (the operator signs rollback authorizations for those),
// and which capabilities the new release adds over them. The one full pass over the fleet a
// rollout makes; the engine then follows changes only.
import { WfError } from '../../protocol/errors.js';
import { openReleaseManifest } from '../../protocol/payloads/release-manifest.js';
import { nowSeconds } from '../store/db.js';
import type { DeviceFacts, DeviceRepo } from '../store/devices.js';
import type { ModuleRepo, ModuleView } from '../store/modules.js';
import type { SqlRunner } from '../store/sql.js';
import type { Trust } from '../trust.js';
import { matchesSelector, preflight, selectorIsEmpty, type ReleaseNeeds, type Selector } from './model.js';

export interface PlanDeps {
  devices: DeviceRepo;
  modules: ModuleRepo;
  trust: () => Trust;
}

export interface ReleaseRun {
  component: string;
  version: string;
  manifestDigest: string;
  devices: number;
}

export interface Exclusion {
  device: string;
  code: string;
  detail: string;
}

export interface RolloutPlan {
  module: string;
  version: string;
  manifestDigest: string;
  capabilities: string[];
  targets: number;
  eligible: number;
  /** Eligible devices already running the release. */
  alreadyRunning: number;
  excluded: Exclusion[];
  /** What the eligible targets run now: the releases a rollback would go back to. */
  releases: ReleaseRun[];
  /** Capabilities the release needs that the release a target runs now did not (the capability gate). */
  newCapabilities: Array<{ from: string; capabilities: string[] }>;
}

/** What a release needs of a device, from its signed manifest. */
export async function releaseNeeds(deps: PlanDeps, module: ModuleView, q?: SqlRunner): Promise<ReleaseNeeds> {
  const manifest = await deps.modules.manifestBytes(module.name, module.version, q);
  const m = openReleaseManifest(manifest, deps.trust().keyDocument, nowSeconds());
  return {
    component: module.name,
    manifestDigest: module.manifestDigest,
    abi: m.abi,
    capabilities: m.capabilities,
    memoryBytes: m.memory.maxPages * 65536 + m.memory.stack,
    size: m.image.size,
  };
}

/** Capabilities `need` adds over the release `d` runs now; empty when it runs nothing (no predecessor). */
export async function addedCapabilities(modules: ModuleRepo, need: ReleaseNeeds, d: DeviceFacts, q?: SqlRunner): Promise<{ from: string; capabilities: string[] } | null> {
  const current = d.running[0];
  if (!current || current.manifestDigest === need.manifestDigest) return null;
  const before = modules.byDigest.peek(current.manifestDigest) ?? (await modules.byManifestDigest(current.manifestDigest, q));
  const had = before?.capabilities ?? [];
  const added = need.capabilities.filter((c) => !had.includes(c));
  return added.length > 0 ? { from: `${current.component}@${current.version}`, capabilities: added } : null;
}

export async function planRollout(deps: PlanDeps, req: { module: string; version: string; selector: Selector }): Promise<RolloutPlan & { eligibleDevices: DeviceFacts[] }> {
  if (selectorIsEmpty(req.selector)) throw new WfError('REQUEST_INVALID', 'selector: name devices, tags or device attributes');
  const module = await deps.modules.require(req.module, req.version);
  const need = await releaseNeeds(deps, module);
  for (const id of req.selector.devices ?? []) await deps.devices.require(id);
  const targets = (await deps.devices.scanForPlan(req.selector.tags)).filter((d) => matchesSelector(req.selector, d));
  if (targets.length === 0) throw new WfError('DEPLOY_NO_TARGETS', JSON.stringify(req.selector));
  const excluded: Exclusion[] = [];
  const eligibleDevices: DeviceFacts[] = [];
  const releases = new Map<string, ReleaseRun>();
  const added = new Map<string, string[]>();
  const gateChecked = new Set<string>();
  let alreadyRunning = 0;
  for (const d of targets) {
    const refused = preflight(need, d);
    if (refused) {
      excluded.push({ device: d.id, ...refused });
      continue;
    }
    eligibleDevices.push(d);
    const current = d.running[0];
    if (current?.manifestDigest === need.manifestDigest) alreadyRunning++;
    else if (current) {
      const r = releases.get(current.manifestDigest) ?? { component: current.component, version: current.version, manifestDigest: current.manifestDigest, devices: 0 };
      r.devices++;
      releases.set(current.manifestDigest, r);
    }
    const digest = current?.manifestDigest ?? '';
    if (!gateChecked.has(digest)) {
      gateChecked.add(digest);
      const more = await addedCapabilities(deps.modules, need, d);
      if (more) added.set(more.from, more.capabilities);
    }
  }
  return {
    module: module.name,
    version: module.version,
    manifestDigest: module.manifestDigest,
    capabilities: need.capabilities,
    targets: targets.length,
    eligible: eligibleDevices.length,
    alreadyRunning,
    excluded,
    releases: [...releases.values()],
    newCapabilities: [...added].map(([from, capabilities]) => ({ from, capabilities })),
    eligibleDevices,
  };
}

