// Tensor-core (WGSL subgroup-matrix) variants of the NF4 matmuls, used by nf4Matmul /
// nf4MatmulBackward when the device has `chromium-experimental-subgroup-matrix` with the
// f16×f16→f32 16×16×16 configuration, shader-f16, subgroups of exactly 32, and M ≥ 16:
//   nf4MatmulMma          y [M, N] (+)= x [M, K] · Wᵀ
//   nf4MatmulBackwardMma  dx [M, K] (+)= dy [M, N] · W
// W [N, K] NF4. Each call first records a row-scale pass over the left operand (x or dy,
// nf4_mma_scale.wgsl: a power of two per row, exact) into a per-device scratch buffer, then the
// GEMM (nf4_mma_core.wgsl + nf4_mma_load.wgsl): x/dy rows and dequantized W go to workgroup
// memory as f16, products accumulate in f32. Numerics: f16 rounding of both inputs gives
// ~1e-3 relative error against the f32 path (see bench/NOTES.md, "Tensor cores").

import type { Gpu } from '../core/context';
import { check } from '../core/errors';
import { createTensor, packUniform, type Tensor } from '../core/tensor';
import commonCode from '../../../shaders/nf4_common.wgsl';
import coreCode from '../../../shaders/nf4_mma_core.wgsl';
import loadCode from '../../../shaders/nf4_mma_load.wgsl';
import scaleCode from '../../../shaders/nf4_mma_scale.wgsl';
import { grid1d } from './grid';
import { bindingLimit, nf4Bindings, offsetAlignment, rowChunks } from './nf4.chunks';
import type { Nf4Weight } from './nf4';

/** Smallest M routed to the tensor-core path (one 16-row subgroup matrix). */
export const MMA_MIN_M = 16;
/**
 * Fewest 64×64 output tiles for the automatic route: below it too few workgroups fill the GPU
 * and the f32 kernels were faster (H200: M=37 2.1 vs 3.1 TFLOP/s; 512×1024 forward 6.1 vs 9.3).
 */
export const MMA_MIN_TILES = 256;

/**
 * Global switches: `enabled` (automatic routing; the per-call `mma` option overrides it),
 * `diagnosticOff` (emit `diagnostic(off, chromium_experimental.subgroup_matrix_uniformity)`),
 * `skipDeviceCheck` (bench/mma-check.ts: force the path where a requirement is not reported).
 */
export const mmaSettings = { enabled: true, diagnosticOff: false, skipDeviceCheck: false };

interface MmaTile { bm: number; bn: number; bk: number; wm: number; wn: number }
/**
 * 128×128 (8 subgroups of 32×64) for large outputs, 64×64 (4 subgroups of 32×32) otherwise.
 * BK = 16 measured fastest on an H200 (26–30 TFLOP/s vs 16–19 at BK = 32 and 17–20 at 64: the
 * smaller workgroup-memory footprint keeps more workgroups per SM); 32×64 subgroup blocks were
 * as fast or faster than 64×32 (21 → 26–28 TFLOP/s on the 14336-wide shapes). bench/NOTES.md.
 */
export const MMA_TILES: Record<MmaTileSize, MmaTile> = {
  128: { bm: 128, bn: 128, bk: 16, wm: 32, wn: 64 },
  64: { bm: 64, bn: 64, bk: 16, wm: 32, wn: 32 },
};
export type MmaTileSize = 64 | 128;

export function pickMmaTile(M: number, NO: number): MmaTileSize {
  return Math.ceil(M / 128) * Math.ceil(NO / 128) >= 264 ? 128 : 64;
}

interface SubgroupMatrixConfig { componentType: string; resultComponentType: string; M: number; N: number; K: number }
interface AdapterInfoLike { subgroupMatrixConfigs?: readonly SubgroupMatrixConfig[]; subgroupMinSize?: number; subgroupMaxSize?: number }

/** Adapter info of the device (GPUDevice.adapterInfo; absent in older runtimes). */
function adapterInfo(gpu: Gpu): AdapterInfoLike | undefined {
  return (gpu.device as unknown as { adapterInfo?: AdapterInfoLike }).adapterInfo;
}

