// A frame limit in front of aedes, which has none (moscajs/aedes#831): the stream between the
// socket and the broker reads each MQTT fixed header (MQTT 3.1.1 §2.2: type byte, then the
// remaining length in 1-4 bytes) and drops the connection as soon as a packet announces more bytes
// than this connection may send, before any of the packet is buffered or parsed. The limit starts
// at what a CONNECT needs and is raised once the broker knows who connected.
import { Duplex } from 'node:stream';

export interface GuardedConnection {
  /** Largest packet (remaining length) this connection may send now. */
  limit: number;
  readonly remoteAddress: string;
}

type State = { at: 'header' } | { at: 'length'; value: number; multiplier: number; bytes: number } | { at: 'body'; remaining: number };

export class PacketGuard extends Duplex implements GuardedConnection {
  private state: State = { at: 'header' };

  constructor(
    /** The wrapped stream (a TLS socket's client certificate is read from it). */
    readonly socket: Duplex,
    public limit: number,
    readonly remoteAddress: string,
    private readonly onOversize: (announced: number, limit: number) => void,
  ) {
    super();
    socket.on('data', (chunk: Buffer) => {
      if (!this.scan(chunk)) return;
      if (!this.push(chunk)) socket.pause();
    });
    socket.on('end', () => this.push(null));
    socket.on('error', (err) => this.destroy(err));
    socket.on('close', () => this.destroy());
  }

  /** Walk the packet boundaries in `chunk`; false (connection dropped) at an oversized packet. */
  private scan(chunk: Buffer): boolean {
    let i = 0;
    while (i < chunk.length) {
      const s = this.state;
      if (s.at === 'header') {
        i++;
        this.state = { at: 'length', value: 0, multiplier: 1, bytes: 0 };
      } else if (s.at === 'length') {
        const b = chunk[i++];
        s.value += (b & 0x7f) * s.multiplier;
        s.multiplier *= 128;
        s.bytes++;
        if (b & 0x80 && s.bytes < 4) continue;
        if (b & 0x80 || s.value > this.limit) {
          // A fifth length byte is malformed (§2.2.3); either way the packet is never read.
          this.onOversize(b & 0x80 ? Infinity : s.value, this.limit);
          this.socket.destroy();
          this.destroy();
          return false;
        }
        this.state = s.value === 0 ? { at: 'header' } : { at: 'body', remaining: s.value };
      } else {
        const n = Math.min(s.remaining, chunk.length - i);
        i += n;
        s.remaining -= n;
        if (s.remaining === 0) this.state = { at: 'header' };
      }
    }
    return true;
  }

  override _read(): void {
    this.socket.resume();
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    if (this.socket.destroyed) return cb();
    this.socket.write(chunk, cb);
  }

  override _final(cb: (err?: Error | null) => void): void {
    this.socket.end(cb);
  }

  override _destroy(err: Error | null, cb: (err?: Error | null) => void): void {
    this.socket.destroy();
    cb(err);
  }
}
