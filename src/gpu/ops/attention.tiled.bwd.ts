// The f32 tiled attention backward (shaders/attention_bwd_dq_tiled_pf.wgsl and
// attention_bwd_dkv_tiled_pf.wgsl): dq prefetches K/V tiles and dk/dv prefetches q/dout rows into
// registers one compute phase ahead; dq walks query tiles heavy-first (the dk/dv key tiles already
// are). Variants differ in threads per workgroup and tiles; `attnTiledSettings.bwd` selects one
// and `bench/attention.ts --variants` times them. The sum of the G per-head dk/dv shares
// (attention_bwd_reduce.wgsl) follows. (The original kernels without prefetch, equal to these bit
// for bit and 2.2–2.3× slower on the H200, were removed: bench/NOTES.md v26, v31.)
// Letters: BR query rows, BC keys per tile, NTC thread columns, D head dim; TM rows (dq) and TMK
// keys (dkv) per thread: dq threads = (BR / TM) · NTC, dkv threads = (BC / TMK) · NTC.

import type { Gpu } from '../core/context';
import dqPfBody from '../../../shaders/attention_bwd_dq_tiled_pf.wgsl';
import dkvPfBody from '../../../shaders/attention_bwd_dkv_tiled_pf.wgsl';
import { attnTiledSettings } from './attention.tiled';
export { ATTN_BWD_DEFAULT } from './attention.tiled';

export interface BwdPfVariant {
  tm: number; // dq rows per thread (4: 64 threads at BR = 32, 2: 128)
  dkv: [number, number, number][]; // dkv (BC, BR, TMK) candidates, largest first
}

/** Backward variants by name. */
export const ATTN_BWD_VARIANTS: Record<string, BwdPfVariant> = {
  // 64 threads (dq 4 rows per thread, dkv 2 keys per thread), the original kernels' tiles
  pf64: { tm: 4, dkv: [[16, 16, 2], [16, 8, 2], [8, 8, 2], [4, 8, 2]] },
  // 128 threads: dq 2 rows per thread, dkv 1 key per thread
  pf128: { tm: 2, dkv: [[16, 16, 1], [16, 8, 1], [8, 8, 1], [4, 8, 1]] },
  // 128 threads, dkv with 32 keys × 8 rows (fewer q/dout reloads per key; fits 48 KiB, not 32)
  'pf128-k32': { tm: 2, dkv: [[32, 8, 2], [16, 16, 1], [16, 8, 1], [8, 8, 1], [4, 8, 1]] },
};

export interface BwdPfConfig {
  dq: { br: number; bc: number; tm: number; ntc: number };
  dkv: { bc: number; br: number; tmk: number; ntc: number };
}

/** Workgroup bytes (mirror the WGSL declarations). */
export const bwdPfSmem = {
  // Qs, dOs [BR, D+4]; KVs [BC, D+4]; dSs [BR, BC+1]; rowLse, rowDi [BR]; colSeg [BC]; kRange
  dq: (br: number, bc: number, d: number) => 4 * ((2 * br + bc) * (d + 4) + br * (bc + 1) + 2 * br + bc + 2),
  // Ks, Vs [BC, D+4]; Qs, dOs [BR, D+4]; Pt, dSt [BC, BR+1]; rowLse, rowDi, rowSeg [BR]; qRange
  dkv: (bc: number, br: number, d: number) => 4 * (2 * (bc + br) * (d + 4) + 2 * bc * (br + 1) + 3 * br + 2),
};

/** dq (BR, BC) candidates, largest first. */
const DQ_CANDIDATES: [number, number][] = [[32, 32], [32, 16], [16, 16], [16, 8], [8, 8]];

/** Largest configs of variant `v` that fit this device at head dim d, or undefined. */
export function attnBwdPfConfig(gpu: Gpu, d: number, v: BwdPfVariant): BwdPfConfig | undefined {
  if (d % 4 !== 0) return undefined;
  const dv = d / 4;
  const ntc = Math.min(8, dv);
  if (dv % ntc !== 0) return undefined;
  const limit = gpu.info.limits.maxComputeWorkgroupStorageSize ?? 16384;
  const maxWg = gpu.info.limits.maxComputeInvocationsPerWorkgroup ?? 256;
  const dqT = DQ_CANDIDATES.find(([br, bc]) =>
    br % v.tm === 0 && bc % ntc === 0 && (br / v.tm) * ntc <= maxWg && bwdPfSmem.dq(br, bc, d) <= limit);
  const dkvT = v.dkv.find(([bc, br, tmk]) =>
    bc % tmk === 0 && br % ntc === 0 && (bc / tmk) * ntc <= maxWg && bwdPfSmem.dkv(bc, br, d) <= limit);
  if (!dqT || !dkvT) return undefined;
  return { dq: { br: dqT[0], bc: dqT[1], tm: v.tm, ntc }, dkv: { bc: dkvT[0], br: dkvT[1], tmk: dkvT[2], ntc } };
}

/** The selected backward's configs on this device, or undefined (they do not fit: the simple kernels run). */
export function attnBwdVariant(gpu: Gpu, d: number): BwdPfConfig | undefined {
  const v = ATTN_BWD_VARIANTS[attnTiledSettings.bwd];
  if (!v) throw new Error(`attention: unknown tiled backward variant '${attnTiledSettings.bwd}' (known: ${Object.keys(ATTN_BWD_VARIANTS)})`);
  return attnBwdPfConfig(gpu, d, v);
}

// One generated source string per config (the pipeline cache is keyed by the string object).
const sources = new Map<string, string>();
function cached(head: string, body: string): string {
  let src = sources.get(head);
  if (!src) sources.set(head, (src = head + body));
  return src;
}

export function attnBwdDqPfSource(d: number, c: BwdPfConfig['dq']): string {
  return cached(`// dq pf\nconst HD: u32 = ${d}u;\nconst BR: u32 = ${c.br}u;\nconst BC: u32 = ${c.bc}u;\nconst TM: u32 = ${c.tm}u;\nconst NTC: u32 = ${c.ntc}u;\n`, dqPfBody);
}

export function attnBwdDkvPfSource(d: number, c: BwdPfConfig['dkv']): string {
  return cached(`// dkv pf\nconst HD: u32 = ${d}u;\nconst BC: u32 = ${c.bc}u;\nconst BR: u32 = ${c.br}u;\nconst TMK: u32 = ${c.tmk}u;\nconst NTC: u32 = ${c.ntc}u;\n`, dkvPfBody);
}
