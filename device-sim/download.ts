// Step 5 of the device checks: fetch an image in chunks into the spare slot's download file.
// Two phases (docs/protocol.md §5.2):
//   stream  (chunk fan-out, when enabled) subscribe to the image topic, ask once from the first
//           missing chunk, take the chunks the server's carousel publishes there, in any order;
//           no needed chunk for `idleMs`, an error answer or a refused subscription: go to pull;
//   pull    the device paces itself: a bounded window of requests in flight, a timeout and a
//           retry per chunk; it asks only for what the stream did not bring (the repair).
// In both, every chunk's length is checked against the signed size, the bytes are hashed in
// order as they are written, and the good prefix is kept on disk so a reconnect or a restart
// resumes from it. Chunks that came ahead of a gap wait in memory (bounded by the signed size).
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
  /** Chunk fan-out: the stream phase before pulling; absent: pull only. */
  stream?: StreamOptions;
}

export interface StreamOptions {
  /** The image topic (protocol/topics.ts imageTopic). */
  topic: string;
  /** Subscribe and wait for the SUBACK: true granted, false refused; rejects when offline. */
  subscribe(topic: string): Promise<boolean>;
  unsubscribe(topic: string): void;
  /** Publish the stream request (chunk/stream). */
  request(req: ChunkRequest): void;
  /** No needed chunk for this long: pull the rest. */
  idleMs: number;
  /** Why the stream phase ended before the image was complete (for the log). */
  onFallback?(why: string): void;
}

