// Tensor-core (WGSL subgroup-matrix) variants of the NF4 and 16-bit weight matmuls, used by
// nf4Matmul / nf4MatmulBackward (nf4.matmul.ts) and matmul16 / matmul16Backward (w16.ts) when the
// device has `chromium-experimental-subgroup-matrix` with the f16×f16→f32 16×16×16
// configuration, shader-f16, subgroups of exactly 32, and enough work (useMma):
//   nf4MatmulMma / matmul16Mma                  y [M, N] (+)= x [M, K] · Wᵀ
//   nf4MatmulBackwardMma / matmul16BackwardMma  dx [M, K] (+)= dy [M, N] · W
// W [N, K] NF4 or bf16/f16. Each call first records a row-scale pass over the left operand (x or
// dy, nf4_mma_scale.wgsl: a power of two per row, exact) into a per-device scratch buffer, then the
// GEMM (nf4_mma_core.wgsl + nf4_mma_load.wgsl or w16_mma_load.wgsl): x/dy rows and W go to
// workgroup memory as f16, products accumulate in f32. 16-bit weights are also multiplied by a
// power of two (max |W| → [2^13, 2^14), w16_mma_peak.wgsl, once per weight), so bf16 beyond f16's
// range cannot overflow and bf16 → f16 is exact. Outputs with few tiles and a long reduction are
// split along it (split-K: S partial products in a scratch [S, M, NO], summed in a fixed order by
// nf4_mma_reduce.wgsl: deterministic). NF4 with K % 8 == 0 (mmaSettings.kernel = 'v3', the
// default, or 'pipe') instead converts x/dy to a scaled f16 scratch once per call
// (nf4_mma_half.wgsl) and runs a software-pipelined kernel (vec4 loads, double-buffered tiles,
// one barrier per step; same operands and MMA order, so the same results): nf4_mma_v3.wgsl with
// 128×256 tiles of 8 subgroups × 64×64 (H200: 43–76 TFLOP/s forward, 34–52 dX on the 8B training
// shapes, bench/NOTES.md v8; the NF4 dX defaults to nf4_mma_dx.wgsl, the same kernel with the B
// tile transposed: 45–65 TFLOP/s, v10) or nf4_mma_pipe.wgsl (128×128, 32×64 per subgroup: 31–42, v6).
// 16-bit weights with K % 8 == 0 (mmaSettings.w16Kernel = 'v3', the default) run the same v3
// design: w16_mma_v3.wgsl + w16_mma_v3_load.wgsl (vec4 loads of 8 bf16/f16, the same power-of-two
// weight scale, f16 x/dy from nf4_mma_half.wgsl; the staged kernel's operands and order, so the
// same results): H200 lm_head 65–78 TFLOP/s against 18–22 (bench/NOTES.md v9). Numerics: f16 rounding of x/dy (and of NF4 W) gives
// ~3e-4 relative error against the f32 path (see bench/NOTES.md, "Tensor cores").

import type { Binding, Gpu } from '../core/context';
import { check } from '../core/errors';
import { createTensor, packUniform, type Tensor } from '../core/tensor';
import commonCode from '../../../shaders/nf4_common.wgsl';
import coreCode from '../../../shaders/nf4_mma_core.wgsl';
import loadCode from '../../../shaders/nf4_mma_load.wgsl';
import scaleCode from '../../../shaders/nf4_mma_scale.wgsl';
import reduceCode from '../../../shaders/nf4_mma_reduce.wgsl';
import pipeCode from '../../../shaders/nf4_mma_pipe.wgsl';
import halfCode from '../../../shaders/nf4_mma_half.wgsl';
import v3Code from '../../../shaders/nf4_mma_v3.wgsl';
import dxCode from '../../../shaders/nf4_mma_dx.wgsl';
import w16V3Code from '../../../shaders/w16_mma_v3.wgsl';
import w16V3LoadCode from '../../../shaders/w16_mma_v3_load.wgsl';
import w16CommonCode from '../../../shaders/w16_common.wgsl';
import w16LoadCode from '../../../shaders/w16_mma_load.wgsl';
import w16PeakCode from '../../../shaders/w16_mma_peak.wgsl';
import { grid1d } from './grid';
import { bindingLimit, nf4Bindings, offsetAlignment, rowChunks, slice } from './nf4.chunks';
import type { Nf4Weight } from './nf4';
import type { Weight16 } from './w16';
import { scratchTensor } from '../core/scratch';

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
export const mmaSettings: { enabled: boolean; diagnosticOff: boolean; skipDeviceCheck: boolean; kernel: MmaKernel; w16Kernel: MmaKernel; dxKernel: MmaKernel } =
  { enabled: true, diagnosticOff: false, skipDeviceCheck: false, kernel: 'v3', w16Kernel: 'v3', dxKernel: 'dx' };

