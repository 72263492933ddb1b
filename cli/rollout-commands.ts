// Wires the `rollout` command group to the functions in commands/rollout-*.ts.
import type { Command } from 'commander';
import type { Policy, Selector } from '../server/rollouts/model.js';
import type { RolloutPlan } from '../server/rollouts/plan.js';
import { rolloutAction, ROLLOUT_ACTIONS, type RolloutAction } from './commands/rollout-action.js';
import { authorizeRollback } from './commands/rollout-authorize.js';
import { createRollout } from './commands/rollout-create.js';
import { listRollouts, rolloutRow } from './commands/rollout-list.js';
import { showRollout, type RolloutView } from './commands/rollout-show.js';
import { escapeForTerminal } from './escape.js';
import { confirm } from './confirm.js';
import { rehearse } from './rehearsal/rehearse.js';
import { renderPrediction, type Prediction } from './rehearsal/report.js';
import { clientFor, positiveInt, probability, releaseRef, usageError, withCommon, type CommonOptions } from './options.js';
import { printJson, printTable } from './output.js';
import { duration, factor, percent, rate, target, waves } from './rollout-options.js';

interface CreateFlags extends CommonOptions {
  target?: Selector;
  waves: Policy['waves'];
  soak?: number;
  maxFailures?: number;
  success?: number;
  minSample?: number;
  onFailure?: string;
  deadline?: number;
  retries?: number;
  rate?: number;
  rateGrowth?: number;
  approve?: boolean;
  allowNewCapabilities?: boolean;
  expires: number;
  yes?: boolean;
  rehearse?: boolean;
  rehearseDevices: number;
  rehearseFaults: number;
}

/** Terminal output escapes control characters: device ids and reasons come from devices. */
const safe = escapeForTerminal;

function printPlan(plan: RolloutPlan): void {
  process.stdout.write(`${plan.module}@${plan.version}: ${plan.targets} device(s) selected, ${plan.eligible} can run it (${plan.alreadyRunning} already do), ${plan.excluded.length} excluded\n`);
  if (plan.excluded.length > 0) {
    printTable(plan.excluded.slice(0, 50).map((e) => ({ device: safe(e.device), reason: e.code, detail: safe(e.detail) })));
    if (plan.excluded.length > 50) process.stdout.write(`… and ${plan.excluded.length - 50} more\n`);
  }
  if (plan.releases.length > 0) {
    process.stdout.write('rollback authorizations signed for:\n');
    printTable(plan.releases.map((r) => ({ release: `${r.component}@${r.version}`, devices: r.devices })));
  }
  for (const n of plan.newCapabilities) process.stdout.write(`new capabilities over ${n.from}: ${n.capabilities.join(', ')}\n`);
}

export function printRollout(r: RolloutView): void {
  process.stdout.write(`rollout ${r.id}: ${r.module}@${r.version}  ${r.state} (${r.reason ?? '-'})  wave ${r.wave + 1}/${r.waves.length}${r.awaitingApproval ? '  waiting for approval' : ''}\n`);
  printTable(
    r.waves.map((w) => ({
      wave: w.wave,
      size: 'percent' in w.spec ? `${w.spec.percent}%` : String(w.spec.count),
      cap: w.cap,
      assigned: w.states.assigned ?? 0,
      committed: w.states.committed ?? 0,
      failed: w.states.failed ?? 0,
      timed_out: w.states.timed_out ?? 0,
      rolled_back: (w.states.reverting ?? 0) + (w.states.rolled_back ?? 0),
    })),
  );
  process.stdout.write(`devices: ${Object.entries(r.states).map(([s, n]) => `${s} ${n}`).join(', ') || 'none'}\n`);
  if (Object.keys(r.reasons).length > 0) process.stdout.write(`reasons: ${Object.entries(r.reasons).map(([s, n]) => `${safe(s)} ${n}`).join(', ')}\n`);
}

