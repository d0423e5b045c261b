// Human ratings of replies (empathy, tone, helpfulness on 1..5) for base-vs-adapter comparison,
// their summary per variant, and a seeded blind shuffle so raters do not know which side of a
// pair came from which model. Dimension letters: none (plain records).

import { Rng } from '../util/rng';

export type Variant = 'base' | 'adapter';
export const RATING_DIMENSIONS = ['empathy', 'tone', 'helpfulness'] as const;
export type RatingDimension = (typeof RATING_DIMENSIONS)[number];

export interface HumanRating {
  sampleId: string;
  empathy: number;     // 1..5 integer
  tone: number;        // 1..5 integer
  helpfulness: number; // 1..5 integer
  note: string;
  variant: Variant;
  blind: boolean;      // rated without knowing the variant
}

export interface VariantSummary {
  count: number;        // ratings
  samples: number;      // distinct sampleIds
  blindCount: number;
  means: Record<RatingDimension, number | null>; // null when count is 0
}
export interface RatingsSummary { total: number; byVariant: Record<Variant, VariantSummary> }

/** Throws a clear error for a malformed rating. */
export function validateRating(r: HumanRating): void {
  if (typeof r.sampleId !== 'string' || r.sampleId === '') throw new Error('rating needs a non-empty sampleId');
  if (r.variant !== 'base' && r.variant !== 'adapter') throw new Error(`rating ${r.sampleId}: variant must be 'base' or 'adapter', got "${String(r.variant)}"`);
  for (const d of RATING_DIMENSIONS) {
    const v = r[d];
    if (!Number.isInteger(v) || v < 1 || v > 5) throw new Error(`rating ${r.sampleId}: ${d} must be an integer 1..5, got ${String(v)}`);
  }
  if (typeof r.blind !== 'boolean') throw new Error(`rating ${r.sampleId}: blind must be a boolean`);
}

export function summarizeRatings(ratings: HumanRating[]): RatingsSummary {
  const summarize = (v: Variant): VariantSummary => {
    const rs = ratings.filter((r) => r.variant === v);
    const mean = (d: RatingDimension) => (rs.length === 0 ? null : rs.reduce((a, r) => a + r[d], 0) / rs.length);
    return {
      count: rs.length,
      samples: new Set(rs.map((r) => r.sampleId)).size,
      blindCount: rs.filter((r) => r.blind).length,
      means: { empathy: mean('empathy'), tone: mean('tone'), helpfulness: mean('helpfulness') },
    };
  };
  ratings.forEach(validateRating);
  return { total: ratings.length, byVariant: { base: summarize('base'), adapter: summarize('adapter') } };
}

export interface ReplyPair { sampleId: string; prompt?: string; base: string; adapter: string }
export interface BlindItem { sampleId: string; prompt?: string; left: string; right: string }
/** The key that un-blinds a BlindItem: which variant was shown on the left. */
export interface BlindKey { sampleId: string; left: Variant }

/** Seeded shuffle of pair order and of left/right within each pair; same seed -> same result. */
export function blindShuffle(pairs: ReplyPair[], seed: number): { items: BlindItem[]; key: BlindKey[] } {
  const rng = new Rng(seed);
  const seen = new Set<string>();
  for (const p of pairs) {
    if (seen.has(p.sampleId)) throw new Error(`duplicate sampleId "${p.sampleId}" in blind pairs`);
    seen.add(p.sampleId);
  }
  const order = rng.shuffle(pairs.map((_, i) => i));
  const items: BlindItem[] = [], key: BlindKey[] = [];
  for (const i of order) {
    const p = pairs[i];
    const baseLeft = rng.next() < 0.5;
    items.push({ sampleId: p.sampleId, ...(p.prompt !== undefined ? { prompt: p.prompt } : {}), left: baseLeft ? p.base : p.adapter, right: baseLeft ? p.adapter : p.base });
    key.push({ sampleId: p.sampleId, left: baseLeft ? 'base' : 'adapter' });
  }
  return { items, key };
}

/** Variant of the reply shown on `side` of a blind item. */
export function unblind(key: BlindKey[], sampleId: string, side: 'left' | 'right'): Variant {
  const k = key.find((x) => x.sampleId === sampleId);
  if (!k) throw new Error(`no blind key for sample "${sampleId}"`);
  return side === 'left' ? k.left : k.left === 'base' ? 'adapter' : 'base';
}
