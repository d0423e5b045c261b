// Sampling the next token from logits on the host: repetition penalty (HF/CTRL rule: divide
// positive logits, multiply negative ones, for ids already in the context), temperature,
// top-k, top-p (nucleus), then a seeded draw; temperature 0 = greedy (argmax, lowest id on ties).
// Candidates are ordered by logit (descending, ties by ascending id) as in sampling.ref.ts, but
// only the head of that order is ever sorted: top-k by one pass keeping the k largest logits,
// top-p / plain temperature by growing a logit threshold until the nucleus (or the draw) fits.
// With top-k the result is bit for bit the reference's; without, the softmax denominator is
// summed in id order instead of sorted order (f64, the same up to its last bits).

import { Rng } from '../util/rng';

export interface SamplingOptions {
  temperature: number; // 0 = greedy
  topK: number; // 0 = off
  topP: number; // 1 = off
  repetitionPenalty: number; // 1 = off
}

export const GREEDY: SamplingOptions = { temperature: 0, topK: 0, topP: 1, repetitionPenalty: 1 };

/** The chat panel's starting settings. */
export const CHAT_SAMPLING: SamplingOptions = { temperature: 0.7, topK: 40, topP: 0.9, repetitionPenalty: 1.1 };

export function argmax(logits: ArrayLike<number>): number {
  let best = 0;
  for (let i = 1; i < logits.length; i++) if (logits[i] > logits[best]) best = i;
  return best;
}

/** Apply the repetition penalty in place for every id in `context`. */
export function applyRepetitionPenalty(logits: Float32Array, context: Iterable<number>, penalty: number): void {
  if (penalty === 1) return;
  for (const id of new Set(context)) {
    const x = logits[id];
    logits[id] = x > 0 ? x / penalty : x * penalty;
  }
}

/** Pick the next token. `logits` is modified (penalty applied). */
export function sampleToken(logits: Float32Array, context: readonly number[], o: SamplingOptions, rng: Rng): number {
  applyRepetitionPenalty(logits, context, o.repetitionPenalty);
  if (o.temperature <= 0) return argmax(logits);
  if (o.topK > 0 && o.topK < logits.length) {
    const ids = idsAtLeast(logits, kthLargest(logits, o.topK)).slice(0, o.topK);
    const p = weights(logits, ids, logits[ids[0]], o.temperature);
    return draw(ids, p, nucleus(p, sumOf(p, p.length), o.topP) ?? ids.length, rng);
  }
  return sampleAll(logits, o, rng);
}

/** No top-k: the whole vocabulary is a candidate; sort only a head above a falling threshold. */
function sampleAll(logits: Float32Array, o: SamplingOptions, rng: Rng): number {
  const max = logits[argmax(logits)], T = o.temperature;
  let S = 0; // softmax denominator over every id (id order)
  for (let i = 0; i < logits.length; i++) S += Math.exp((logits[i] - max) / T);
  let u: number | null = null; // the draw when there is no nucleus cut (its total is S)
  for (let gap = 8; ; gap *= 1.5) {
    const all = gap > 4096;
    const ids = idsAtLeast(logits, all ? -Infinity : max - gap * T);
    const p = weights(logits, ids, max, T);
    if (o.topP < 1) {
      const keep = nucleus(p, S, o.topP);
      if (keep !== null || all) return draw(ids, p, keep ?? ids.length, rng);
    } else {
      u ??= rng.next() * S;
      let r = u;
      for (let j = 0; j < ids.length; j++) if ((r -= p[j]) <= 0) return ids[j];
      if (all) return ids[ids.length - 1];
    }
  }
}

/** exp((logit - max) / T) of each candidate, in candidate order. */
function weights(logits: Float32Array, ids: number[], max: number, T: number): number[] {
  return ids.map((i) => Math.exp((logits[i] - max) / T));
}

function sumOf(p: number[], n: number): number {
  let s = 0;
  for (let j = 0; j < n; j++) s += p[j];
  return s;
}

/** Candidates kept by top-p: the shortest head whose probability (p / sum) reaches topP; null = not within p. */
function nucleus(p: number[], sum: number, topP: number): number | null {
  if (topP >= 1) return p.length;
  let c = 0;
  for (let j = 0; j < p.length; j++) {
    c += p[j] / sum;
    if (c >= topP) return j + 1;
  }
  return null;
}

/** Seeded draw among the first `keep` candidates, proportional to p. */
function draw(ids: number[], p: number[], keep: number, rng: Rng): number {
  let u = rng.next() * sumOf(p, keep);
  for (let j = 0; j < keep; j++) if ((u -= p[j]) <= 0) return ids[j];
  return ids[keep - 1];
}

/** Ids with logit ≥ t in candidate order (logit descending, ties by ascending id). */
function idsAtLeast(logits: Float32Array, t: number): number[] {
  const ids: number[] = [];
  for (let i = 0; i < logits.length; i++) if (logits[i] >= t) ids.push(i);
  return ids.sort((a, b) => logits[b] - logits[a] || a - b);
}

/**
 * The k-th largest logit (1 ≤ k ≤ length, duplicates counted): one pass keeping the k largest
 * values seen so far in ascending order (top[0] the smallest of them); a value enters only if it
 * beats top[0], about k·ln(V/k) times on an unsorted vocabulary.
 */
function kthLargest(logits: Float32Array, k: number): number {
  const top = new Float64Array(k).fill(-Infinity);
  for (let i = 0; i < logits.length; i++) {
    const x = logits[i];
    if (!(x > top[0])) continue;
    let j = 1;
    for (; j < k && top[j] < x; j++) top[j - 1] = top[j];
    top[j - 1] = x;
  }
  return top[0];
}
