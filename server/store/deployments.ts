// Deployment records: who asked for which release on which selection, and how many devices it hit.
import type { SqlRunner } from './sql.js';

export interface DeploymentView {
  id: string;
  createdAt: number;
  kind: 'deploy' | 'rollback';
  module: string;
  version: string;
  selector: { devices?: string[]; tags?: Record<string, string> };
  deviceCount: number;
}

// Oldest first; within one second by id (the store keeps no insertion order both engines share).
const DEPLOYMENTS_IN_ORDER = 'SELECT * FROM deployments ORDER BY created_at, id';

export async function insertDeployment(q: SqlRunner, d: DeploymentView): Promise<void> {
  await q.run('INSERT INTO deployments (id, created_at, kind, module, version, selector, device_count) VALUES (?, ?, ?, ?, ?, ?, ?)', [
    d.id,
    d.createdAt,
    d.kind,
    d.module,
    d.version,
    JSON.stringify(d.selector),
    d.deviceCount,
  ]);
}

export async function listDeployments(q: SqlRunner): Promise<DeploymentView[]> {
  const rows = await q.all<{
    id: string;
    created_at: number;
    kind: 'deploy' | 'rollback';
    module: string;
    version: string;
    selector: string;
    device_count: number;
  }>(DEPLOYMENTS_IN_ORDER);
  return rows.map((r) => ({
    id: r.id,
    createdAt: r.created_at,
    kind: r.kind,
    module: r.module,
    version: r.version,
    selector: JSON.parse(r.selector) as DeploymentView['selector'],
    deviceCount: r.device_count,
  }));
}
