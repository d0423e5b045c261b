// sampleToken (head-only sorting) against sampleTokenRef (every id sorted): with top-k the same
// token and the same generator state bit for bit; without top-k the same token (the softmax
// denominator is summed in another order, f64). Realistic vocabularies (V = 128256), small odd
// ones, many tied logits, every option.

import { describe, expect, it } from 'vitest';
import { sampleToken, type SamplingOptions } from '../../../src/chat/sampling';
import { sampleTokenRef } from '../../../src/chat/sampling.ref';
import { Rng } from '../../../src/util/rng';

/** Logits like a language model's: a few strong candidates over a broad normal background. */
function logits(V: number, seed: number, tieStep = 0): Float32Array {
  const rng = new Rng(seed);
  const a = new Float32Array(V);
  for (let i = 0; i < V; i++) a[i] = 2 * rng.normal();
  for (let j = 0; j < 12; j++) a[rng.int(V)] += 6 + 4 * rng.next();
  if (tieStep > 0) for (let i = 0; i < V; i++) a[i] = Math.round(a[i] / tieStep) * tieStep;
  return a;
}

function both(l: Float32Array, ctx: number[], o: SamplingOptions, seed: number) {
  const r1 = new Rng(seed), r2 = new Rng(seed);
  const fast = sampleToken(l.slice(), ctx, o, r1);
  const ref = sampleTokenRef(l.slice(), ctx, o, r2);
  return { fast, ref, nextFast: r1.next(), nextRef: r2.next() };
}

const OPTS: SamplingOptions[] = [];
for (const temperature of [0.3, 0.7, 1.5]) for (const topK of [0, 1, 5, 40]) for (const topP of [1, 0.9, 0.5])
  OPTS.push({ temperature, topK, topP, repetitionPenalty: topK === 5 ? 1 : 1.1 });

describe('sampleToken', () => {
  it('equals the reference at V = 128256 for every option (bitwise with top-k)', () => {
    const V = 128256;
    let distinct = 0;
    for (let s = 0; s < 3; s++) {
      const l = logits(V, 100 + s);
      const ctx = [1, 5, 5, 90000, s * 7];
      for (const o of OPTS) {
        const r = both(l, ctx, o, 1000 * s + OPTS.indexOf(o));
        expect(r.fast, JSON.stringify(o)).toBe(r.ref);
        expect(r.nextFast).toBe(r.nextRef); // one draw each
        if (r.fast !== argmaxOf(l)) distinct++;
      }
    }
    expect(distinct).toBeGreaterThan(5); // the draws do leave the argmax: the comparison is not trivial
  });

  it('equals the reference on small odd vocabularies with many tied logits, k near V, flat distributions', () => {
    for (const V of [1, 2, 7, 33, 1001]) for (let s = 0; s < 25; s++) {
      const l = logits(V, s, s % 2 ? 0.5 : 0);
      for (const o of [...OPTS, { temperature: 5, topK: 0, topP: 0.99, repetitionPenalty: 1 }, { temperature: 1, topK: V - 1, topP: 1, repetitionPenalty: 1 }, { temperature: 1, topK: V + 3, topP: 0.8, repetitionPenalty: 1.3 }]) {
        const r = both(l, [0, V - 1], o, 7 * s + V);
        expect(r.fast, `V=${V} s=${s} ${JSON.stringify(o)}`).toBe(r.ref);
        expect(r.nextFast).toBe(r.nextRef);
      }
    }
  });

  it('greedy is the argmax after the repetition penalty, lowest id on ties', () => {
    const l = Float32Array.of(1, 3, 3, 2.5);
    expect(sampleToken(l.slice(), [], { temperature: 0, topK: 0, topP: 1, repetitionPenalty: 1 }, new Rng(1))).toBe(1);
    expect(sampleToken(l.slice(), [1, 2], { temperature: 0, topK: 0, topP: 1, repetitionPenalty: 2 }, new Rng(1))).toBe(3);
  });
});

function argmaxOf(l: Float32Array): number {
  let b = 0;
  for (let i = 1; i < l.length; i++) if (l[i] > l[b]) b = i;
  return b;
}
