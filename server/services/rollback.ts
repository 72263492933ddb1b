// Manual rollback in two steps, because only the operator holds the release key:
//  plan    — the server says, per device, which release it would go back to;
//  execute — the CLI sends release-signed rollback authorizations for those releases, and the
//            server issues ordinary directives (higher sequence) carrying them.
// What a device reported decides only that device's outcome: a device whose history names no
// usable release (nothing else committed, or a release the registry never had) is skipped with
// its own reason, and the others go ahead (docs/security.md §a lying device).
import { fromHex } from '../../protocol/crypto.js';
import { WfError, type ErrorCode } from '../../protocol/errors.js';
import { openRollback, checkRollbackCovers } from '../../protocol/payloads/rollback.js';
import { compareVersions } from '../../protocol/semver.js';
import type { RollbackPlan, RollbackSkip, RollbackTarget } from '../../protocol/views.js';
import { nowSeconds, type Actor } from '../store/db.js';
import type { DeviceView } from '../store/devices.js';
import { deploy, resolveTargets, type DeployDeps, type DeployResult, type Selector } from './deploy.js';

export type { RollbackPlan, RollbackSkip, RollbackTarget } from '../../protocol/views.js';

/** One device's target, from its own reported state only; throws a WfError naming the device. */
async function targetFor(deps: DeployDeps, device: DeviceView, to?: string): Promise<RollbackTarget> {
  const id = device.id;
  const current = device.running[0];
  if (!current) throw new WfError('DEPLOY_NO_PREVIOUS', `${id} runs no module yet`);
  let version = to;
  if (version === undefined) {
    // The newest committed release of this component that is not the one running now.
    const previous = (await deps.devices.commits(id)).find((c) => c.component === current.component && c.version !== current.version);
    if (!previous) throw new WfError('DEPLOY_NO_PREVIOUS', `${id} has committed no other version of ${current.component}`);
    version = previous.version;
  }
  const target = await deps.modules.get(current.component, version);
  if (!target) throw new WfError('MODULE_NOT_FOUND', `${id} would go back to ${current.component}@${version}, which is not in the registry`);
  return {
    device: id,
    component: current.component,
    from: current.version,
    version: target.version,
    manifestDigest: target.manifestDigest,
    downgrade: compareVersions(target.version, current.version) < 0,
  };
}

export async function planRollback(deps: DeployDeps, sel: Selector, to?: string): Promise<RollbackPlan> {
  const plan: RollbackPlan = { targets: [], skipped: [] };
  for (const device of await resolveTargets(deps.devices, sel)) {
    try {
      plan.targets.push(await targetFor(deps, device, to));
    } catch (err) {
      if (!(err instanceof WfError)) throw err;
      plan.skipped.push({ device: device.id, code: err.code, message: err.message });
    }
  }
  // Nothing to do at all is still an error, with every device's reason.
  if (plan.targets.length === 0) throw noneLeft(plan.skipped);
  return plan;
}

function noneLeft(skipped: RollbackSkip[]): WfError {
  const code = skipped.every((s) => s.code === skipped[0].code) ? skipped[0].code : 'DEPLOY_NO_PREVIOUS';
  const err = new WfError(code, skipped.map((s) => s.message).join('; '));
  return err;
}

export interface RollbackResult {
  deployments: DeployResult[];
  skipped: RollbackSkip[];
}

export async function executeRollback(deps: DeployDeps, sel: Selector, to: string | undefined, authorizations: Uint8Array[], actor: Actor | null): Promise<RollbackResult> {
  const plan = await planRollback(deps, sel, to);
  const skipped = [...plan.skipped];
  const now = nowSeconds();
  const keys = deps.trust().keyDocument;
  // The authorizations are the operator's: one that does not open refuses the whole request.
  const auths = authorizations.map((a) => openRollback(a, keys, now));
  const groups = new Map<string, RollbackTarget[]>();
  for (const t of plan.targets) {
    const key = `${t.component}@${t.version}`;
    groups.set(key, [...(groups.get(key) ?? []), t]);
  }
  const prepared = [];
  for (const targets of groups.values()) {
    const { component, version, manifestDigest } = targets[0];
    const index = auths.findIndex((a) => {
      try {
        checkRollbackCovers(a, component, fromHex(manifestDigest), now);
        return true;
      } catch {
        return false;
      }
    });
    if (index < 0) {
      // Only the devices that need one wait for an authorization; the others go ahead.
      const needing = targets.filter((t) => t.downgrade);
      for (const t of needing) {
        skipped.push({ device: t.device, code: 'ROLLBACK_INVALID', message: `${t.device}: no valid rollback authorization for ${component}@${version} was sent` });
      }
      const rest = targets.filter((t) => !t.downgrade);
      if (rest.length) prepared.push({ targets: rest, component, version, auth: undefined });
      continue;
    }
    prepared.push({ targets, component, version, auth: authorizations[index] });
  }
  if (prepared.length === 0) throw noneLeft(skipped);
  const deployments: DeployResult[] = [];
  for (const g of prepared) {
    deployments.push(
      await deploy(deps, {
        module: g.component,
        version: g.version,
        devices: g.targets.map((t) => t.device),
        rollbacks: g.auth ? { [g.component]: g.auth } : undefined,
        kind: 'rollback',
        actor,
      }),
    );
  }
  return { deployments, skipped };
}
