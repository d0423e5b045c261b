// The f32 tiled attention forward (shaders/attention_fwd_tiled_pf.wgsl): register-tiled flash
// attention that prefetches K/V tiles into registers one compute phase ahead, reduces rows with
// subgroup shuffles where the device has subgroups (else workgroup memory), and walks query tiles
// heavy-first. Variants differ in rows per thread TM, i.e. threads per workgroup
// WG = (BR / TM) · NTC; `attnTiledSettings.fwd` selects one (default ATTN_FWD_DEFAULT) and
// `bench/attention.ts --variants` times them. (The original kernel without prefetch, equal to
// these bit for bit and 2.9–3.1× slower on the H200, was removed: bench/NOTES.md v25, v31.)
// Letters: BR query rows × BC keys per tile, NTC thread columns, D head dim.

import type { Gpu } from '../core/context';
import pfBody from '../../../shaders/attention_fwd_tiled_pf.wgsl';
import rowsSg from '../../../shaders/attention_rows_sg.wgsl';
import rowsWg from '../../../shaders/attention_rows_wg.wgsl';

export interface PfVariant {
  tm: number; // rows per thread (4: 64 threads at BR = 32, 2: 128, 1: 256)
  sg: boolean; // subgroup row reductions where the device allows (false: always workgroup memory)
}

/** Forward variants by name. */
export const ATTN_FWD_VARIANTS: Record<string, PfVariant> = {
  pf64: { tm: 4, sg: true },
  pf128: { tm: 2, sg: true },
  'pf128-wg': { tm: 2, sg: false },
  pf256: { tm: 1, sg: true },
};

/**
 * The default forward: 'pf128-wg' (H200 run 29, bench/NOTES.md v25: 2.9–3.1× the original kernel
 * at T = 512 and 2048, bitwise equal to it; the subgroup-shuffle reductions were slower than
 * workgroup memory).
 */
export const ATTN_FWD_DEFAULT = 'pf128-wg';
/**
 * The default backward (attention.tiled.bwd.ts): 'pf128-k32' (H200 run 30, bench/NOTES.md v26:
 * 2.2–2.3× the original kernels at T = 512 and 2048, bitwise equal; on 32 KiB devices it takes
 * pf128's tiles).
 */
export const ATTN_BWD_DEFAULT = 'pf128-k32';
/** Which forward / backward variants attentionForward's and attentionBackward's tiled paths run (bench/tests set them). */
export const attnTiledSettings: { fwd: string; bwd: string } = { fwd: ATTN_FWD_DEFAULT, bwd: ATTN_BWD_DEFAULT };

export interface PfConfig { br: number; bc: number; tm: number; ntc: number; sg: boolean }

/** Tile pairs (BR, BC), largest first. */
const PF_CANDIDATES: [number, number][] = [[32, 32], [32, 16], [16, 16], [16, 8], [8, 8]];

/** Workgroup bytes (mirrors the WGSL: Qs, KVs [*, D + 4]; Ps [BR, BC + 1]; colSeg; kRange; redM/L without sg). */
export const pfSmem = (br: number, bc: number, d: number, ntc: number, sg: boolean) =>
  4 * ((br + bc) * (d + 4) + br * (bc + 1) + bc + 2 + (sg ? 0 : 2 * br * ntc));

function subgroupMin(gpu: Gpu): number {
  return (gpu.device as unknown as { adapterInfo?: { subgroupMinSize?: number } }).adapterInfo?.subgroupMinSize ?? 0;
}

/** Largest config of variant `v` that fits this device at head dim d, or undefined. */
export function attnFwdPfConfig(gpu: Gpu, d: number, v: PfVariant): PfConfig | undefined {
  if (d % 4 !== 0) return undefined;
  const dv = d / 4;
  const ntc = Math.min(8, dv);
  if (dv % ntc !== 0) return undefined;
  // Subgroup shuffles need every subgroup to hold whole row groups of NTC threads.
  const sg = v.sg && gpu.features.subgroups && subgroupMin(gpu) >= ntc;
  const limit = gpu.info.limits.maxComputeWorkgroupStorageSize ?? 16384;
  const maxWg = gpu.info.limits.maxComputeInvocationsPerWorkgroup ?? 256;
  for (const [br, bc] of PF_CANDIDATES) {
    if (br % v.tm !== 0 || bc % ntc !== 0) continue;
    const wg = (br / v.tm) * ntc;
    if (wg > maxWg || (br * dv) % wg !== 0 || (bc * dv) % wg !== 0) continue;
    if (pfSmem(br, bc, d, ntc, sg) <= limit) return { br, bc, tm: v.tm, ntc, sg };
  }
  return undefined;
}

/** The selected forward's config on this device, or undefined (it does not fit: the simple kernels run). */
export function attnFwdVariant(gpu: Gpu, d: number): PfConfig | undefined {
  const v = ATTN_FWD_VARIANTS[attnTiledSettings.fwd];
  if (!v) throw new Error(`attention: unknown tiled forward variant '${attnTiledSettings.fwd}' (known: ${Object.keys(ATTN_FWD_VARIANTS)})`);
  return attnFwdPfConfig(gpu, d, v);
}

// One generated source string per config (the pipeline cache is keyed by the string object).
const sources = new Map<string, string>();
export function attnFwdPfSource(d: number, c: PfConfig): string {
  const head = `const HD: u32 = ${d}u;\nconst BR: u32 = ${c.br}u;\nconst BC: u32 = ${c.bc}u;\nconst TM: u32 = ${c.tm}u;\nconst NTC: u32 = ${c.ntc}u;\n`;
  const key = `${head}${c.sg}`;
  let src = sources.get(key);
  if (!src) {
    src = (c.sg ? `enable subgroups;\n${head}${rowsSg}` : `${head}${rowsWg}`) + `\n${pfBody}`;
    sources.set(key, src);
  }
  return src;
}
