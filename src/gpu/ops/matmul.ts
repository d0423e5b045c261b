// Generic f32 GEMM: C[M,N] (+)= alpha · op(A) · op(B), used by LoRA and tests.
// Dimension letters: M rows of C, N columns of C, K the reduced dimension.
// a: [M,K] (or [K,M] if transA); b: [K,N] (or [N,K] if transB). K = 0 gives C = 0 (or C
// unchanged with accumulate). The tile shape follows the output: skinny outputs (LoRA's
// r = 8, 16 side) use 16-wide tiles so threads are not wasted. When the output has too few
// tiles to fill the GPU and K is long (x·Aᵀ, dy·B, dyᵀ·xa, dxaᵀ·x in LoRA), K is split over
// workgroups into a scratch buffer and summed by a second, deterministic pass.

import type { Gpu } from '../core/context';
import { check } from '../core/errors';
import { numel, packUniform, type Tensor } from '../core/tensor';
import matmulCode from '../../../shaders/matmul.wgsl';
import dropoutHashCode from '../../../shaders/dropout_hash.wgsl';
import { grid1d } from './grid';
import { checkBindable, checkDim, checkDistinct, checkTensor } from './guards';
import { scratchTensor } from '../core/scratch';

/** matmul.wgsl with the dropout mask it shares with the LoRA kernels (one string: the pipeline cache key). */
const code = matmulCode + dropoutHashCode;

export interface MatmulOpts {
  M: number;
  N: number;
  K: number;
  transA?: boolean;
  transB?: boolean;
  alpha?: number;
  accumulate?: boolean;
}

/** Inverted dropout applied inside the GEMM to one operand (by that buffer's linear index). */
export interface GemmDropout {
  p: number; // drop probability in [0, 1)
  seed: number; // u32
  /** [1] u32 (bits) added to `seed` on the GPU (the step's part of the seed; default 0). */
  seedBase?: Tensor;
  on: 'a' | 'b' | 'c'; // the operand whose elements are masked ('c': the new alpha·AB term)
}

/** The integer threshold: an element is dropped when (hash >> 8) < dropThreshold(p). */
export function dropThreshold(p: number): number {
  return Math.round(p * 2 ** 24);
}

interface Tile { BM: number; BN: number; TM: number; TN: number }

/**
 * Split-K tuning: workgroups we aim for before splitting K (~4 per compute unit of a 132-SM GPU),
 * and the least K per split (128 = 8 tile steps). H200 run 41 (bench/lora.ts --generic-sweep,
 * NOTES v33): LoRA's products at 512 tokens 45.5 → 40.1 ms per step with 512 instead of 256;
 * 1024 with 64 per split 39.1; fewer K per split than 64, or more workgroups, slower.
 */
export const matmulSettings = { targetWorkgroups: 512, minKPerSplit: 128 };

/** Number of K splits and K per split (a multiple of BK) for an output of `tiles` tiles. */
export function splitK(tiles: number, K: number, BK = 16): { splits: number; kSplit: number } {
  const { targetWorkgroups, minKPerSplit } = matmulSettings;
  let splits = Math.min(Math.ceil(targetWorkgroups / Math.max(tiles, 1)), Math.floor(K / minKPerSplit));
  if (tiles >= targetWorkgroups / 2 || splits <= 1) return { splits: 1, kSplit: Math.max(K, 1) };
  const kSplit = Math.ceil(K / splits / BK) * BK;
  splits = Math.ceil(K / kSplit);
  return { splits, kSplit };
}

/** seed_base of a seed with no step part: a zero buffer (matmul.wgsl, the LoRA kernels; never written). */
export function zeroSeedBase(gpu: Gpu): GPUBuffer {
  return scratchTensor(gpu, 'zeroSeedBase', 4, { dtype: 'i32' }).buffer;
}

