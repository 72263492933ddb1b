// Deployment records: who asked for which release on which selection, and how many devices it hit.
import type { Db } from './db.js';

export interface DeploymentView {
  id: string;
  createdAt: number;
  kind: 'deploy' | 'rollback';
  module: string;
  version: string;
  selector: { devices?: string[]; tags?: Record<string, string> };
  deviceCount: number;
}

export function insertDeployment(db: Db, d: DeploymentView): void {
  db.prepare('INSERT INTO deployments (id, created_at, kind, module, version, selector, device_count) VALUES (?, ?, ?, ?, ?, ?, ?)').run(
    d.id,
    d.createdAt,
    d.kind,
    d.module,
    d.version,
    JSON.stringify(d.selector),
    d.deviceCount,
  );
}

export function listDeployments(db: Db): DeploymentView[] {
  const rows = db.prepare('SELECT * FROM deployments ORDER BY created_at, rowid').all() as Array<{
    id: string;
    created_at: number;
    kind: 'deploy' | 'rollback';
    module: string;
    version: string;
    selector: string;
    device_count: number;
  }>;
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
