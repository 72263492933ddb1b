// Device-supplied strings (ids, reasons, details, versions a device reports) reach the operator's
// terminal. A device is hostile input: control characters could move the cursor, rewrite earlier
// lines, change the window title or hide text. Everything outside printable text is shown as an
// escape sequence instead, so what the operator sees is exactly what the device sent.

// C0 controls, DEL and C1 controls; bidi embeddings, overrides and isolates (Trojan Source,
// CVE-2021-42574) plus the invisible direction marks; line and paragraph separators.
const UNSAFE = /[\u0000-\u001f\u007f-\u009f\u200e\u200f\u202a-\u202e\u2066-\u2069\u061c\u2028\u2029]/g;

/** The string with every unsafe character written as \xNN or \uNNNN. */
export function escapeForTerminal(value: unknown): string {
  const s = typeof value === 'string' ? value : String(value);
  return s.replace(UNSAFE, (c) => {
    const code = c.charCodeAt(0);
    return code <= 0xff ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u${code.toString(16).padStart(4, '0')}`;
  });
}

/** escapeForTerminal for every string value of a table row (numbers and nulls pass through). */
export function escapeRow<T extends Record<string, unknown>>(row: T): T {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(row)) out[k] = typeof v === 'string' ? escapeForTerminal(v) : v;
  return out as T;
}
