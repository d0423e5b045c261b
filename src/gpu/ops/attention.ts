// Causal grouped-query attention (Llama 3.1, HF semantics): scores = q·kᵀ/√D, causal mask plus a
// block-diagonal mask for packed sequences (segIds), softmax in f32, query head h uses kv head
// h / (H/Hkv). Flash-attention style: the forward saves only the per-row log-sum-exp, the
// backward recomputes probabilities from q, k and lse, so memory is linear in T.
// Letters: T tokens, H = nHeads, Hkv = nKvHeads, D = headDim, B new tokens (decode).
// Forward and backward on tensor cores where the device has them ('mma', attention.mma.ts and
// attention.mma.bwd.ts: f16 operands, f32 softmax/accumulation; bench/NOTES.md v8, v9). f32 kernel
// families: 'tiled' (register-tiled, vec4, the G query heads of a kv head share K/V tiles, the
// next tile prefetched into registers: attention.tiled.ts / attention.tiled.bwd.ts, NOTES v25, v26, v31;
// needs D % 4 == 0) and 'simple' (one score per thread; any D, the fallback). Tile sizes are
// chosen from the device's maxComputeWorkgroupStorageSize.

import type { Gpu } from '../core/context';
import { check, GpuError } from '../core/errors';
import { byteSize, packUniform, type Tensor } from '../core/tensor';
import { placeholder, scratchTensor } from '../core/scratch';
import fwdCode from '../../../shaders/attention_fwd.wgsl';
import dqCode from '../../../shaders/attention_bwd_dq.wgsl';
import dkvCode from '../../../shaders/attention_bwd_dkv.wgsl';
import kvCode from '../../../shaders/attention_kv.wgsl';
import reduceCode from '../../../shaders/attention_bwd_reduce.wgsl';
import { grid1d } from './grid';
import { attnMmaFwdSource, attnMmaFwdTiles, useAttnMma, type AttnOptions } from './attention.mma';
import { attnMmaBackward, attnMmaBwdTiles } from './attention.mma.bwd';
import { attnFwdPfSource, attnFwdVariant, type PfConfig } from './attention.tiled';
import { attnBwdDkvPfSource, attnBwdDqPfSource, attnBwdVariant, type BwdPfConfig } from './attention.tiled.bwd';

export interface AttnShape {
  nHeads: number;
  nKvHeads: number;
  headDim: number;
}

const WG = 64;
const TILE_CANDIDATES: [number, number][] = [
  [32, 32], [32, 16], [16, 32], [16, 16], [16, 8], [8, 16], [8, 8], [8, 4], [4, 8], [4, 4], [2, 2], [1, 1],
];

/**
 * Workgroup bytes of each kernel for tiles (a, b) and head dim D (mirrors the WGSL declarations;
 * [*, D] tiles have a padded row stride of D + 1 floats against shared-memory bank conflicts).
 */
export const ATTN_SMEM = {
  // fwd/decode, (BR, BC): Qs, Os [BR,D]; KVs [BC,D]; Ss [BR,BC]; 4 per-row, 1 per-col, vec2
  fwd: (br: number, bc: number, d: number) => 4 * (2 * br * (d + 1) + bc * (d + 1) + br * bc + 4 * br + bc + 2),
  // dq, (BR, BC): Qs, dOs, dQs [BR,D]; KVs [BC,D]; Ss [BR,BC]; 3 per-row, 1 per-col, vec2
  dq: (br: number, bc: number, d: number) => 4 * (3 * br * (d + 1) + bc * (d + 1) + br * bc + 3 * br + bc + 2),
  // dkv, (BC, BR): Ks, Vs, dKs, dVs [BC,D]; Qs, dOs [BR,D]; Ps, dSs [BR,BC]; 3 per-row, 1 per-col, vec2
  dkv: (bc: number, br: number, d: number) =>
    4 * (4 * bc * (d + 1) + 2 * br * (d + 1) + 2 * br * bc + 3 * br + bc + 2),
};

