// wasmfleet sim: run a simulated fleet against a server (device-sim/fleet.ts), with live progress
// bars and a final table (or --json). Exit 0 when every device ends online and none is stuck
// mid-update; 1 otherwise.
import type { Command } from 'commander';
import { Option } from 'commander';
import { ENGINE_KINDS } from '../../device-sim/engine/select.js';
import { runFleet, type FleetResult } from '../../device-sim/fleet.js';
import { resolveCa, resolveToken } from '../client.js';
import { collectPair, positiveInt, probability } from '../options.js';
import { printJson, printTable, say } from '../output.js';

interface SimOptions {
  devices: number;
  server: string;
  token?: string;
  ca?: string;
  data: string;
  failRate: number;
  seed?: string;
  tag?: Record<string, string>;
  duration: number;
  stateDir?: string;
  workers?: number;
  procs?: number;
  engine?: string;
  fanout?: boolean;
  json?: boolean;
}

export function renderFleetResult(r: FleetResult): void {
  const s = r.summary;
  say`\n${s.devices} simulated devices on ${r.engine} (seed ${r.seed}, state in ${r.stateDir}), ${s.online} online\n\n`;
  printTable(Object.entries(s.states).map(([state, devices]) => ({ state, devices })));
  say`\n`;
  printTable(Object.entries(s.running).map(([release, devices]) => ({ running: release, devices })));
  if (Object.keys(s.reasons).length > 0) {
    say`\n`;
    printTable(Object.entries(s.reasons).map(([reason, devices]) => ({ reason, devices })));
  }
  if (r.ok) say`\nok: every device online, none stuck mid-update\n`;
  else say`\nNOT OK: ${s.inProgress} mid-update, ${s.devices - s.online} offline\n`;
}

export async function simCommand(o: SimOptions): Promise<FleetResult> {
  const abort = new AbortController();
  const onSigint = () => abort.abort();
  process.once('SIGINT', onSigint);
  try {
    return await runFleet({
      server: o.server,
      token: resolveToken(o.token, o.data),
      ca: resolveCa(o.server, o.ca, o.data),
      devices: o.devices,
      seed: o.seed,
      tags: o.tag,
      failRate: o.failRate,
      durationS: o.duration,
      stateDir: o.stateDir,
      workers: o.workers,
      procs: o.procs,
      engineKind: o.engine,
      agent: o.fanout ? { fanout: true } : undefined,
      signal: abort.signal,
      live: !o.json && process.stdout.isTTY === true,
    });
  } finally {
    process.off('SIGINT', onSigint);
  }
}

export function registerSimCommand(program: Command): void {
  program
    .command('sim')
    .description('run N simulated devices against a server (fault injection, live progress)')
    .requiredOption('--devices <n>', 'number of simulated devices', positiveInt)
    .option('--server <url>', 'fleet server API', process.env.WASMFLEET_SERVER ?? 'http://127.0.0.1:8080')
    .option('--token <token>', 'operator token (default: $WASMFLEET_TOKEN or <data>/operator-token)')
    .option('--ca <file>', 'CA certificate of an https:// server (default: $WASMFLEET_CA or <data>/tls/ca.crt)')
    .option('--data <dir>', 'data directory of the embedded server (for its operator token)', process.env.WASMFLEET_DATA ?? 'data')
    .option('--fail-rate <p>', 'probability of each injected fault per device (disconnect, restart, corrupt chunks, slow link, clock skew)', probability, 0)
    .option('--seed <s>', 'seed for device ids, sensors and faults')
    .option('--tag <key=value>', 'tag the simulated devices (repeatable)', collectPair)
    .option('--duration <s>', 'seconds to run (0: until Ctrl-C)', positiveInt, 0)
    .option('--state-dir <dir>', 'device state directories (reused across runs: same devices, same slots)')
    .addOption(new Option('--engine <engine>', 'Wasm engine of the simulated devices (default: wasm3 when its addon is built, else v8)').choices(ENGINE_KINDS))
    .option('--workers <n>', 'worker threads of the v8 engine (per process)', positiveInt)
    .option('--procs <n>', 'spread the devices over N processes (one core each), one summary across them', positiveInt, 1)
    .option('--fanout', 'devices stream each image from its per-release topic first and pull only what they missed (protocol.md §5.2); by default they pull every chunk with chunk/get')
    .option('--json', 'print the result as JSON')
    .action(async (o: SimOptions) => {
      const r = await simCommand(o);
      if (o.json) printJson({ ok: r.ok, engine: r.engine, seed: r.seed, stateDir: r.stateDir, summary: r.summary, devices: r.devices });
      else renderFleetResult(r);
      process.exitCode = r.ok ? 0 : 1;
    });
}
