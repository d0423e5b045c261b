// 16-bit (bf16/f16) weights — embedding and lm_head — stored as u16 pairs packed in u32 and
// unpacked in the shader (no shader-f16 needed). With subgroup matrices (tensor cores) and a
// large enough output the matmuls go to mma.ts unless `tile` or `mma: false` is given; else to the
// f32 GEMM v2 (nf4.gemm.ts) where K % 8 == 0, or the older tiles (nf4_gemm_core.wgsl).
//   matmul16          y [M, N] (+)= x [M, K] · Wᵀ  (tiled, GEMV path for M ≤ 4)
//   matmul16Backward  dx [M, K] (+)= dy [M, N] · W
//   embeddingGather   out [T, C] = table[ids]
// W [N = rows, K = cols]. A table larger than maxStorageBufferBindingSize (lm_head 128256×4096
// is 1 GB) is bound in row chunks at buffer offsets, one dispatch per chunk.

import type { Gpu } from '../core/context';
import { check, GpuError } from '../core/errors';
import { packUniform, tensorFrom, type Tensor } from '../core/tensor';
import commonCode from '../../../shaders/w16_common.wgsl';
import loadCode from '../../../shaders/w16_gemm_load.wgsl';
import coreCode from '../../../shaders/nf4_gemm_core.wgsl';
import gemvCode from '../../../shaders/w16_gemv.wgsl';
import embedCode from '../../../shaders/w16_embed.wgsl';
import { grid1d } from './grid';
import { bindingLimit, offsetAlignment, rowChunks, slice } from './nf4.chunks';
import type { Format16 } from './w16.ref';
import { pickTile, type GemmTile } from './nf4.matmul';
import { matmul16BackwardMma, matmul16Mma, useMma } from './mma';
import { nf4GemmV2, useGemmV2 } from './nf4.gemm';

export type { Format16 } from './w16.ref';
export { bf16ToF32, f16ToF32, f32ToBf16, f32ToF16, f32ToW16, w16ToF32 } from './w16.ref';

export interface Weight16 {
  rows: number; // N (vocabulary for embedding / lm_head)
  cols: number; // K (hidden size)
  format: Format16;
  data: Tensor; // u32 [ceil(rows·cols/2)]: element 2i in the low 16 bits of word i
}

/** Tile shapes of nf4_gemm_core.wgsl: BM = BN = 16·TM, register block TM×TN per invocation. */
const TILES = {
  64: { size: 64, code: 'const TM = 4u; const TN = 4u;\n' + loadCode + commonCode + coreCode, bk: 32 },
  128: { size: 128, code: 'const TM = 8u; const TN = 8u;\n' + loadCode + commonCode + coreCode, bk: 16 },
} as const;

const GEMV_CODE = gemvCode + commonCode;
const EMBED_CODE = embedCode + commonCode;
const GEMV_WG = 256;
const GEMV_TPR = 64;
export const W16_GEMV_MAX_M = 4;

/** Upload raw bf16/f16 bits [rows·cols] as a Weight16. */
export function weight16Upload(gpu: Gpu, raw: Uint16Array, rows: number, cols: number, format: Format16, label = 'w16'): Weight16 {
  check(Number.isInteger(rows) && Number.isInteger(cols) && rows > 0 && cols > 0, 'weight16Upload', `bad shape [${rows}, ${cols}]`);
  check(raw.length === rows * cols, 'weight16Upload', `${label}: ${raw.length} values for [${rows}, ${cols}]`);
  check(format === 'bf16' || format === 'f16', 'weight16Upload', `format must be bf16 or f16, got ${format}`);
  const words = Math.ceil(raw.length / 2);
  let u: Uint32Array;
  if (raw.length % 2 === 0 && raw.byteOffset % 4 === 0) u = new Uint32Array(raw.buffer, raw.byteOffset, words);
  else {
    u = new Uint32Array(words);
    new Uint16Array(u.buffer).set(raw);
  }
  return { rows, cols, format, data: tensorFrom(gpu, u, [words], `${label}.${format}`) };
}