/** Why the tensor-core path cannot run on this device, or null when it can. */
export function mmaUnsupportedReason(gpu: Gpu): string | null {
  const f = gpu.features;
  if (!f.subgroupMatrix) return 'no chromium-experimental-subgroup-matrix';
  if (!f.f16) return 'no shader-f16';
  if (!f.subgroups) return 'no subgroups';
  const info = adapterInfo(gpu);
  const cfgs = info?.subgroupMatrixConfigs;
  // Dawn's Node binding lists no configurations on GPUDevice.adapterInfo (only GPUAdapter.info has
  // them, and the Gpu keeps no adapter); NVIDIA's Vulkan driver always has f16 16×16×16 → f32.
  const nvidiaUnlisted = (!cfgs || cfgs.length === 0) && gpu.info.vendor === 'nvidia';
  if (!cfgs && !nvidiaUnlisted) return 'adapterInfo.subgroupMatrixConfigs unavailable';
  if (!nvidiaUnlisted && !cfgs!.some((c) => c.componentType === 'f16' && c.resultComponentType === 'f32' && c.M === 16 && c.N === 16 && c.K === 16))
    return 'no f16×f16→f32 16×16×16 subgroup-matrix configuration';
  // The work split assumes subgroups of exactly 32 (NVIDIA); other sizes are untested.
  if (info?.subgroupMinSize !== 32 || info?.subgroupMaxSize !== 32)
    return `subgroup size ${info?.subgroupMinSize}..${info?.subgroupMaxSize}, need exactly 32`;
  return null;
}

const supported = new WeakMap<Gpu, boolean>();
/** Whether nf4Matmul / nf4MatmulBackward route an [M, NO] output to the tensor-core path. */
export function useMma(gpu: Gpu, M: number, NO: number, force?: boolean): boolean {
  if (force === false) return false;
  if (force === undefined && (!mmaSettings.enabled || M < MMA_MIN_M || Math.ceil(M / 64) * Math.ceil(NO / 64) < MMA_MIN_TILES)) return false;
  let ok = supported.get(gpu);
  if (ok === undefined) supported.set(gpu, (ok = mmaUnsupportedReason(gpu) === null));
  if (mmaSettings.skipDeviceCheck && gpu.features.subgroupMatrix) return true;
  check(ok || force !== true, 'mma', `tensor-core path forced but unsupported: ${mmaUnsupportedReason(gpu)}`);
  return ok;
}

const ENABLES = 'enable f16;\nenable subgroups;\nenable chromium_experimental_subgroup_matrix;\n';
const DIAG_OFF = 'diagnostic(off, chromium_experimental.subgroup_matrix_uniformity);\n';

/**
 * The straight-line parts of the kernel for a FM×FN block of 16×16 matrices per subgroup
 * (generated: arrays of subgroup matrices indexed in loops risk living in local memory).
 */
function generated(t: MmaTile, bwd: boolean): Record<'ACC_DECL' | 'MMA_STEP' | 'EPILOGUE', string> {
  const FM = t.wm / 16, FN = t.wn / 16;
  const decl: string[] = [], step: string[] = [], epi: string[] = [];
  for (let i = 0; i < FM; i++) {
    step.push(`let a_${i} = subgroupMatrixLoad<subgroup_matrix_left<f16, 16, 16>, row_major>(&As, (wm + ${16 * i}u) * LDA + kk, LDA);`);
  }
  for (let j = 0; j < FN; j++) {
    step.push(bwd
      ? `let b_${j} = subgroupMatrixLoad<subgroup_matrix_right<f16, 16, 16>, row_major>(&Bs, kk * LDB + wn + ${16 * j}u, LDB);`
      : `let b_${j} = subgroupMatrixLoad<subgroup_matrix_right<f16, 16, 16>, col_major>(&Bs, (wn + ${16 * j}u) * LDB + kk, LDB);`);
  }
  for (let i = 0; i < FM; i++) {
    for (let j = 0; j < FN; j++) {
      decl.push(`var acc_${i}_${j} = subgroup_matrix_result<f32, 16, 16>();`);
      step.push(`acc_${i}_${j} = subgroupMatrixMultiplyAccumulate(a_${i}, b_${j}, acc_${i}_${j});`);
      epi.push(`write_tile(acc_${i}_${j}, ${i}u, ${j}u, sg, lane, sgsize, wm, wn, m0, c0);`);
    }
  }
  return { ACC_DECL: decl.join('\n  '), MMA_STEP: step.join('\n      '), EPILOGUE: epi.join('\n  ') };
}