/**
 * NF4 kernel: 'pipe' (nf4_mma_pipe.wgsl: x/dy converted to f16 once per call by
 * nf4_mma_half.wgsl, vec4 loads, byte-table decode, double-buffered tiles with the next step's
 * loads in flight during the MMAs; K % 8 == 0) or 'staged' (nf4_mma_core.wgsl + nf4_mma_load.wgsl:
 * f32 → f16 staging every step behind two barriers; any K, and the 16-bit weights) or 'v3'
 * (nf4_mma_v3.wgsl: the pipe kernel with V3_TILES — deeper steps, 64×64 per subgroup — and the
 * double-quant code book in workgroup memory; same operands and order, K % 8 == 0).
 */
export type MmaKernel = 'pipe' | 'staged' | 'v3' | 'dx';
// 'dx' (nf4_mma_dx.wgsl, NF4 backward only; DX_TILES): v3 with the B tile stored transposed
// (col_major loads, as the forward) and its own tile table; the forward and 16-bit weights run
// 'v3' for it. mmaSettings.dxKernel ('dx' default, 'v3') is the NF4 backward's kernel while
// mmaSettings.kernel = 'v3': H200 dX 45–60 TFLOP/s against v3's 40–53, same results bit for bit
// (bench/NOTES.md v10).

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

/**
 * Tiles of the 'v3' kernel per plan tile size (the plan, split-K and routing count 128×128 /
 * 64×64 output tiles as for the other kernels; bm × bn may differ, the grid follows it).
 * Mutable so that bench/mma-check.ts can time variants in one device run (each variant is its
 * own cached source). 128: 128×256, BK = 16, 8 subgroups of 64×64 — on an H200 64–76 TFLOP/s
 * forward and 45–52 dX on most 8B training shapes, against 128×128 BK 32 with 4 subgroups of
 * 64×64 46–54 / 31–36, 128×128 BK 16 64×64 38–43 / 29–32, and the pipe shape (32×64) 40–46 /
 * 39–43 (bench/NOTES.md "v8"). 48.6 KiB of workgroup memory.
 */
export const V3_TILES: Record<MmaTileSize, MmaTile> = {
  128: { bm: 128, bn: 256, bk: 16, wm: 64, wn: 64 },
  64: { bm: 64, bn: 64, bk: 32, wm: 32, wn: 32 },
};

/**
 * Tiles of the NF4 dX kernel 'dx' (nf4_mma_dx.wgsl) per plan tile size; `tb`: B tile stored
 * transposed ([BN][BK + 8], col_major loads), else v3's [BK][BN + 8] (row_major loads). Mutable
 * for bench/mma-dx.ts variants (bench/NOTES.md v10).
 */
export interface DxTile extends MmaTile { tb: boolean }
export const DX_TILES: Record<MmaTileSize, DxTile> = {
  128: { bm: 128, bn: 256, bk: 16, wm: 64, wn: 64, tb: true },
  64: { bm: 64, bn: 64, bk: 32, wm: 32, wn: 32, tb: true },
};

/** The tile of a kernel at a plan tile size. */
export function kernelTile(tile: MmaTileSize, kernel: MmaKernel): MmaTile {
  return kernel === 'dx' ? DX_TILES[tile] : kernel === 'v3' ? V3_TILES[tile] : MMA_TILES[tile];
}