/** Largest tile pair from the candidates whose workgroup storage fits the device limit. */
export function attentionTiles(gpu: Gpu, kernel: keyof typeof ATTN_SMEM, headDim: number): [number, number] {
  const limit = gpu.info.limits.maxComputeWorkgroupStorageSize ?? 16384;
  for (const [a, b] of TILE_CANDIDATES) if (ATTN_SMEM[kernel](a, b, headDim) <= limit) return [a, b];
  throw new GpuError('limit', `attention: head_dim ${headDim} does not fit ${limit} bytes of workgroup storage`);
}

/**
 * Which kernel family to use: 'auto' = tensor cores where the device has them (attention.mma.ts),
 * else tiled where it fits, else simple; 'mma' forces the tensor-core kernels.
 */
export type AttnKernels = 'auto' | 'mma' | 'tiled' | 'simple';

/** The tiled forward's config (attention.tiled.ts) unless `kernels` is 'simple' or it does not fit; 'tiled' demands it. */
function tiledFwd(gpu: Gpu, d: number, kernels: AttnKernels): PfConfig | undefined {
  if (kernels === 'simple') return undefined;
  const c = attnFwdVariant(gpu, d);
  if (kernels === 'tiled' && !c) throw new GpuError('limit', `attention: tiled kernels do not fit head_dim ${d} on this device`);
  return c;
}

/** The tiled backward's configs (attention.tiled.bwd.ts), as tiledFwd. */
function tiledBwd(gpu: Gpu, d: number, kernels: AttnKernels): BwdPfConfig | undefined {
  if (kernels === 'simple') return undefined;
  const c = attnBwdVariant(gpu, d);
  if (kernels === 'tiled' && !c) throw new GpuError('limit', `attention: tiled kernels do not fit head_dim ${d} on this device`);
  return c;
}

/** Scratch of the tiled backward: D_i [H, T]; per-head dk, dv shares [T, H*D] (per-device, grown on demand). */
function bwdScratch(gpu: Gpu, t: number, h: number, d: number) {
  const buf = (name: string, n: number) => scratchTensor(gpu, name, n, { min: 4 }).buffer;
  return { di: buf('attention.di', t * h), dkp: buf('attention.dkp', t * h * d), dvp: buf('attention.dvp', t * h * d) };
}

function checkShape(op: string, s: AttnShape): void {
  const { nHeads: h, nKvHeads: hkv, headDim: d } = s;
  check([h, hkv, d].every((x) => Number.isInteger(x) && x > 0), op, `bad shape ${JSON.stringify(s)}`);
  check(h % hkv === 0, op, `nHeads ${h} is not a multiple of nKvHeads ${hkv}`);
}

function checkTensor(op: string, t: Tensor, name: string, shape: number[], dtype = 'f32'): void {
  check(t.dtype === dtype, op, `${name} must be ${dtype}, got ${t.dtype}`);
  check(
    t.shape.length === shape.length && t.shape.every((x, i) => x === shape[i]),
    op, `${name} has shape [${t.shape}], expected [${shape}]`,
  );
}

function checkBinding(gpu: Gpu, op: string, ...ts: Tensor[]): void {
  const max = gpu.info.limits.maxStorageBufferBindingSize;
  for (const t of ts)
    if (max && byteSize(t.shape, t.dtype) > max)
      throw new GpuError('limit', `${op}: ${t.label} (${byteSize(t.shape, t.dtype)} bytes) exceeds maxStorageBufferBindingSize ${max}`);
}

function checkDistinct(op: string, written: Tensor[], all: Tensor[]): void {
  for (const w of written)
    check(all.filter((t) => t.buffer === w.buffer).length === 1, op, `${w.label} is written and must not share a buffer with another argument`);
}


function params(gpu: Gpu, tq: number, tk: number, s: AttnShape, qOff: number, useSeg: boolean, writeLse: boolean) {
  return gpu.uniform(packUniform([
    tq, tk, s.nHeads, s.nKvHeads, qOff, useSeg ? 1 : 0, writeLse ? 1 : 0, { f: 1 / Math.sqrt(s.headDim) },
  ]));
}

