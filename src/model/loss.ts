// lm_head + cross-entropy over row chunks of Tc tokens, so [T, V] logits never exist at once:
// for each chunk, logits [n, V] = xf[rows] · lm_headᵀ; the CE kernel writes per-token NLL and
// (when training) overwrites the logits with dLogits·gradScale; dxf[rows] = dLogits · lm_head.

import type { Gpu } from '../gpu/core/context';
import { readF32, type Tensor } from '../gpu/core/tensor';
import { crossEntropyForward, crossEntropyForwardBackward } from '../gpu/ops/crossentropy';
import { matmul16, matmul16Backward } from '../gpu/ops/w16';
import { fill } from '../gpu/ops/elementwise';
import { rows, type Activations } from './activations';
import type { ModelWeights } from './weights';

/** Copy rows [r0, r0+n) of a [*, cols] tensor into rows [d0, d0+n) of another (4-byte elements). */
export function copyRows(gpu: Gpu, dst: Tensor, d0: number, src: Tensor, r0: number, n: number, cols: number): void {
  gpu.copyBuffer(src.buffer, r0 * cols * 4, dst.buffer, d0 * cols * 4, n * cols * 4);
}

/**
 * Loss over the workspace's xf/targets, computed only on the rows that have a target (`runs`
 * from uploadBatch: prompt tokens never reach lm_head, which is most of the cost for a large
 * vocabulary). Rows are gathered run by run into chunks of ≤ Tc rows. With `gradScale`
 * (training) also writes dxf [T,C] into ws.dC (zero on rows without a target). Per-token NLL
 * lands in ws.nll [T] (0 where the target is -100).
 */
export function lossChunks(gpu: Gpu, w: ModelWeights, acts: Activations, T: number, runs: readonly [number, number][], gradScale: number | null): void {
  const ws = acts.ws, C = w.dims.C;
  fill(gpu, rows(ws.nll, T), 0);
  if (gradScale !== null) fill(gpu, rows(ws.dC, T), 0);
  for (const pieces of chunkRuns(runs, acts.Tc)) {
    const n = pieces.reduce((s, p) => s + p[2], 0);
    for (const [src, dst, len] of pieces) {
      copyRows(gpu, ws.xChunk, dst, ws.xf, src, len, C);
      copyRows(gpu, ws.tChunk, dst, ws.targets, src, len, 1);
    }
    const logits = rows(ws.logits, n), nll = rows(ws.nllChunk, n), tgt = rows(ws.tChunk, n);
    matmul16(gpu, logits, rows(ws.xChunk, n), w.lmHead);
    if (gradScale === null) {
      crossEntropyForward(gpu, nll, logits, tgt);
    } else {
      crossEntropyForwardBackward(gpu, nll, logits, tgt, gradScale);
      matmul16Backward(gpu, rows(ws.dxChunk, n), logits, w.lmHead);
      for (const [src, dst, len] of pieces) copyRows(gpu, ws.dC, src, ws.dxChunk, dst, len, C);
    }
    for (const [src, dst, len] of pieces) copyRows(gpu, ws.nll, src, ws.nllChunk, dst, len, 1);
  }
}

/** Split row runs into chunks of ≤ Tc rows: each piece is [source row, chunk row, length]. */
export function chunkRuns(runs: readonly [number, number][], Tc: number): [number, number, number][][] {
  const chunks: [number, number, number][][] = [];
  let cur: [number, number, number][] = [], used = 0;
  for (const [start, len] of runs) {
    for (let off = 0; off < len; ) {
      const take = Math.min(len - off, Tc - used);
      cur.push([start + off, used, take]);
      used += take; off += take;
      if (used === Tc) { chunks.push(cur); cur = []; used = 0; }
    }
  }
  if (used > 0) chunks.push(cur);
  return chunks;
}

/** Sum of per-token NLL over the batch (one small readback). */
export async function readNllSum(gpu: Gpu, acts: Activations, T: number): Promise<number> {
  const nll = await readF32(gpu, rows(acts.ws.nll, T));
  let s = 0;
  for (let i = 0; i < T; i++) s += nll[i];
  return s;
}

/** Logits of the last row chunk are not kept; for tests and generation compute rows on demand. */
export async function logitsOf(gpu: Gpu, w: ModelWeights, acts: Activations, r0: number, n: number): Promise<Float32Array> {
  const ws = acts.ws;
  if (n > acts.Tc) throw new Error(`logitsOf: ${n} rows exceed the chunk size ${acts.Tc}`);
  copyRows(gpu, ws.xChunk, 0, ws.xf, r0, n, w.dims.C);
  matmul16(gpu, rows(ws.logits, n), rows(ws.xChunk, n), w.lmHead);
  const all = await readF32(gpu, ws.logits);
  return all.subarray(0, n * w.dims.V);
}