const splitScratch = (gpu: Gpu, n: number) => scratchTensor(gpu, 'matmul.splitK', n, { min: 1 << 16 });

function tileFor(M: number, N: number): Tile {
  const BM = M <= 16 ? 16 : 64;
  const BN = N <= 16 ? 16 : 64;
  return { BM, BN, TM: BM / 16, TN: BN / 16 };
}

export function matmul(gpu: Gpu, c: Tensor, a: Tensor, b: Tensor, opts: MatmulOpts): void {
  gemm(gpu, c, a, b, opts, null, 'matmul');
}

/** matmul with inverted dropout fused into one operand's loads (LoRA). */
export function matmulDropout(gpu: Gpu, c: Tensor, a: Tensor, b: Tensor, opts: MatmulOpts, drop: GemmDropout): void {
  gemm(gpu, c, a, b, opts, drop, 'matmulDropout');
}

function gemm(gpu: Gpu, c: Tensor, a: Tensor, b: Tensor, opts: MatmulOpts, drop: GemmDropout | null, op: string): void {
  const { M, N, K } = opts;
  checkDim(op, 'M', M);
  checkDim(op, 'N', N);
  checkDim(op, 'K', K);
  checkTensor(op, 'c', c, M * N);
  checkTensor(op, `a (${opts.transA ? 'K×M' : 'M×K'})`, a, M * K);
  checkTensor(op, `b (${opts.transB ? 'N×K' : 'K×N'})`, b, K * N);
  checkDistinct(op, c, a, 'c and a');
  checkDistinct(op, c, b, 'c and b');
  checkBindable(gpu, op, c, a, b);
  const alpha = opts.alpha ?? 1;
  check(Number.isFinite(alpha), op, `alpha must be finite, got ${alpha}`);
  let DROP = 0;
  let thresh = 0;
  let invKeep = 1;
  let seed = 0;
  if (drop && drop.p > 0) {
    check(drop.p < 1, op, `dropout probability must be in [0, 1), got ${drop.p}`);
    DROP = { a: 1, b: 2, c: 3 }[drop.on];
    thresh = dropThreshold(drop.p);
    invKeep = 1 / (1 - drop.p);
    seed = drop.seed >>> 0;
    if (drop.seedBase) {
      checkTensor(op, 'seedBase', drop.seedBase, null, 'i32');
      check(numel(drop.seedBase.shape) >= 1, op, 'seedBase must hold one value');
      checkDistinct(op, c, drop.seedBase, 'c and seedBase');
    }
  }
  if (M === 0 || N === 0) return;
  const t = tileFor(M, N);
  const gx = Math.ceil(N / t.BN), gy = Math.ceil(M / t.BM);
  const { splits, kSplit } = splitK(gx * gy, K);
  const constants = {
    BM: t.BM, BN: t.BN, BK: 16, TM: t.TM, TN: t.TN, WG_X: 16, WG_Y: 16,
    TRANS_A: opts.transA ? 1 : 0, TRANS_B: opts.transB ? 1 : 0, DROP, SPLIT: splits > 1 ? 1 : 0,
  };
  const u = gpu.uniform(packUniform([
    M, N, K, { f: alpha }, opts.accumulate ? 1 : 0, seed, thresh, { f: invKeep }, kSplit, splits,
  ]));
  const sb = drop?.seedBase?.buffer ?? zeroSeedBase(gpu);
  if (splits === 1) {
    gpu.dispatch({ code, constants }, [c.buffer, a.buffer, u, sb, b.buffer], [gx, gy]);
    return;
  }
  const part = splitScratch(gpu, splits * M * N);
  gpu.dispatch({ code, constants }, [part.buffer, a.buffer, u, sb, b.buffer], [gx, gy, splits]);
  gpu.dispatch({ code, entry: 'splitk_reduce', constants: { DROP } }, [c.buffer, part.buffer, u, sb], grid1d(gpu, Math.ceil((M * N) / 256)));
}
