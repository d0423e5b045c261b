// Perplexity helpers and human-ratings summary / seeded blind shuffle.
import { describe, expect, it } from 'vitest';
import { aggregatePerplexity, perplexity, PerplexityAccumulator } from '../../../src/eval/perplexity';
import { blindShuffle, summarizeRatings, unblind, type HumanRating } from '../../../src/eval/ratings';

describe('perplexity', () => {
  it('is exp(mean NLL)', () => {
    expect(perplexity(0, 5)).toBe(1);
    expect(perplexity(10 * Math.log(4), 10)).toBeCloseTo(4, 12); // uniform over 4 tokens
    expect(() => perplexity(1, 0)).toThrow(/0 tokens/);
    expect(() => perplexity(NaN, 3)).toThrow(/nllSum/);
    expect(() => perplexity(1, 2.5)).toThrow(/tokenCount/);
  });
  it('aggregates token-weighted, not as a mean of batch perplexities', () => {
    // batch A: 2 tokens, NLL 2 (ppl e); batch B: 6 tokens, NLL 18 (ppl e^3)
    // pooled: exp(20 / 8) = e^2.5 (mean of batch ppl would be (e + e^3)/2)
    const s = aggregatePerplexity([{ nllSum: 2, tokenCount: 2 }, { nllSum: 18, tokenCount: 6 }]);
    expect(s.perplexity).toBeCloseTo(Math.exp(2.5), 12);
    expect(s).toMatchObject({ meanNll: 2.5, nllSum: 20, tokenCount: 8, batches: 2 });
    expect(() => new PerplexityAccumulator().summary()).toThrow(/no tokens/);
  });
});

const r = (sampleId: string, variant: 'base' | 'adapter', e: number, t: number, h: number, blind = true): HumanRating =>
  ({ sampleId, variant, empathy: e, tone: t, helpfulness: h, note: '', blind });

describe('ratings', () => {
  it('summarizes means and counts per variant', () => {
    const s = summarizeRatings([r('a', 'base', 2, 3, 4), r('b', 'base', 4, 3, 2, false), r('a', 'adapter', 5, 5, 4), r('a', 'adapter', 3, 4, 4)]);
    expect(s.total).toBe(4);
    expect(s.byVariant.base).toEqual({ count: 2, samples: 2, blindCount: 1, means: { empathy: 3, tone: 3, helpfulness: 3 } });
    expect(s.byVariant.adapter).toEqual({ count: 2, samples: 1, blindCount: 2, means: { empathy: 4, tone: 4.5, helpfulness: 4 } });
    expect(summarizeRatings([]).byVariant.base.means.empathy).toBeNull();
  });
  it('rejects out-of-range or malformed ratings', () => {
    expect(() => summarizeRatings([r('a', 'base', 6, 3, 3)])).toThrow(/empathy must be an integer 1..5/);
    expect(() => summarizeRatings([r('a', 'base', 2.5, 3, 3)])).toThrow(/empathy/);
    expect(() => summarizeRatings([{ ...r('a', 'base', 2, 3, 3), variant: 'x' as 'base' }])).toThrow(/variant/);
  });
  it('blind shuffle is seeded, keeps every reply once and can be un-blinded', () => {
    const pairs = Array.from({ length: 12 }, (_, i) => ({ sampleId: `s${i}`, base: `B${i}`, adapter: `A${i}` }));
    const x = blindShuffle(pairs, 7), y = blindShuffle(pairs, 7), z = blindShuffle(pairs, 8);
    expect(x).toEqual(y);
    expect(x.items.map((i) => i.sampleId)).not.toEqual(z.items.map((i) => i.sampleId));
    expect(x.items.map((i) => i.sampleId).sort()).toEqual(pairs.map((p) => p.sampleId).sort());
    for (const it of x.items) {
      const n = it.sampleId.slice(1);
      expect([it.left, it.right].sort()).toEqual([`A${n}`, `B${n}`]);
      expect(unblind(x.key, it.sampleId, 'left') === 'base').toBe(it.left === `B${n}`);
      expect(unblind(x.key, it.sampleId, 'right') === 'adapter').toBe(it.right === `A${n}`);
    }
    const lefts = x.key.map((k) => k.left);
    expect(lefts).toContain('base');
    expect(lefts).toContain('adapter');
    expect(() => blindShuffle([pairs[0], pairs[0]], 1)).toThrow(/duplicate/);
  });
});
