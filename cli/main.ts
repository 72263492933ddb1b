#!/usr/bin/env node
// wasmfleet CLI: a thin entry point. Each command lives in commands/ as one async function;
// this file wires flags to them and maps every error to an exit code in one place.
import { Command, CommanderError } from 'commander';
import { WfError } from '../protocol/errors.js';
import { describeError, EXIT, exitCodeFor } from './errors.js';
import { ago, printJson, printTable, say } from './output.js';
import { clientFor, collectPair, positiveInt, releaseRef, requireSelector, withCommon, withSelector, type CommonOptions, type SelectorOptions } from './options.js';
import { initKeys } from './commands/keys-init.js';
import { rotateKey } from './commands/keys-rotate.js';
import { inspectModule } from './commands/module-inspect.js';
import { publishModuleFile, type PublishedModule } from './commands/module-publish.js';
import { rollback } from './commands/rollback.js';
import { readLimitsFile, runServer } from './commands/server.js';
import { registerSimCommand } from './commands/sim.js';
import type { DeviceView, ModuleView } from '../protocol/views.js';
import { registerRolloutCommands } from './rollout-commands.js';
import type { TokenView } from '../protocol/views.js';

const program = new Command('wasmfleet')
  .description('Deploy signed WebAssembly modules to fleets of devices over MQTT')
  .version('0.1.0')
  .showHelpAfterError()
  // Program options only before the command, so "module publish --version 1.0.0" is the command's flag.
  .enablePositionalOptions()
  .exitOverride();

const out = (json: boolean | undefined, data: unknown, human: () => void) => (json ? printJson(data) : human());

// ---- keys ----
const keys = program.command('keys').description('root, release and director keys');
keys
  .command('init')
  .description('create root, release and director keys and the root-signed key document')
  .option('--dir <dir>', 'key directory', process.env.WASMFLEET_KEYS ?? 'keys')
  .option('--json', 'print JSON')
  .action((o: { dir: string; json?: boolean }) => {
    const r = initKeys(o.dir);
    out(o.json, r, () => {
      printTable(r.keys.map((k) => ({ key: k.name, kid: k.kid, file: `${o.dir}/${k.name}.key` })));
      say`key document ${o.dir}/keydoc.cbor (serial 1). Keep root.key offline; the server needs director.key, keydoc.cbor, root.pub.\n`;
    });
  });
keys
  .command('rotate <role>')
  .description('replace the release or director key; writes a new key document (serial + 1)')
  .option('--dir <dir>', 'key directory', process.env.WASMFLEET_KEYS ?? 'keys')
  .option('--revoke-old', 'drop the old keys of this role from the key document')
  .option('--json', 'print JSON')
  .action((role: string, o: { dir: string; revokeOld?: boolean; json?: boolean }) => {
    const r = rotateKey(o.dir, role, o.revokeOld);
    out(o.json, r, () => say`new ${r.role} key ${r.kid}; key document serial ${r.serial}; old key kept as ${r.retiredFile}\n`);
  });

// ---- module ----
const mod = program.command('module').description('inspect and publish Wasm modules');
mod
  .command('inspect <file>')
  .description('imports, exports, memory and capabilities of a .wasm or .wat file')
  .option('--json', 'print JSON')
  .action(async (file: string, o: { json?: boolean }) => {
    const r = await inspectModule(file);
    out(o.json, r, () => {
      say`${r.file}: ${r.size} bytes, sha256 ${r.sha256}\n`;
      say`memory: ${r.memory ? `${r.memory.initialPages} page(s), max ${r.memory.maxPages ?? 'none'}` : 'none'}\n`;
      say`capabilities: ${r.capabilities.join(', ') || '(none)'}\n\nimports:\n`;
      printTable(r.imports.map((i) => ({ module: i.module, name: i.name, kind: i.kind, type: i.type })));
      say`\nexports:\n`;
      printTable(r.exports.map((e) => ({ name: e.name, kind: e.kind, type: e.type })));
      if (r.abi.ok) say`\nhost ABI v1: ok\n`;
      else say`\nhost ABI v1: REFUSED ${r.abi.code}: ${r.abi.message}\n`;
    });
    if (!r.abi.ok) process.exitCode = EXIT.refused;
  });
withCommon(
  mod
    .command('publish <file>')
    .description('sign the release manifest with the release key and upload the module')
    .requiredOption('--name <name>', 'component name')
    .requiredOption('--version <version>', 'semantic version, e.g. 1.2.0')
    .option('--tick-ms <ms>', 'period of wf_tick', positiveInt, 1000)
    .option('--stack <bytes>', 'stack size the module needs', positiveInt, 16384),
).action(async (file: string, o: CommonOptions & { name: string; version: string; tickMs: number; stack: number }) => {
  const r = await publishModuleFile(clientFor(o), file, { name: o.name, version: o.version, tickMs: o.tickMs, stack: o.stack, keysDir: o.keys });
  out(o.json, r, () =>
    say`${r.created ? 'published' : 'already published'} ${r.name}@${r.version} (${r.size} bytes, sha256 ${r.sha256.slice(0, 16)}…, capabilities: ${r.capabilities.join(', ') || 'none'})\n`,
  );
});
withCommon(mod.command('list').description('published modules')).action(async (o: CommonOptions) => {
  const { modules } = await clientFor(o).get<{ modules: ModuleView[] }>('/v1/modules');
  out(o.json, modules, () =>
    printTable(modules.map((m) => ({ name: m.name, version: m.version, size: m.size, sha256: m.sha256.slice(0, 16), capabilities: m.capabilities.join(',') }))),
  );
});