/** Answers to a stream request that mean "pull": ignored when they come late, in the pull phase. */
const STREAM_REFUSALS: ReadonlySet<string> = new Set(['CHUNK_STREAM_OFF', 'CHUNK_STREAM_BUSY']);

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
  /** Chunks ahead of the written prefix; `pulled` ones count against the pull window. */
  private readonly arrived = new Map<number, { data: Uint8Array; pulled: boolean }>();
  private pulledAhead = 0;
  private phase: 'stream' | 'pull';
  /** Bumped whenever the stream phase is (re)started or left: a late SUBACK of an old one is ignored. */
  private streamEpoch = 0;
  private subscribed = false;
  private idleTimer: NodeJS.Timeout | null = null;
  /** Bumped on every (re)arm and clear of the idle timer: a check that finds it moved does nothing. */
  private idleArmed = 0;
  private paused = true;
  private settle: { resolve(): void; reject(e: Error): void } | null = null;
  private finished = false;

  constructor(
    private readonly target: DownloadTarget,
    private readonly partial: PartialFile,
    private readonly opts: DownloadOptions,
  ) {
    this.total = Math.ceil(target.size / opts.chunkSize);
    this.phase = opts.stream ? 'stream' : 'pull';
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
    this.streamEpoch++;
    this.subscribed = false; // a clean session: the broker forgot the subscription
    this.clearIdle();
    for (const f of this.inFlight.values()) {
      if (f.timer) clearTimeout(f.timer);
      f.timer = null;
    }
  }

  resume(): void {
    if (this.finished) return;
    this.paused = false;
    // A reconnect in the stream phase subscribes and asks again (the carousel sends what is due).
    if (this.phase === 'stream') return this.startStream();
    for (const index of this.inFlight.keys()) this.request(index);
    this.fill();
  }

  abort(): void {
    this.fail(new DownloadAborted());
  }

  /**
   * A chunk response: on the device's own chunk topic (`pull`), ignored unless it is for this
   * image and a chunk we asked for; on the image topic (`stream`), taken if it is one we still need.
   */
  accept(r: ChunkResponse, via: 'pull' | 'stream' = 'pull'): void {
    if (this.finished || !bytesEqual(r.sha256, this.target.sha256)) return;
    if (via === 'stream') return this.acceptStreamed(r);
    if (this.phase === 'stream') {
      // Nothing was pulled yet: an error here answers the stream request (off, busy, unknown).
      if (r.error) this.toPull(`server answered ${r.error} to the stream request`);
      return;
    }
    if (r.error && STREAM_REFUSALS.has(r.error)) return; // a late answer to the stream request
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
    this.arrived.set(r.index, { data: r.data, pulled: true });
    this.pulledAhead++;
    this.writeInOrder();
    this.fill();
  }

  // ---------------------------------------------------------------- stream phase

  private startStream(): void {
    const stream = this.opts.stream!;
    const epoch = ++this.streamEpoch;
    stream.subscribe(stream.topic).then(
      (granted) => {
        if (epoch !== this.streamEpoch || this.paused || this.finished) {
          // The download ended (or left the stream) while subscribing: do not keep reading the topic.
          if (granted && !this.paused && (this.finished || this.phase === 'pull')) stream.unsubscribe(stream.topic);
          return;
        }
        if (!granted) return this.toPull('image topic subscription refused');
        this.subscribed = true;
        stream.request({ sha256: this.target.sha256, index: this.written, chunkSize: this.opts.chunkSize });
        this.armIdle();
      },
      () => {}, // offline: the reconnect's resume() starts the stream phase again
    );
  }

  private acceptStreamed(r: ChunkResponse): void {
    const i = r.index;
    if (r.error || !r.data || i < this.written || i >= this.total || this.arrived.has(i)) return; // not one we need
    const want = Math.min(this.opts.chunkSize, this.target.size - i * this.opts.chunkSize);
    if (r.data.length !== want) return; // refused, as a pulled one would be; the pull repairs it
    const f = this.inFlight.get(i);
    if (f) {
      if (f.timer) clearTimeout(f.timer);
      this.inFlight.delete(i);
    }
    this.arrived.set(i, { data: r.data, pulled: false });
    if (this.phase === 'stream') this.armIdle();
    this.writeInOrder();
    this.fill();
  }

  private armIdle(): void {
    this.clearIdle();
    const armed = ++this.idleArmed;
    this.idleTimer = setTimeout(() => {
      this.idleTimer = null;
      // A busy process runs due timers before it reads its sockets: look at what arrived meanwhile
      // (setImmediate runs after the I/O) before calling the stream idle.
      setImmediate(() => {
        if (armed === this.idleArmed && this.phase === 'stream' && !this.paused) this.toPull(`no needed chunk for ${this.opts.stream!.idleMs} ms`);
      });
    }, this.opts.stream!.idleMs);
  }

  private clearIdle(): void {
    this.idleArmed++;
    if (this.idleTimer) clearTimeout(this.idleTimer);
    this.idleTimer = null;
  }

  /** Leave the stream phase for good: pull exactly what is still missing. */
  private toPull(why: string): void {
    if (this.phase !== 'stream' || this.finished) return;
    this.endStream();
    this.phase = 'pull';
    this.opts.stream?.onFallback?.(why);
    this.nextToRequest = this.written;
    this.fill();
  }

  private endStream(): void {
    this.streamEpoch++;
    this.clearIdle();
    if (this.subscribed) this.opts.stream?.unsubscribe(this.opts.stream.topic);
    this.subscribed = false;
  }

  // ---------------------------------------------------------------- writing and pulling

  private writeInOrder(): void {
    let next: { data: Uint8Array; pulled: boolean } | undefined;
    while ((next = this.arrived.get(this.written)) !== undefined) {
      this.arrived.delete(this.written);
      if (next.pulled) this.pulledAhead--;
      this.partial.append(next.data);
      this.hash.update(next.data);
      this.written++;
    }
    this.opts.onProgress(this.bytesDone, this.target.size);
    if (this.written >= this.total) this.complete();
  }

  private fill(): void {
    while (!this.paused && !this.finished && this.phase === 'pull' && this.nextToRequest < this.total && this.inFlight.size + this.pulledAhead < this.opts.window) {
      const index = this.nextToRequest++;
      if (index < this.written || this.arrived.has(index) || this.inFlight.has(index)) continue; // the stream brought it
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
    this.endStream();
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
    this.endStream();
    this.partial.close();
    for (const f of this.inFlight.values()) if (f.timer) clearTimeout(f.timer);
    this.inFlight.clear();
    this.arrived.clear();
    this.pulledAhead = 0;
    this.settle?.reject(err);
  }
}
