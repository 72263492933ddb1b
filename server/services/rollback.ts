// Manual rollback in two steps, because only the operator holds the release key:
//  plan    — the server says, per device, which release it would go back to;
//  execute — the CLI sends release-signed rollback authorizations for those releases, and the
//            server issues ordinary directives (higher sequence) carrying them.
import { fromHex } from '../../protocol/crypto.js';
import { WfError } from '../../protocol/errors.js';
import { openRollback, checkRollbackCovers } from '../../protocol/payloads/rollback.js';
import { compareVersions } from '../../protocol/semver.js';
import type { RollbackTarget } from '../../protocol/views.js';
import { nowSeconds } from '../store/db.js';
import { deploy, resolveTargets, type DeployDeps, type DeployResult, type Selector } from './deploy.js';

export type { RollbackTarget } from '../../protocol/views.js';

export function planRollback(deps: DeployDeps, sel: Selector, to?: string): RollbackTarget[] {
  return resolveTargets(deps.devices, sel).map((device) => {
    const id = device.id;
    const current = device.running[0];
    if (!current) throw new WfError('DEPLOY_NO_PREVIOUS', `${id} runs no module yet`);
    let version = to;
    if (version === undefined) {
      // The newest committed release of this component that is not the one running now.
      const previous = deps.devices.commits(id).find((c) => c.component === current.component && c.version !== current.version);
      if (!previous) throw new WfError('DEPLOY_NO_PREVIOUS', `${id} has committed no other version of ${current.component}`);
      version = previous.version;
    }
    const target = deps.modules.require(current.component, version);
    return {
      device: id,
      component: current.component,
      from: current.version,
      version: target.version,
      manifestDigest: target.manifestDigest,
      downgrade: compareVersions(target.version, current.version) < 0,
    };
  });
}

export function executeRollback(deps: DeployDeps, sel: Selector, to: string | undefined, authorizations: Uint8Array[]): DeployResult[] {
  const plan = planRollback(deps, sel, to);
  const now = nowSeconds();
  const keys = deps.trust().keyDocument;
  const auths = authorizations.map((a) => openRollback(a, keys, now));
  const groups = new Map<string, RollbackTarget[]>();
  for (const t of plan) {
    const key = `${t.component}@${t.version}`;
    groups.set(key, [...(groups.get(key) ?? []), t]);
  }
  // Check every group before issuing anything: a rollback is all or nothing.
  const prepared = [...groups.values()].map((targets) => {
    const { component, version, manifestDigest } = targets[0];
    const index = auths.findIndex((a) => {
      try {
        checkRollbackCovers(a, component, fromHex(manifestDigest), now);
        return true;
      } catch {
        return false;
      }
    });
    if (index < 0 && targets.some((t) => t.downgrade)) {
      throw new WfError('ROLLBACK_INVALID', `no valid rollback authorization for ${component}@${version} was sent`);
    }
    return { targets, component, version, auth: index >= 0 ? authorizations[index] : undefined };
  });
  return prepared.map((g) =>
    deploy(deps, {
      module: g.component,
      version: g.version,
      devices: g.targets.map((t) => t.device),
      rollbacks: g.auth ? { [g.component]: g.auth } : undefined,
      kind: 'rollback',
    }),
  );
}
