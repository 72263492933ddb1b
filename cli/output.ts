// The same data object rendered as a table for people or as JSON for scripts (--json).
// Human output goes through this file only, and every value is escaped here: device-supplied text
// (report detail, errors, hello fields, tags) must never reach a terminal as control sequences.
// JSON output stays exact: JSON.stringify already escapes C0 characters, and scripts get the bytes.
export type Row = Record<string, string | number | boolean | null | undefined>;

// C0 controls, DEL and C1 controls; bidi embeddings, overrides and isolates (Trojan Source,
// CVE-2021-42574) plus the invisible direction marks; line and paragraph separators.
const UNSAFE = /[\u0000-\u001f\u007f-\u009f\u200e\u200f\u202a-\u202e\u2066-\u2069\u061c\u2028\u2029]/g;

/** Printable form of untrusted text: control and bidi characters become visible escapes (\x1b, \u202e). */
export function escapeText(value: string): string {
  return value.replace(UNSAFE, (c) => {
    const code = c.charCodeAt(0);
    return code <= 0xff ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u${code.toString(16).padStart(4, '0')}`;
  });
}

const shown = (v: unknown): string => (v === null || v === undefined ? '-' : escapeText(String(v)));

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
  return [line(cols.map((c) => escapeText(c).toUpperCase())), ...rows.map((r) => line(cols.map((c) => shown(r[c]))))].join('\n') + '\n';
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