// ---- server ----
program
  .command('server')
  .description('run the fleet server (embedded aedes broker + SQLite by default)')
  .option('--data <dir>', 'data directory', process.env.WASMFLEET_DATA ?? 'data')
  .option('--keys <dir>', 'key directory (director.key, keydoc.cbor, root.pub)', process.env.WASMFLEET_KEYS ?? 'keys')
  .option('--host <host>', 'address to listen on', '127.0.0.1')
  .option('--http-port <port>', 'operator API port', positiveInt, 8080)
  .option('--mqtt-port <port>', 'embedded broker MQTT port', positiveInt, 1883)
  .option('--ws-port <port>', 'embedded broker WebSocket port', positiveInt, 8083)
  .option('--no-ws', 'no WebSocket listener')
  .option('--broker <url>', 'use an external MQTT broker: mqtt://user:pass@host:port')
  .option('--public-mqtt-url <url>', 'MQTT URL handed to devices')
  .option('--token <token>', 'operator token (default: generated into <data>/operator-token)', process.env.WASMFLEET_TOKEN)
  .option('--limits <file>', 'JSON file overriding rate limits (docs/security.md), e.g. {"chunkBytes": {"capacity": 16777216, "perSecond": 2097152}}')
  .action(async (o: { data: string; keys: string; host: string; httpPort: number; mqttPort: number; wsPort: number; ws: boolean; broker?: string; publicMqttUrl?: string; token?: string; limits?: string }) => {
    await runServer({
      limits: o.limits ? readLimitsFile(o.limits) : undefined,
      dataDir: o.data,
      keysDir: o.keys,
      host: o.host,
      httpPort: o.httpPort,
      mqttPort: o.mqttPort,
      wsPort: o.ws ? o.wsPort : false,
      brokerUrl: o.broker,
      publicMqttUrl: o.publicMqttUrl,
      operatorToken: o.token,
    });
  });

// ---- devices ----
const devices = program.command('devices').description('device inventory and credentials');
withCommon(
  devices
    .command('add <id>')
    .description('register a device and print its MQTT credentials (shown once)')
    .option('--tag <key=value>', 'tag, repeatable', collectPair, {}),
).action(async (id: string, o: CommonOptions & { tag: Record<string, string> }) => {
  const r = await clientFor(o).post<{ id: string; username: string; password: string; mqttUrl: string; rootPublicKey: string }>('/v1/devices', { id, tags: o.tag });
  out(o.json, r, () =>
    say`device ${r.id}\n  mqtt      ${r.mqttUrl}\n  username  ${r.username}\n  password  ${r.password}\n  root key  ${r.rootPublicKey}\n(the password is not shown again)\n`,
  );
});
const deviceRow = (d: DeviceView) => ({
  id: d.id,
  state: d.state,
  module: d.running[0]?.component,
  version: d.running[0]?.version,
  online: d.online ? 'yes' : 'no',
  host: d.hello?.host ?? '-',
  'last seen': ago(d.lastSeen),
  'last error': d.lastError,
});
withCommon(devices.command('list').description('all devices with state, module, version, last seen, last error')).action(async (o: CommonOptions) => {
  const { devices: list } = await clientFor(o).get<{ devices: DeviceView[] }>('/v1/devices');
  out(o.json, list, () => printTable(list.map(deviceRow)));
});
withCommon(devices.command('show <id>').description('one device in detail')).action(async (id: string, o: CommonOptions) => {
  const d = await clientFor(o).get<DeviceView & { telemetry: Array<{ name: string; value: number; at: number }>; commits: Array<{ sequence: number; version: string; component: string; at: number }> }>(
    `/v1/devices/${encodeURIComponent(id)}`,
  );
  out(o.json, d, () => {
    printTable([deviceRow(d)]);
    say`tags: ${JSON.stringify(d.tags)}  sequence: ${d.sequence}  target: ${d.targetSequence ?? '-'}  reason: ${d.reason ?? '-'}\n`;
    if (d.hello) say`host: ${d.hello.host} abi ${d.hello.abi}, capabilities ${d.hello.capabilities.join(',')}, max chunk ${d.hello.maxChunk}, memory ${d.hello.memory}\n`;
    if (d.progress) say`progress: ${d.progress.bytes}/${d.progress.total} bytes\n`;
    if (d.commits.length) {
      say`\ncommitted releases:\n`;
      printTable(d.commits.map((c) => ({ sequence: c.sequence, release: `${c.component}@${c.version}`, at: ago(c.at) })));
    }
    if (d.telemetry.length) {
      say`\ntelemetry:\n`;
      printTable(d.telemetry.map((t) => ({ name: t.name, value: t.value, at: ago(t.at) })));
    }
  });
});

