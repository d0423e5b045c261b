// LoRA adapter on one linear layer (PEFT semantics): y += scale · B(A(dropout(x))), with
// scale = lora_alpha / r. Dimension letters: T tokens, K in_features, N out_features, r rank.
// A = lora_A.weight [r, K], B = lora_B.weight [N, r] (PyTorch layout, y = x·Aᵀ·Bᵀ).
// Dropout: inverted (kept values × 1/(1-p)), mask element (t, k) decided by an integer hash
// of (seed, t·K + k), so the backward recomputes the forward's mask from the same seed without
// storing it; p = 0 skips the mask entirely. Six skinny products forward+backward, each run by
// a kernel of lora.gemm.ts that streams its big operand (x, dy) or output (y, dx) once
// (lora_down/up/tred.wgsl); `tiled` selects the former generic GEMMs (matmul.wgsl) instead.
// The forward at T ≤ LORA_SMALL_MAX_T without dropout (decode) runs two GEMV kernels instead
// (lora_xa.wgsl, lora_yb.wgsl), and nf4Matmul can fuse the second into the base GEMV.

import type { Gpu } from '../core/context';
import { check } from '../core/errors';
import { numel, packUniform, type Tensor } from '../core/tensor';
import { placeholder } from '../core/scratch';
import xaBody from '../../../shaders/lora_xa.wgsl';
import ybCode from '../../../shaders/lora_yb.wgsl';
import { matmul, matmulDropout, type GemmDropout } from './matmul';
import { grid1d } from './grid';
import { checkBindable, checkDistinct, checkTensor } from './guards';
import { loraDown, loraGemmSettings, loraTred, loraUp, type LoraDrop } from './lora.gemm';
import { reduceVariant, reduceVariants } from './reduce';

const xaCodes = reduceVariants(xaBody); // the M sums with subgroup operations / through workgroup memory

/** Largest T that takes the small-M (GEMV) forward when dropout is off. */
export const LORA_SMALL_MAX_T = 4;

/** Whether the forward of T tokens with in_features K runs the small-M GEMVs (lora_xa.wgsl). */
export function loraSmallApplies(T: number, K: number, dropout: number): boolean {
  return T <= LORA_SMALL_MAX_T && K % 4 === 0 && dropout === 0;
}

export interface LoraOpts {
  scale: number; // lora_alpha / r
  dropout: number; // lora_dropout probability p in [0, 1)
  seed: number; // u32; the same seed must be given to the matching backward
  /** [1] u32 bits added to `seed` on the GPU (the step's part: see forward.ts stepSeedBase). */
  seedBase?: Tensor;
  /** Run the generic tiled GEMMs of matmul.wgsl (the former path; tests, benchmarks), also at small T. */
  tiled?: boolean;
}

interface Dims { T: number; K: number; N: number; r: number }

function dims(op: string, x: Tensor, A: Tensor, B: Tensor, opts: LoraOpts): Dims {
  check(A.shape.length === 2 && B.shape.length === 2, op, `A must be [r, K] and B [N, r], got [${A.shape}] and [${B.shape}]`);
  const [r, K] = A.shape;
  const [N, rB] = B.shape;
  check(rB === r, op, `B [${B.shape}] does not match A's rank r=${r}`);
  check(K > 0, op, 'in_features K must be positive');
  const T = numel(x.shape) / K;
  check(Number.isInteger(T), op, `x [${x.shape}] is not a multiple of in_features K=${K}`);
  check(Number.isFinite(opts.scale), op, `scale must be finite, got ${opts.scale}`);
  check(opts.dropout >= 0 && opts.dropout < 1, op, `dropout must be in [0, 1), got ${opts.dropout}`);
  check(Number.isInteger(opts.seed), op, `seed must be an integer, got ${opts.seed}`);
  checkTensor(op, 'x', x, T * K);
  checkTensor(op, 'A', A, r * K);
  checkTensor(op, 'B', B, N * r);
  return { T, K, N, r };
}

function loraDrop(opts: LoraOpts): LoraDrop | null {
  return opts.dropout > 0 ? { p: opts.dropout, seed: opts.seed, seedBase: opts.seedBase } : null;
}

/** Whether the dedicated training kernels (lora.gemm.ts) run: not `tiled`, T ≥ minTokens, no empty dimension. */
function fastPath(opts: LoraOpts, d: Dims): boolean {
  return !opts.tiled && d.T >= Math.max(1, loraGemmSettings.minTokens) && d.N > 0 && d.r > 0;
}

function checkSeedBase(gpu: Gpu, op: string, opts: LoraOpts): void {
  if (opts.dropout > 0 && opts.seedBase) {
    checkTensor(op, 'seedBase', opts.seedBase, null, 'i32');
    check(numel(opts.seedBase.shape) >= 1, op, 'seedBase must hold one value');
    checkBindable(gpu, op, opts.seedBase);
  }
}

