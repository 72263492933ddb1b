// Prints one plain closing line, "N passed, N failed[, N skipped]", after vitest's own summary,
// so CI logs can be read by tools that do not know vitest's format.
import type { Reporter, RunnerTask, RunnerTestFile } from 'vitest/node';

function count(tasks: RunnerTask[], totals: { passed: number; failed: number; skipped: number }): void {
  for (const t of tasks) {
    if (t.type === 'test') {
      const state = t.result?.state;
      if (state === 'pass') totals.passed++;
      else if (state === 'fail') totals.failed++;
      else totals.skipped++;
    } else if ('tasks' in t) count(t.tasks, totals);
  }
}

export default class SummaryReporter implements Reporter {
  onFinished(files: RunnerTestFile[] = [], errors: unknown[] = []): void {
    const totals = { passed: 0, failed: 0, skipped: 0 };
    count(files, totals);
    // A file that failed to load has no tests but is a failure all the same.
    const broken = files.filter((f) => f.result?.state === 'fail' && f.tasks.length === 0).length + errors.length;
    const failed = totals.failed + broken;
    process.stdout.write(`\n${totals.passed} passed, ${failed} failed${totals.skipped ? `, ${totals.skipped} skipped` : ''}\n`);
  }
}
