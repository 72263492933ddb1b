// Module registry metadata: one row per name@version; the image and manifest bytes are blobs.
import { WfError } from '../../protocol/errors.js';
import type { ModuleView } from '../../protocol/views.js';
import { StoreCache } from './cache.js';
import { nowSeconds } from './db.js';
import type { Sql, SqlRunner } from './sql.js';

export type { ModuleView } from '../../protocol/views.js';

interface ModuleRow {
  name: string;
  version: string;
  sha256: string;
  size: number;
  manifest: Uint8Array;
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

const SQL = {
  insert:
    'INSERT INTO modules (name, version, sha256, size, manifest, manifest_digest, capabilities, max_pages, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)',
  get: 'SELECT * FROM modules WHERE name = ? AND version = ?',
  byDigest: 'SELECT * FROM modules WHERE manifest_digest = ?',
  all: 'SELECT * FROM modules ORDER BY name, created_at',
} as const;

export class ModuleRepo {
  /**
   * A published release never changes: lookups by manifest digest (one per device when planning)
   * and the signed manifests (one per directive) are cached; `invalidate(key?)` drops them.
   */
  readonly byDigest: StoreCache<string, ModuleView>;
  private readonly manifests: StoreCache<string, Uint8Array>;

  constructor(private readonly sql: Sql) {
    this.byDigest = new StoreCache(async (hex, q = this.sql) => {
      const row = await q.get<ModuleRow>(SQL.byDigest, [hex]);
      return row ? toView(row) : undefined; // not cached: it may be published later
    });
    this.manifests = new StoreCache(async (key, q = this.sql) => {
      const [name, version] = key.split('\u0000');
      const row = await q.get<ModuleRow>(SQL.get, [name, version]);
      return row ? new Uint8Array(row.manifest) : undefined;
    }, 10_000);
  }

  /** Drop what is cached of one release (by manifest digest), or of all. */
  invalidate(manifestDigest?: string): void {
    this.byDigest.invalidate(manifestDigest);
    this.manifests.invalidate();
  }

  async insert(m: Omit<ModuleView, 'createdAt'>, manifest: Uint8Array, q: SqlRunner = this.sql): Promise<ModuleView> {
    const createdAt = nowSeconds();
    await q.run(SQL.insert, [m.name, m.version, m.sha256, m.size, manifest, m.manifestDigest, JSON.stringify(m.capabilities), m.maxPages, createdAt]);
    return { ...m, createdAt };
  }

  async get(name: string, version: string, q: SqlRunner = this.sql): Promise<ModuleView | undefined> {
    const row = await q.get<ModuleRow>(SQL.get, [name, version]);
    return row ? toView(row) : undefined;
  }

  async require(name: string, version: string, q: SqlRunner = this.sql): Promise<ModuleView> {
    const m = await this.get(name, version, q);
    if (!m) throw new WfError('MODULE_NOT_FOUND', `${name}@${version}`);
    return m;
  }

  async manifestBytes(name: string, version: string, q?: SqlRunner): Promise<Uint8Array> {
    const bytes = await this.manifests.get(`${name}\u0000${version}`, q);
    if (!bytes) throw new WfError('MODULE_NOT_FOUND', `${name}@${version}`);
    return bytes;
  }

  byManifestDigest(hex: string, q?: SqlRunner): Promise<ModuleView | undefined> {
    return this.byDigest.get(hex, q);
  }

  async list(): Promise<ModuleView[]> {
    return (await this.sql.all<ModuleRow>(SQL.all)).map(toView);
  }
}
