// Content-addressed blob store on disk: blobs/sha256/ab/<hex>. Written to a temp file, fsynced,
// then renamed, so a crash never leaves a partial blob under its final name. Reads go through
// a small LRU: chunk requests hit the same few images thousands of times during a rollout.
import { closeSync, existsSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { sha256, toHex } from '../../protocol/crypto.js';

export class BlobStore {
  private readonly cache = new Map<string, Uint8Array>();
  private cachedBytes = 0;

  constructor(
    private readonly dir: string,
    private readonly cacheLimitBytes = 64 * 1024 * 1024,
  ) {
    mkdirSync(join(dir, 'sha256'), { recursive: true });
  }

  private path(hex: string): string {
    return join(this.dir, 'sha256', hex.slice(0, 2), hex);
  }

  /** Store bytes; returns the hex SHA-256. Storing the same bytes twice is a no-op. */
  put(bytes: Uint8Array): string {
    const hex = toHex(sha256(bytes));
    const final = this.path(hex);
    if (existsSync(final)) return hex;
    mkdirSync(join(this.dir, 'sha256', hex.slice(0, 2)), { recursive: true });
    const tmp = `${final}.tmp-${process.pid}`;
    const fd = openSync(tmp, 'w', 0o644);
    try {
      writeSync(fd, bytes);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, final);
    return hex;
  }

  has(hex: string): boolean {
    return /^[0-9a-f]{64}$/.test(hex) && (this.cache.has(hex) || existsSync(this.path(hex)));
  }

  /** The blob's bytes, or undefined when there is no such blob. */
  get(hex: string): Uint8Array | undefined {
    if (!/^[0-9a-f]{64}$/.test(hex)) return undefined;
    const hit = this.cache.get(hex);
    if (hit) {
      this.cache.delete(hex); // refresh LRU position
      this.cache.set(hex, hit);
      return hit;
    }
    const path = this.path(hex);
    if (!existsSync(path)) return undefined;
    const bytes = new Uint8Array(readFileSync(path));
    this.cache.set(hex, bytes);
    this.cachedBytes += bytes.length;
    for (const [k, v] of this.cache) {
      if (this.cachedBytes <= this.cacheLimitBytes) break;
      this.cache.delete(k);
      this.cachedBytes -= v.length;
    }
    return bytes;
  }
}
