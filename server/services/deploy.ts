// Deploy flow: resolve the release and the target devices, then for each device allocate the
// next sequence, sign a directive with the director key and publish the bundle retained, so a
// device that is offline now gets it when it reconnects.
import { randomUUID } from 'node:crypto';
import { fromHex } from '../../protocol/crypto.js';
import { WfError } from '../../protocol/errors.js';
import { encodeBundle } from '../../protocol/messages.js';
import { signDirective } from '../../protocol/payloads/directive.js';
import type { KeyDocument } from '../../protocol/payloads/key-document.js';
import { openReleaseManifest } from '../../protocol/payloads/release-manifest.js';
import { checkRollbackCovers, openRollback } from '../../protocol/payloads/rollback.js';
import { deviceTopic } from '../../protocol/topics.js';
import { audit, nowSeconds, type Db } from '../store/db.js';
import { insertDeployment } from '../store/deployments.js';
import type { DeviceRepo, DeviceView } from '../store/devices.js';
import type { DirectiveRepo } from '../store/directives.js';
import type { ModuleRepo, ModuleView } from '../store/modules.js';
import type { Trust } from '../trust.js';

export interface DeployDeps {
  db: Db;
  devices: DeviceRepo;
  modules: ModuleRepo;
  directives: DirectiveRepo;
  trust: () => Trust;
  directiveTtlSeconds: number;
  publish(topic: string, payload: Uint8Array, opts: { qos: 0 | 1; retain?: boolean }): void;
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
}

export interface DeployResult {
  deployment: string;
  module: ModuleView;
  devices: Array<{ id: string; sequence: number }>;
}

/** Resolve a selector to devices, sorted by id; unknown ids and empty selections are errors, not no-ops. */
export function resolveTargets(devices: DeviceRepo, sel: Selector): DeviceView[] {
  const byId = new Map<string, DeviceView>();
  for (const id of sel.devices ?? []) byId.set(id, devices.require(id));
  if (sel.tags && Object.keys(sel.tags).length > 0) for (const d of devices.selectByTags(sel.tags)) byId.set(d.id, d);
  if (byId.size === 0) throw new WfError('DEPLOY_NO_TARGETS', JSON.stringify(sel));
  return [...byId.values()].sort((a, b) => (a.id < b.id ? -1 : 1));
}

export function deploy(deps: DeployDeps, req: DeployRequest): DeployResult {
  const module = deps.modules.require(req.module, req.version);
  const manifest = deps.modules.manifestBytes(req.module, req.version);
  const targets = resolveTargets(deps.devices, req).map((d) => d.id);
  const trust = deps.trust();
  const now = nowSeconds();
  checkStillSigned(manifest, `${module.name}@${module.version}`, trust.keyDocument, now);
  // A rollback authorization is checked here too, so a bad one fails the request, not 1000 devices.
  const rollback = req.rollbacks?.[module.name];
  if (rollback) checkRollbackCovers(openRollback(rollback, trust.keyDocument, now), module.name, fromHex(module.manifestDigest), now);
  const deployment = `${req.kind ?? 'deploy'}-${randomUUID().slice(0, 8)}`;
  const bundles = new Map<string, Uint8Array>();
  const records = deps.directives.issue(targets, (deviceId, sequence) => {
    const directive = signDirective(
      {
        device: deviceId,
        sequence,
        issuedAt: now,
        expires: now + deps.directiveTtlSeconds,
        rollout: deployment,
        components: [{ component: module.name, manifestDigest: fromHex(module.manifestDigest), config: req.config, rollback }],
      },
      trust.director,
    );
    const bundle = encodeBundle({ keyDocument: trust.keyDocumentBytes, directive, manifests: [manifest], roots: trust.roots });
    bundles.set(deviceId, bundle);
    return {
      issuedAt: now,
      expires: now + deps.directiveTtlSeconds,
      deployment,
      bundle,
      images: [{ component: module.name, version: module.version, manifestDigest: module.manifestDigest, sha256: module.sha256 }],
    };
  });
  insertDeployment(deps.db, {
    id: deployment,
    createdAt: now,
    kind: req.kind ?? 'deploy',
    module: module.name,
    version: module.version,
    selector: { devices: req.devices, tags: req.tags },
    deviceCount: targets.length,
  });
  audit(deps.db, `${req.kind ?? 'deploy'}.create`, { deployment, module: module.name, version: module.version, devices: targets.length });
  // Stored first, published second: a crash in between is healed by the republish at start-up.
  for (const rec of records) deps.publish(deviceTopic(rec.deviceId, 'directive'), bundles.get(rec.deviceId)!, { qos: 1, retain: true });
  return { deployment, module, devices: records.map((r) => ({ id: r.deviceId, sequence: r.sequence })) };
}


/** A release whose signing key was revoked (or expired) since it was published is refused here,
 *  as every device would refuse it: the error names the release and what to do. */
function checkStillSigned(manifest: Uint8Array, release: string, keys: KeyDocument, now: number): void {
  try {
    openReleaseManifest(manifest, keys, now);
  } catch (err) {
    if (err instanceof WfError && (err.code === 'COSE_UNKNOWN_KID' || err.code === 'KEY_EXPIRED')) {
      throw new WfError(err.code, `${release} is signed by a release key the current key document no longer accepts (revoked or expired); publish a new version signed with the current release key`);
    }
    throw err;
  }
}
