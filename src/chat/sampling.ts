// Sampling the next token from logits on the host: repetition penalty (HF/CTRL rule: divide
// positive logits, multiply negative ones, for ids already in the context), temperature,
// top-k, top-p (nucleus), then a seeded draw; temperature 0 = greedy (argmax, lowest id on ties).

import { Rng } from '../util/rng';

export interface SamplingOptions {
  temperature: number; // 0 = greedy
  topK: number; // 0 = off
  topP: number; // 1 = off
  repetitionPenalty: number; // 1 = off
}

export const GREEDY: SamplingOptions = { temperature: 0, topK: 0, topP: 1, repetitionPenalty: 1 };

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
  // Candidates sorted by logit, cut by top-k, softmax at the temperature, cut by top-p.
  let ids = Array.from({ length: logits.length }, (_, i) => i);
  if (o.topK > 0 && o.topK < ids.length) {
    ids.sort((a, b) => logits[b] - logits[a]);
    ids = ids.slice(0, o.topK);
  } else ids.sort((a, b) => logits[b] - logits[a]);
  const max = logits[ids[0]];
  const p = ids.map((i) => Math.exp((logits[i] - max) / o.temperature));
  const sum = p.reduce((a, b) => a + b, 0);
  let keep = ids.length;
  if (o.topP < 1) {
    let c = 0;
    for (let j = 0; j < ids.length; j++) {
      c += p[j] / sum;
      if (c >= o.topP) { keep = j + 1; break; }
    }
  }
  const kept = p.slice(0, keep);
  const total = kept.reduce((a, b) => a + b, 0);
  let u = rng.next() * total;
  for (let j = 0; j < keep; j++) {
    u -= kept[j];
    if (u <= 0) return ids[j];
  }
  return ids[keep - 1];
}
