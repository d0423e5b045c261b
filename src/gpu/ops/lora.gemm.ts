// LoRA's training-shape GEMMs (T tokens ≫ 4): dedicated kernels for products with one side of
// width r (the rank), each streaming its big operand once. Dimension letters: T tokens, L / A
// the long dimension (in_features K or out_features N), r rank.
//  - loraDown (lora_down.wgsl): out [T, r] = alpha · drop(x) [T, L] · W, W = A [r, L] or B [L, r];
//    reduction over L, split over workgroups into partials summed by lora_reduce.wgsl.
//  - loraUp (lora_up.wgsl): out [T, N] (+)= alpha · drop_out(s [T, r] · W), W = A [r, N] or B [N, r].
//  - loraTred (lora_tred.wgsl): out (+)= alpha · drop(x)ᵀ [A, T] · s [T, r], stored [A, r] or [r, A];
//    reduction over T, split like loraDown.
// (vec4 variants of down/tred were 2–3× slower on the H200, run 10, bench/NOTES.md v9: removed.)
// Dropout (inverted, by the masked tensor's linear index, seed = seed + seedBase[0]) hashes as
// matmul.wgsl does, so masks are bit-identical to the generic GEMM's. Every split is summed in a
// fixed order: results are deterministic.

import type { Gpu } from '../core/context';
import { packUniform, type Tensor } from '../core/tensor';
import downBody from '../../../shaders/lora_down.wgsl';
import upBody from '../../../shaders/lora_up.wgsl';
import tredBody from '../../../shaders/lora_tred.wgsl';
import dropoutHashCode from '../../../shaders/dropout_hash.wgsl';
import reduceCode from '../../../shaders/lora_reduce.wgsl';
import { dropThreshold, zeroSeedBase } from './matmul';
import { grid1d } from './grid';
import { scratchTensor } from '../core/scratch';

// The kernels with the dropout mask they share with matmul.wgsl (built once: the pipeline cache key).
const downCode = downBody + dropoutHashCode;
const upCode = upBody + dropoutHashCode;
const tredCode = tredBody + dropoutHashCode;

/** Dropout of one kernel call (p > 0), or null. */
export interface LoraDrop { p: number; seed: number; seedBase?: Tensor }

/**
 * Tuning: workgroups each split kernel aims for, the least L (down) / T (tred) per split, and
 * the fewest tokens that take these kernels in loraForward/loraBackward (H200 run 10: 1.8× the
 * generic GEMMs at T = 2048, 0.9× at T = 512, where both are bound by per-dispatch cost).
 */
export const loraGemmSettings = { targetWorkgroups: 512, minLSplit: 256, minTSplit: 128, minTokens: 1024 };

const DOWN_TILE = 64; // rows per workgroup (lora_down.wgsl TILE)
const DOWN_LS = 128; // lora_down.wgsl LS
const UP_TT = 32; // lora_up.wgsl TT
const TRED_TS = 64; // lora_tred.wgsl TS

const partials = (gpu: Gpu, n: number) => scratchTensor(gpu, 'lora.partials', n, { min: 1 << 16 });

function dropWords(d: LoraDrop | null): [number, number, { f: number }] {
  return d && d.p > 0 ? [d.seed >>> 0, dropThreshold(d.p), { f: 1 / (1 - d.p) }] : [0, 0, { f: 1 }];
}
const seedBuf = (gpu: Gpu, d: LoraDrop | null) => d?.seedBase?.buffer ?? zeroSeedBase(gpu);
const on = (d: LoraDrop | null) => (d && d.p > 0 ? 1 : 0);

/** Splits of a reduced length `len` (multiple-of-`step` chunks of at least `min`) for `base` workgroups. */
function splitsFor(base: number, len: number, min: number, step: number): { splits: number; chunk: number } {
  const want = Math.ceil(loraGemmSettings.targetWorkgroups / Math.max(base, 1));
  let splits = Math.max(1, Math.min(want, Math.floor(len / min)));
  const chunk = Math.max(step, Math.ceil(len / splits / step) * step);
  splits = Math.max(1, Math.ceil(len / chunk));
  return { splits, chunk };
}

