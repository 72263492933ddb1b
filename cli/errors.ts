// One top-level mapping from errors to exit codes (changesets' habit): scripts can tell a
// refused request from an unreachable server from a bug.
import { WfError } from '../protocol/errors.js';
import { escapeForTerminal } from './escape.js';

export const EXIT = {
  ok: 0,
  /** The request was understood and refused (validation, conflict, bad signature, not found). */
  refused: 1,
  /** Wrong flags or arguments. */
  usage: 2,
  /** The server (or, for `wasmfleet server`, its database) could not be reached. */
  unavailable: 3,
  /** A bug. */
  internal: 4,
} as const;

export function exitCodeFor(err: unknown): number {
  if (err instanceof WfError) {
    if (err.code === 'SERVER_UNAVAILABLE' || err.code === 'STORE_UNREACHABLE') return EXIT.unavailable;
    if (err.code === 'INTERNAL') return EXIT.internal;
    return EXIT.refused;
  }
  return EXIT.internal;
}

export function describeError(err: unknown): string {
  // Server messages can quote device-supplied text: escaped like every other human output.
  if (err instanceof WfError) return `error ${err.code}: ${escapeForTerminal(err.message)}`;
  const text = err instanceof Error ? (err.stack ?? err.message) : String(err);
  return `error INTERNAL: ${text.split('\n').map(escapeForTerminal).join('\n')}`;
}