export function pickMmaTile(M: number, NO: number): MmaTileSize {
  return Math.ceil(M / 128) * Math.ceil(NO / 128) >= MMA_SPLIT.wave ? 128 : 64;
}

/**
 * Split-K settings: `wave` = 128×128 workgroups resident at once on an H200 (2 per SM × 132).
 * An output with fewer 128-tiles than a wave splits its reduction into S parts (a power of two
 * ≤ `maxSplit`, every part ≥ `minDepth` reduction rows) minimizing the wave-quantized time
 * ceil(tiles·S / wave) / S, the smallest S on ties; `minM` is the smallest M that the automatic
 * route sends to a split plan below MMA_MIN_TILES. Measured on an H200 (bench/NOTES.md, "Tensor
 * cores v2"): 512×4096×4096 S = 2 30.6 vs S = 4 29.7 TFLOP/s; 512×1024×4096 S = 8 26.9, 16 23.6;
 * lm_head dX at M = 523 (160 tiles) S = 1/2/4/8/16: 11.3/12.9/16.4/17.9/18.5 (model: 1, 1, 0.75,
 * 0.625, 0.625); M = 37 at S = 8 ran 9.6 TFLOP/s against 0.6–3.0 on the f32 path.
 */
export const MMA_SPLIT = { wave: 264, minDepth: 512, maxSplit: 16, minM: 32 };

