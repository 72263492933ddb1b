#!/usr/bin/env node
// wasmfleet CLI: a thin entry point. Each command lives in commands/ as one async function;
// this file wires flags to them and maps every error to an exit code in one place.
import { Command, CommanderError } from 'commander';
import { WfError } from '../protocol/errors.js';
import { describeError, EXIT, exitCodeFor } from './errors.js';
import { ago, printJson, printTable, say } from './output.js';
import { clientFor, collectList, collectPair, positiveInt, postgresUrl, releaseRef, requireSelector, withCommon, withSelector, type CommonOptions, type SelectorOptions } from './options.js';
import { initKeys } from './commands/keys-init.js';
import { rotateKey } from './commands/keys-rotate.js';
import { renewKeys } from './commands/keys-renew.js';
import { inspectModule } from './commands/module-inspect.js';
import { publishModuleFile, type PublishedModule } from './commands/module-publish.js';
import { rollback } from './commands/rollback.js';
import { readLimitsFile, runServer } from './commands/server.js';
import { initTls, mosquittoTlsSnippet } from './commands/tls-init.js';
import { addDeviceWithCredentials, rotateDeviceCredentials, type DeviceCredentialsResult } from './commands/device-credentials.js';
import { registerSimCommand } from './commands/sim.js';
import { registerRolloutOps } from './commands/rollout-ops.js';
import { registerRolloutCommands } from './rollout-commands.js';
import type { TokenView } from '../protocol/views.js';
import type { DeviceView, ModuleView } from '../protocol/views.js';

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
      say`key document ${o.dir}/keydoc.cbor (serial 1). Keep root.key offline; the server needs director.key, keydoc.cbor, root.pub (and root-1.pub, root-chain.cbor once the root has rotated).\n`;
    });
  });
keys
  .command('rotate <role>')
  .description('replace the release, director or root key; writes a new key document (serial + 1, renewed expiry)')
  .option('--dir <dir>', 'key directory', process.env.WASMFLEET_KEYS ?? 'keys')
  .option('--revoke-old', 'drop the old keys of this role from the key document: what they signed is refused')
  .option('--years <n>', 'validity of the new key document', positiveInt, 2)
  .option('--json', 'print JSON')
  .action((role: string, o: { dir: string; revokeOld?: boolean; years: number; json?: boolean }) => {
    const r = rotateKey(o.dir, role, o.revokeOld, undefined, o.years);
    out(o.json, r, () =>
      process.stdout.write(
        `new ${r.role} key ${r.kid}; key document serial ${r.serial}, root version ${r.rootVersion}; old key kept as ${r.retiredFile}` +
          (r.revoked.length ? `; revoked ${r.revoked.join(', ')}` : '') +
          '\nreload the server (SIGHUP or restart) so that devices get the new key document\n',
      ),
    );
  });
keys
  .command('renew')
  .description('re-sign the key document with the root key: same keys, new expiry (serial + 1)')
  .option('--dir <dir>', 'key directory', process.env.WASMFLEET_KEYS ?? 'keys')
  .option('--years <n>', 'validity of the new key document', positiveInt, 2)
  .option('--json', 'print JSON')
  .action((o: { dir: string; years: number; json?: boolean }) => {
    const r = renewKeys(o.dir, o.years);
    out(o.json, r, () =>
      process.stdout.write(`key document serial ${r.serial}: ${r.keys} key(s) valid until ${new Date(r.expires * 1000).toISOString()}\nreload the server (SIGHUP or restart)\n`),
    );
  });