// ---- deploy / rollback / status ----
withCommon(
  withSelector(program.command('deploy <release>').description('deploy <name>@<version> to devices (by id or tag): signs one directive per device')).option(
    '--config <key=value>',
    'module config, repeatable',
    collectPair,
  ),
).action(async (release: string, o: CommonOptions & SelectorOptions & { config?: Record<string, string> }) => {
  const ref = releaseRef(release);
  const selector = requireSelector('deploy', o);
  const r = await clientFor(o).post<{ deployment: string; devices: Array<{ id: string; sequence: number }> }>('/v1/deployments', {
    module: ref.name,
    version: ref.version,
    ...selector,
    config: o.config,
  });
  out(o.json, r, () => say`deployment ${r.deployment}: ${ref.name}@${ref.version} to ${r.devices.length} device(s)\n`);
});
withCommon(
  withSelector(
    program
      .command('rollback')
      .description("roll devices back to their previously committed version (or --to <version>); signs rollback authorizations with the release key"),
  ).option('--to <version>', 'version to go back to (default: each device\'s previous committed one)'),
).action(async (o: CommonOptions & SelectorOptions & { to?: string }) => {
  const r = await rollback(clientFor(o), { ...requireSelector('rollback', o), to: o.to, keysDir: o.keys });
  out(o.json, r, () => {
    printTable(r.targets.map((t) => ({ device: t.device, from: `${t.component}@${t.from}`, to: t.version })));
    for (const s of r.skipped) say`skipped ${s.device}: ${s.code}: ${s.message}\n`;
  });
});
withCommon(program.command('status').description('fleet summary')).action(async (o: CommonOptions) => {
  const s = await clientFor(o).get<{ devices: number; online: number; states: Record<string, number>; releases: Record<string, number>; modules: number }>('/v1/status');
  out(o.json, s, () => {
    say`${s.devices} devices, ${s.online} online, ${s.modules} module versions published\n\n`;
    printTable(Object.entries(s.states).map(([state, count]) => ({ state, devices: count })));
    say`\n`;
    printTable(Object.entries(s.releases).map(([release, count]) => ({ release, devices: count })));
  });
});

// ---- tokens ----
const tokens = program.command('tokens').description('operator tokens and their roles (viewer, deployer, admin); admin only');
withCommon(
  tokens
    .command('create')
    .description('create an operator token and print it (shown once; the server keeps only its hash)')
    .requiredOption('--name <name>', 'who or what holds it, e.g. ci')
    .requiredOption('--role <role>', 'viewer (read only), deployer (publish, deploy, rollback, rollouts) or admin (everything)'),
).action(async (o: CommonOptions & { name: string; role: string }) => {
  const t = await clientFor(o).post<TokenView & { token: string }>('/v1/tokens', { name: o.name, role: o.role });
  out(o.json, t, () => say`token ${t.id} (${t.name}, ${t.role})\n  ${t.token}\n(the token is not shown again)\n`);
});
withCommon(tokens.command('list').description('operator tokens: id, name, role, created, revoked')).action(async (o: CommonOptions) => {
  const { tokens: list } = await clientFor(o).get<{ tokens: TokenView[] }>('/v1/tokens');
  out(o.json, list, () => printTable(list.map((t) => ({ id: t.id, name: t.name, role: t.role, created: ago(t.createdAt), revoked: t.revokedAt ? ago(t.revokedAt) : '-' }))));
});
withCommon(tokens.command('revoke <id>').description('revoke an operator token: it is refused from now on')).action(async (id: string, o: CommonOptions) => {
  const t = await clientFor(o).post<TokenView>(`/v1/tokens/${encodeURIComponent(id)}/revoke`, {});
  out(o.json, t, () => say`token ${t.id} (${t.name}, ${t.role}) revoked\n`);
});

registerSimCommand(program);
registerRolloutCommands(program);

async function main(): Promise<void> {
  try {
    await program.parseAsync(process.argv);
  } catch (err) {
    if (err instanceof CommanderError) {
      // help and version exit 0; everything else from commander is a usage error
      if (err.code === 'commander.helpDisplayed' || err.code === 'commander.version' || err.code === 'commander.help') process.exit(EXIT.ok);
      if (err.code === 'wasmfleet.usage') process.stderr.write(err.message + '\n');
      process.exit(EXIT.usage);
    }
    process.stderr.write(describeError(err) + '\n');
    process.exit(exitCodeFor(err));
  }
}

await main();
export { WfError };
