// Option parsers and the options every command shares. Bad values fail in commander's
// argument stage (exit code 2) with the flag's name, before any request is sent.
import { CommanderError, InvalidArgumentError, type Command } from 'commander';
import { ApiClient, resolveCa, resolveToken } from './client.js';

export interface CommonOptions {
  server: string;
  token?: string;
  ca?: string;
  keys: string;
  data: string;
  json?: boolean;
}

export function collectPair(value: string, previous: Record<string, string> = {}): Record<string, string> {
  const eq = value.indexOf('=');
  if (eq <= 0) throw new InvalidArgumentError(`expected key=value, got "${value}"`);
  return { ...previous, [value.slice(0, eq)]: value.slice(eq + 1) };
}

export function collectList(value: string, previous: string[] = []): string[] {
  return [...previous, ...value.split(',').filter(Boolean)];
}

export function positiveInt(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0) throw new InvalidArgumentError(`expected a non-negative integer, got "${value}"`);
  return n;
}

/** --db: a PostgreSQL URL. Not echoed back as commander would (it may carry a password). */
export function postgresUrl(value: string): string {
  if (!/^postgres(ql)?:\/\//i.test(value)) throw usageError('--db: expected a PostgreSQL URL, postgres://user@host:port/db');
  return value;
}

export function probability(value: string): number {
  const p = Number(value);
  if (!Number.isFinite(p) || p < 0 || p > 1) throw new InvalidArgumentError(`expected a probability between 0 and 1, got "${value}"`);
  return p;
}

/** name@version → parts. */
export function releaseRef(value: string): { name: string; version: string } {
  const at = value.lastIndexOf('@');
  if (at <= 0 || at === value.length - 1) throw usageError(`expected <name>@<version>, got "${value}"`);
  return { name: value.slice(0, at), version: value.slice(at + 1) };
}

export function withCommon(cmd: Command): Command {
  return cmd
    .option('--server <url>', 'fleet server API', process.env.WASMFLEET_SERVER ?? 'http://127.0.0.1:8080')
    .option('--token <token>', 'operator token (default: $WASMFLEET_TOKEN or <data>/operator-token)')
    .option('--ca <file>', 'CA certificate of an https:// server (default: $WASMFLEET_CA or <data>/tls/ca.crt)')
    .option('--keys <dir>', 'key directory', process.env.WASMFLEET_KEYS ?? 'keys')
    .option('--data <dir>', 'data directory of the embedded server', process.env.WASMFLEET_DATA ?? 'data')
    .option('--json', 'print JSON for scripts');
}

export function clientFor(opts: CommonOptions): ApiClient {
  return new ApiClient({ server: opts.server, token: resolveToken(opts.token, opts.data), ca: resolveCa(opts.server, opts.ca, opts.data) });
}

/** A usage error found after parsing (exit code 2, message printed by the top-level handler). */
export function usageError(message: string): CommanderError {
  return new CommanderError(2, 'wasmfleet.usage', `error: ${message}`);
}

export interface SelectorOptions {
  device?: string[];
  tag?: Record<string, string>;
}

/** --device and --tag, shared by every command that targets devices; one of them is required. */
export function withSelector(cmd: Command, tagHelp = 'select devices by tag, repeatable'): Command {
  return cmd.option('--device <id>', 'device id, repeatable or comma-separated', collectList).option('--tag <key=value>', tagHelp, collectPair);
}

export function requireSelector(command: string, o: SelectorOptions): { devices?: string[]; tags?: Record<string, string> } {
  if (!o.device && !o.tag) throw usageError(`${command} needs --device <id> or --tag <key=value>`);
  return { devices: o.device, tags: o.tag };
}