export function registerRolloutCommands(program: Command): Command {
  const rollout = program.command('rollout').description('staged rollouts: waves, soak, thresholds, automatic rollback');

  withCommon(
    rollout
      .command('create <release>')
      .description('roll <name>@<version> out in waves to the devices --target selects (now and later)')
      .requiredOption('--target <selector>', "tags and @attributes, e.g. 'site=plant-a,hw=rev3,@host=wamr,@capability=sensor'", target)
      .option('--waves <list>', 'cumulative wave sizes, ending at 100%', waves, [{ percent: 100 }])
      .option('--soak <duration>', 'wait after each wave settles, e.g. 10m', duration)
      .option('--max-failures <percent>', 'failure threshold, e.g. 5%', percent)
      .option('--success <percent>', 'committed share a wave needs to advance (default 100% - max failures)', percent)
      .option('--min-sample <n>', 'decided devices before the failure threshold applies', positiveInt)
      .option('--on-failure <action>', 'rollback | pause', 'pause')
      .option('--deadline <duration>', 'per device: committed/failed by then, else DEVICE_TIMEOUT', duration)
      .option('--retries <n>', 'new attempts per device after a failure or timeout', positiveInt)
      .option('--rate <rate>', 'devices started per minute, e.g. 200/min', rate)
      .option('--rate-growth <factor>', 'rate multiplier per wave', factor)
      .option('--approve', 'wait for "rollout approve" between waves')
      .option('--allow-new-capabilities', 'accept a release that needs capabilities its predecessor did not (audited)')
      .option('--expires <duration>', 'how long the rollout and its rollback authorizations last', duration, 30 * 86400)
      .option('--rehearse', 'first run it on a simulated twin of the targets and show the predicted outcome per wave')
      .option('--rehearse-devices <n>', 'at most this many simulated twins', positiveInt, 50)
      .option('--rehearse-faults <p>', 'probability of each injected fault per twin (disconnects, restarts, corrupt chunks, slow links, clock skew)', probability, 0.05)
      .option('--yes', 'do not ask before starting'),
  ).action(async (release: string, o: CreateFlags) => {
    const ref = releaseRef(release);
    if (o.onFailure !== 'rollback' && o.onFailure !== 'pause') throw usageError(`--on-failure: expected rollback or pause, got "${o.onFailure}"`);
    const policy: Partial<Policy> & Pick<Policy, 'waves'> = { waves: o.waves, onFailure: o.onFailure };
    if (o.soak !== undefined) policy.soakSeconds = o.soak;
    if (o.maxFailures !== undefined) {
      policy.maxFailuresPercent = o.maxFailures;
      policy.successPercent = o.success ?? Math.max(0, 100 - o.maxFailures);
    } else if (o.success !== undefined) policy.successPercent = o.success;
    if (o.minSample !== undefined) policy.minSample = o.minSample;
    if (o.deadline !== undefined) policy.deadlineSeconds = o.deadline;
    if (o.retries !== undefined) policy.retries = o.retries;
    if (o.rate !== undefined) policy.ratePerMinute = o.rate;
    if (o.rateGrowth !== undefined) policy.rateGrowth = o.rateGrowth;
    if (o.approve) policy.approval = true;
    if (o.allowNewCapabilities) policy.allowNewCapabilities = true;
    const client = clientFor(o);
    let prediction: Prediction | undefined;
    if (o.rehearse) {
      prediction = await rehearse({
        real: client,
        keysDir: o.keys,
        module: ref.name,
        version: ref.version,
        selector: o.target!,
        policy,
        maxTwins: o.rehearseDevices,
        failRate: o.rehearseFaults,
        progress: o.json ? undefined : (line) => process.stderr.write(line + '\n'),
      });
      if (!o.json) process.stdout.write(renderPrediction(prediction));
      let go: boolean;
      try {
        go = await confirm(`create this rollout on ${o.server}?`, { yes: o.yes === true });
      } catch (err) {
        if (o.json) printJson({ prediction, rollout: null });
        throw err;
      }
      if (!go) {
        if (o.json) printJson({ prediction, rollout: null });
        else process.stdout.write('not created\n');
        process.exitCode = 1;
        return;
      }
    }
    // after a rehearsal the operator has already said yes
    const interactive = !o.rehearse && !o.yes && !o.json && process.stdin.isTTY === true;
    const r = await createRollout(client, {
      module: ref.name,
      version: ref.version,
      selector: o.target!,
      policy,
      validSeconds: o.expires,
      keysDir: o.keys,
      confirm: interactive
        ? async (plan) => {
            printPlan(plan);
            return confirm('start this rollout?', { yes: false });
          }
        : undefined,
    });
    if (o.json) return printJson(prediction ? { ...r, prediction } : r);
    if (!interactive) printPlan(r.plan);
    if (!r.rollout) {
      process.stdout.write('not started\n');
      process.exitCode = 1;
      return;
    }
    process.stdout.write(`rollout ${r.rollout.id} started\n`);
  });

  withCommon(rollout.command('list').description('rollouts, newest first')).action(async (o: CommonOptions) => {
    const list = await listRollouts(clientFor(o));
    if (o.json) printJson(list);
    else printTable(list.map(rolloutRow));
  });

  withCommon(rollout.command('show <id>').description('one rollout: waves, counts per state and reason')).action(async (id: string, o: CommonOptions) => {
    const r = await showRollout(clientFor(o), id);
    if (o.json) printJson(r);
    else printRollout(r);
  });

  for (const [action, help] of Object.entries(ROLLOUT_ACTIONS) as Array<[RolloutAction, string]>) {
    withCommon(rollout.command(`${action} <id>`).description(help)).action(async (id: string, o: CommonOptions) => {
      const r = await rolloutAction(clientFor(o), action, id);
      if (o.json) printJson(r);
      else printRollout(r);
    });
  }
  withCommon(
    rollout.command('authorize <id> <release>').description('sign a rollback authorization for <name>@<version> that late joiners run, so they can take their wave'),
  ).action(async (id: string, release: string, o: CommonOptions) => {
    const r = await authorizeRollback(clientFor(o), id, releaseRef(release), o.keys);
    if (o.json) printJson(r);
    else printRollout(r);
  });
  return rollout;
}