function drop(opts: LoraOpts, on: GemmDropout['on']): GemmDropout | null {
  return opts.dropout > 0 ? { p: opts.dropout, seed: opts.seed, seedBase: opts.seedBase, on } : null;
}

/**
 * y += scale · (dropout(x) · Aᵀ) · Bᵀ; also writes xa = dropout(x) · Aᵀ (unscaled) for the backward.
 */
export function loraForward(
  gpu: Gpu,
  y: Tensor, // [T, N] accumulated into
  xa: Tensor, // [T, r] written, saved for loraBackward
  x: Tensor, // [T, K]
  A: Tensor, // [r, K] lora_A
  B: Tensor, // [N, r] lora_B
  opts: LoraOpts,
): void {
  const op = 'loraForward';
  const dm = dims(op, x, A, B, opts);
  const { T, K, N, r } = dm;
  checkTensor(op, 'y', y, T * N);
  checkTensor(op, 'xa', xa, T * r);
  if (loraSmallApplies(T, K, opts.dropout) && !opts.tiled) {
    loraDownSmall(gpu, xa, x, A);
    loraUpSmall(gpu, y, xa, B, opts.scale);
    return;
  }
  if (fastPath(opts, dm)) {
    for (const [t, n] of [[x, 'x'], [A, 'A'], [B, 'B'], [y, 'y']] as const) checkDistinct(op, xa, t, `xa and ${n}`);
    checkDistinct(op, y, B, 'y and B');
    checkDistinct(op, y, x, 'y and x');
    checkSeedBase(gpu, op, opts);
    checkBindable(gpu, op, y, xa, x, A, B);
    loraDown(gpu, xa, x, A, T, K, r, false, 1, loraDrop(opts));
    loraUp(gpu, y, xa, B, T, N, r, true, opts.scale, true, null);
    return;
  }
  const d = drop(opts, 'a');
  const o = { M: T, N: r, K, transB: true };
  if (d) matmulDropout(gpu, xa, x, A, o, d);
  else matmul(gpu, xa, x, A, o);
  matmul(gpu, y, xa, B, { M: T, N, K: r, transB: true, alpha: opts.scale, accumulate: true });
}

/**
 * Gradients of loraForward. dA, dB and dx are accumulated (+=); scratch [T, r] is overwritten
 * with dxa = scale · dy · B. The same opts (scale, dropout, seed) as the forward.
 */
export function loraBackward(
  gpu: Gpu,
  dA: Tensor, // [r, K] += 
  dB: Tensor, // [N, r] +=
  dx: Tensor, // [T, K] +=
  dy: Tensor, // [T, N]
  x: Tensor, // [T, K] the forward's input (before dropout)
  A: Tensor, // [r, K]
  B: Tensor, // [N, r]
  xa: Tensor, // [T, r] saved by loraForward
  scratch: Tensor, // [T, r] overwritten
  opts: LoraOpts,
): void {
  const op = 'loraBackward';
  const { T, K, N, r } = dims(op, x, A, B, opts);
  checkTensor(op, 'dA', dA, r * K);
  checkTensor(op, 'dB', dB, N * r);
  checkTensor(op, 'dx', dx, T * K);
  checkTensor(op, 'dy', dy, T * N);
  checkTensor(op, 'xa', xa, T * r);
  checkTensor(op, 'scratch', scratch, T * r);
  check(scratch.buffer !== xa.buffer, op, 'scratch and xa must be different buffers');
  if (fastPath(opts, { T, K, N, r })) {
    const ins = [[dy, 'dy'], [x, 'x'], [A, 'A'], [B, 'B'], [xa, 'xa']] as const;
    for (const [o, on] of [[dA, 'dA'], [dB, 'dB'], [dx, 'dx'], [scratch, 'scratch']] as const) {
      for (const [t, n] of ins) checkDistinct(op, o, t, `${on} and ${n}`);
      if (o !== scratch) checkDistinct(op, o, scratch, `${on} and scratch`);
    }
    checkSeedBase(gpu, op, opts);
    checkBindable(gpu, op, dA, dB, dx, dy, x, A, B, xa, scratch);
    const d = loraDrop(opts);
    loraTred(gpu, dB, dy, xa, T, N, r, false, opts.scale, true, null); // dB += scale · dyᵀ · xa
    loraDown(gpu, scratch, dy, B, T, N, r, true, opts.scale, null); // dxa = scale · dy · B
    loraTred(gpu, dA, x, scratch, T, K, r, true, 1, true, d); // dA += dxaᵀ · dropout(x)
    loraUp(gpu, dx, scratch, A, T, K, r, false, 1, true, d); // dx += mask ⊙ (dxa · A)
    return;
  }
  // dB += scale · dyᵀ · xa
  matmul(gpu, dB, dy, xa, { M: N, N: r, K: T, transA: true, alpha: opts.scale, accumulate: true });
  // dxa = scale · dy · B
  matmul(gpu, scratch, dy, B, { M: T, N: r, K: N, alpha: opts.scale });
  // dA += dxaᵀ · dropout(x)
  const dA_ = { M: r, N: K, K: T, transA: true, accumulate: true };
  const dB_ = drop(opts, 'b');
  if (dB_) matmulDropout(gpu, dA, scratch, x, dA_, dB_);
  else matmul(gpu, dA, scratch, x, dA_);
  // dx += mask ⊙ (dxa · A)
  const dx_ = { M: T, N: K, K: r, accumulate: true };
  const dC = drop(opts, 'c');
  if (dC) matmulDropout(gpu, dx, scratch, A, dx_, dC);
  else matmul(gpu, dx, scratch, A, dx_);
}

