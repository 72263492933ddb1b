// npm run demo: the whole story on one machine, with nothing to set up.
// A server on embedded defaults in a temp dir, 50 simulated devices; counter v1 rolled out to all
// in three waves, slow enough to watch in the web console (the URL and token are printed first);
// counter-flaky as v2 (it traps on about half the boards, which revert by themselves); then a
// manual rollback to v1; then a second component written in C (examples/c/threshold-alarm.c,
// built by clang), deployed with its config. Exits 0 only if every device ends committed on
// counter 1.0.0 and alarm 1.0.0. DEMO_KEEP=1 keeps the server and devices up afterwards, for the
// console, until Ctrl-C.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { ApiClient } from '../cli/client.js';
import { initKeys } from '../cli/commands/keys-init.js';
import { createRollout } from '../cli/commands/rollout-create.js';
import { publishModuleFile } from '../cli/commands/module-publish.js';
import { rollback } from '../cli/commands/rollback.js';
import { formatTable } from '../cli/output.js';
import { startServer } from '../server/index.js';
import { Fleet } from './fleet.js';
import { LiveSummary, releaseOf, type FleetSummary } from './summary.js';

const DEVICES = Number(process.env.DEMO_DEVICES ?? 50);
const EXAMPLES = resolve('examples/wat');
const TAGS = { fleet: 'demo' };
const BOTH = 'alarm@1.0.0,counter@1.0.0';
/** Soak between the first rollout's waves: time to watch it in the console. */
const SOAK_SECONDS = Number(process.env.DEMO_SOAK ?? 10);
const KEEP = process.env.DEMO_KEEP === '1';
const say = (line: string) => process.stdout.write(`\n== ${line}\n`);

