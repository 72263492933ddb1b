// Issue signed directives: allocate each device's next sequence, sign "run this release" with the
// director key and store it, in one transaction (deploys and the rollout engine both come here).
// Publishing is separate and comes after the transaction commits: a crash in between is healed
// by the re-publish of what each device is owed (start-up, hello, periodic check).
import { fromHex } from '../../protocol/crypto.js';
import { WfError } from '../../protocol/errors.js';
import { encodeBundle } from '../../protocol/messages.js';
import { signDirective } from '../../protocol/payloads/directive.js';
import type { KeyDocument } from '../../protocol/payloads/key-document.js';
import { openReleaseManifest } from '../../protocol/payloads/release-manifest.js';
import { deviceTopic } from '../../protocol/topics.js';
import { nowSeconds } from '../store/db.js';
import type { DirectiveRecord, DirectiveRepo } from '../store/directives.js';
import type { ModuleView } from '../store/modules.js';
import type { SqlRunner } from '../store/sql.js';
import type { Trust } from '../trust.js';

export interface IssueDeps {
  directives: DirectiveRepo;
  trust: () => Trust;
  directiveTtlSeconds: number;
  publish(topic: string, payload: Uint8Array, opts: { qos: 0 | 1; retain?: boolean }): void;
}

export interface ReleaseToIssue {
  module: ModuleView;
  manifest: Uint8Array;
  /** Deployment or rollout id, carried in the directive. */
  rollout: string;
  config?: Record<string, string>;
  /** Release-signed rollback authorization (COSE bytes), for a downgrade. */
  rollback?: Uint8Array;
}

/** Sign and store one directive per device (in the caller's transaction `q` when it has one). */
export function issueDirectives(deps: IssueDeps, deviceIds: string[], rel: ReleaseToIssue, q?: SqlRunner): Promise<DirectiveRecord[]> {
  const trust = deps.trust();
  const now = nowSeconds();
  const { module } = rel;
  // Per release, not per device: the same for every directive of this issue.
  const manifestDigest = fromHex(module.manifestDigest);
  const images = [{ component: module.name, version: module.version, manifestDigest: module.manifestDigest, sha256: module.sha256 }];
  return deps.directives.issue(deviceIds, (deviceId, sequence) => {
    const directive = signDirective(
      {
        device: deviceId,
        sequence,
        issuedAt: now,
        expires: now + deps.directiveTtlSeconds,
        rollout: rel.rollout,
        components: [{ component: module.name, manifestDigest, config: rel.config, rollback: rel.rollback }],
      },
      trust.director,
    );
    return {
      issuedAt: now,
      expires: now + deps.directiveTtlSeconds,
      deployment: rel.rollout,
      bundle: encodeBundle({ keyDocument: trust.keyDocumentBytes, directive, manifests: [rel.manifest], roots: trust.roots }),
      images,
    };
  }, q);
}

/** Publish stored directives retained, so a device that is offline now gets them on reconnect. */
export function publishDirectives(deps: Pick<IssueDeps, 'publish'>, records: Array<{ deviceId: string; bundle: Uint8Array }>): void {
  for (const rec of records) deps.publish(deviceTopic(rec.deviceId, 'directive'), rec.bundle, { qos: 1, retain: true });
}

/** A release whose signing key was revoked (or expired) since it was published is refused before
 *  anything is issued, as every device would refuse it: the error names the release and what to do. */
export function checkStillSigned(manifest: Uint8Array, release: string, keys: KeyDocument, now: number): void {
  try {
    openReleaseManifest(manifest, keys, now);
  } catch (err) {
    if (err instanceof WfError && (err.code === 'COSE_UNKNOWN_KID' || err.code === 'KEY_EXPIRED')) {
      throw new WfError(err.code, `${release} is signed by a release key the current key document no longer accepts (revoked or expired); publish a new version signed with the current release key`);
    }
    throw err;
  }
}
