// Module images in PostgreSQL: the blobs table (sha256 primary key, size, bytes as BYTEA;
// migrations.ts), so every server instance serves every image without a shared disk. Images are
// KBs to a few MB, well within what BYTEA carries.
//
// Reads go through the same bounded in-memory cache as the file store (blobs never change: their
// name is their digest); concurrent misses of one blob share one query, so a rollout's first
// thousand chunk requests fetch the image once. A row whose bytes do not hash to its name is not
// served, and the next upload of those bytes replaces it (as the file store repairs a file).
import { sha256, toHex } from '../../protocol/crypto.js';
import { BlobLru, isBlobName, type BlobStore } from './blobs.js';
import type { Sql } from './sql.js';

export class PostgresBlobStore implements BlobStore {
  private readonly lru: BlobLru;
  private readonly loading = new Map<string, Promise<Uint8Array | undefined>>();

  constructor(
    private readonly sql: Sql,
    cacheLimitBytes = 64 * 1024 * 1024,
  ) {
    this.lru = new BlobLru(cacheLimitBytes);
  }

  async put(bytes: Uint8Array): Promise<string> {
    const hex = toHex(sha256(bytes));
    // The same bytes again change nothing; a damaged row under this name is overwritten.
    await this.sql.run(
      `INSERT INTO blobs (sha256, size, bytes) VALUES (?, ?, ?)
       ON CONFLICT (sha256) DO UPDATE SET size = excluded.size, bytes = excluded.bytes
       WHERE blobs.size <> excluded.size OR blobs.bytes <> excluded.bytes`,
      [hex, bytes.length, bytes],
    );
    return hex;
  }

  async has(hex: string): Promise<boolean> {
    if (!isBlobName(hex)) return false;
    if (this.lru.has(hex)) return true;
    return (await this.sql.get('SELECT 1 AS one FROM blobs WHERE sha256 = ?', [hex])) !== undefined;
  }

  async get(hex: string): Promise<Uint8Array | undefined> {
    if (!isBlobName(hex)) return undefined;
    const hit = this.lru.get(hex);
    if (hit) return hit;
    let pending = this.loading.get(hex);
    if (!pending) {
      pending = this.load(hex).finally(() => this.loading.delete(hex));
      this.loading.set(hex, pending);
    }
    return pending;
  }

  private async load(hex: string): Promise<Uint8Array | undefined> {
    const row = await this.sql.get<{ size: number; bytes: Uint8Array }>('SELECT size, bytes FROM blobs WHERE sha256 = ?', [hex]);
    if (!row || row.bytes.length !== row.size || toHex(sha256(row.bytes)) !== hex) return undefined;
    const bytes = new Uint8Array(row.bytes);
    this.lru.set(hex, bytes);
    return bytes;
  }
}
