// The frame limit in front of aedes, on its own: packet boundaries are followed across any split
// of the byte stream (a TCP read can end inside a header), and a packet over the limit is refused
// from its header alone. The packets are real MQTT bytes from mqtt-packet, the broker's own codec.
import { PassThrough } from 'node:stream';
import mqttPacket from 'mqtt-packet';
import { describe, expect, it } from 'vitest';
import { PacketGuard } from '../server/broker/packet-guard.js';

const publish = (bytes: number) =>
  mqttPacket.generate({ cmd: 'publish', topic: 'wf/v1/dev/d1/report', payload: Buffer.alloc(bytes), qos: 1, messageId: 7, retain: true, dup: false });

async function run(stream: Buffer, limit: number, split: number) {
  const socket = new PassThrough();
  const oversize: number[] = [];
  const guard = new PacketGuard(socket, limit, '127.0.0.1', (announced) => oversize.push(announced));
  const received: Buffer[] = [];
  guard.on('data', (c: Buffer) => received.push(c));
  for (let i = 0; i < stream.length && !guard.destroyed; i += split) {
    socket.write(stream.subarray(i, i + split));
    await new Promise((r) => setImmediate(r));
  }
  return { passed: Buffer.concat(received), oversize, destroyed: guard.destroyed };
}

describe('packet guard', () => {
  const packets = Buffer.concat([publish(0), publish(100), publish(127), publish(128), publish(16383), publish(16384), mqttPacket.generate({ cmd: 'pingreq' })]);

  it('passes every packet within the limit unchanged, however the stream is split', async () => {
    for (const split of [1, 3, 64, 1000, packets.length]) {
      const r = await run(packets, 20_000, split);
      expect(r.oversize).toEqual([]);
      expect(r.passed.equals(packets)).toBe(true);
    }
  });

  it('drops the connection at the header of a packet over the limit, before its body', async () => {
    const big = publish(16384);
    const stream = Buffer.concat([publish(10), big]);
    for (const split of [1, 3, 4096]) {
      const r = await run(stream, 16000, split);
      expect(r.oversize).toEqual([big.length - 4]); // remaining length = packet minus 1 type byte and 3 length bytes
      expect(r.destroyed).toBe(true);
      expect(r.passed.length).toBeLessThan(publish(10).length + 8); // at most its header bytes, none of its body
    }
  });

  it('refuses a remaining length of five bytes (malformed, MQTT 3.1.1 §2.2.3)', async () => {
    const r = await run(Buffer.from([0x30, 0xff, 0xff, 0xff, 0xff, 0x01]), 1 << 30, 1);
    expect(r.oversize).toEqual([Infinity]);
    expect(r.destroyed).toBe(true);
  });
});
