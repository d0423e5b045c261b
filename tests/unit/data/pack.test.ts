// Packing: whole examples, no padding, positions restart per example, segIds non-decreasing,
// deterministic per (seed, epoch), truncation counted, next-token targets stay inside an example.
import { describe, expect, it } from 'vitest';
import { packBatches, epochOrder, shiftedTargets } from '../../../src/data/pack';
import type { TokenizedExample } from '../../../src/data/format';
import { Rng } from '../../../src/util/rng';
import { DataError } from '../../../src/data/errors';

/** Example i: length from the rng, ids encode (example, position), last third labelled. */
function makeExamples(n: number, seed = 1, maxLen = 40): TokenizedExample[] {
  const rng = new Rng(seed);
  return Array.from({ length: n }, (_, i) => {
    const T = 1 + rng.int(maxLen);
    const ids = Int32Array.from({ length: T }, (_, t) => i * 1000 + t);
    const labels = Int32Array.from(ids, (v, t) => (t >= (2 * T) / 3 ? v : -100));
    return { ids, labels };
  });
}

describe('packBatches', () => {
  const ex = makeExamples(57);
  const maxTokens = 64;

  it('packs whole examples in order with no padding and the right positions/segIds', () => {
    const { order, batches, truncated, tokens } = packBatches(ex, { maxTokens, seed: 5 });
    expect([...order].sort((a, b) => a - b)).toEqual(ex.map((_, i) => i));
    expect(truncated).toBe(0);
    let covered = 0;
    for (const b of batches) {
      expect(b.orderStart).toBe(covered);
      expect(b.examples).toEqual(order.slice(b.orderStart, b.orderEnd));
      covered = b.orderEnd;
      const T = b.ids.length;
      expect(T).toBeLessThanOrEqual(maxTokens);
      expect(T).toBe(b.examples.reduce((a, i) => a + ex[i].ids.length, 0)); // no padding
      for (const arr of [b.labels, b.positions, b.segIds]) expect(arr.length).toBe(T);
      let t = 0;
      b.examples.forEach((ei, s) => {
        for (let k = 0; k < ex[ei].ids.length; k++, t++) {
          expect(b.ids[t]).toBe(ex[ei].ids[k]);
          expect(b.labels[t]).toBe(ex[ei].labels[k]);
          expect(b.positions[t]).toBe(k);
          expect(b.segIds[t]).toBe(s);
        }
      });
      for (let k = 1; k < T; k++) expect(b.segIds[k]).toBeGreaterThanOrEqual(b.segIds[k - 1]);
    }
    expect(covered).toBe(ex.length);
    expect(tokens).toBe(ex.reduce((a, e) => a + e.ids.length, 0));
    // greedy: the next example would not have fitted
    for (let k = 0; k + 1 < batches.length; k++) {
      const next = ex[batches[k + 1].examples[0]].ids.length;
      expect(batches[k].ids.length + next).toBeGreaterThan(maxTokens);
    }
  });

  it('is deterministic for (seed, epoch); epochs and seeds change the order', () => {
    const a = packBatches(ex, { maxTokens, seed: 5, epoch: 2 });
    const b = packBatches(ex, { maxTokens, seed: 5, epoch: 2 });
    expect(b.order).toEqual(a.order);
    expect(b.batches.map((x) => Array.from(x.ids))).toEqual(a.batches.map((x) => Array.from(x.ids)));
    expect(a.order).toEqual(epochOrder(ex.length, 5, 2));
    expect(epochOrder(ex.length, 5, 3)).not.toEqual(a.order);
    expect(epochOrder(ex.length, 6, 2)).not.toEqual(a.order);
    expect(packBatches(ex, { maxTokens, seed: 5 }).order).toEqual(epochOrder(ex.length, 5, 0));
  });

  it('resumes at an exact position: batches after k are those of a pack of the rest of the order', () => {
    const full = packBatches(ex, { maxTokens, seed: 9, epoch: 1 });
    const k = 3;
    const rest = packBatches(ex, { maxTokens, seed: 9, order: full.order.slice(full.batches[k].orderStart) });
    expect(rest.batches.map((b) => b.examples)).toEqual(full.batches.slice(k).map((b) => b.examples));
  });

  it('truncates examples longer than maxTokens (alone in their batch) and counts them', () => {
    const long = makeExamples(10, 2, 200);
    const nLong = long.filter((e) => e.ids.length > 50).length;
    expect(nLong).toBeGreaterThan(0);
    const { batches, truncated } = packBatches(long, { maxTokens: 50, seed: 1 });
    expect(truncated).toBe(nLong);
    for (const b of batches) {
      expect(b.ids.length).toBeLessThanOrEqual(50);
      const lens = b.examples.map((i) => Math.min(long[i].ids.length, 50));
      expect(b.ids.length).toBe(lens.reduce((a, c) => a + c, 0));
    }
  });

  it('uses a given order and rejects bad options', () => {
    const r = packBatches(ex, { maxTokens, seed: 0, order: [3, 1, 2] });
    expect(r.batches.flatMap((b) => b.examples)).toEqual([3, 1, 2]);
    expect(() => packBatches(ex, { maxTokens: 0, seed: 0 })).toThrow(DataError);
    expect(() => packBatches(ex, { maxTokens: 10, seed: 0, order: [99] })).toThrow(/order has index 99/);
    expect(packBatches([], { maxTokens: 10, seed: 0 }).batches).toEqual([]);
  });
});

describe('shiftedTargets', () => {
  it('targets[t] = labels[t+1] inside an example, -100 at each example end', () => {
    const ex = makeExamples(12, 4, 12);
    const { batches } = packBatches(ex, { maxTokens: 40, seed: 2 });
    for (const b of batches) {
      const tg = shiftedTargets(b);
      for (let t = 0; t < tg.length; t++) {
        const last = t + 1 === tg.length || b.segIds[t + 1] !== b.segIds[t];
        expect(tg[t]).toBe(last ? -100 : b.labels[t + 1]);
      }
    }
  });
});
