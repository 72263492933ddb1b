// Content-addressed blobs (module images), named by their SHA-256. One interface, the store's
// implementations: files on disk (FileBlobStore, the embedded default) and PostgreSQL.
//
// FileBlobStore: blobs/sha256/ab/<hex>. Steps of a put:
//   write a temp file (every byte: writeSync may write fewer than asked) → fsync → verify the temp
//   file's size and digest → rename to the final name.
// A file already under a final name is verified before it is trusted, and replaced from the upload
// when it is not what its name says (a cut-short file from a full disk must not live on).
// Reads go through a small LRU (chunk requests hit the same few images thousands of times during a
// rollout); a blob read from disk is verified before it is served.
import { closeSync, existsSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, rmSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { sha256, toHex } from '../../protocol/crypto.js';
import { WfError } from '../../protocol/errors.js';
import { storeOp } from './store-errors.js';

/** The bytes of `path` if they are exactly what `hex` names, else undefined. */
function readVerified(path: string, hex: string, size?: number): Uint8Array | undefined {
  const bytes = new Uint8Array(readFileSync(path));
  if (size !== undefined && bytes.length !== size) return undefined;
  return toHex(sha256(bytes)) === hex ? bytes : undefined;
}

/** What the server needs of a blob store: bytes in, bytes out by their digest. */
export interface BlobStore {
  /** Store bytes; returns the hex SHA-256. Storing the same bytes twice is a no-op once verified. */
  put(bytes: Uint8Array): Promise<string>;
  /** The blob's bytes, or undefined when there is no such blob (or it is not what its name says). */
  get(hex: string): Promise<Uint8Array | undefined>;
  has(hex: string): Promise<boolean>;
}

export const isBlobName = (hex: string) => /^[0-9a-f]{64}$/.test(hex);

/**
 * Blobs never change (their name is their digest), so every implementation may keep the recently
 * read ones in memory, up to a byte budget: chunk requests hit the same few images thousands of
 * times during a rollout.
 */
export class BlobLru {
  private readonly cache = new Map<string, Uint8Array>();
  private bytes = 0;

  constructor(private readonly limitBytes = 64 * 1024 * 1024) {}

  get(hex: string): Uint8Array | undefined {
    const hit = this.cache.get(hex);
    if (hit) {
      this.cache.delete(hex); // refresh LRU position
      this.cache.set(hex, hit);
    }
    return hit;
  }

  has(hex: string): boolean {
    return this.cache.has(hex);
  }

  set(hex: string, blob: Uint8Array): void {
    this.delete(hex);
    this.cache.set(hex, blob);
    this.bytes += blob.length;
    for (const [k, v] of this.cache) {
      if (this.bytes <= this.limitBytes) break;
      this.cache.delete(k);
      this.bytes -= v.length;
    }
  }

  delete(hex: string): void {
    const v = this.cache.get(hex);
    if (!v) return;
    this.cache.delete(hex);
    this.bytes -= v.length;
  }
}

export class FileBlobStore implements BlobStore {
  private readonly lru: BlobLru;

  constructor(
    private readonly dir: string,
    cacheLimitBytes = 64 * 1024 * 1024,
  ) {
    this.lru = new BlobLru(cacheLimitBytes);
    storeOp(dir, () => mkdirSync(join(dir, 'sha256'), { recursive: true }));
  }

  private path(hex: string): string {
    return join(this.dir, 'sha256', hex.slice(0, 2), hex);
  }

  async put(bytes: Uint8Array): Promise<string> {
    const hex = toHex(sha256(bytes));
    const final = this.path(hex);
    if (existsSync(final) && storeOp(final, () => readVerified(final, hex, bytes.length))) return hex;
    // Missing, or not what its name says: (re)write it from these bytes.
    this.lru.delete(hex);
    storeOp(final, () => mkdirSync(join(this.dir, 'sha256', hex.slice(0, 2)), { recursive: true }));
    const tmp = `${final}.tmp-${process.pid}`;
    try {
      storeOp(tmp, () => {
        const fd = openSync(tmp, 'w', 0o644);
        try {
          for (let off = 0; off < bytes.length; ) {
            const n = writeSync(fd, bytes, off, bytes.length - off);
            if (n <= 0) throw Object.assign(new Error(`wrote ${off} of ${bytes.length} bytes`), { code: 'ENOSPC' });
            off += n;
          }
          fsyncSync(fd);
        } finally {
          closeSync(fd);
        }
        if (!readVerified(tmp, hex, bytes.length)) throw new WfError('STORE_CORRUPT', `${tmp}: read back differs from what was written`);
        renameSync(tmp, final);
      });
    } catch (err) {
      rmSync(tmp, { force: true });
      throw err;
    }
    return hex;
  }

  async has(hex: string): Promise<boolean> {
    return isBlobName(hex) && (this.lru.has(hex) || existsSync(this.path(hex)));
  }

  async get(hex: string): Promise<Uint8Array | undefined> {
    if (!isBlobName(hex)) return undefined;
    const hit = this.lru.get(hex);
    if (hit) return hit;
    const path = this.path(hex);
    if (!existsSync(path)) return undefined;
    const bytes = readVerified(path, hex);
    if (!bytes) return undefined;
    this.lru.set(hex, bytes);
    return bytes;
  }
}
