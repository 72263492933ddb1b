// One simulated device as its own process, as a real device would run:
//   node dist/device-sim/agent-main.js --id <id> --mqtt <url> --password <token> --root <hex> --state <dir>
//   [--chunk <bytes>] [--engine wasm3|v8]   (default: wasm3 when built, else V8; or $WASMFLEET_ENGINE)
//   [--ca <file> [--cert <file> --key <file>]]   (mqtts://; a certificate replaces --password)
// SIGTERM/SIGINT stop it cleanly; the kill-at-every-write tests SIGKILL it (slots.ts crashPoint).
import { readFileSync } from 'node:fs';
import { fromHex } from '../protocol/crypto.js';
import { DeviceAgent } from './agent.js';
import { createEngine } from './engine/select.js';

function flag(name: string): string {
  const at = process.argv.indexOf(`--${name}`);
  const value = at > 0 ? process.argv[at + 1] : undefined;
  if (!value) {
    process.stderr.write(`usage: agent-main --id <id> --mqtt <url> --password <token> --root <hex> --state <dir> [--chunk <bytes>] [--engine wasm3|v8]\nmissing --${name}\n`);
    process.exit(2);
  }
  return value;
}

const choice = createEngine(process.argv.includes('--engine') ? flag('engine') : undefined, { workers: 1 });
if (choice.notice) process.stderr.write(`${choice.notice}\n`);
const engine = choice.engine;
const chunk = process.argv.includes('--chunk') ? Number(flag('chunk')) : undefined;
// TLS (mqtts://): --ca <file>, and --cert/--key files instead of --password.
const file = (name: string) => (process.argv.includes(`--${name}`) ? readFileSync(flag(name), 'utf8') : undefined);
const ca = file('ca');
const tls = ca ? { ca, cert: file('cert'), key: file('key') } : undefined;
const agent = new DeviceAgent({
  deviceId: flag('id'),
  mqttUrl: flag('mqtt'),
  password: tls?.cert ? undefined : flag('password'),
  tls,
  rootPublicKey: fromHex(flag('root')),
  stateDir: flag('state'),
  engine,
  chunkSize: chunk,
  reconnectPeriodMs: 200,
});
agent.on('log', (line: string) => process.stderr.write(`${agent.id}: ${line}\n`));
const stop = async () => {
  await agent.stop();
  await engine.close();
  process.exit(0);
};
process.once('SIGTERM', () => void stop());
process.once('SIGINT', () => void stop());
await agent.start();
process.send?.({ type: 'started' });
