// The retained directives the broker holds for devices (one per device, the newest), published at
// start and again after a key reload. Each goes out with the *current* key document and root chain
// (the bundle itself is not signed; its parts are): devices raise their key document floor from
// freshness messages, so a bundle under an older document would be refused as a rollback. A
// directive whose signer or release the current key document no longer accepts (a revoked or
// expired key) is withdrawn instead (an empty retained message), so a device that was offline
// during the revocation is not handed it.
import type { Logger } from 'pino';
import { WfError } from '../../protocol/errors.js';
import { decodeBundle, encodeBundle } from '../../protocol/messages.js';
import { openDirective } from '../../protocol/payloads/directive.js';
import { openReleaseManifest } from '../../protocol/payloads/release-manifest.js';
import { deviceTopic } from '../../protocol/topics.js';
import type { Link } from '../link/index.js';
import type { DirectiveRepo } from '../store/directives.js';
import type { Trust } from '../trust.js';

export async function publishRetainedDirectives(directives: DirectiveRepo, trust: Trust, publish: Link['publish'], log: Logger, now: number): Promise<{ published: number; withdrawn: string[] }> {
  const withdrawn: string[] = [];
  let published = 0;
  for (const { deviceId, bundle } of await directives.latestBundles()) {
    const b = decodeBundle(bundle);
    const refused = refusedPart(b.directive, b.manifests, trust, now);
    if (refused) {
      withdrawn.push(deviceId);
      log.warn({ device: deviceId, reason: refused.code }, `retained directive withdrawn: ${refused.message}`);
      publish(deviceTopic(deviceId, 'directive'), new Uint8Array(0), { qos: 1, retain: true });
    } else {
      publish(deviceTopic(deviceId, 'directive'), encodeBundle({ ...b, keyDocument: trust.keyDocumentBytes, roots: trust.roots }), { qos: 1, retain: true });
      published++;
    }
  }
  return { published, withdrawn };
}

function refusedPart(directive: Uint8Array, manifests: Uint8Array[], trust: Trust, now: number): WfError | null {
  try {
    openDirective(directive, trust.keyDocument, now);
    for (const m of manifests) openReleaseManifest(m, trust.keyDocument, now);
    return null;
  } catch (err) {
    if (err instanceof WfError && (err.code === 'COSE_UNKNOWN_KID' || err.code === 'KEY_EXPIRED')) return err;
    return null; // anything else was the same when it was issued: not this function's business
  }
}