async function main(): Promise<number> {
  const dir = mkdtempSync(join(tmpdir(), 'wasmfleet-demo-'));
  const keysDir = join(dir, 'keys');
  initKeys(keysDir);
  const server = await startServer({ dataDir: join(dir, 'data'), keysDir, httpPort: 0, mqttPort: 0, wsPort: false, log: false });
  const api = new ApiClient({ server: server.httpUrl, token: server.operatorToken });
  say(`server ${server.httpUrl}, broker ${server.mqttUrl}, data in ${dir}`);
  process.stdout.write(
    `   web console: ${server.httpUrl}/\n` +
      `   sign in with the operator token ${server.operatorToken}\n` +
      `   (also in ${join(dir, 'data', 'operator-token')}; the demo deletes it at the end${KEEP ? '' : ', DEMO_KEEP=1 keeps it running'})\n`,
  );
  const fleet = await Fleet.start({
    server: server.httpUrl,
    token: server.operatorToken,
    devices: DEVICES,
    seed: 'demo',
    tags: TAGS,
    stateDir: join(dir, 'devices'),
    agent: { probation: { ticks: 3 } },
  });
  if (fleet.notice) process.stderr.write(`${fleet.notice}\n`);
  say(`${DEVICES} simulated devices running modules on ${fleet.engineName}`);

  /** Live bars while waiting for `done`. */
  const watch = async (what: string, done: (s: FleetSummary) => boolean): Promise<FleetSummary> => {
    const live = new LiveSummary(DEVICES, process.stdout.isTTY === true);
    const timer = setInterval(() => live.update(fleet.summary()), 200);
    try {
      return await fleet.waitFor(what, done, 180_000);
    } finally {
      clearInterval(timer);
      live.update(fleet.summary());
      live.stop();
    }
  };
  const publish = (example: string, version: string) =>
    publishModuleFile(api, join(EXAMPLES, `${example}.wat`), { name: 'counter', version, tickMs: 500, stack: 16384, keysDir });
  const deploy = (version: string) => api.post<{ devices: Array<{ sequence: number }> }>('/v1/deployments', { module: 'counter', version, tags: TAGS });
  const settled = (s: FleetSummary) => s.inProgress === 0 && s.online === DEVICES;
  const until = async (what: string, done: () => Promise<boolean>) => {
    for (const deadline = Date.now() + 60_000; !(await done()); await new Promise((r) => setTimeout(r, 200))) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    }
  };
  /** The server's inventory agrees with the devices (reports are processed asynchronously). */
  const serverCaughtUp = async () => {
    for (const deadline = Date.now() + 30_000; Date.now() < deadline; await new Promise((r) => setTimeout(r, 200))) {
      const { devices } = await api.get<{ devices: Array<{ id: string; state: string; running: Array<{ version: string }> }> }>('/v1/devices');
      const byId = new Map(devices.map((d) => [d.id, d]));
      if (fleet.statuses().every((d) => byId.get(d.id)?.state === d.state && byId.get(d.id)?.running[0]?.version === d.running[0]?.version)) return;
    }
    throw new Error('the server did not catch up with the device reports');
  };

  let ok = false;
  try {
    say(`${DEVICES} simulated devices connecting`);
    await watch('every device online', (s) => s.online === DEVICES);

    say(`publish counter 1.0.0 (examples/wat/counter.wat) and roll it out in waves of 10%, 50%, 100% with ${SOAK_SECONDS} s soak`);
    await publish('counter', '1.0.0');
    // The rollout's pre-flight checks each device's hello: wait until the server has them all.
    await until('the server to have every hello', async () => (await api.get<{ devices: Array<{ hello: unknown }> }>('/v1/devices')).devices.every((d) => d.hello));
    const first = await createRollout(api, {
      module: 'counter',
      version: '1.0.0',
      selector: { tags: TAGS },
      policy: { waves: [{ percent: 10 }, { percent: 50 }, { percent: 100 }], soakSeconds: SOAK_SECONDS },
      validSeconds: 86400,
      keysDir,
    });
    process.stdout.write(`   watch it live: ${server.httpUrl}/rollouts/${first.rollout!.id}\n`);
    let s = await watch('counter 1.0.0 everywhere', (x) => x.running['counter@1.0.0'] === DEVICES && settled(x));
    process.stdout.write(`   ${s.states.committed} committed on counter 1.0.0\n`);
    await until('the rollout to complete', async () => (await api.get<{ state: string }>(`/v1/rollouts/${first.rollout!.id}`)).state === 'completed');

    say('publish counter-flaky as 2.0.0: it traps in wf_init on boards whose revision sensor reads >= 0.5');
    await serverCaughtUp();
    await publish('counter-flaky', '2.0.0');
    const v2 = await deploy('2.0.0');
    const seq = v2.devices[0]?.sequence ?? 0;
    s = await watch('every device done with 2.0.0', (x) => settled(x) && fleet.statuses().every((d) => d.sequence >= seq || d.targetSequence === seq));
    process.stdout.write(`   ${s.running['counter@2.0.0'] ?? 0} committed 2.0.0, ${s.states.rolled_back ?? 0} reverted by themselves (${JSON.stringify(s.reasons)})\n`);

    await serverCaughtUp();
    say('roll back to 1.0.0 (rollback authorizations signed with the release key)');
    const rb = await rollback(api, { tags: TAGS, to: '1.0.0', keysDir });
    process.stdout.write(`   ${rb.targets.filter((t) => t.downgrade).length} devices go back from 2.0.0, the others are re-confirmed on 1.0.0\n`);
    const want = new Map(rb.deployments.flatMap((d) => d.devices.map((x) => [x.id, x.sequence] as const)));
    s = await watch('counter 1.0.0 everywhere again', (x) => settled(x) && fleet.statuses().every((d) => d.sequence >= (want.get(d.id) ?? 0)));

    say('publish alarm 1.0.0, written in C (examples/c/threshold-alarm.c, clang + lld), and deploy it with config threshold=0.5');
    await serverCaughtUp();
    await publishModuleFile(api, resolve('examples/build/threshold-alarm.wasm'), { name: 'alarm', version: '1.0.0', tickMs: 500, stack: 8192, keysDir });
    await api.post('/v1/deployments', { module: 'alarm', version: '1.0.0', tags: TAGS, config: { threshold: '0.5', pin: '13' } });
    s = await watch('alarm 1.0.0 beside counter 1.0.0 everywhere', (x) => settled(x) && x.running[BOTH] === DEVICES);
    process.stdout.write(`   ${s.running[BOTH]} devices run counter 1.0.0 and alarm 1.0.0\n`);

    say('final state');
    process.stdout.write(
      formatTable(
        fleet
          .statuses()
          .map((d) => ({ device: d.id, running: releaseOf(d), state: d.state, sequence: d.sequence, online: d.connected })),
      ),
    );
    ok = s.running[BOTH] === DEVICES && s.states.committed === DEVICES;
    process.stdout.write(ok ? `\nok: all ${DEVICES} devices on counter 1.0.0 and alarm 1.0.0\n` : `\nNOT OK: ${JSON.stringify(s)}\n`);
    if (KEEP) {
      process.stdout.write(`\nDEMO_KEEP: the console stays at ${server.httpUrl}/ until Ctrl-C\n`);
      await new Promise<void>((resolve) => process.once('SIGINT', () => resolve()));
    }
  } catch (err) {
    process.stderr.write(`demo failed: ${(err as Error).message}\n`);
  } finally {
    await fleet.stop();
    await server.close();
    rmSync(dir, { recursive: true, force: true });
  }
  return ok ? 0 : 1;
}

process.exitCode = await main();
