// Step 5 of the device checks: pull an image in chunks into the spare slot's download file.
// The device paces itself: a bounded window of requests in flight, a timeout and a retry per
// chunk, every chunk's length checked against the signed size, the bytes hashed in order as they
// are written, and the good prefix kept on disk so a reconnect or a restart resumes from it.
import { createHash, type Hash } from 'node:crypto';
import { closeSync, existsSync, openSync, readFileSync, rmSync, truncateSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { bytesEqual, toHex } from '../protocol/crypto.js';
import { WfError, type ErrorCode } from '../protocol/errors.js';
import type { ChunkRequest, ChunkResponse } from '../protocol/messages.js';
import { writeAtomic } from './slots.js';

export interface DownloadTarget {
  sha256: Uint8Array;
  size: number;
}

export interface DownloadOptions {
  chunkSize: number;
  /** Requests in flight at once. */
  window: number;
  chunkTimeoutMs: number;
  /** Tries per chunk before giving up with CHUNK_TIMEOUT (time spent offline does not count). */
  maxTries: number;
  /** Tries per chunk that came back wrong (bad length, server error) before giving up with that reason. */
  maxBadTries: number;
  send(req: ChunkRequest): void;
  onProgress(bytes: number, total: number): void;
}

interface PartialMeta {
  sha256: string;
  size: number;
  chunkSize: number;
}

/** The on-disk partial download: a part file holding the good prefix, and what it belongs to. */
export class PartialFile {
  readonly partPath: string;
  private readonly metaPath: string;
  /** Kept open while a download runs: one open per download, not one per chunk. */
  private fd: number | null = null;

  constructor(dir: string) {
    this.partPath = join(dir, 'part');
    this.metaPath = join(dir, 'meta.json');
  }

  /** Open for `target`: keep a matching prefix (cut to the last whole chunk), else start over. */
  open(target: DownloadTarget, chunkSize: number): { chunks: number; hash: Hash } {
    this.close();
    const want: PartialMeta = { sha256: toHex(target.sha256), size: target.size, chunkSize };
    const hash = createHash('sha256');
    let meta: PartialMeta | null = null;
    try {
      meta = existsSync(this.metaPath) ? (JSON.parse(readFileSync(this.metaPath, 'utf8')) as PartialMeta) : null;
    } catch {
      meta = null;
    }
    const same = meta && meta.sha256 === want.sha256 && meta.size === want.size && meta.chunkSize === want.chunkSize;
    if (!same || !existsSync(this.partPath)) {
      writeFileSync(this.partPath, new Uint8Array(0));
      writeAtomic(this.metaPath, JSON.stringify(want));
      return { chunks: 0, hash };
    }
    // A kill can leave half a chunk at the end: keep whole chunks only, never more than the signed size.
    let prefix = new Uint8Array(readFileSync(this.partPath));
    const chunks = Math.min(Math.floor(prefix.length / chunkSize), Math.ceil(target.size / chunkSize));
    const keep = Math.min(chunks * chunkSize, target.size);
    if (keep !== prefix.length) {
      truncateSync(this.partPath, keep);
      prefix = prefix.subarray(0, keep);
    }
    hash.update(prefix);
    return { chunks: keep === target.size ? Math.ceil(target.size / chunkSize) : chunks, hash };
  }

  append(data: Uint8Array): void {
    this.fd ??= openSync(this.partPath, 'a');
    for (let off = 0; off < data.length; ) off += writeSync(this.fd, data, off);
  }

  close(): void {
    if (this.fd !== null) closeSync(this.fd);
    this.fd = null;
  }

  discard(): void {
    this.close();
    rmSync(this.partPath, { force: true });
    rmSync(this.metaPath, { force: true });
  }

  /** After the part file was moved into a slot. */
  forgetMeta(): void {
    this.close();
    rmSync(this.metaPath, { force: true });
  }
}

export class DownloadAborted extends Error {
  constructor() {
    super('download abandoned');
  }
}

interface InFlight {
  tries: number;
  badTries: number;
  timer: NodeJS.Timeout | null;
}

/**
 * One image download. `run()` resolves when the whole image is on disk and its digest matches,
 * or rejects with a WfError (CHUNK_TIMEOUT, CHUNK_INVALID, IMAGE_DIGEST_MISMATCH, a server error
 * code) or DownloadAborted. Feed it chunk responses with `accept()`; `pause()`/`resume()` follow
 * the connection.
 */
export class Download {
  private readonly total: number;
  private hash!: Hash;
  private written = 0; // chunks written in order
  private nextToRequest = 0;
  private readonly inFlight = new Map<number, InFlight>();
  private readonly arrived = new Map<number, Uint8Array>();
  private paused = true;
  private settle: { resolve(): void; reject(e: Error): void } | null = null;
  private finished = false;

  constructor(
    private readonly target: DownloadTarget,
    private readonly partial: PartialFile,
    private readonly opts: DownloadOptions,
  ) {
    this.total = Math.ceil(target.size / opts.chunkSize);
  }

  get bytesDone(): number {
    return Math.min(this.written * this.opts.chunkSize, this.target.size);
  }

  /** Start (or resume from disk); `online` says whether requests can go out now. */
  run(online: boolean): Promise<void> {
    const { chunks, hash } = this.partial.open(this.target, this.opts.chunkSize);
    this.hash = hash;
    this.written = chunks;
    this.nextToRequest = chunks;
    this.opts.onProgress(this.bytesDone, this.target.size);
    const done = new Promise<void>((resolve, reject) => (this.settle = { resolve, reject }));
    if (this.written >= this.total) this.complete();
    else if (online) this.resume();
    return done;
  }

  /** Connection lost: stop the clocks; what is in flight is asked again on resume. */
  pause(): void {
    this.paused = true;
    for (const f of this.inFlight.values()) {
      if (f.timer) clearTimeout(f.timer);
      f.timer = null;
    }
  }

  resume(): void {
    if (this.finished) return;
    this.paused = false;
    for (const index of this.inFlight.keys()) this.request(index);
    this.fill();
  }

  abort(): void {
    this.fail(new DownloadAborted());
  }

  /** A chunk response for this device: ignored unless it is for this image and a chunk we asked for. */
  accept(r: ChunkResponse): void {
    if (this.finished || !bytesEqual(r.sha256, this.target.sha256)) return;
    const f = this.inFlight.get(r.index);
    if (!f) return; // a duplicate or a late answer to a retried request
    if (f.timer) clearTimeout(f.timer);
    f.timer = null;
    if (r.error) return this.bad(r.index, f, r.error, `server answered ${r.error} for chunk ${r.index}`);
    const want = Math.min(this.opts.chunkSize, this.target.size - r.index * this.opts.chunkSize);
    // Never past the signed size, never short: a chunk of any other length is refused.
    if (!r.data || r.data.length !== want) {
      return this.bad(r.index, f, 'CHUNK_INVALID', `chunk ${r.index}: ${r.data?.length ?? 0} bytes, expected ${want}`);
    }
    this.inFlight.delete(r.index);
    this.arrived.set(r.index, r.data);
    this.writeInOrder();
    this.fill();
  }

  private writeInOrder(): void {
    let data: Uint8Array | undefined;
    while ((data = this.arrived.get(this.written)) !== undefined) {
      this.arrived.delete(this.written);
      this.partial.append(data);
      this.hash.update(data);
      this.written++;
    }
    this.opts.onProgress(this.bytesDone, this.target.size);
    if (this.written >= this.total) this.complete();
  }

  private fill(): void {
    while (!this.paused && !this.finished && this.nextToRequest < this.total && this.inFlight.size + this.arrived.size < this.opts.window) {
      const index = this.nextToRequest++;
      this.inFlight.set(index, { tries: 0, badTries: 0, timer: null });
      this.request(index);
    }
  }

  private request(index: number): void {
    const f = this.inFlight.get(index);
    if (!f || this.paused || this.finished) return;
    f.tries++;
    if (f.tries > this.opts.maxTries) {
      return this.fail(new WfError('CHUNK_TIMEOUT', `chunk ${index}: no answer after ${this.opts.maxTries} tries`));
    }
    if (f.timer) clearTimeout(f.timer);
    // Back off a little on each retry, so a struggling server is not hammered.
    const wait = this.opts.chunkTimeoutMs * Math.min(4, 1 + (f.tries - 1) * 0.5);
    f.timer = setTimeout(() => {
      f.timer = null;
      this.request(index);
    }, wait);
    this.opts.send({ sha256: this.target.sha256, index, chunkSize: this.opts.chunkSize });
  }

  private bad(index: number, f: InFlight, code: ErrorCode, detail: string): void {
    f.badTries++;
    if (f.badTries >= this.opts.maxBadTries) return this.fail(new WfError(code, detail));
    f.tries--; // a wrong answer is not a lost one
    f.timer = setTimeout(() => {
      f.timer = null;
      this.request(index);
    }, Math.max(20, this.opts.chunkTimeoutMs / 4));
  }

  private complete(): void {
    if (this.finished) return;
    this.partial.close();
    const digest = new Uint8Array(this.hash.digest());
    if (!bytesEqual(digest, this.target.sha256)) {
      this.partial.discard();
      return this.fail(new WfError('IMAGE_DIGEST_MISMATCH', `got ${toHex(digest)}, signed ${toHex(this.target.sha256)}`));
    }
    this.finished = true;
    this.settle?.resolve();
  }

  private fail(err: Error): void {
    if (this.finished) return;
    this.finished = true;
    this.partial.close();
    for (const f of this.inFlight.values()) if (f.timer) clearTimeout(f.timer);
    this.inFlight.clear();
    this.arrived.clear();
    this.settle?.reject(err);
  }
}
