// Seeded split: deterministic, disjoint, complete, sizes from the fractions.
import { describe, expect, it } from 'vitest';
import { splitIndices, parseSplit } from '../../../src/data/split';
import { DataError } from '../../../src/data/errors';

describe('splitIndices', () => {
  it('defaults to 90/5/5 and is deterministic for a seed', () => {
    const a = splitIndices(1000, { seed: 7 });
    expect([a.train.length, a.val.length, a.test.length]).toEqual([900, 50, 50]);
    expect(splitIndices(1000, { seed: 7 })).toEqual(a);
    const b = splitIndices(1000, { seed: 8 });
    expect(b.val).not.toEqual(a.val);
  });

  it('is disjoint and covers 0..n-1, each list sorted', () => {
    for (const n of [0, 1, 2, 3, 10, 61, 997]) {
      const s = splitIndices(n, { seed: 3, fractions: { train: 0.8, val: 0.1, test: 0.1 } });
      const all = [...s.train, ...s.val, ...s.test].sort((x, y) => x - y);
      expect(all).toEqual(Array.from({ length: n }, (_, i) => i));
      for (const l of [s.train, s.val, s.test]) expect([...l].sort((x, y) => x - y)).toEqual(l);
      if (n > 0) expect(s.train.length).toBeGreaterThan(0);
    }
  });

  it('gives val and test at least one example when their fraction is > 0 and n ≥ 3', () => {
    const s = splitIndices(3, { seed: 1 });
    expect([s.train.length, s.val.length, s.test.length]).toEqual([1, 1, 1]);
    const z = splitIndices(20, { seed: 1, fractions: { train: 1, val: 0, test: 0 } });
    expect([z.train.length, z.val.length, z.test.length]).toEqual([20, 0, 0]);
    const t = splitIndices(11, { seed: 1, fractions: { train: 0, val: 0.5, test: 0.5 } });
    expect(t.train.length + t.val.length + t.test.length).toBe(11);
    expect(t.train).toEqual([]);
  });

  it('rejects fractions that do not sum to 1', () => {
    expect(() => splitIndices(10, { seed: 0, fractions: { train: 0.9, val: 0.2, test: 0 } })).toThrow(DataError);
    expect(() => splitIndices(10, { seed: 0, fractions: { train: 1.1, val: -0.1, test: 0 } })).toThrow(/non-negative/);
  });
});

describe('parseSplit', () => {
  it('reads percentages or fractions', () => {
    expect(parseSplit('90/5/5')).toEqual({ train: 0.9, val: 0.05, test: 0.05 });
    expect(parseSplit('0.8,0.1,0.1')).toEqual({ train: 0.8, val: 0.1, test: 0.1 });
    expect(parseSplit('80:10:10')).toEqual({ train: 0.8, val: 0.1, test: 0.1 });
    expect(() => parseSplit('90/10')).toThrow(/three non-negative numbers/);
    expect(() => parseSplit('50/5/5')).toThrow(/sum to 1/);
  });
});