/** xa [T, r] = x [T, K] · Aᵀ for T ≤ LORA_SMALL_MAX_T (no dropout): a GEMV with r outputs. */
export function loraDownSmall(gpu: Gpu, xa: Tensor, x: Tensor, A: Tensor): void {
  loraDownSmallMulti(gpu, [xa], x, [A]);
}

/**
 * xa_i [T, r] = x [T, K] · A_iᵀ for 1..3 modules reading the same x (q/k/v or gate/up at
 * decode) in one dispatch; T ≤ LORA_SMALL_MAX_T, K % 4 == 0, the same r and K for all.
 */
export function loraDownSmallMulti(gpu: Gpu, xas: readonly Tensor[], x: Tensor, As: readonly Tensor[]): void {
  const op = 'loraDownSmall';
  check(As.length >= 1 && As.length <= 3 && xas.length === As.length, op, `1..3 modules with one xa each, got ${As.length} A and ${xas.length} xa`);
  check(As[0].shape.length === 2, op, `A must be [r, K], got [${As[0].shape}]`);
  const [r, K] = As[0].shape;
  check(K % 4 === 0, op, `K=${K} must be a multiple of 4`);
  const T = numel(x.shape) / K;
  check(Number.isInteger(T) && T >= 1 && T <= LORA_SMALL_MAX_T, op, `x [${x.shape}] must hold 1..${LORA_SMALL_MAX_T} rows of K=${K}`);
  const bufs = new Set<GPUBuffer>([x.buffer]);
  As.forEach((A, i) => {
    checkTensor(op, `A[${i}]`, A, r * K);
    checkTensor(op, `xa[${i}]`, xas[i], T * r);
    check(!bufs.has(xas[i].buffer), op, `xa[${i}] must not alias x or another xa`);
    bufs.add(xas[i].buffer);
  });
  for (const A of As) check(!xas.some((xa) => xa.buffer === A.buffer), op, 'xa must not alias an A');
  checkBindable(gpu, op, x, ...xas, ...As);
  // unused module slots: two distinct placeholders (never written: those workgroups do not exist)
  const xaB = [xas[0].buffer, xas[1]?.buffer ?? placeholder(gpu, 0).buffer, xas[2]?.buffer ?? placeholder(gpu, 1).buffer];
  const aB = [As[0].buffer, As[1]?.buffer ?? As[0].buffer, As[2]?.buffer ?? As[0].buffer];
  gpu.dispatch({ code: reduceVariant(gpu, xaCodes), constants: { WG: 256 } }, [...xaB, x.buffer, gpu.uniform(packUniform([T, K, r])), ...aB], [r, As.length]);
}

/** y [T, N] += scale · xa [T, r] · Bᵀ (B [N, r]): one invocation per output column. */
export function loraUpSmall(gpu: Gpu, y: Tensor, xa: Tensor, B: Tensor, scale: number): void {
  const op = 'loraUpSmall';
  check(B.shape.length === 2, op, `B must be [N, r], got [${B.shape}]`);
  const [N, r] = B.shape;
  const T = numel(xa.shape) / r;
  check(Number.isInteger(T) && T >= 1, op, `xa [${xa.shape}] is not a multiple of r=${r}`);
  checkTensor(op, 'y', y, T * N);
  checkTensor(op, 'B', B, N * r);
  check(Number.isFinite(scale), op, `scale must be finite, got ${scale}`);
  check(y.buffer !== xa.buffer && y.buffer !== B.buffer, op, 'y must not alias xa or B');
  checkBindable(gpu, op, y, xa, B);
  gpu.dispatch({ code: ybCode, constants: { WG: 256 } }, [y.buffer, xa.buffer, gpu.uniform(packUniform([T, N, r, { f: scale }])), B.buffer],
    grid1d(gpu, Math.ceil(N / 256)));
}