/** out = softmax(q·kᵀ/√D + mask)·v per head; lse[h, i] = log Σ_j exp(score). */
export function attentionForward(
  gpu: Gpu,
  out: Tensor, // [T, H*D] f32
  lse: Tensor, // [H, T] f32
  q: Tensor, // [T, H*D] f32
  k: Tensor, // [T, Hkv*D] f32
  v: Tensor, // [T, Hkv*D] f32
  segIds: Tensor, // [T] i32, non-decreasing
  shape: AttnShape,
  kernels: AttnKernels = 'auto',
  opts: AttnOptions = {},
): void {
  const op = 'attentionForward';
  checkShape(op, shape);
  const { nHeads: h, nKvHeads: hkv, headDim: d } = shape;
  const T = segIds.shape[0];
  checkTensor(op, segIds, 'segIds', [T], 'i32');
  check(T > 0, op, 'T must be positive');
  checkTensor(op, q, 'q', [T, h * d]);
  checkTensor(op, k, 'k', [T, hkv * d]);
  checkTensor(op, v, 'v', [T, hkv * d]);
  checkTensor(op, out, 'out', [T, h * d]);
  checkTensor(op, lse, 'lse', [h, T]);
  checkDistinct(op, [out, lse], [out, lse, q, k, v, segIds]);
  checkBinding(gpu, op, out, q, k, v);
  if (useAttnMma(gpu, d, kernels, !!opts.source)) {
    const tiles = attnMmaFwdTiles(gpu, d)!;
    const code = attnMmaFwdSource(d, tiles);
    gpu.dispatch(
      { code: opts.source ? opts.source(code) : code },
      [out.buffer, lse.buffer, q.buffer, k.buffer, v.buffer, segIds.buffer, params(gpu, T, T, shape, 0, true, true)],
      [Math.ceil((T * (h / hkv)) / tiles.br), hkv],
    );
    return;
  }
  const tf = tiledFwd(gpu, d, kernels === 'mma' ? 'auto' : kernels);
  if (tf) {
    gpu.dispatch(
      { code: attnFwdPfSource(d, tf) },
      [out.buffer, lse.buffer, q.buffer, k.buffer, v.buffer, segIds.buffer, params(gpu, T, T, shape, 0, true, true)],
      [Math.ceil((T * (h / hkv)) / tf.br), hkv],
    );
    return;
  }
  const [BR, BC] = attentionTiles(gpu, 'fwd', d);
  gpu.dispatch(
    { code: fwdCode, constants: { HD: d, BR, BC, WG } },
    [out.buffer, lse.buffer, q.buffer, k.buffer, v.buffer, segIds.buffer, params(gpu, T, T, shape, 0, true, true)],
    [Math.ceil(T / BR), h],
  );
}

/**
 * Gradients of attentionForward: dq [T, H*D], dk, dv [T, Hkv*D] (assigned, not accumulated),
 * from dout and the forward's out and lse. D_i = rowsum(dout ∘ out) is recomputed in-kernel.
 * Deterministic kernels (no float atomics): on tensor cores ('mma'/'auto', attention.mma.bwd.ts)
 * a prep pass, dq per query tile and dk/dv per key tile over the G query heads of its kv head;
 * f32 'tiled': dq (also D_i), per-head dk/dv shares, their sum; 'simple': dk/dv, then dq.
 */
