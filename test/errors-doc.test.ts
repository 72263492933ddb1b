// Every error code is documented, and the documentation names no code that does not exist.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ERROR_CODES } from '../protocol/errors.js';

const doc = readFileSync('docs/errors.md', 'utf8');

describe('docs/errors.md', () => {
  it('documents every code with its HTTP status', () => {
    for (const [code, spec] of Object.entries(ERROR_CODES)) {
      expect(doc, code).toMatch(new RegExp(`\\| \`${code}\` \\| ${spec.status} \\|`));
    }
  });

  it('lists no code that does not exist', () => {
    const listed = [...doc.matchAll(/^\| `([A-Z0-9_]+)` \|/gm)].map((m) => m[1]);
    expect(listed.filter((c) => !(c in ERROR_CODES))).toEqual([]);
  });
});
