// The operator's go-ahead before a rollout starts (after its plan or its rehearsal): asked on a
// terminal, given by --yes in scripts. Without a terminal and without --yes nothing is created.
import { createInterface } from 'node:readline/promises';
import { usageError } from './options.js';

export interface ConfirmOptions {
  yes: boolean;
  input?: NodeJS.ReadableStream & { isTTY?: boolean };
  output?: NodeJS.WritableStream;
}

/** true: go ahead; false: the operator said no. Throws a usage error (exit 2) when nobody can be asked. */
export async function confirm(question: string, o: ConfirmOptions): Promise<boolean> {
  if (o.yes) return true;
  const input = o.input ?? process.stdin;
  if (!input.isTTY) {
    throw usageError('rehearsal done, rollout not created: stdin is not a terminal, so nobody can confirm; pass --yes to create it after the rehearsal');
  }
  const rl = createInterface({ input, output: o.output ?? process.stderr });
  try {
    const answer = await rl.question(`${question} [y/N] `);
    return /^y(es)?$/i.test(answer.trim());
  } finally {
    rl.close();
  }
}
