// Reference for sampling.ts's sampleToken (tests): the plain algorithm — every id sorted by
// logit (descending, ties by ascending id: a stable sort of 0..V-1), cut by top-k, softmax at
// the temperature over what is left, cut by top-p, then a seeded draw walking that order.
// O(V log V) per token (tens of ms at V = 128256), so the app runs sampleToken instead.

import type { Rng } from '../util/rng';
import { applyRepetitionPenalty, argmax, type SamplingOptions } from './sampling';

export function sampleTokenRef(logits: Float32Array, context: readonly number[], o: SamplingOptions, rng: Rng): number {
  applyRepetitionPenalty(logits, context, o.repetitionPenalty);
  if (o.temperature <= 0) return argmax(logits);
  let ids = Array.from({ length: logits.length }, (_, i) => i);
  ids.sort((a, b) => logits[b] - logits[a]);
  if (o.topK > 0 && o.topK < ids.length) ids = ids.slice(0, o.topK);
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
