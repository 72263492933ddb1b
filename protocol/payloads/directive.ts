// Directive (protocol.md §3.3): "device D, sequence N, valid until T, run these releases",
// signed per device by the server's online director key.
import type { CborValue } from '../cbor.js';
import type { Signer } from '../cose.js';
import { checkTextMap, MapReader, PATTERNS, textMapToCbor } from '../fields.js';
import { openSigned, PAYLOAD_TYPE, sealSigned } from '../signed.js';
import { keyForRole, type KeyDocument } from './key-document.js';
import { ROLLBACK_MAX_BYTES } from './rollback.js';

export const DIRECTIVE_MAX_BYTES = 4096;
export const DIRECTIVE_MAX_COMPONENTS = 8;

export interface DirectiveComponent {
  component: string;
  manifestDigest: Uint8Array;
  config?: Record<string, string>;
  /** COSE bytes of a rollback authorization, when this entry is a downgrade. */
  rollback?: Uint8Array;
}

export interface Directive {
  device: string;
  sequence: number;
  issuedAt: number;
  expires: number;
  rollout: string;
  components: DirectiveComponent[];
}

export function signDirective(d: Directive, director: Signer): Uint8Array {
  const components = d.components.map((c) => {
    const m = new Map<number, CborValue>([[1, c.component], [2, c.manifestDigest]]);
    if (c.config && Object.keys(c.config).length > 0) m.set(3, textMapToCbor(c.config));
    if (c.rollback) m.set(4, c.rollback);
    return m;
  });
  return sealSigned(
    PAYLOAD_TYPE.directive,
    [[2, d.device], [3, d.sequence], [4, d.issuedAt], [5, d.expires], [6, d.rollout], [7, components]],
    director,
  );
}

export function openDirective(bytes: Uint8Array, keys: KeyDocument, now: number, skew = 0): Directive {
  const { fields: f } = openSigned(bytes, {
    what: 'directive',
    maxBytes: DIRECTIVE_MAX_BYTES,
    type: PAYLOAD_TYPE.directive,
    keyFor: (kid) => keyForRole(keys, kid, 'director', now, skew),
  });
  const d: Directive = {
    device: f.text(2, 'device', { max: 64, pattern: PATTERNS.deviceId }),
    sequence: f.uint(3, 'sequence', { min: 1 }),
    issuedAt: f.uint(4, 'issued_at'),
    expires: f.uint(5, 'expires'),
    rollout: f.text(6, 'rollout', { max: 64 }),
    components: f.array(7, 'components', { min: 1, max: DIRECTIVE_MAX_COMPONENTS }).map(readComponent),
  };
  f.done();
  return d;
}

function readComponent(value: CborValue, i: number): DirectiveComponent {
  const f = MapReader.of(value, `directive.components[${i}]`);
  const c: DirectiveComponent = {
    component: f.text(1, 'component', { max: 64, pattern: PATTERNS.component }),
    manifestDigest: f.bytes(2, 'manifest', { exact: 32 }),
  };
  const config = f.raw(3, 'config', true);
  if (config !== undefined) c.config = checkTextMap(config, `directive.components[${i}].config`);
  const rollback = f.optBytes(4, 'rollback', { max: ROLLBACK_MAX_BYTES });
  if (rollback) c.rollback = rollback;
  f.done();
  return c;
}
