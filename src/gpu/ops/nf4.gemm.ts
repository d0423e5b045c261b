// The f32 tiled GEMM v2 (shaders/nf4_gemm_v2.wgsl; no tensor cores, no f16, no subgroups) over NF4
// or 16-bit weights, used by nf4Matmul / nf4MatmulBackward (nf4.matmul.ts) and matmul16 /
// matmul16Backward (w16.ts, the lm_head) when K % 8 == 0 and no old `tile` is asked:
//   O [M, NO] (+)= A [M, R] · B [R, NO]  (forward: y = x·Wᵀ, NO = N, R = K; backward: dx = dy·W,
//   NO = K, R = N), 128×BN output tiles (BN 128 or 64), BK-deep steps, optional split-K (partials [S, M, NO] in a
//   per-device scratch, summed in split order by nf4_mma_reduce.wgsl: deterministic).
// The tile depth BK comes from the device's workgroup-memory limit (NBUF = 2 only on request).

import type { Binding, Gpu } from '../core/context';
import { check } from '../core/errors';
import { packUniform, type Tensor } from '../core/tensor';
import nf4CommonCode from '../../../shaders/nf4_common.wgsl';
import nf4FormatCode from '../../../shaders/gemm_v2_nf4.wgsl';
import w16CommonCode from '../../../shaders/w16_common.wgsl';
import w16FormatCode from '../../../shaders/gemm_v2_w16.wgsl';
import v2Code from '../../../shaders/nf4_gemm_v2.wgsl';
import reduceCode from '../../../shaders/nf4_mma_reduce.wgsl';
import { grid1d } from './grid';
import { bindingLimit } from './nf4.chunks';
import { scratchTensor } from '../core/scratch';

export type GemmKernel = 'v1' | 'v2';
/** Tile depth, workgroup buffers, tile width (default 128), forward block scales reused across steps (RS). */
export interface GemmConfig { bk: 8 | 16 | 32; nbuf: 1 | 2; bn?: 64 | 128; rs?: boolean }

/**
 * Settings of the f32 GEMM: `kernel` 'v2' (default) or 'v1' (nf4_gemm_core.wgsl, the old kernel);
 * `config` forces a tile depth / buffer count (else from the limit); `split` forces split-K (else
 * the wave rule: below one wave of tiles, split while it cuts the wave-quantized time of `wave` concurrent workgroups and
 * every split keeps ≥ minDepth of the reduction).
 */
export const gemmSettings: { kernel: GemmKernel; config?: GemmConfig; split?: number; wave: number; minDepth: number; maxSplit: number } =
  { kernel: 'v2', wave: 264, minDepth: 512, maxSplit: 16 };

const TILE_M = 128;
const tileN = (c: GemmConfig) => c.bn ?? 128;

/** Workgroup bytes of a configuration: NBUF × (A tile BK·33 vec4 + W tile BK·(BN/4+1) vec4) plus the 16-entry table. */
export function gemmBytes(c: GemmConfig): number {
  return c.nbuf * c.bk * (33 + tileN(c) / 4 + 1) * 16 + 64;
}

/**
 * BK = 16 single-buffered (17 KiB) where it fits, else BK = 8 (8.3 KiB: Chrome's 16 KiB minimum).
 * H200 run 13: BK=16 NBUF=1 fastest on all 16 shapes (53–68 % of the f32 peak); BK=8 NBUF=2
 * 6–17 % slower, BK=16 NBUF=2 (33 KiB) 20–35 % slower — double buffering is only a `config` option;
 * run 16: BK=32 20–25 % slower (registers). With `shape`, also the tile width and RS (forward).
 */
export function pickGemmConfig(gpu: Gpu, shape?: { M: number; NO: number; bwd: boolean }): GemmConfig {
  if (gemmSettings.config) return gemmSettings.config;
  const limit = gpu.info.limits.maxComputeWorkgroupStorageSize ?? 16384;
  let base: GemmConfig = { bk: 8, nbuf: 1 };
  for (const c of [{ bk: 16, nbuf: 1 }, { bk: 8, nbuf: 2 }, { bk: 8, nbuf: 1 }] as GemmConfig[])
    if (gemmBytes(c) <= limit) { base = c; break; }
  if (!shape) return base;
  // H200 runs 16a/b: 128×64 tiles win where 128×128 tiles are fewer than a wave (k/v at 512 tokens
  // +7–9 %, q/down forward +3–6 %; gate/up dX at 512 −2.6 %) and lose 5–19 % on larger grids;
  // RS +1–2.5 % on every forward (bench/NOTES.md v16).
  const small = Math.ceil(shape.M / TILE_M) * Math.ceil(shape.NO / 128) < gemmSettings.wave;
  return { ...base, bn: small ? 64 : 128, rs: !shape.bwd };
}

/** Whether the v2 GEMM serves a call: whole 8-element words along K and no explicit old (v1) tile. */
export function useGemmV2(K: number, tile: number | undefined): boolean {
  return K % 8 === 0 && tile === undefined && gemmSettings.kernel === 'v2';
}

