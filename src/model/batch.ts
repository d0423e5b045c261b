// A packed micro-batch on its way to the GPU: several sequences concatenated (no padding),
// positions restarting per sequence, HF-style labels (same positions as the ids, -100 where
// no loss) turned into next-token targets that never cross a sequence boundary.

import type { Gpu } from '../gpu/core/context';
import { writeTensor } from '../gpu/core/tensor';
import type { Activations } from './activations';
import { shiftedTargets } from '../data/pack';

export interface PackedBatch {
  ids: Int32Array; // [T] token ids
  labels: Int32Array; // [T] HF labels: the id itself where it is trained on, -100 elsewhere
  positions: Int32Array; // [T] 0.. per sequence
  segIds: Int32Array; // [T] sequence index in the batch, non-decreasing
}

/** targets[t] = labels[t+1] if t+1 is in the same sequence, else -100 (HF's shift). */
export function nextTokenTargets(b: PackedBatch): { targets: Int32Array; count: number } {
  const targets = shiftedTargets(b);
  return { targets, count: targets.reduce((n, x) => n + (x !== -100 ? 1 : 0), 0) };
}

export function validateBatch(b: PackedBatch, maxT: number, vocab: number): void {
  const T = b.ids.length;
  if (T === 0) throw new Error('empty batch');
  if (T > maxT) throw new Error(`batch of ${T} tokens exceeds the planned ${maxT} tokens per micro-batch`);
  if (b.labels.length !== T || b.positions.length !== T || b.segIds.length !== T)
    throw new Error('batch arrays (ids, labels, positions, segIds) differ in length');
  for (let t = 0; t < T; t++) {
    if (b.ids[t] < 0 || b.ids[t] >= vocab) throw new Error(`token id ${b.ids[t]} at ${t} is outside the vocabulary (${vocab})`);
    if (t > 0 && b.segIds[t] < b.segIds[t - 1]) throw new Error('segIds must be non-decreasing');
  }
}

/** Runs [start, length] of consecutive rows that have a target: the only rows lm_head must see. */
export function targetRuns(targets: Int32Array): [number, number][] {
  const runs: [number, number][] = [];
  for (let t = 0; t < targets.length; t++) {
    if (targets[t] === -100) continue;
    const last = runs[runs.length - 1];
    if (last && last[0] + last[1] === t) last[1]++;
    else runs.push([t, 1]);
  }
  return runs;
}

export interface UploadedBatch { T: number; count: number; runs: [number, number][] }

/** Upload ids/positions/segIds/targets; returns T, the number of counted targets and their row runs. */
export function uploadBatch(gpu: Gpu, acts: Activations, b: PackedBatch, vocab: number): UploadedBatch {
  validateBatch(b, acts.maxT, vocab);
  const { targets, count } = nextTokenTargets(b);
  writeTensor(gpu, acts.ws.ids, b.ids);
  writeTensor(gpu, acts.ws.positions, b.positions);
  writeTensor(gpu, acts.ws.segIds, b.segIds);
  writeTensor(gpu, acts.ws.targets, targets);
  return { T: b.ids.length, count, runs: targetRuns(targets) };
}
