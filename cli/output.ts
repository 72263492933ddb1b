// The same data object rendered as a table for people or as JSON for scripts (--json).
// Human output goes through this file only, and every value is escaped here: device-supplied text
// (report detail, errors, hello fields, tags) must never reach a terminal as control sequences.
// JSON output stays exact: JSON.stringify already escapes C0 characters, and scripts get the bytes.
import { escapeForTerminal } from './escape.js';

export type Row = Record<string, string | number | boolean | null | undefined>;

const shown = (v: unknown): string => (v === null || v === undefined ? '-' : escapeForTerminal(String(v)));

/**
 * Tagged template for a human line: the literal parts are ours and written as they are, every
 * interpolated value is escaped. say`device ${id} failed: ${detail}\n`
 */
export function say(strings: TemplateStringsArray, ...values: unknown[]): void {
  process.stdout.write(strings.reduce((out, s, i) => out + s + (i < values.length ? shown(values[i]) : ''), ''));
}

export function printJson(value: unknown): void {
  process.stdout.write(JSON.stringify(value, null, 2) + '\n');
}

export function formatTable(rows: Row[], columns?: string[]): string {
  if (rows.length === 0) return '(none)\n';
  const cols = columns ?? Object.keys(rows[0]);
  const widths = cols.map((c) => Math.max(c.length, ...rows.map((r) => shown(r[c]).length)));
  const line = (vals: string[]) => vals.map((v, i) => v.padEnd(widths[i])).join('  ').trimEnd();
  return [line(cols.map((c) => escapeForTerminal(c).toUpperCase())), ...rows.map((r) => line(cols.map((c) => shown(r[c]))))].join('\n') + '\n';
}

export function printTable(rows: Row[], columns?: string[]): void {
  process.stdout.write(formatTable(rows, columns));
}

export function ago(seconds: number | null): string {
  if (seconds === null) return 'never';
  const d = Math.max(0, Math.floor(Date.now() / 1000) - seconds);
  if (d < 60) return `${d}s ago`;
  if (d < 3600) return `${Math.floor(d / 60)}m ago`;
  if (d < 86400) return `${Math.floor(d / 3600)}h ago`;
  return `${Math.floor(d / 86400)}d ago`;
}
