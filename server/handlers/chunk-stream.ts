// chunk/stream: per-release chunk fan-out (docs/protocol.md §5.2). A device asks for an image at a
// chunk size from its first missing index; the server sends each chunk once on the image topic
// `wf/v1/img/{sha256}/{chunk_size}` and the broker copies it to every device subscribed there.
//
// One carousel per (image, chunk size). A request marks the chunks from its index on as due;
// the carousel walks the image in a cycle, publishing the next due chunks after its position, a
// small batch at a time (the next when the broker took the last), until none is due. So every chunk a device
// asked for is published at least once after its request arrived, whenever it joined: a late
// joiner gets the chunks it missed when the carousel wraps. What a device still lacks after the
// stream (a lost chunk, QoS 0) it pulls with chunk/get.
import { toHex } from '../../protocol/crypto.js';
import { decodeChunkRequest } from '../../protocol/messages.js';
import { imageTopic } from '../../protocol/topics.js';
import { chunkResponse, refuseChunk, requestedImage } from './chunk-answers.js';
import type { HandlerContext, TopicHandler } from './context.js';

export interface ChunkStreamOptions {
  /** Carousels running at once (per server instance); beyond it a request is answered CHUNK_STREAM_BUSY. */
  maxStreams: number;
  /** A publish the broker has not taken within this time no longer holds the carousel back (a frozen subscriber). */
  publishWaitMs: number;
  /**
   * A new carousel waits this long before its first chunk, and a carousel before each further
   * cycle, so the devices told at about the same moment (one deploy) ride one cycle instead of
   * each starting another.
   */
  startDelayMs: number;
  /**
   * Chunks handed to the broker together (then the carousel waits for all of them): the broker
   * writes what one connection gets in one turn as one socket write, so a batch of 4 costs each
   * device one system call instead of 4 (one at a time, fan-out wrote twice as much as pull).
   */
  batch: number;
}

export const CHUNK_STREAM_DEFAULTS: ChunkStreamOptions = { maxStreams: 16, publishWaitMs: 1000, startDelayMs: 200, batch: 4 };

type Publish = HandlerContext['publish'];

class Carousel {
  private readonly due: Uint8Array;
  private dueCount = 0;
  private position = 0;
  private running = false;
  /** The chunk published last (-1: none yet). */
  private last = -1;
  /** Chunks published, for the log line at the end. */
  published = 0;

  constructor(
    readonly topic: string,
    private readonly blob: Uint8Array,
    private readonly sha256: Uint8Array,
    private readonly chunkSize: number,
    private readonly publish: Publish,
    private readonly opts: ChunkStreamOptions,
    private readonly ended: (c: Carousel) => void,
  ) {
    this.due = new Uint8Array(Math.ceil(blob.length / chunkSize));
  }

  /** Every chunk from `from` on is due: published once more after now. */
  want(from: number): void {
    for (let i = from; i < this.due.length; i++) {
      if (this.due[i] === 0) {
        this.due[i] = 1;
        this.dueCount++;
      }
    }
    if (!this.running) void this.run();
  }

  stop(): void {
    this.due.fill(0);
    this.dueCount = 0;
  }

  private nextDue(): number {
    const n = this.due.length;
    for (let k = 0; k < n; k++) {
      const i = (this.position + k) % n;
      if (this.due[i]) return i;
    }
    return -1;
  }

