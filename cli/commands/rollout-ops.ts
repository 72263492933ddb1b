// Registers the operator views that sit next to the rollout commands: "rollout watch" and "audit".
import type { Command } from 'commander';
import { clientFor, positiveInt, withCommon, type CommonOptions } from '../options.js';
import { printJson, printTable } from '../output.js';
import { auditRows, readAudit } from './audit.js';
import { apiFetcher, watchRollout } from './rollout-watch.js';
import { snapshotOf } from './rollout-view.js';

/** The "rollout" group, shared with the rollout commands registered before this. */
function rolloutGroup(program: Command): Command {
  return program.commands.find((c) => c.name() === 'rollout') ?? program.command('rollout').description('staged rollouts');
}

export function registerRolloutOps(program: Command): void {
  withCommon(
    rolloutGroup(program)
      .command('watch <id>')
      .description('follow a rollout live (bars per wave, counts per state and reason) until it ends: exit 0 completed, 1 paused/aborted/rolled back')
      .option('--interval <ms>', 'poll interval', positiveInt, 1000),
  ).action(async (id: string, o: CommonOptions & { interval: number }) => {
    const abort = new AbortController();
    const onSigint = () => abort.abort();
    process.once('SIGINT', onSigint);
    try {
      process.exitCode = await watchRollout(id, apiFetcher(clientFor(o), snapshotOf), {
        intervalMs: Math.max(100, o.interval),
        json: o.json === true,
        live: process.stdout.isTTY === true,
        signal: abort.signal,
      });
    } finally {
      process.off('SIGINT', onSigint);
    }
  });

  withCommon(
    program
      .command('audit')
      .description('the append-only log of operator actions and automatic rollout decisions')
      .option('--rollout <id>', 'only entries about this rollout')
      .option('--since <when>', 'only entries since a duration ago (10m, 2h, 1d) or an ISO time'),
  ).action(async (o: CommonOptions & { rollout?: string; since?: string }) => {
    const entries = await readAudit(clientFor(o), { rollout: o.rollout, since: o.since });
    if (o.json) printJson(entries);
    else printTable(auditRows(entries));
  });
}