function reduce(gpu: Gpu, out: Tensor, part: Tensor, n: number, splits: number, alpha: number, accumulate: boolean): void {
  gpu.dispatch({ code: reduceCode }, [out.buffer, part.buffer, gpu.uniform(packUniform([n, splits, { f: alpha }, accumulate ? 1 : 0]))],
    grid1d(gpu, Math.ceil(n / 256)));
}

/** out [T, r] = alpha · drop(x) [T, L] · Wᵀ; W = A [r, L], or B [L, r] when wT. T, L, r ≥ 1. */
export function loraDown(gpu: Gpu, out: Tensor, x: Tensor, w: Tensor, T: number, L: number, r: number, wT: boolean, alpha: number, d: LoraDrop | null): void {
  const rowTiles = Math.ceil(T / DOWN_TILE), rb = Math.ceil(r / 16);
  const { splits, chunk } = splitsFor(rowTiles * rb, L, loraGemmSettings.minLSplit, DOWN_LS);
  const u = gpu.uniform(packUniform([T, L, r, { f: alpha }, chunk, ...dropWords(d)]));
  const constants = { W_T: wT ? 1 : 0, DROP: on(d), SPLIT: splits > 1 ? 1 : 0 };
  const dst = splits > 1 ? partials(gpu, splits * T * r) : out;
  gpu.dispatch({ code: downCode, constants }, [dst.buffer, x.buffer, u, seedBuf(gpu, d), w.buffer], [rowTiles, splits, rb]);
  if (splits > 1) reduce(gpu, out, dst, T * r, splits, alpha, false);
}

/** out [T, N] (+)= alpha · drop_out(s [T, r] · W); W = A [r, N], or B [N, r] when wT. T, N, r ≥ 1. */
export function loraUp(gpu: Gpu, out: Tensor, s: Tensor, w: Tensor, T: number, N: number, r: number, wT: boolean, alpha: number, accumulate: boolean, d: LoraDrop | null): void {
  const u = gpu.uniform(packUniform([T, N, r, { f: alpha }, accumulate ? 1 : 0, ...dropWords(d)]));
  gpu.dispatch({ code: upCode, constants: { W_T: wT ? 1 : 0, DROP: on(d), ONE_CHUNK: r <= 16 ? 1 : 0 } }, [out.buffer, s.buffer, u, seedBuf(gpu, d), w.buffer],
    [Math.ceil(N / 256), Math.ceil(T / UP_TT)]);
}

/** out (+)= alpha · drop(x)ᵀ · s: x [T, A], s [T, r]; out [A, r], or [r, A] when outT. A, r ≥ 1. */
export function loraTred(gpu: Gpu, out: Tensor, x: Tensor, s: Tensor, T: number, A: number, r: number, outT: boolean, alpha: number, accumulate: boolean, d: LoraDrop | null): void {
  const colTiles = Math.ceil(A / 256), rb = Math.ceil(r / 16);
  const { splits, chunk } = splitsFor(colTiles * rb, T, loraGemmSettings.minTSplit, TRED_TS);
  const u = gpu.uniform(packUniform([T, A, r, { f: alpha }, accumulate ? 1 : 0, chunk, ...dropWords(d)]));
  const constants = { OUT_T: outT ? 1 : 0, DROP: on(d), SPLIT: splits > 1 ? 1 : 0 };
  const dst = splits > 1 ? partials(gpu, splits * A * r) : out;
  gpu.dispatch({ code: tredCode, constants }, [dst.buffer, x.buffer, u, seedBuf(gpu, d), s.buffer], [colTiles, splits, rb]);
  if (splits > 1) reduce(gpu, out, dst, A * r, splits, alpha, accumulate);
}
