// The simulated device's MQTT session and its command-line entry point, against a real broker:
// a device refused at CONNACK (its credentials are not on the broker yet) keeps trying and gets
// in once they are; agent-main runs an update with its defaults (no --chunk).
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DeviceAgent } from '../device-sim/agent.js';
import { toHex } from '../protocol/index.js';
import { AgentHarness, startBroker, tempDir, until, wasm } from './device-fixture.js';

const h = new AgentHarness('sess', 1);
const children: ChildProcess[] = [];

beforeAll(() => h.open());
afterAll(async () => {
  for (const c of children) c.kill('SIGTERM');
  await h.close();
});

describe('device session', () => {
  it('a device refused at CONNACK keeps trying and connects once its credentials exist', async () => {
    const known = new Set<string>();
    const broker = await startBroker({ authenticate: (user, password) => known.has(`${user}:${password}`) });
    const dir = tempDir();
    let agent: DeviceAgent | null = null;
    try {
      const options = h.options({ mqttUrl: broker.url, stateDir: dir.path, reconnectPeriodMs: 100 });
      agent = new DeviceAgent(options);
      await agent.start();
      await new Promise((r) => setTimeout(r, 400)); // a few refused attempts
      expect(agent.status().connected).toBe(false);
      known.add(`${options.deviceId}:${options.password}`); // the operator adds the device
      await until('connected after the credentials appeared', () => agent!.status().connected, 10_000);
    } finally {
      await agent?.stop();
      await broker.stop();
      dir.remove();
    }
  });

  it('agent-main runs an update with its default chunk size (no --chunk)', async () => {
    const counter = await wasm('counter');
    h.server.addImage(counter);
    const dir = tempDir();
    const id = `sess-main-${process.pid}`;
    const main = join(process.cwd(), 'dist/device-sim/agent-main.js');
    const args = [main, '--id', id, '--mqtt', h.broker.url, '--password', 't', '--root', toHex(h.signer.root.publicKey), '--state', dir.path];
    const child = spawn(process.execPath, args, { stdio: ['ignore', 'ignore', 'ignore'] });
    children.push(child);
    try {
      await h.server.publishDirective(id, h.signer.bundle({ device: id, sequence: 1, releases: [h.signer.releaseOf(counter, 'app', '1.0.0')] }));
      const r = await until('a final report', () => ['committed', 'failed', 'rolled_back'].includes(h.server.last(id)?.state ?? '') && h.server.last(id));
      expect(r).toMatchObject({ state: 'committed', sequence: 1, running: [{ component: 'app', version: '1.0.0' }] });
    } finally {
      child.kill('SIGTERM');
      dir.remove();
    }
  });
});