/** WGSL source of one tile shape and direction (the same string object per variant, for the pipeline cache). */
const sources = new Map<string, string>();
export function mmaSource(tile: MmaTileSize, bwd: boolean): string {
  const t = MMA_TILES[tile];
  const key = `${t.bm}|${t.bn}|${t.bk}|${t.wm}|${t.wn}|${bwd}|${mmaSettings.diagnosticOff}`;
  let s = sources.get(key);
  if (!s) {
    const gen = generated(t, bwd);
    const core = coreCode.replace(/\/\/@(ACC_DECL|MMA_STEP|EPILOGUE)/g, (_, k: keyof typeof gen) => gen[k]);
    s = ENABLES + (mmaSettings.diagnosticOff ? DIAG_OFF : '') +
      `const BM = ${t.bm}u; const BN = ${t.bn}u; const BK = ${t.bk}u; const WM = ${t.wm}u; const WN = ${t.wn}u; const BWD = ${bwd};\n` +
      core + loadCode + commonCode;
    sources.set(key, s);
  }
  return s;
}

const scratch = new WeakMap<Gpu, Tensor>();
/** Per-device row-scale buffer of at least M floats (grown, never shrunk). */
function scaleBuffer(gpu: Gpu, M: number): Tensor {
  let t = scratch.get(gpu);
  if (!t || t.shape[0] < M) {
    t = createTensor(gpu, [Math.max(M, 2 * (t?.shape[0] ?? 0), 1024)], 'f32', 'mma.rowscale');
    scratch.set(gpu, t);
  }
  return t;
}

/** sc [M] = power-of-two scale of each row of a [M, lda]. */
function rowScale(gpu: Gpu, a: Tensor, M: number, lda: number): Tensor {
  const sc = scaleBuffer(gpu, M);
  gpu.dispatch({ code: scaleCode, constants: { WG: 256 } }, [sc.buffer, a.buffer, gpu.uniform(packUniform([M, lda]))], grid1d(gpu, M));
  return sc;
}

function src(code: string, opts: MmaOptions): string {
  return opts.source ? opts.source(code) : code;
}

function chunks(gpu: Gpu, w: Nf4Weight, op: string) {
  return rowChunks(w.rows, w.cols, 0.5, bindingLimit(gpu), 2 * offsetAlignment(gpu), op);
}

/** Options of the tensor-core matmuls; `source` rewrites the WGSL (tests run an emulation of the builtins). */
export interface MmaOptions { accumulate?: boolean; tile?: MmaTileSize; source?: (code: string) => string }

/** y [M, N] (+)= x [M, K] · Wᵀ on tensor cores (shapes already checked by nf4Matmul). */
export function nf4MatmulMma(gpu: Gpu, y: Tensor, x: Tensor, w: Nf4Weight, opts: MmaOptions = {}): void {
  const N = w.rows, K = w.cols, M = x.shape[0];
  const sc = rowScale(gpu, x, M, K);
  const acc = opts.accumulate ? 1 : 0;
  const dq = w.doubleQuant ? 1 : 0;
  const aligned = K % 8 === 0 ? 1 : 0;
  for (const c of chunks(gpu, w, 'nf4Matmul')) {
    const u = gpu.uniform(packUniform([M, c.rows, K, acc, N, c.row0, K, 0, K, c.rows, c.row0 * K, dq]));
    const tile = opts.tile ?? pickMmaTile(M, c.rows);
    const t = MMA_TILES[tile];
    gpu.dispatch({ code: src(mmaSource(tile, false), opts), constants: { ALIGNED: aligned } },
      [y.buffer, x.buffer, u, sc.buffer, ...nf4Bindings(gpu, w, c.row0, c.rows)], [Math.ceil(c.rows / t.bn), Math.ceil(M / t.bm)]);
  }
}

/** dx [M, K] (+)= dy [M, N] · W on tensor cores (shapes already checked by nf4MatmulBackward). */
export function nf4MatmulBackwardMma(gpu: Gpu, dx: Tensor, dy: Tensor, w: Nf4Weight, opts: MmaOptions = {}): void {
  const N = w.rows, K = w.cols, M = dy.shape[0];
  const sc = rowScale(gpu, dy, M, N);
  const dq = w.doubleQuant ? 1 : 0;
  const aligned = K % 8 === 0 ? 1 : 0;
  chunks(gpu, w, 'nf4MatmulBackward').forEach((c, i) => {
    const acc = i > 0 || opts.accumulate ? 1 : 0;
    const u = gpu.uniform(packUniform([M, K, c.rows, acc, K, 0, N, c.row0, K, c.rows, c.row0 * K, dq]));
    const tile = opts.tile ?? pickMmaTile(M, K);
    const t = MMA_TILES[tile];
    gpu.dispatch({ code: src(mmaSource(tile, true), opts), constants: { ALIGNED: aligned } },
      [dx.buffer, dy.buffer, u, sc.buffer, ...nf4Bindings(gpu, w, c.row0, c.rows)], [Math.ceil(K / t.bn), Math.ceil(M / t.bm)]);
  });
}
