// wasmfleet audit: the append-only log of operator actions and automatic decisions
// (GET /v1/audit), oldest first, as a table or JSON. Filters run on the server.
import type { AuditEntryView } from '../../protocol/views.js';
import type { ApiClient } from '../client.js';
import { escapeRow } from '../escape.js';
import { parseSince } from '../since.js';
import type { Row } from '../output.js';

export type AuditEntry = AuditEntryView;

export interface AuditQuery {
  rollout?: string;
  since?: string;
}

const PAGE = 1000;

/** Every matching entry, oldest first, read a page at a time (the server caps a page). */
export async function readAudit(client: ApiClient, q: AuditQuery): Promise<AuditEntry[]> {
  const params = new URLSearchParams({ limit: String(PAGE) });
  if (q.rollout) params.set('rollout', q.rollout);
  if (q.since !== undefined) params.set('since', String(parseSince(q.since)));
  const all: AuditEntry[] = [];
  for (;;) {
    const { entries } = await client.get<{ entries: AuditEntry[] }>(`/v1/audit?${params}`);
    all.push(...entries);
    if (entries.length < PAGE) return all;
    params.set('after', String(entries[entries.length - 1].id));
  }
}

const DETAIL_WIDTH = 100;

/** detail as "key=value …", cut to one table row's width; the full object is in --json. */
function detailText(detail: AuditEntry['detail']): string {
  const text = detailPairs(detail);
  return text.length > DETAIL_WIDTH ? `${text.slice(0, DETAIL_WIDTH - 1)}…` : text;
}

function detailPairs(detail: AuditEntry['detail']): string {
  return Object.entries(detail)
    .filter(([k]) => k !== 'rollout' && k !== 'reason')
    .map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`)
    .join(' ');
}

// The detail can quote device-reported reasons and ids: escaped like everything else a device sent.
export function auditRows(entries: AuditEntry[]): Row[] {
  return entries.map((e) =>
    escapeRow({
      at: new Date(e.at * 1000).toISOString().replace('.000Z', 'Z'),
      by: e.kind,
      action: e.action,
      rollout: e.rollout ?? (typeof e.detail.rollout === 'string' ? e.detail.rollout : '-'),
      reason: e.reason ?? '-',
      detail: detailText(e.detail),
    }),
  );
}
