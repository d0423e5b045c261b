// Packing: whole examples concatenated into micro-batches of at most maxTokens tokens, no padding.
// T = tokens of one micro-batch (≤ maxTokens). Per batch: ids [T], labels [T] (-100 = ignored),
// positions [T] (restart at 0 for each example), segIds [T] (example index within the batch,
// 0,0,…,1,1,…: non-decreasing). Attention must not cross segIds; loss must not cross them either
// (`shiftedTargets` gives next-token targets that respect that).
//
// Order: one seeded permutation of the examples per epoch (`epochOrder`), packed greedily in that
// order, so batch k of epoch e is a pure function of (examples, maxTokens, seed, e). To resume,
// recompute the batches and skip to the saved batch index; each batch records the slice of the
// order it covers (orderStart, orderEnd).
// An example longer than maxTokens is truncated to its first maxTokens tokens (counted).

import { Rng } from '../util/rng';
import { DataError } from './errors';
import { IGNORE_INDEX, type TokenizedExample } from './format';

export interface PackedBatch {
  ids: Int32Array; // [T]
  labels: Int32Array; // [T]
  positions: Int32Array; // [T]
  segIds: Int32Array; // [T]
  /** Example indices packed in this batch, in order (segId s is examples[s]). */
  examples: number[];
  /** This batch covers order[orderStart .. orderEnd). */
  orderStart: number;
  orderEnd: number;
}

export interface PackOptions {
  maxTokens: number;
  seed: number;
  /** Epoch number (each epoch has its own permutation); default 0. */
  epoch?: number;
  /** Use this order (example indices) instead of the seeded permutation. */
  order?: readonly number[];
}

export interface PackResult {
  order: number[];
  batches: PackedBatch[];
  /** Examples cut to maxTokens. */
  truncated: number;
  /** Tokens in all batches. */
  tokens: number;
}

/** The example order of one epoch: a permutation of 0..n-1 from (seed, epoch). */
export function epochOrder(n: number, seed: number, epoch = 0): number[] {
  const s = (seed ^ Math.imul(epoch + 1, 0x9e3779b1)) >>> 0;
  return new Rng(s).shuffle(Array.from({ length: n }, (_, i) => i));
}

export function packBatches(examples: readonly TokenizedExample[], opts: PackOptions): PackResult {
  const { maxTokens } = opts;
  if (!Number.isInteger(maxTokens) || maxTokens < 1) throw new DataError('config', `packBatches: maxTokens must be a positive integer, got ${maxTokens}`);
  const order = opts.order ? [...opts.order] : epochOrder(examples.length, opts.seed, opts.epoch ?? 0);
  for (const i of order)
    if (!Number.isInteger(i) || i < 0 || i >= examples.length) throw new DataError('config', `packBatches: order has index ${i}, examples has ${examples.length}`);

  const len = (i: number) => Math.min(examples[i].ids.length, maxTokens);
  const batches: PackedBatch[] = [];
  let truncated = 0;
  let tokens = 0;
  let start = 0;
  while (start < order.length) {
    let end = start;
    let T = 0;
    while (end < order.length && (end === start || T + len(order[end]) <= maxTokens)) T += len(order[end++]);
    const b: PackedBatch = {
      ids: new Int32Array(T),
      labels: new Int32Array(T),
      positions: new Int32Array(T),
      segIds: new Int32Array(T),
      examples: order.slice(start, end),
      orderStart: start,
      orderEnd: end,
    };
    let t = 0;
    b.examples.forEach((ei, s) => {
      const ex = examples[ei];
      const n = len(ei);
      if (n < ex.ids.length) truncated++;
      b.ids.set(ex.ids.subarray(0, n), t);
      b.labels.set(ex.labels.subarray(0, n), t);
      for (let k = 0; k < n; k++) {
        b.positions[t + k] = k;
        b.segIds[t + k] = s;
      }
      t += n;
    });
    tokens += T;
    batches.push(b);
    start = end;
  }
  return { order, batches, truncated, tokens };
}

/**
 * Next-token targets for a packed batch: targets[t] = labels[t+1] when t+1 is in the same
 * example, else -100 (the last token of each example predicts nothing).
 */
export function shiftedTargets(b: Pick<PackedBatch, 'labels' | 'segIds'>): Int32Array {
  const T = b.labels.length;
  const out = new Int32Array(T).fill(IGNORE_INDEX);
  for (let t = 0; t + 1 < T; t++) if (b.segIds[t + 1] === b.segIds[t]) out[t] = b.labels[t + 1];
  return out;
}
