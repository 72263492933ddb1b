// Module registry metadata: one row per name@version; the image and manifest bytes are blobs.
import { WfError } from '../../protocol/errors.js';
import type { ModuleView } from '../../protocol/views.js';
import { nowSeconds, type Db } from './db.js';

export type { ModuleView } from '../../protocol/views.js';

interface ModuleRow {
  name: string;
  version: string;
  sha256: string;
  size: number;
  manifest: Buffer;
  manifest_digest: string;
  capabilities: string;
  max_pages: number;
  created_at: number;
}

const toView = (r: ModuleRow): ModuleView => ({
  name: r.name,
  version: r.version,
  sha256: r.sha256,
  size: r.size,
  manifestDigest: r.manifest_digest,
  capabilities: JSON.parse(r.capabilities) as string[],
  maxPages: r.max_pages,
  createdAt: r.created_at,
});

export class ModuleRepo {
  private readonly stmts;
  /** A published release never changes: lookups by manifest digest (one per device when planning) are cached. */
  private readonly byDigest = new Map<string, ModuleView>();

  constructor(db: Db) {
    this.stmts = {
      insert: db.prepare(
        'INSERT INTO modules (name, version, sha256, size, manifest, manifest_digest, capabilities, max_pages, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)',
      ),
      get: db.prepare('SELECT * FROM modules WHERE name = ? AND version = ?'),
      byDigest: db.prepare('SELECT * FROM modules WHERE manifest_digest = ?'),
      all: db.prepare('SELECT * FROM modules ORDER BY name, created_at'),
    };
  }

  insert(m: Omit<ModuleView, 'createdAt'>, manifest: Uint8Array): ModuleView {
    const createdAt = nowSeconds();
    this.stmts.insert.run(m.name, m.version, m.sha256, m.size, Buffer.from(manifest), m.manifestDigest, JSON.stringify(m.capabilities), m.maxPages, createdAt);
    return { ...m, createdAt };
  }

  get(name: string, version: string): ModuleView | undefined {
    const row = this.stmts.get.get(name, version) as ModuleRow | undefined;
    return row ? toView(row) : undefined;
  }

  require(name: string, version: string): ModuleView {
    const m = this.get(name, version);
    if (!m) throw new WfError('MODULE_NOT_FOUND', `${name}@${version}`);
    return m;
  }

  manifestBytes(name: string, version: string): Uint8Array {
    const row = this.stmts.get.get(name, version) as ModuleRow | undefined;
    if (!row) throw new WfError('MODULE_NOT_FOUND', `${name}@${version}`);
    return new Uint8Array(row.manifest);
  }

  byManifestDigest(hex: string): ModuleView | undefined {
    const hit = this.byDigest.get(hex);
    if (hit) return hit;
    const row = this.stmts.byDigest.get(hex) as ModuleRow | undefined;
    if (!row) return undefined; // not cached: it may be published later
    const view = toView(row);
    this.byDigest.set(hex, view);
    return view;
  }

  list(): ModuleView[] {
    return (this.stmts.all.all() as ModuleRow[]).map(toView);
  }
}
