// Deploy flow: resolve the release and the target devices, then for each device allocate the
// next sequence, sign a directive with the director key and publish the bundle retained, so a
// device that is offline now gets it when it reconnects.
import { randomUUID } from 'node:crypto';
import { fromHex } from '../../protocol/crypto.js';
import { WfError } from '../../protocol/errors.js';
import { checkRollbackCovers, openRollback } from '../../protocol/payloads/rollback.js';
import { audit, nowSeconds, type Actor } from '../store/db.js';
import { insertDeployment } from '../store/deployments.js';
import type { DeviceRepo, DeviceView } from '../store/devices.js';
import type { DirectiveRepo } from '../store/directives.js';
import type { ModuleRepo, ModuleView } from '../store/modules.js';
import type { RolloutRepo } from '../store/rollouts.js';
import type { Sql } from '../store/sql.js';
import type { RolloutEngine } from '../rollouts/engine.js';
import { checkStillSigned, issueDirectives, publishDirectives, type IssueDeps } from './issue.js';

export interface DeployDeps extends IssueDeps {
  sql: Sql;
  devices: DeviceRepo;
  modules: ModuleRepo;
  directives: DirectiveRepo;
  /** Present when the rollout engine runs: deploys refuse devices in an active rollout. */
  rollouts?: RolloutRepo;
  /** Present in the server: a deploy becomes a one-wave rollout. */
  engine?: RolloutEngine;
}

export interface Selector {
  devices?: string[];
  tags?: Record<string, string>;
}

export interface DeployRequest extends Selector {
  module: string;
  version: string;
  /** Rollback authorizations (COSE bytes) by component, signed by the operator's release key. */
  rollbacks?: Record<string, Uint8Array>;
  kind?: 'deploy' | 'rollback';
  config?: Record<string, string>;
  /** The operator token that asked (audit log); null when the server acts on its own. */
  actor?: Actor | null;
}

export interface DeployResult {
  deployment: string;
  module: ModuleView;
  devices: Array<{ id: string; sequence: number }>;
}

/** Resolve a selector to devices, sorted by id; unknown ids and empty selections are errors, not no-ops. */
export async function resolveTargets(devices: DeviceRepo, sel: Selector): Promise<DeviceView[]> {
  const byId = new Map<string, DeviceView>();
  for (const id of sel.devices ?? []) byId.set(id, await devices.require(id));
  if (sel.tags && Object.keys(sel.tags).length > 0) for (const d of await devices.selectByTags(sel.tags)) byId.set(d.id, d);
  if (byId.size === 0) throw new WfError('DEPLOY_NO_TARGETS', JSON.stringify(sel));
  return [...byId.values()].sort((a, b) => (a.id < b.id ? -1 : 1));
}

export async function deploy(deps: DeployDeps, req: DeployRequest): Promise<DeployResult> {
  const module = await deps.modules.require(req.module, req.version);
  const manifest = await deps.modules.manifestBytes(req.module, req.version);
  const targets = (await resolveTargets(deps.devices, req)).map((d) => d.id);
  const trust = deps.trust();
  const now = nowSeconds();
  checkStillSigned(manifest, `${module.name}@${module.version}`, trust.keyDocument, now);
  // A rollback authorization is checked here too, so a bad one fails the request, not 1000 devices.
  const rollback = req.rollbacks?.[module.name];
  if (rollback) checkRollbackCovers(openRollback(rollback, trust.keyDocument, now), module.name, fromHex(module.manifestDigest), now);
  if (deps.engine) {
    // With the rollout engine running (the server), a deploy is a one-wave rollout.
    const r = await deps.engine.deploy({ kind: req.kind ?? 'deploy', module, manifest, selector: { devices: req.devices, tags: req.tags }, targets, config: req.config, rollback, actor: req.actor });
    await insertDeployment(deps.sql, { id: r.id, createdAt: now, kind: req.kind ?? 'deploy', module: module.name, version: module.version, selector: { devices: req.devices, tags: req.tags }, deviceCount: targets.length });
    return { deployment: r.id, module, devices: r.devices };
  }
  const deployment = `${req.kind ?? 'deploy'}-${randomUUID().slice(0, 8)}`;
  const records = await deps.sql.tx(async (q) => {
    // A device in an active staged rollout belongs to that rollout: a deploy may not go around it.
    for (const id of targets) {
      const other = await deps.rollouts?.activeOf(id, q);
      if (other) throw new WfError('ROLLOUT_CONFLICT', `device ${id} is in rollout ${other.rolloutId}`, { rollout: other.rolloutId, device: id });
    }
    return issueDirectives(deps, targets, { module, manifest, rollout: deployment, config: req.config, rollback }, q);
  });
  await insertDeployment(deps.sql, {
    id: deployment,
    createdAt: now,
    kind: req.kind ?? 'deploy',
    module: module.name,
    version: module.version,
    selector: { devices: req.devices, tags: req.tags },
    deviceCount: targets.length,
  });
  await audit(deps.sql, `${req.kind ?? 'deploy'}.create`, { deployment, module: module.name, version: module.version, devices: targets.length }, { actor: req.actor });
  // Stored first, published second: a crash in between is healed by the re-publish of what is owed.
  publishDirectives(deps, records);
  return { deployment, module, devices: records.map((r) => ({ id: r.deviceId, sequence: r.sequence })) };
}