export function attentionBackward(
  gpu: Gpu,
  dq: Tensor, // [T, H*D] f32
  dk: Tensor, // [T, Hkv*D] f32
  dv: Tensor, // [T, Hkv*D] f32
  dout: Tensor, // [T, H*D] f32
  q: Tensor, // [T, H*D] f32
  k: Tensor, // [T, Hkv*D] f32
  v: Tensor, // [T, Hkv*D] f32
  out: Tensor, // [T, H*D] f32
  lse: Tensor, // [H, T] f32
  segIds: Tensor, // [T] i32, non-decreasing
  shape: AttnShape,
  kernels: AttnKernels = 'auto',
  opts: AttnOptions = {},
): void {
  const op = 'attentionBackward';
  checkShape(op, shape);
  const { nHeads: h, nKvHeads: hkv, headDim: d } = shape;
  const T = segIds.shape[0];
  checkTensor(op, segIds, 'segIds', [T], 'i32');
  check(T > 0, op, 'T must be positive');
  for (const [t, n] of [[dq, 'dq'], [dout, 'dout'], [q, 'q'], [out, 'out']] as const) checkTensor(op, t, n, [T, h * d]);
  for (const [t, n] of [[dk, 'dk'], [dv, 'dv'], [k, 'k'], [v, 'v']] as const) checkTensor(op, t, n, [T, hkv * d]);
  checkTensor(op, lse, 'lse', [h, T]);
  checkDistinct(op, [dq, dk, dv], [dq, dk, dv, dout, q, k, v, out, lse, segIds]);
  checkBinding(gpu, op, dq, dout, q, out, dk);
  if (useAttnMma(gpu, d, kernels, !!opts.source) && (kernels === 'mma' || attnMmaBwdTiles(gpu, d))) {
    attnMmaBackward(gpu, dq, dk, dv, dout, q, k, v, out, lse, segIds, h, hkv, d, opts.source);
    return;
  }
  const u = params(gpu, T, T, shape, 0, true, false);
  const tb = tiledBwd(gpu, d, kernels === 'mma' ? 'auto' : kernels);
  if (tb) {
    // dq first: it also writes D_i, which the dk/dv kernel reads; then the per-head dk/dv
    // shares, then their sum over the G query heads of each kv head.
    const s = bwdScratch(gpu, T, h, d);
    gpu.dispatch(
      { code: attnBwdDqPfSource(d, tb.dq) },
      [dq.buffer, s.di, dout.buffer, q.buffer, k.buffer, v.buffer, out.buffer, lse.buffer, segIds.buffer, u],
      [Math.ceil((T * (h / hkv)) / tb.dq.br), hkv],
    );
    gpu.dispatch(
      { code: attnBwdDkvPfSource(d, tb.dkv) },
      [s.dkp, s.dvp, dout.buffer, q.buffer, k.buffer, v.buffer, s.di, lse.buffer, segIds.buffer, u],
      [Math.ceil(T / tb.dkv.bc), h],
    );
    const n = T * hkv * (d / 4);
    const W = 256;
    gpu.dispatch(
      { code: reduceCode, constants: { WG: W } },
      [dk.buffer, dv.buffer, s.dkp, s.dvp, gpu.uniform(packUniform([n, h, hkv, d / 4]))],
      grid1d(gpu, Math.ceil(n / W)),
    );
    return;
  }
  const [BC, BRk] = attentionTiles(gpu, 'dkv', d);
  gpu.dispatch(
    { code: dkvCode, constants: { HD: d, BR: BRk, BC, WG } },
    [dk.buffer, dv.buffer, dout.buffer, q.buffer, k.buffer, v.buffer, out.buffer, lse.buffer, segIds.buffer, u],
    [Math.ceil(T / BC), hkv],
  );
  const [BR, BCq] = attentionTiles(gpu, 'dq', d);
  gpu.dispatch(
    { code: dqCode, constants: { HD: d, BR, BC: BCq, WG } },
    [dq.buffer, dout.buffer, q.buffer, k.buffer, v.buffer, out.buffer, lse.buffer, segIds.buffer, u],
    [Math.ceil(T / BR), h],
  );
}