program
  .command('tls')
  .description('transport security material')
  .command('init')
  .description('make the fleet CA, server certificate and CRL in <data>/tls (for an external broker) without starting the server')
  .option('--data <dir>', 'data directory', process.env.WASMFLEET_DATA ?? 'data')
  .option('--host <host>', 'address the server will listen on', '127.0.0.1')
  .option('--tls-host <host>', 'extra host name or address for the server certificate, repeatable', collectList)
  .option('--json', 'print JSON')
  .action(async (o: { data: string; host: string; tlsHost?: string[]; json?: boolean }) => {
    const files = await initTls(o.data, o.host, o.tlsHost);
    out(o.json, files, () => {
      printTable(Object.entries(files).map(([what, file]) => ({ what, file })));
      process.stdout.write(`\nmosquitto listener (docs/security.md):\n${mosquittoTlsSnippet(files)}`);
    });
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
  .description('run the fleet server (embedded aedes broker + SQLite by default; --db postgres://… and --broker for several instances)')
  .option('--data <dir>', 'data directory', process.env.WASMFLEET_DATA ?? 'data')
  .option('--keys <dir>', 'key directory (director.key, keydoc.cbor, root.pub, root-chain.cbor)', process.env.WASMFLEET_KEYS ?? 'keys')
  .option('--host <host>', 'address to listen on', '127.0.0.1')
  .option('--http-port <port>', 'operator API port', positiveInt, 8080)
  .option('--mqtt-port <port>', 'embedded broker MQTT port', positiveInt, 1883)
  .option('--ws-port <port>', 'embedded broker WebSocket port', positiveInt, 8083)
  .option('--no-ws', 'no WebSocket listener')
  .option('--db <url>', 'keep the store in PostgreSQL instead of <data>/wasmfleet.db: postgres://user@host:port/db (the password from $PGPASSWORD or ~/.pgpass keeps it off the command line)', postgresUrl, process.env.WASMFLEET_DB)
  .option('--broker <url>', 'use an external MQTT broker: mqtt://user:pass@host:port')
  .option('--broker-dynsec', "with --broker: add, revoke and rotate device credentials on mosquitto through its dynamic security plugin (the --broker user is a dynsec admin)")
  .option('--broker-share <group>', "with --broker: the shared-subscription group the fleet's server instances join (docs/scale-out.md); 'none' for plain subscriptions", 'wasmfleet')
  .option('--public-mqtt-url <url>', 'MQTT URL handed to devices')
  .option('--token <token>', 'operator token (default: generated into <data>/operator-token)', process.env.WASMFLEET_TOKEN)
  .option('--limits <file>', 'JSON file overriding rate limits (docs/security.md), e.g. {"chunkBytes": {"capacity": 16777216, "perSecond": 2097152}}')
  .option('--tls', 'MQTT over TLS, WSS and HTTPS with the fleet CA in <data>/tls (made on first start)')
  .option('--tls-host <host>', 'extra host name or address for the generated server certificate, repeatable', collectList)
  .option('--tls-cert <file>', 'your own server certificate (PEM); with --tls-key and --tls-ca')
  .option('--tls-key <file>', 'its private key (PEM)')
  .option('--tls-ca <file>', 'the CA that signs device certificates (PEM)')
  .option('--tls-ca-key <file>', "that CA's key, so that devices add --cert can issue")
  .option('--insecure', 'allow clear text on a non-loopback address')
  .option('--freshness-interval <seconds>', 'sign a freshness statement this often', positiveInt, 600)
  .option('--freshness-ttl <seconds>', 'lifetime of a freshness statement: devices go stale this long after the last', positiveInt, 3600)
  .option('--no-fanout', 'do not stream images on per-release topics (protocol.md §5.2): every device pulls its chunks; for fleets whose modules must stay per-device secret')
  .action(async (o: {
    data: string; keys: string; host: string; httpPort: number; mqttPort: number; wsPort: number; ws: boolean; db?: string; broker?: string; brokerDynsec?: boolean; brokerShare: string; publicMqttUrl?: string; token?: string;
    limits?: string; tls?: boolean; tlsHost?: string[]; tlsCert?: string; tlsKey?: string; tlsCa?: string; tlsCaKey?: string; insecure?: boolean;
    freshnessInterval: number; freshnessTtl: number; fanout: boolean;
  }) => {
    const ownTls = o.tlsCert || o.tlsKey || o.tlsCa || o.tlsCaKey;
    await runServer({
      limits: o.limits ? readLimitsFile(o.limits) : undefined,
      tls: o.tls || ownTls || o.tlsHost ? { certFile: o.tlsCert, keyFile: o.tlsKey, caFile: o.tlsCa, caKeyFile: o.tlsCaKey, hosts: o.tlsHost } : false,
      insecure: o.insecure,
      dataDir: o.data,
      keysDir: o.keys,
      db: o.db,
      host: o.host,
      httpPort: o.httpPort,
      mqttPort: o.mqttPort,
      wsPort: o.ws ? o.wsPort : false,
      brokerUrl: o.broker,
      brokerDynsec: o.brokerDynsec,
      brokerShareGroup: o.brokerShare === 'none' ? null : o.brokerShare,
      publicMqttUrl: o.publicMqttUrl,
      operatorToken: o.token,
      freshness: { intervalSeconds: o.freshnessInterval, ttlSeconds: o.freshnessTtl },
      fanout: o.fanout,
    });
  });

// ---- devices ----
const devices = program.command('devices').description('device inventory and credentials');
const printCredentials = (r: DeviceCredentialsResult) => {
  process.stdout.write(`device ${r.id}\n  mqtt      ${r.mqttUrl}\n  username  ${r.username}\n`);
  if (r.password) process.stdout.write(`  password  ${r.password}\n`);
  if (r.files) process.stdout.write(`  key       ${r.files.key} (0600)\n  cert      ${r.files.cert} (serial ${r.certSerial})\n`);
  if (r.files?.ca) process.stdout.write(`  ca        ${r.files.ca}\n`);
  process.stdout.write(`  root key  ${r.rootPublicKey}\n`);
  process.stdout.write(r.password ? '(the password is not shown again)\n' : '(the private key was made here and exists only in that file)\n');
};
const certOptions = (cmd: import('commander').Command) =>
  cmd
    .option('--cert', 'a client certificate (CN = device id, signed by the fleet CA) instead of a password; the key is made here')
    .option('--out <dir>', 'where --cert writes <id>.key, <id>.crt and ca.crt', 'device-certs');
withCommon(
  certOptions(
    devices
      .command('add <id>')
      .description('register a device and print its MQTT credentials (shown once): a password, or with --cert a client certificate')
      .option('--tag <key=value>', 'tag, repeatable', collectPair, {}),
  ),
).action(async (id: string, o: CommonOptions & { tag: Record<string, string>; cert?: boolean; out: string }) => {
  const r = await addDeviceWithCredentials(clientFor(o), id, { tags: o.tag, cert: o.cert, outDir: o.out });
  out(o.json, r, () => printCredentials(r));
});
withCommon(
  certOptions(devices.command('rotate-credentials <id>').description('new password (or --cert: new certificate); the old one is refused from then on and the device is disconnected')),
).action(async (id: string, o: CommonOptions & { cert?: boolean; out: string }) => {
  const r = await rotateDeviceCredentials(clientFor(o), id, { cert: o.cert, outDir: o.out });
  out(o.json, r, () => printCredentials(r));
});
withCommon(devices.command('revoke <id>').description("refuse the device's password and certificate from then on, and disconnect it")).action(
  async (id: string, o: CommonOptions) => {
    const d = await clientFor(o).post<DeviceView>(`/v1/devices/${encodeURIComponent(id)}/revoke`, {});
    out(o.json, d, () => process.stdout.write(`device ${d.id} revoked: its password and certificates are refused, its connection closed\n`));
  },
);
const deviceRow = (d: DeviceView) => ({
  id: d.id,
  state: d.state,
  module: d.running[0]?.component,
  version: d.running[0]?.version,
  online: d.revokedAt ? 'revoked' : d.online ? 'yes' : 'no',
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
    process.stdout.write(
      d.revokedAt ? `credentials: revoked ${ago(d.revokedAt)}\n` : `credentials: ${d.credential}${d.certSerial ? ` (serial ${d.certSerial}, expires ${new Date((d.certNotAfter ?? 0) * 1000).toISOString().slice(0, 10)})` : ''}\n`,
    );
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
interface StatusView {
  devices: number;
  online: number;
  states: Record<string, number>;
  releases: Record<string, number>;
  modules: number;
  stale: string[];
  keys: { serial: number; rootVersion: number; expires: number; first: string; daysLeft: number; warning?: string };
  instance?: { instance: string; leader: boolean; mode: 'single' | 'postgres' };
}
withCommon(program.command('status').description('fleet summary, stale devices, key expiry')).action(async (o: CommonOptions) => {
  const s = await clientFor(o).get<StatusView>('/v1/status');
  out(o.json, s, () => {
    process.stdout.write(`${s.devices} devices, ${s.online} online, ${s.modules} module versions published\n`);
    if (s.instance?.mode === 'postgres') say`instance ${s.instance.instance}: ${s.instance.leader ? 'leader (runs the rollout engine)' : 'follower'}\n`;
    process.stdout.write(
      `keys: key document serial ${s.keys.serial}, root version ${s.keys.rootVersion}; ${s.keys.first} expires ${new Date(s.keys.expires * 1000).toISOString().slice(0, 10)} (in ${s.keys.daysLeft} days)\n`,
    );
    if (s.keys.warning) process.stdout.write(`WARNING: ${s.keys.warning}\n`);
    if (s.stale.length) process.stdout.write(`WARNING: ${s.stale.length} device(s) stale (no valid freshness statement): ${s.stale.slice(0, 20).join(', ')}${s.stale.length > 20 ? ', …' : ''}\n`);
    process.stdout.write('\n');
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
// after the rollout group exists: adds "rollout watch" to it, and "audit"
registerRolloutOps(program);

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
