// NF4 matmuls with fused dequantization (re-exported by nf4.ts):
//   nf4Matmul          y [M, N] (+)= x [M, K] · Wᵀ   (tiled; GEMV path for M ≤ 4)
//   nf4MatmulBackward  dx [M, K] (+)= dy [M, N] · W  (tiled)
// With subgroup matrices (tensor cores) and a large enough output both go to mma.ts unless
// `tile` or `mma: false` is given (useMma in mma.ts). Otherwise the f32 tiled GEMM: v2
// (nf4.gemm.ts, nf4_gemm_v2.wgsl) when K % 8 == 0, no `tile` is given and gemmSettings.kernel is
// 'v2' (default); else v1 (nf4_gemm_core.wgsl, 64×64 or 128×128 tiles; `tile` picks it).
// W [N, K] NF4. A W too large for one binding is processed in row chunks (forward: column
// ranges of y; backward: reduction ranges, accumulated into dx).

import type { Gpu } from '../core/context';
import { check, GpuError } from '../core/errors';
import { packUniform, type Tensor } from '../core/tensor';
import commonCode from '../../../shaders/nf4_common.wgsl';
import loadCode from '../../../shaders/nf4_gemm_load.wgsl';
import coreCode from '../../../shaders/nf4_gemm_core.wgsl';
import gemvCode from '../../../shaders/nf4_gemv.wgsl';
import { grid1d } from './grid';
import { bindingLimit, nf4Bindings, offsetAlignment, rowChunks } from './nf4.chunks';
import type { Nf4Weight } from './nf4';
import { nf4MatmulBackwardMma, nf4MatmulMma, useMma } from './mma';
import { nf4GemmV2, useGemmV2 } from './nf4.gemm';
import { loraUpSmall } from './lora';
import { gemvSettings, gemvV2Rows, gemvVecRows, nf4GemvVec, type GemvLora } from './nf4.gemv';

/** Tile shapes of nf4_gemm_core.wgsl: BM = BN = 16·TM, register block TM×TN per invocation. */
const TILES = {
  64: { size: 64, code: 'const TM = 4u; const TN = 4u;\n' + loadCode + commonCode + coreCode, bk: 32 },
  128: { size: 128, code: 'const TM = 8u; const TN = 8u;\n' + loadCode + commonCode + coreCode, bk: 16 },
} as const;
export type GemmTile = keyof typeof TILES;

/** 128×128 tiles once they give enough workgroups to fill a large GPU, else 64×64. */
export function pickTile(M: number, NO: number): GemmTile {
  return Math.ceil(M / 128) * Math.ceil(NO / 128) >= 256 ? 128 : 64;
}
const GEMV_CODE = gemvCode + commonCode;
const GEMV_WG = 256;
const GEMV_TPR = 64;
/** Largest M that takes the GEMV path. */
export const NF4_GEMV_MAX_M = 4;

// The decode GEMVs live in nf4.gemv.ts; re-exported for callers of this module.
export type { GemvLora };
export { gemvVecRows, gemvV2Rows, gemvSettings };

function checkBinding(gpu: Gpu, t: Tensor, op: string): void {
  if (t.buffer.size > bindingLimit(gpu))
    throw new GpuError('limit', `${op}: ${t.label} (${t.buffer.size} bytes) exceeds maxStorageBufferBindingSize ${bindingLimit(gpu)}; process fewer tokens at a time`);
}

function chunks(gpu: Gpu, w: Nf4Weight, op: string) {
  // packed offsets row0·K/2 must be multiples of the offset alignment
  return rowChunks(w.rows, w.cols, 0.5, bindingLimit(gpu), 2 * offsetAlignment(gpu), op);
}

