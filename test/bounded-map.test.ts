import { describe, expect, it } from 'vitest';
import { BoundedMap } from '../protocol/bounded-map.js';

describe('BoundedMap', () => {
  it('keeps at most its limit, dropping the least recently used entry first', () => {
    const m = new BoundedMap<string, number>(2);
    m.set('a', 1);
    m.set('b', 2);
    expect(m.get('a')).toBe(1); // a is now the most recently used
    m.set('c', 3);
    expect(m.size).toBe(2);
    expect(m.get('b')).toBeUndefined();
    expect(m.get('a')).toBe(1);
    expect(m.get('c')).toBe(3);
  });

  it('setting a known key replaces its value without dropping another entry', () => {
    const m = new BoundedMap<string, number>(2);
    m.set('a', 1);
    m.set('b', 2);
    expect(m.set('a', 10)).toBe(10);
    expect([m.get('a'), m.get('b'), m.size]).toEqual([10, 2, 2]);
  });

  it('refuses a limit below one', () => {
    expect(() => new BoundedMap(0)).toThrow(RangeError);
  });
});