/** Split-K factor for O [M, NO] over R (1 = none) with tiles 128 × `bn`. */
export function pickGemmSplit(M: number, NO: number, R: number, bn = 128): number {
  if (gemmSettings.split !== undefined) return gemmSettings.split;
  const tiles = Math.ceil(M / TILE_M) * Math.ceil(NO / bn);
  if (tiles >= gemmSettings.wave) return 1;
  let split = 1, cost = Math.ceil(tiles / gemmSettings.wave);
  for (let s = 2; s <= gemmSettings.maxSplit && R / s >= gemmSettings.minDepth; s *= 2) {
    const c = Math.ceil((tiles * s) / gemmSettings.wave) / s;
    if (c < cost) { split = s; cost = c; }
  }
  return split;
}

/** The weight format of a GEMM: NF4 (4 bindings: codes, absmax, dq codes, dq map) or 16-bit (1 binding). */
export type GemmFormat = 'nf4' | 'w16';
const PRELUDE: Record<GemmFormat, string> = { nf4: nf4CommonCode + nf4FormatCode, w16: w16CommonCode + w16FormatCode };

const sources = new Map<string, string>();
function source(c: GemmConfig, format: GemmFormat): string {
  const key = `${c.bk}/${c.nbuf}/${tileN(c)}/${!!c.rs}/${format}`;
  let s = sources.get(key);
  // RS (block scales kept across steps) only means something for scaled formats
  if (!s) sources.set(key, (s = `const BK = ${c.bk}u; const NBUF = ${c.nbuf}u; const BN = ${tileN(c)}u; const RS = ${!!c.rs}; const WB = 3u;\n` + PRELUDE[format] + v2Code));
  return s;
}

const partials = (gpu: Gpu, n: number) => scratchTensor(gpu, 'nf4gemm.splitk', n, { double: true, cap: Math.floor(bindingLimit(gpu) / 4) });

/**
 * One GEMM (shapes checked by the caller): O [M, ldo] at column o0 (+)= A [M, lda] at a0 · B.
 * `weight`: the format's bindings (nf4Bindings, or the 16-bit row chunk); `wflags`: NF4 double
 * quantization, or 16-bit f16 (else bf16). `ebase` only matters for NF4 (block scales).
 */
export interface GemmCall {
  bwd: boolean; O: Tensor; A: Tensor; weight: Binding[]; format?: GemmFormat;
  M: number; NO: number; R: number; acc: number; ldo: number; o0: number; lda: number; a0: number;
  wk: number; wrows: number; ebase: number; wflags: number;
}

export function nf4GemmV2(gpu: Gpu, g: GemmCall): void {
  check(g.wk % 8 === 0, 'nf4GemmV2', `K must be a multiple of 8, got ${g.wk}`);
  const cfg = pickGemmConfig(gpu, { M: g.M, NO: g.NO, bwd: g.bwd });
  const split = pickGemmSplit(g.M, g.NO, g.R, tileN(cfg));
  check(Number.isInteger(split) && split >= 1, 'nf4GemmV2', `split must be a positive integer, got ${split}`);
  let rsplit = Math.ceil(Math.ceil(g.R / split) / cfg.bk) * cfg.bk;
  let S = Math.ceil(g.R / rsplit);
  const maxS = Math.floor(bindingLimit(gpu) / (4 * g.M * g.NO));
  if (S > maxS) { S = Math.max(1, maxS); rsplit = Math.ceil(Math.ceil(g.R / S) / cfg.bk) * cfg.bk; S = Math.ceil(g.R / rsplit); }
  const code = source(cfg, g.format ?? 'nf4');
  const grid: [number, number, number] = [Math.ceil(g.NO / tileN(cfg)), Math.ceil(g.M / TILE_M), S];
  const tail = [g.wk, g.wrows, g.ebase, g.wflags];
  const weight = g.weight;
  if (S === 1) {
    const u = gpu.uniform(packUniform([g.M, g.NO, g.R, g.acc, g.ldo, g.o0, g.lda, g.a0, ...tail, Math.max(rsplit, g.R), 0, 0, 0]));
    gpu.dispatch({ code, constants: { BWD: g.bwd ? 1 : 0 } }, [g.O.buffer, g.A.buffer, u, ...weight], grid);
    return;
  }
  const n = g.M * g.NO;
  const part = partials(gpu, S * n);
  const pb = { buffer: part.buffer, offset: 0, size: 4 * S * n };
  const u = gpu.uniform(packUniform([g.M, g.NO, g.R, 0, g.NO, 0, g.lda, g.a0, ...tail, rsplit, n, 0, 0]));
  gpu.dispatch({ code, constants: { BWD: g.bwd ? 1 : 0 } }, [pb, g.A.buffer, u, ...weight], grid);
  const ur = gpu.uniform(packUniform([g.M, g.NO, S, g.acc, g.ldo, g.o0]));
  gpu.dispatch({ code: reduceCode, constants: { WG: 256 } }, [g.O.buffer, pb, ur], grid1d(gpu, Math.ceil(n / 256)));
}