/** y [M, N] (+)= x [M, K] · Wᵀ. */
export function nf4Matmul(gpu: Gpu, y: Tensor, x: Tensor, w: Nf4Weight, opts: { accumulate?: boolean; gemv?: boolean; vec?: boolean; tile?: GemmTile; mma?: boolean; lora?: GemvLora } = {}): void {
  const N = w.rows, K = w.cols;
  check(x.dtype === 'f32' && y.dtype === 'f32', 'nf4Matmul', 'x and y must be f32');
  check(x.shape.length === 2 && x.shape[1] === K, 'nf4Matmul', `x must be [M, ${K}], got [${x.shape}]`);
  const M = x.shape[0];
  check(M > 0, 'nf4Matmul', 'M must be positive');
  check(y.shape.length === 2 && y.shape[0] === M && y.shape[1] === N, 'nf4Matmul', `y must be [${M}, ${N}], got [${y.shape}]`);
  checkBinding(gpu, x, 'nf4Matmul');
  checkBinding(gpu, y, 'nf4Matmul');
  const acc = opts.accumulate ? 1 : 0;
  const dq = w.doubleQuant ? 1 : 0;
  const aligned = K % 8 === 0 ? 1 : 0;
  const useGemv = opts.gemv ?? M <= NF4_GEMV_MAX_M;
  check(!useGemv || M <= NF4_GEMV_MAX_M, 'nf4Matmul', `the GEMV path takes M ≤ ${NF4_GEMV_MAX_M}, got ${M}`);
  const lo = opts.lora;
  if (lo) {
    const r = lo.B.shape[1];
    check(lo.B.shape.length === 2 && lo.B.shape[0] === N && r > 0, 'nf4Matmul', `lora.B must be [${N}, r], got [${lo.B.shape}]`);
    check(lo.xa.shape.length === 2 && lo.xa.shape[0] === M && lo.xa.shape[1] === r, 'nf4Matmul', `lora.xa must be [${M}, ${r}], got [${lo.xa.shape}]`);
    check(Number.isFinite(lo.scale), 'nf4Matmul', `lora.scale must be finite, got ${lo.scale}`);
  }
  const useVec = useGemv && K % 32 === 0 && (opts.vec ?? true);
  // Tensor cores (mma.ts) when the device has them and no f32 variant was asked for.
  if (!useGemv && opts.tile === undefined && useMma(gpu, M, N, opts.mma, K)) {
    nf4MatmulMma(gpu, y, x, w, { accumulate: opts.accumulate });
    if (lo) loraUpSmall(gpu, y, lo.xa, lo.B, lo.scale);
    return;
  }
  for (const c of chunks(gpu, w, 'nf4Matmul')) {
    const wb = nf4Bindings(gpu, w, c.row0, c.rows);
    if (useVec) {
      nf4GemvVec(gpu, y, x, wb, c, K, dq === 1, acc === 1, lo);
    } else if (useGemv) {
      const u = gpu.uniform(packUniform([M, c.rows, K, acc, N, c.row0, c.row0 * K, dq]));
      gpu.dispatch({ code: GEMV_CODE, constants: { WG: GEMV_WG, TPR: GEMV_TPR, ALIGNED: aligned } },
        [y.buffer, x.buffer, u, ...wb], grid1d(gpu, Math.ceil(c.rows / (GEMV_WG / GEMV_TPR))));
    } else if (useGemmV2(K, opts.tile)) {
      nf4GemmV2(gpu, { bwd: false, O: y, A: x, weight: wb, M, NO: c.rows, R: K, acc, ldo: N, o0: c.row0, lda: K, a0: 0, wk: K, wrows: c.rows, ebase: c.row0 * K, wflags: dq });
    } else {
      const u = gpu.uniform(packUniform([M, c.rows, K, acc, N, c.row0, K, 0, K, c.rows, c.row0 * K, dq]));
      const t = TILES[opts.tile ?? pickTile(M, c.rows)];
      gpu.dispatch({ code: t.code, constants: { BK: t.bk, BWD: 0, ALIGNED: aligned } },
        [y.buffer, x.buffer, u, ...wb], [Math.ceil(c.rows / t.size), Math.ceil(M / t.size)]);
    }
  }
  if (lo && !useVec) loraUpSmall(gpu, y, lo.xa, lo.B, lo.scale);
}

/** dx [M, K] (+)= dy [M, N] · W. */
export function nf4MatmulBackward(gpu: Gpu, dx: Tensor, dy: Tensor, w: Nf4Weight, opts: { accumulate?: boolean; tile?: GemmTile; mma?: boolean } = {}): void {
  const N = w.rows, K = w.cols;
  check(dx.dtype === 'f32' && dy.dtype === 'f32', 'nf4MatmulBackward', 'dx and dy must be f32');
  check(dy.shape.length === 2 && dy.shape[1] === N, 'nf4MatmulBackward', `dy must be [M, ${N}], got [${dy.shape}]`);
  const M = dy.shape[0];
  check(M > 0, 'nf4MatmulBackward', 'M must be positive');
  check(dx.shape.length === 2 && dx.shape[0] === M && dx.shape[1] === K, 'nf4MatmulBackward', `dx must be [${M}, ${K}], got [${dx.shape}]`);
  checkBinding(gpu, dx, 'nf4MatmulBackward');
  checkBinding(gpu, dy, 'nf4MatmulBackward');
  if (opts.tile === undefined && useMma(gpu, M, K, opts.mma, N)) return nf4MatmulBackwardMma(gpu, dx, dy, w, { accumulate: opts.accumulate });
  const dq = w.doubleQuant ? 1 : 0;
  const aligned = K % 8 === 0 ? 1 : 0;
  chunks(gpu, w, 'nf4MatmulBackward').forEach((c, i) => {
    const acc = i > 0 || opts.accumulate ? 1 : 0;
    if (useGemmV2(K, opts.tile)) {
      nf4GemmV2(gpu, { bwd: true, O: dx, A: dy, weight: nf4Bindings(gpu, w, c.row0, c.rows), M, NO: K, R: c.rows, acc, ldo: K, o0: 0, lda: N, a0: c.row0, wk: K, wrows: c.rows, ebase: c.row0 * K, wflags: dq });
      return;
    }
    const u = gpu.uniform(packUniform([M, K, c.rows, acc, K, 0, N, c.row0, K, c.rows, c.row0 * K, dq]));
    const t = TILES[opts.tile ?? pickTile(M, K)];
    gpu.dispatch({ code: t.code, constants: { BK: t.bk, BWD: 1, ALIGNED: aligned } },
      [dx.buffer, dy.buffer, u, ...nf4Bindings(gpu, w, c.row0, c.rows)], [Math.ceil(K / t.size), Math.ceil(M / t.size)]);
  });
}
