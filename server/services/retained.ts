// The retained directives the broker holds for devices (one per device, the newest), published at
// start and again after a key reload. A directive whose release the current key document no longer
// accepts (its release key was revoked, or has expired) is withdrawn instead (an empty retained
// message), so a device that was offline during the revocation is not handed it.
import type { Logger } from 'pino';
import { WfError } from '../../protocol/errors.js';
import { decodeBundle } from '../../protocol/messages.js';
import { openReleaseManifest } from '../../protocol/payloads/release-manifest.js';
import { deviceTopic } from '../../protocol/topics.js';
import type { Link } from '../link.js';
import type { DirectiveRepo } from '../store/directives.js';
import type { Trust } from '../trust.js';

export function publishRetainedDirectives(directives: DirectiveRepo, trust: Trust, publish: Link['publish'], log: Logger, now: number): { published: number; withdrawn: string[] } {
  const withdrawn: string[] = [];
  let published = 0;
  for (const { deviceId, bundle } of directives.latestBundles()) {
    const refused = refusedRelease(bundle, trust, now);
    if (refused) {
      withdrawn.push(deviceId);
      log.warn({ device: deviceId, reason: refused.code }, `retained directive withdrawn: ${refused.message}`);
      publish(deviceTopic(deviceId, 'directive'), new Uint8Array(0), { qos: 1, retain: true });
    } else {
      publish(deviceTopic(deviceId, 'directive'), bundle, { qos: 1, retain: true });
      published++;
    }
  }
  return { published, withdrawn };
}

function refusedRelease(bundle: Uint8Array, trust: Trust, now: number): WfError | null {
  try {
    for (const m of decodeBundle(bundle).manifests) openReleaseManifest(m, trust.keyDocument, now);
    return null;
  } catch (err) {
    if (err instanceof WfError && (err.code === 'COSE_UNKNOWN_KID' || err.code === 'KEY_EXPIRED')) return err;
    return null; // anything else was the same when it was issued: not this function's business
  }
}