/** Write B new rows of k and v into the caches at rows startPos .. startPos+B-1. */
export function kvCacheWrite(
  gpu: Gpu,
  kCache: Tensor, // [maxT, Hkv*D] f32
  vCache: Tensor, // [maxT, Hkv*D] f32
  k: Tensor, // [B, Hkv*D] f32
  v: Tensor, // [B, Hkv*D] f32
  startPos: number,
): void {
  const op = 'kvCacheWrite';
  check(kCache.shape.length === 2, op, `kCache must be [maxT, C], got [${kCache.shape}]`);
  const [maxT, C] = kCache.shape;
  const B = k.shape[0];
  checkTensor(op, vCache, 'vCache', [maxT, C]);
  checkTensor(op, kCache, 'kCache', [maxT, C]);
  checkTensor(op, k, 'k', [B, C]);
  checkTensor(op, v, 'v', [B, C]);
  check(Number.isInteger(startPos) && startPos >= 0 && startPos + B <= maxT, op,
    `rows ${startPos}..${startPos + B - 1} do not fit a cache of ${maxT} rows`);
  checkDistinct(op, [kCache, vCache], [kCache, vCache, k, v]);
  const n = B * C;
  const W = 256;
  gpu.dispatch(
    { code: kvCode, constants: { WG: W } },
    [kCache.buffer, vCache.buffer, k.buffer, v.buffer, gpu.uniform(packUniform([n, startPos * C]))],
    grid1d(gpu, Math.ceil(n / W)),
  );
}

/**
 * Attention of B new query tokens at positions len-B .. len-1 over cache rows 0..len-1 (causal
 * among the new tokens; one sequence, no segIds). Same kernel as the forward with a query offset.
 */
export function attentionDecode(
  gpu: Gpu,
  out: Tensor, // [B, H*D] f32
  q: Tensor, // [B, H*D] f32
  kCache: Tensor, // [maxT, Hkv*D] f32
  vCache: Tensor, // [maxT, Hkv*D] f32
  len: number,
  shape: AttnShape,
  kernels: AttnKernels = 'auto',
): void {
  const op = 'attentionDecode';
  checkShape(op, shape);
  const { nHeads: h, nKvHeads: hkv, headDim: d } = shape;
  const B = q.shape[0];
  const maxT = kCache.shape[0];
  check(B > 0, op, 'q must hold at least one token');
  checkTensor(op, q, 'q', [B, h * d]);
  checkTensor(op, out, 'out', [B, h * d]);
  checkTensor(op, kCache, 'kCache', [maxT, hkv * d]);
  checkTensor(op, vCache, 'vCache', [maxT, hkv * d]);
  check(Number.isInteger(len) && len >= B && len <= maxT, op, `len ${len} must be in [B=${B}, maxT=${maxT}]`);
  checkDistinct(op, [out], [out, q, kCache, vCache]);
  checkBinding(gpu, op, out, q, kCache);
  const tf = tiledFwd(gpu, d, kernels === 'mma' ? 'auto' : kernels);
  if (tf) {
    gpu.dispatch(
      { code: attnFwdPfSource(d, tf) },
      [out.buffer, placeholder(gpu, 0).buffer /* no lse */, q.buffer, kCache.buffer, vCache.buffer, q.buffer, params(gpu, B, len, shape, len - B, false, false)],
      [Math.ceil((B * (h / hkv)) / tf.br), hkv],
    );
    return;
  }
  // Few query rows: a row tile just covering B, and long key tiles to stream the cache.
  const limit = gpu.info.limits.maxComputeWorkgroupStorageSize ?? 16384;
  let BR = 1;
  while (BR < Math.min(B, 16)) BR *= 2;
  let BC = [64, 32, 16, 8, 4, 2, 1].find((bc) => ATTN_SMEM.fwd(BR, bc, d) <= limit);
  if (BC === undefined) [BR, BC] = attentionTiles(gpu, 'fwd', d);
  gpu.dispatch(
    { code: fwdCode, constants: { HD: d, BR, BC, WG } },
    [out.buffer, placeholder(gpu, 0).buffer /* no lse */, q.buffer, kCache.buffer, vCache.buffer, q.buffer, params(gpu, B, len, shape, len - B, false, false)],
    [Math.ceil(B / BR), h],
  );
}