  private async run(): Promise<void> {
    this.running = true;
    try {
      while (this.dueCount > 0) {
        // A new carousel, or a new cycle (late joiners wanted chunks behind the position): first
        // gather the devices asking about now, so they ride one cycle instead of starting more.
        if (this.last < 0 || this.nextDue() <= this.last) await new Promise<void>((resolve) => setTimeout(resolve, this.opts.startDelayMs));
        const sending: Array<Promise<void>> = [];
        while (sending.length < this.opts.batch && this.dueCount > 0) {
          const i = this.nextDue();
          if (i < 0 || (sending.length > 0 && i <= this.last)) break; // a batch ends where a cycle does
          // Cleared before it goes out: a request that arrives meanwhile marks it due again.
          this.due[i] = 0;
          this.dueCount--;
          this.last = i;
          this.position = (i + 1) % this.due.length;
          sending.push(this.send(chunkResponse(this.blob, this.sha256, i, this.chunkSize)));
        }
        await Promise.all(sending);
        this.published += sending.length;
        // Let the devices' requests and everything else in the process have their turn.
        await new Promise<void>((resolve) => setImmediate(resolve));
      }
    } finally {
      this.running = false;
      this.ended(this);
    }
  }

  /** Publish one chunk; resolves when the broker took it, or after publishWaitMs at the latest. */
  private send(payload: Uint8Array): Promise<void> {
    return new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, this.opts.publishWaitMs);
      this.publish(this.topic, payload, { qos: 0 }, () => {
        clearTimeout(timer);
        resolve();
      });
    });
  }
}

/** The carousels of one server instance. */
export class ChunkStreams {
  private readonly carousels = new Map<string, Carousel>();
  private closed = false;

  constructor(
    readonly opts: ChunkStreamOptions,
    private readonly log: HandlerContext['log'],
  ) {}

  get active(): number {
    return this.carousels.size;
  }

  /** Stream `blob` from chunk `from` on; false when a new carousel would exceed the bound (or the server is closing). */
  request(publish: Publish, blob: Uint8Array, sha256: Uint8Array, chunkSize: number, from: number): boolean {
    if (this.closed) return false;
    const topic = imageTopic(toHex(sha256), chunkSize);
    let c = this.carousels.get(topic);
    if (!c) {
      if (this.carousels.size >= this.opts.maxStreams) return false;
      c = new Carousel(topic, blob, sha256, chunkSize, publish, this.opts, (done) => {
        if (this.carousels.get(done.topic) !== done) return;
        this.carousels.delete(done.topic);
        this.log.debug({ topic: done.topic, chunks: done.published }, 'chunk stream ended');
      });
      this.carousels.set(topic, c);
      this.log.debug({ topic }, 'chunk stream started');
    }
    c.want(from);
    return true;
  }

  /** Server shutdown: the carousels stop after the chunk each is sending. */
  close(): void {
    this.closed = true;
    for (const c of this.carousels.values()) c.stop();
  }
}

/**
 * chunk/stream: the payload is a chunk request, unchanged ("stream image `sha256` at
 * `chunk_size`; `index` is the first chunk I still need"). Answers on the device's own chunk topic
 * only when it cannot stream: CHUNK_UNKNOWN_BLOB (not an image of its directives), CHUNK_INVALID
 * (index past the end), CHUNK_STREAM_OFF (--no-fanout), CHUNK_STREAM_BUSY (too many carousels).
 * Cost (docs/security.md): the bytes it asks to be sent, from the same budget as chunk/get.
 */
export const onChunkStream: TopicHandler = async (ctx, deviceId, payload) => {
  const req = decodeChunkRequest(payload);
  // One chunk's worth before any lookup, as a chunk/get costs: a flood stops here.
  if (!ctx.rates.allowStream(deviceId, req.chunkSize)) return;
  if (!ctx.streams) return refuseChunk(ctx, deviceId, req, 'CHUNK_STREAM_OFF');
  // Only images named by this device's own directives, as chunk/get.
  const blob = await requestedImage(ctx, deviceId, req);
  if (typeof blob === 'string') return refuseChunk(ctx, deviceId, req, blob);
  const from = req.index * req.chunkSize;
  // The rest of what it asks to be sent.
  const rest = blob.length - from - req.chunkSize;
  if (rest > 0 && !ctx.rates.allowStream(deviceId, rest)) return;
  if (!ctx.streams.request(ctx.publish, blob, req.sha256, req.chunkSize, req.index)) return refuseChunk(ctx, deviceId, req, 'CHUNK_STREAM_BUSY');
};