/** GPU bytes of a 16-bit weight. */
export function weight16Bytes(rows: number, cols: number): number {
  return Math.ceil((rows * cols) / 2) * 4;
}

function chunks(gpu: Gpu, w: Weight16, op: string) {
  return rowChunks(w.rows, w.cols, 2, bindingLimit(gpu), offsetAlignment(gpu) / 2, op);
}

function wSlice(w: Weight16, row0: number, rows: number) {
  return slice(w.data.buffer, row0 * w.cols * 2, rows * w.cols * 2);
}

function checkBinding(gpu: Gpu, t: Tensor, op: string): void {
  if (t.buffer.size > bindingLimit(gpu))
    throw new GpuError('limit', `${op}: ${t.label} (${t.buffer.size} bytes) exceeds maxStorageBufferBindingSize ${bindingLimit(gpu)}; process fewer tokens at a time`);
}

/** y [M, N] (+)= x [M, K] · Wᵀ. */
export function matmul16(gpu: Gpu, y: Tensor, x: Tensor, w: Weight16, opts: { accumulate?: boolean; gemv?: boolean; tile?: GemmTile; mma?: boolean } = {}): void {
  const N = w.rows, K = w.cols;
  check(x.dtype === 'f32' && y.dtype === 'f32', 'matmul16', 'x and y must be f32');
  check(x.shape.length === 2 && x.shape[1] === K, 'matmul16', `x must be [M, ${K}], got [${x.shape}]`);
  const M = x.shape[0];
  check(M > 0, 'matmul16', 'M must be positive');
  check(y.shape.length === 2 && y.shape[0] === M && y.shape[1] === N, 'matmul16', `y must be [${M}, ${N}], got [${y.shape}]`);
  checkBinding(gpu, x, 'matmul16');
  checkBinding(gpu, y, 'matmul16');
  const acc = opts.accumulate ? 1 : 0;
  const f16 = w.format === 'f16' ? 1 : 0;
  const aligned = K % 2 === 0 ? 1 : 0;
  const useGemv = opts.gemv ?? M <= W16_GEMV_MAX_M;
  check(!useGemv || M <= W16_GEMV_MAX_M, 'matmul16', `the GEMV path takes M ≤ ${W16_GEMV_MAX_M}, got ${M}`);
  if (!useGemv && opts.tile === undefined && useMma(gpu, M, N, opts.mma, K)) return matmul16Mma(gpu, y, x, w, { accumulate: opts.accumulate });
  for (const c of chunks(gpu, w, 'matmul16')) {
    if (useGemv) {
      const u = gpu.uniform(packUniform([M, c.rows, K, acc, N, c.row0, f16]));
      gpu.dispatch({ code: GEMV_CODE, constants: { WG: GEMV_WG, TPR: GEMV_TPR, ALIGNED: aligned } },
        [y.buffer, x.buffer, u, wSlice(w, c.row0, c.rows)], grid1d(gpu, Math.ceil(c.rows / (GEMV_WG / GEMV_TPR))));
    } else if (useGemmV2(K, opts.tile)) {
      nf4GemmV2(gpu, { bwd: false, O: y, A: x, weight: [wSlice(w, c.row0, c.rows)], format: 'w16', M, NO: c.rows, R: K, acc, ldo: N, o0: c.row0, lda: K, a0: 0, wk: K, wrows: c.rows, ebase: 0, wflags: f16 });
    } else {
      const u = gpu.uniform(packUniform([M, c.rows, K, acc, N, c.row0, K, 0, K, c.rows, 0, f16]));
      const t = TILES[opts.tile ?? pickTile(M, c.rows)];
      gpu.dispatch({ code: t.code, constants: { BK: t.bk, BWD: 0, ALIGNED: aligned } },
        [y.buffer, x.buffer, u, wSlice(w, c.row0, c.rows)], [Math.ceil(c.rows / t.size), Math.ceil(M / t.size)]);
    }
  }
}

