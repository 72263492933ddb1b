// Semantic version precedence (semver 2.0 §11), for the downgrade check of protocol.md §3.4.
import { PATTERNS } from './fields.js';

function parse(v: string): { core: number[]; pre: string[] } {
  const m = PATTERNS.semver.exec(v);
  if (!m) throw new RangeError(`not a version: ${v}`);
  return { core: [Number(m[1]), Number(m[2]), Number(m[3])], pre: m[4] ? m[4].slice(1).split('.') : [] };
}

function compareIdentifiers(a: string, b: string): number {
  const an = /^\d+$/.test(a);
  const bn = /^\d+$/.test(b);
  if (an && bn) return Number(a) - Number(b);
  if (an) return -1;
  if (bn) return 1;
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Negative if a < b, 0 if equal precedence, positive if a > b. */
export function compareVersions(a: string, b: string): number {
  const pa = parse(a);
  const pb = parse(b);
  for (let i = 0; i < 3; i++) if (pa.core[i] !== pb.core[i]) return pa.core[i] - pb.core[i];
  if (pa.pre.length === 0 || pb.pre.length === 0) return pb.pre.length - pa.pre.length;
  for (let i = 0; i < Math.min(pa.pre.length, pb.pre.length); i++) {
    const c = compareIdentifiers(pa.pre[i], pb.pre[i]);
    if (c !== 0) return c;
  }
  return pa.pre.length - pb.pre.length;
}