/** Tile and split-K factor of the tensor-core GEMM O [M, NO] over a reduction of R. */
export interface MmaPlan { tile: MmaTileSize; split: number }
export function pickMmaPlan(M: number, NO: number, R: number): MmaPlan {
  const t128 = Math.ceil(M / 128) * Math.ceil(NO / 128);
  if (t128 >= MMA_SPLIT.wave) return { tile: 128, split: 1 };
  let split = 1, cost = 1; // wave-quantized time relative to no split
  for (let s = 2; s <= MMA_SPLIT.maxSplit && R / s >= MMA_SPLIT.minDepth; s *= 2) {
    const c = Math.ceil((t128 * s) / MMA_SPLIT.wave) / s;
    if (c < cost) { split = s; cost = c; }
  }
  return split > 1 ? { tile: 128, split } : { tile: 64, split: 1 };
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
/** Whether an automatic call with an [M, NO] output over a reduction of R is worth the tensor cores. */
function mmaWorth(M: number, NO: number, R: number): boolean {
  if (M < MMA_MIN_M) return false;
  if (Math.ceil(M / 64) * Math.ceil(NO / 64) >= MMA_MIN_TILES) return true;
  return M >= MMA_SPLIT.minM && pickMmaPlan(M, NO, R).split > 1;
}

/**
 * Whether nf4Matmul / nf4MatmulBackward / matmul16 / matmul16Backward route an [M, NO] output
 * (reduction length R; 0 = unknown: no split-K route) to the tensor-core path.
 */
export function useMma(gpu: Gpu, M: number, NO: number, force?: boolean, R = 0): boolean {
  if (force === false) return false;
  if (force === undefined && (!mmaSettings.enabled || !mmaWorth(M, NO, R))) return false;
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
function generated(t: MmaTile, bwd: boolean, pipe: boolean, kind: MmaWeightKind, tb = false): Record<'ACC_DECL' | 'MMA_STEP' | 'EPILOGUE' | 'STAGE_DECL', string> {
  const FM = t.wm / 16, FN = t.wn / 16;
  // the pipelined kernel reads the current half of its double-buffered tiles (offsets ab, bb)
  const ab = pipe ? ' + ab' : '', bb = pipe ? ' + bb' : '';
  const decl: string[] = [], step: string[] = [], epi: string[] = [];
  for (let i = 0; i < FM; i++) {
    step.push(`let a_${i} = subgroupMatrixLoad<subgroup_matrix_left<f16, 16, 16>, row_major>(&As, (wm + ${16 * i}u) * LDA + kk${ab}, LDA);`);
  }
  for (let j = 0; j < FN; j++) {
    step.push(bwd && !tb
      ? `let b_${j} = subgroupMatrixLoad<subgroup_matrix_right<f16, 16, 16>, row_major>(&Bs, kk * LDB + wn + ${16 * j}u${bb}, LDB);`
      : `let b_${j} = subgroupMatrixLoad<subgroup_matrix_right<f16, 16, 16>, col_major>(&Bs, (wn + ${16 * j}u) * LDB + kk${bb}, LDB);`);
  }
  for (let i = 0; i < FM; i++) {
    for (let j = 0; j < FN; j++) {
      decl.push(`var acc_${i}_${j} = subgroup_matrix_result<f32, 16, 16>();`);
      step.push(`acc_${i}_${j} = subgroupMatrixMultiplyAccumulate(a_${i}, b_${j}, acc_${i}_${j});`);
      epi.push(`write_tile(acc_${i}_${j}, ${i}u, ${j}u, sg, lane, sgsize, wm, wn, m0, c0, zoff);`);
    }
  }
  return { ACC_DECL: decl.join('\n  '), MMA_STEP: step.join('\n      '), EPILOGUE: epi.join('\n  '), STAGE_DECL: stageDecl(t, kind === 'nf4' ? 'vec2<u32>' : 'WStage') };
}

/**
 * v3: registers of one step's global loads (PA vec4 of H, PB words with their scales) as a
 * struct of named fields, and straight-line fetch / stage_store (no arrays indexed in loops).
 */
function stageDecl(t: MmaTile, wtype: string): string {
  const wg = 32 * (t.bm / t.wm) * (t.bn / t.wn);
  const pa = (t.bm * t.bk) / 8 / wg, pb = (t.bn * t.bk) / 8 / wg;
  if (!Number.isInteger(pa) || !Number.isInteger(pb) || pa < 1 || pb < 1) return ''; // const_assert in the shader reports it
  const a = Array.from({ length: pa }, (_, i) => i), b = Array.from({ length: pb }, (_, i) => i);
  return [
    `struct Stage { ${[...a.map((i) => `a${i}: vec4<u32>`), ...b.map((i) => `w${i}: ${wtype}`)].join(', ')} }`,
    'fn fetch(t: u32, r0: u32, m0: u32, c0: u32) -> Stage {',
    `  return Stage(${[...a.map((i) => `fetch_a(t + ${i * wg}u, r0, m0)`), ...b.map((i) => `fetch_w(t + ${i * wg}u, r0, c0)`)].join(', ')});`,
    '}',
    'fn stage_store(t: u32, st: Stage, buf: u32) {',
    ...a.map((i) => `  store_a(t + ${i * wg}u, st.a${i}, buf);`),
    ...b.map((i) => `  store_w(t + ${i * wg}u, st.w${i}, buf);`),
    '}',
  ].join('\n');
}

/**
 * Weight formats of the loader: NF4 (nf4_mma_load.wgsl; v3: inside nf4_mma_v3.wgsl) or bf16/f16
 * (w16_mma_load.wgsl; v3: w16_mma_v3.wgsl + w16_mma_v3_load.wgsl). 16-bit weights run 'staged' or 'v3' ('pipe' → 'staged').
 */
export type MmaWeightKind = 'nf4' | 'w16';

/** WGSL source of one tile shape, direction and weight kind (the same string object per variant, for the pipeline cache). */
const sources = new Map<string, string>();
export function mmaSource(tile: MmaTileSize, bwd: boolean, kind: MmaWeightKind = 'nf4', kernel: MmaKernel = 'staged'): string {
  // 'dx' is the NF4 backward's; everything else runs v3 for it
  const k = kernel === 'dx' && !(bwd && kind === 'nf4') ? 'v3' : kind === 'nf4' || kernel === 'v3' ? kernel : 'staged';
  const t = kernelTile(tile, k);
  const pipe = k !== 'staged';
  const tb = k === 'dx' && (t as DxTile).tb;
  const key = `${t.bm}|${t.bn}|${t.bk}|${t.wm}|${t.wn}|${bwd}|${kind}|${k}|${tb}|${mmaSettings.diagnosticOff}`;
  let s = sources.get(key);
  if (!s) {
    const gen = generated(t, bwd, pipe, kind, tb);
    const core = (k === 'dx' ? dxCode : k === 'v3' ? (kind === 'nf4' ? v3Code : w16V3Code) : pipe ? pipeCode : coreCode).replace(/\/\/@(ACC_DECL|MMA_STEP|EPILOGUE|STAGE_DECL)/g, (_, n: keyof typeof gen) => gen[n]);
    s = ENABLES + (mmaSettings.diagnosticOff ? DIAG_OFF : '') +
      `const BM = ${t.bm}u; const BN = ${t.bn}u; const BK = ${t.bk}u; const WM = ${t.wm}u; const WN = ${t.wn}u; const BWD = ${bwd};\n` +
      (k === 'dx' ? `const TB = ${tb};\n` : '') +
      core + (k === 'v3' || k === 'dx' ? (kind === 'nf4' ? commonCode : w16V3LoadCode)
        : pipe ? commonCode : kind === 'nf4' ? loadCode + commonCode : w16LoadCode + w16CommonCode);
    sources.set(key, s);
  }
  return s;
}

/**
 * Per-device scratch tensors (row scales, split-K partials) of at least n floats, grown, never
 * shrunk, at most one binding (callers bind only the first n floats).
 */
function scratchBuffer(gpu: Gpu, name: string, n: number): Tensor {
  return scratchTensor(gpu, `mma.${name}`, n, { min: 1024, double: true, cap: Math.floor(bindingLimit(gpu) / 4) });
}

/** sc [M] = power-of-two scale of each row of a [M, lda]. */
function rowScale(gpu: Gpu, a: Tensor, M: number, lda: number): Tensor {
  const sc = scratchBuffer(gpu, 'rowscale', M);
  gpu.dispatch({ code: scaleCode, constants: { WG: 256 } }, [{ buffer: sc.buffer, offset: 0, size: 4 * M }, a.buffer, gpu.uniform(packUniform([M, lda]))], grid1d(gpu, M));
  return sc;
}

/**
 * sc [M] = power-of-two row scales of a [M, lda] and h [M, ldh] = f16(a · sc) (ldh = lda rounded
 * up to 8) for the pipelined kernel; null when h would exceed one binding.
 */
const HALF_CODE = 'enable f16;\n' + halfCode;
function rowScaleHalf(gpu: Gpu, a: Tensor, M: number, lda: number): { sc: Tensor; h: Tensor; ldh: number } | null {
  const ldh = Math.ceil(lda / 8) * 8;
  if (2 * M * ldh > bindingLimit(gpu)) return null;
  const sc = scratchBuffer(gpu, 'rowscale', M);
  const h = scratchBuffer(gpu, 'half', (M * ldh) / 2);
  gpu.dispatch({ code: HALF_CODE, constants: { WG: 256 } }, [{ buffer: sc.buffer, offset: 0, size: 4 * M }, a.buffer,
    gpu.uniform(packUniform([M, lda, ldh])), { buffer: h.buffer, offset: 0, size: 2 * M * ldh }], grid1d(gpu, M));
  return { sc, h, ldh };
}

/** Options of the tensor-core matmuls; `source` rewrites the WGSL (tests run an emulation of the builtins). */
export interface MmaOptions { accumulate?: boolean; tile?: MmaTileSize; split?: number; kernel?: MmaKernel; source?: (code: string) => string }

/** The plan of one GEMM: explicit options first (a tile alone means no split), else pickMmaPlan. */
function plan(opts: MmaOptions, M: number, NO: number, R: number): MmaPlan {
  const auto = pickMmaPlan(M, NO, R);
  const tile = opts.tile ?? auto.tile;
  const split = opts.split ?? (opts.tile === undefined ? auto.split : 1);
  check(Number.isInteger(split) && split >= 1, 'mma', `split must be a positive integer, got ${split}`);
  return { tile, split };
}

/** One GEMM dispatch of nf4_mma_core.wgsl: O [M, ldo] at o0 (+)= A [M, lda] at a0 · B [R, NO]. */
interface Gemm {
  kernel: MmaKernel; code: string; aligned: number | null; O: Tensor; A: Tensor; sc: Tensor; weight: Binding[]; // aligned null: no ALIGNED override (pipe)
  M: number; NO: number; R: number; acc: number; ldo: number; o0: number; lda: number; a0: number;
  wk: number; wrows: number; ebase: number; wflags: number;
}
function gemm(gpu: Gpu, g: Gemm, p: MmaPlan, opts: MmaOptions): void {
  const t = kernelTile(p.tile, g.kernel);
  // split-K: whole BK steps per split; the partials [S, M, NO] must fit one binding
  let rsplit = Math.ceil(Math.ceil(g.R / p.split) / t.bk) * t.bk;
  let S = Math.ceil(g.R / rsplit);
  const maxS = Math.floor(bindingLimit(gpu) / (4 * g.M * g.NO));
  if (S > maxS) { S = Math.max(1, maxS); rsplit = Math.ceil(Math.ceil(g.R / S) / t.bk) * t.bk; S = Math.ceil(g.R / rsplit); }
  const code = opts.source ? opts.source(g.code) : g.code;
  const grid: [number, number, number] = [Math.ceil(g.NO / t.bn), Math.ceil(g.M / t.bm), S];
  const tail = [g.wk, g.wrows, g.ebase, g.wflags];
  if (S === 1) {
    const u = gpu.uniform(packUniform([g.M, g.NO, g.R, g.acc, g.ldo, g.o0, g.lda, g.a0, ...tail, Math.max(rsplit, g.R), 0]));
    gpu.dispatch({ code, constants: g.aligned === null ? {} : { ALIGNED: g.aligned } }, [g.O.buffer, g.A.buffer, u, g.sc.buffer, ...g.weight], grid);
    return;
  }
  const n = g.M * g.NO;
  const part = scratchBuffer(gpu, 'splitk', S * n);
  const u = gpu.uniform(packUniform([g.M, g.NO, g.R, 0, g.NO, 0, g.lda, g.a0, ...tail, rsplit, n]));
  const pb = { buffer: part.buffer, offset: 0, size: 4 * S * n };
  gpu.dispatch({ code, constants: g.aligned === null ? {} : { ALIGNED: g.aligned } }, [pb, g.A.buffer, u, g.sc.buffer, ...g.weight], grid);
  const ur = gpu.uniform(packUniform([g.M, g.NO, S, g.acc, g.ldo, g.o0]));
  gpu.dispatch({ code: reduceCode, constants: { WG: 256 } }, [g.O.buffer, pb, ur], grid1d(gpu, Math.ceil(n / 256)));
}

function nf4Chunks(gpu: Gpu, w: Nf4Weight, op: string) {
  return rowChunks(w.rows, w.cols, 0.5, bindingLimit(gpu), 2 * offsetAlignment(gpu), op);
}

/**
 * The NF4 kernel of this call: the setting (or option); 'pipe' and 'v3' (f16 H from
 * nf4_mma_half.wgsl) need K % 8 == 0 and chunk starts % 8 == 0, else 'staged'.
 */
function nf4Kernel(opts: MmaOptions, K: number, chunks: { row0: number }[], bwd: boolean): MmaKernel {
  let k = opts.kernel ?? (bwd && mmaSettings.kernel === 'v3' ? mmaSettings.dxKernel : mmaSettings.kernel);
  if (k === 'dx' && !bwd) k = 'v3';
  return k !== 'staged' && K % 8 === 0 && chunks.every((c) => c.row0 % 8 === 0) ? k : 'staged';
}

/** y [M, N] (+)= x [M, K] · Wᵀ on tensor cores (shapes already checked by nf4Matmul). */
export function nf4MatmulMma(gpu: Gpu, y: Tensor, x: Tensor, w: Nf4Weight, opts: MmaOptions = {}): void {
  const N = w.rows, K = w.cols, M = x.shape[0];
  const chunks = nf4Chunks(gpu, w, 'nf4Matmul');
  let kernel = nf4Kernel(opts, K, chunks, false);
  const half = kernel !== 'staged' ? rowScaleHalf(gpu, x, M, K) : null;
  if (!half) kernel = 'staged';
  const sc = half ? half.sc : rowScale(gpu, x, M, K);
  for (const c of chunks) {
    const p = plan(opts, M, c.rows, K);
    gemm(gpu, {
      kernel, code: mmaSource(p.tile, false, 'nf4', kernel), aligned: half ? null : K % 8 === 0 ? 1 : 0,
      O: y, A: half ? half.h : x, sc, weight: nf4Bindings(gpu, w, c.row0, c.rows),
      M, NO: c.rows, R: K, acc: opts.accumulate ? 1 : 0, ldo: N, o0: c.row0, lda: half ? half.ldh : K, a0: 0,
      wk: K, wrows: c.rows, ebase: c.row0 * K, wflags: w.doubleQuant ? 1 : 0,
    }, p, opts);
  }
}

/** dx [M, K] (+)= dy [M, N] · W on tensor cores (shapes already checked by nf4MatmulBackward). */
export function nf4MatmulBackwardMma(gpu: Gpu, dx: Tensor, dy: Tensor, w: Nf4Weight, opts: MmaOptions = {}): void {
  const N = w.rows, K = w.cols, M = dy.shape[0];
  const chunks = nf4Chunks(gpu, w, 'nf4MatmulBackward');
  let kernel = nf4Kernel(opts, K, chunks, true);
  const half = kernel !== 'staged' ? rowScaleHalf(gpu, dy, M, N) : null;
  if (!half) kernel = 'staged';
  const sc = half ? half.sc : rowScale(gpu, dy, M, N);
  chunks.forEach((c, i) => {
    const p = plan(opts, M, K, c.rows);
    gemm(gpu, {
      kernel, code: mmaSource(p.tile, true, 'nf4', kernel), aligned: half ? null : K % 8 === 0 ? 1 : 0,
      O: dx, A: half ? half.h : dy, sc, weight: nf4Bindings(gpu, w, c.row0, c.rows),
      M, NO: K, R: c.rows, acc: i > 0 || opts.accumulate ? 1 : 0, ldo: K, o0: 0, lda: half ? half.ldh : N, a0: c.row0,
      wk: K, wrows: c.rows, ebase: c.row0 * K, wflags: w.doubleQuant ? 1 : 0,
    }, p, opts);
  });
}

// ---- 16-bit weights (lm_head) ----------------------------------------------------------------

function w16Chunks(gpu: Gpu, w: Weight16, op: string) {
  return rowChunks(w.rows, w.cols, 2, bindingLimit(gpu), offsetAlignment(gpu) / 2, op);
}
function w16Slice(w: Weight16, row0: number, rows: number) {
  return slice(w.data.buffer, row0 * w.cols * 2, rows * w.cols * 2);
}

/**
 * Bits of max |W| (u32 [1], w16_mma_peak.wgsl), computed on first use and cached per weight
 * buffer: base weights are frozen (a weight written in place after its first tensor-core use
 * would keep a stale scale; weight16Upload always makes a new buffer).
 */
const peaks = new WeakMap<GPUBuffer, Tensor>();
const PEAK_CODE = w16PeakCode + w16CommonCode;
export function weight16Peak(gpu: Gpu, w: Weight16): Tensor {
  let t = peaks.get(w.data.buffer);
  if (t) return t;
  t = createTensor(gpu, [1], 'u32', 'mma.w16peak', true); // zero-initialized
  const per = 256 * 16; // words per workgroup (WG × PER in the shader)
  for (const c of w16Chunks(gpu, w, 'matmul16')) {
    const n = c.rows * w.cols;
    gpu.dispatch({ code: PEAK_CODE, constants: { WG: 256 } },
      [t.buffer, w16Slice(w, c.row0, c.rows), gpu.uniform(packUniform([n, w.format === 'f16' ? 1 : 0]))], grid1d(gpu, Math.ceil(Math.ceil(n / 2) / per)));
  }
  peaks.set(w.data.buffer, t);
  return t;
}

/**
 * The 16-bit kernel of this call: `kernel` option or mmaSettings.w16Kernel; 'v3'
 * (w16_mma_v3_load.wgsl: vec4 loads of 8 weights, f16 H from nf4_mma_half.wgsl) needs K % 8 == 0
 * and chunk starts % 8 == 0, else (and for 'pipe') 'staged'.
 */
function w16Kernel(opts: MmaOptions, K: number, chunks: { row0: number }[]): MmaKernel {
  const k = opts.kernel ?? mmaSettings.w16Kernel;
  return (k === 'v3' || k === 'dx') && K % 8 === 0 && chunks.every((c) => c.row0 % 8 === 0) ? 'v3' : 'staged';
}

/** y [M, N] (+)= x [M, K] · Wᵀ on tensor cores, W bf16/f16 (shapes already checked by matmul16). */
export function matmul16Mma(gpu: Gpu, y: Tensor, x: Tensor, w: Weight16, opts: MmaOptions = {}): void {
  const N = w.rows, K = w.cols, M = x.shape[0];
  const peak = weight16Peak(gpu, w);
  const chunks = w16Chunks(gpu, w, 'matmul16');
  let kernel = w16Kernel(opts, K, chunks);
  const half = kernel === 'v3' ? rowScaleHalf(gpu, x, M, K) : null;
  if (!half) kernel = 'staged';
  const sc = half ? half.sc : rowScale(gpu, x, M, K);
  for (const c of chunks) {
    const p = plan(opts, M, c.rows, K);
    gemm(gpu, {
      kernel, code: mmaSource(p.tile, false, 'w16', kernel), aligned: half ? null : K % 2 === 0 ? 1 : 0,
      O: y, A: half ? half.h : x, sc, weight: [w16Slice(w, c.row0, c.rows), peak.buffer],
      M, NO: c.rows, R: K, acc: opts.accumulate ? 1 : 0, ldo: N, o0: c.row0, lda: half ? half.ldh : K, a0: 0,
      wk: K, wrows: c.rows, ebase: 0, wflags: w.format === 'f16' ? 1 : 0,
    }, p, opts);
  }
}

/** dx [M, K] (+)= dy [M, N] · W on tensor cores, W bf16/f16 (shapes already checked by matmul16Backward). */
export function matmul16BackwardMma(gpu: Gpu, dx: Tensor, dy: Tensor, w: Weight16, opts: MmaOptions = {}): void {
  const N = w.rows, K = w.cols, M = dy.shape[0];
  const peak = weight16Peak(gpu, w);
  const chunks = w16Chunks(gpu, w, 'matmul16Backward');
  let kernel = w16Kernel(opts, K, chunks);
  const half = kernel === 'v3' ? rowScaleHalf(gpu, dy, M, N) : null;
  if (!half) kernel = 'staged';
  const sc = half ? half.sc : rowScale(gpu, dy, M, N);
  chunks.forEach((c, i) => {
    const p = plan(opts, M, K, c.rows);
    gemm(gpu, {
      kernel, code: mmaSource(p.tile, true, 'w16', kernel), aligned: half ? null : K % 2 === 0 ? 1 : 0,
      O: dx, A: half ? half.h : dy, sc, weight: [w16Slice(w, c.row0, c.rows), peak.buffer],
      M, NO: K, R: c.rows, acc: i > 0 || opts.accumulate ? 1 : 0, ldo: K, o0: 0, lda: half ? half.ldh : N, a0: c.row0,
      wk: K, wrows: c.rows, ebase: 0, wflags: w.format === 'f16' ? 1 : 0,
    }, p, opts);
  });
}