/** dx [M, K] (+)= dy [M, N] · W. */
export function matmul16Backward(gpu: Gpu, dx: Tensor, dy: Tensor, w: Weight16, opts: { accumulate?: boolean; tile?: GemmTile; mma?: boolean } = {}): void {
  const N = w.rows, K = w.cols;
  check(dx.dtype === 'f32' && dy.dtype === 'f32', 'matmul16Backward', 'dx and dy must be f32');
  check(dy.shape.length === 2 && dy.shape[1] === N, 'matmul16Backward', `dy must be [M, ${N}], got [${dy.shape}]`);
  const M = dy.shape[0];
  check(M > 0, 'matmul16Backward', 'M must be positive');
  check(dx.shape.length === 2 && dx.shape[0] === M && dx.shape[1] === K, 'matmul16Backward', `dx must be [${M}, ${K}], got [${dx.shape}]`);
  checkBinding(gpu, dx, 'matmul16Backward');
  checkBinding(gpu, dy, 'matmul16Backward');
  if (opts.tile === undefined && useMma(gpu, M, K, opts.mma, N)) return matmul16BackwardMma(gpu, dx, dy, w, { accumulate: opts.accumulate });
  const f16 = w.format === 'f16' ? 1 : 0;
  const aligned = K % 2 === 0 ? 1 : 0;
  chunks(gpu, w, 'matmul16Backward').forEach((c, i) => {
    const acc = i > 0 || opts.accumulate ? 1 : 0;
    if (useGemmV2(K, opts.tile)) {
      nf4GemmV2(gpu, { bwd: true, O: dx, A: dy, weight: [wSlice(w, c.row0, c.rows)], format: 'w16', M, NO: K, R: c.rows, acc, ldo: K, o0: 0, lda: N, a0: c.row0, wk: K, wrows: c.rows, ebase: 0, wflags: f16 });
      return;
    }
    const u = gpu.uniform(packUniform([M, K, c.rows, acc, K, 0, N, c.row0, K, c.rows, 0, f16]));
    const t = TILES[opts.tile ?? pickTile(M, K)];
    gpu.dispatch({ code: t.code, constants: { BK: t.bk, BWD: 1, ALIGNED: aligned } },
      [dx.buffer, dy.buffer, u, wSlice(w, c.row0, c.rows)], [Math.ceil(K / t.size), Math.ceil(M / t.size)]);
  });
}

/**
 * out [T, C] f32 = table[ids] (ids [T] i32). Ids outside [0, V) give zero rows in the shader;
 * pass `hostIds` when they are at hand to get a clear error instead.
 */
export function embeddingGather(gpu: Gpu, out: Tensor, ids: Tensor, table: Weight16, hostIds?: ArrayLike<number>): void {
  const V = table.rows, C = table.cols;
  check(ids.dtype === 'i32' && ids.shape.length === 1, 'embeddingGather', `ids must be [T] i32, got [${ids.shape}] ${ids.dtype}`);
  const T = ids.shape[0];
  check(out.dtype === 'f32' && out.shape.length === 2 && out.shape[0] === T && out.shape[1] === C,
    'embeddingGather', `out must be [${T}, ${C}] f32, got [${out.shape}] ${out.dtype}`);
  if (hostIds) {
    check(hostIds.length === T, 'embeddingGather', `${hostIds.length} host ids for T=${T}`);
    for (let t = 0; t < T; t++) {
      const id = hostIds[t];
      check(Number.isInteger(id) && id >= 0 && id < V, 'embeddingGather', `token id ${id} at position ${t} is outside the vocabulary [0, ${V})`);
    }
  }
  checkBinding(gpu, out, 'embeddingGather');
  if (T === 0) return;
  const f16 = table.format === 'f16' ? 1 : 0;
  chunks(gpu, table, 'embeddingGather').forEach((c, i) => {
    const u = gpu.uniform(packUniform([T, C, V, c.row0, c.rows, i === 0 ? 1 : 0, f16]));
    gpu.dispatch({ code: EMBED_CODE, constants: { WG: 256 } },
      [out.buffer, ids.buffer, u, wSlice(table, c.row0, c.rows)], grid1d(gpu, Math.ceil((T * C) / 256)));
  });
}
