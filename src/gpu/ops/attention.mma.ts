// Tensor-core (WGSL subgroup-matrix) variants of the attention kernels, used by attentionForward /
// attentionBackward (attention.ts) when `kernels` is 'mma', or 'auto' on a device that passes the
// same check as the tensor-core matmuls (mma.ts: mmaUnsupportedReason — subgroup matrices with
// the f16×f16→f32 16×16×16 configuration, shader-f16, subgroups of exactly 32) and D % 16 == 0.
// f16 operands (q·scale, k, v, dout·2^e, P, dS), f32 accumulation, softmax / lse / D_i in f32.
// Kernels: attention_fwd_mma.wgsl; backward (attention.mma.bwd.ts): attention_bwd_prep_mma.wgsl (D_i, max |dout|),
// attention_bwd_dq_mma.wgsl, attention_bwd_dkv_mma.wgsl (GQA summed in-kernel, no reduce pass).
// The //@ markers of each kernel are replaced with straight-line code over named subgroup
// matrices (arrays of matrices indexed in loops risk living in local memory; see mma.ts).
// Letters: T tokens, H query heads, Hkv kv heads, G = H / Hkv, D head dim.

import type { Gpu } from '../core/context';
import { GpuError } from '../core/errors';
import { mmaSettings, mmaUnsupportedReason } from './mma';
import fwdBody from '../../../shaders/attention_fwd_mma.wgsl';

/** Options of the attention wrappers; `source` rewrites the WGSL (tests run an emulation of the builtins). */
export interface AttnOptions { source?: (code: string) => string }

/** Automatic routing switch of the tensor-core attention ('mma' kernels forced per call ignore it). */
export const attnMmaSettings = { enabled: true, tau: 8 };

/**
 * Tiles (rows BR = 16 per subgroup, keys BC), the largest whose workgroup storage fits the
 * device: H200 (48 KiB) 64×64; lavapipe (32 KiB, the emulated tests) 64×32 or 32×32.
 */
export const ATTN_MMA_TILES: [number, number][] = [[64, 64], [64, 32], [32, 32]];
export interface MmaTiles { br: number; bc: number }

const ENABLES = 'enable f16;\nenable subgroups;\nenable chromium_experimental_subgroup_matrix;\n';
const L = 'subgroup_matrix_left<f16, 16, 16>';
const RT = 'subgroup_matrix_right<f16, 16, 16>';
const RES = 'subgroup_matrix_result<f32, 16, 16>';
const ld = (type: string, layout: string, arr: string, off: string, stride: string) =>
  `subgroupMatrixLoad<${type}, ${layout}>(&${arr}, ${off}, ${stride})`;
const mmaOp = (a: string, b: string, c: string) => `${c} = subgroupMatrixMultiplyAccumulate(${a}, ${b}, ${c});`;
const range = (n: number) => Array.from({ length: n }, (_, i) => i);

/** Workgroup bytes of the forward kernel (mirrors the WGSL declarations). */
export function attnMmaFwdSmem(d: number, br: number, bc: number): number {
  return 2 * (Math.max(br, bc) * (d + 8) + br * (bc + 8)) + 4 * (br * (bc + 4) + 2 * br + br + bc + 3);
}

function fill(body: string, parts: Record<string, string>): string {
  const s = body.replace(/\/\/@(\w+)/g, (m, k: string) => {
    if (!(k in parts)) throw new GpuError('validation', `attention mma: no code for marker ${k}`);
    return parts[k];
  });
  return s;
}

function limitOf(gpu: Gpu): number {
  return gpu.info.limits.maxComputeWorkgroupStorageSize ?? 16384;
}

/** Forward tiles for head dim d on this device, or undefined when none fits. */
export function attnMmaFwdTiles(gpu: Gpu, d: number): MmaTiles | undefined {
  const t = ATTN_MMA_TILES.find(([br, bc]) => attnMmaFwdSmem(d, br, bc) <= limitOf(gpu));
  return t && { br: t[0], bc: t[1] };
}

const sources = new Map<string, string>();
/** WGSL of the forward kernel for head dim d (one string object per variant, for the pipeline cache). */
export function attnMmaFwdSource(d: number, { br, bc }: MmaTiles): string {
  const key = `fwd|${d}|${br}|${bc}|${attnMmaSettings.tau}`;
  let s = sources.get(key);
  if (s) return s;
  const ND = d / 16, NK = bc / 16;
  const qload = range(ND).map((i) => `let q_${i} = ${ld(L, 'row_major', 'Wh', `sg * 16u * LDK + ${16 * i}u`, 'LDK')};`);
  const odecl = range(ND).map((i) => `var o_${i} = ${RES}();`);
  const smma: string[] = [];
  for (const c of range(NK)) {
    smma.push(`var s_${c} = ${RES}();`);
    for (const i of range(ND)) smma.push(mmaOp(`q_${i}`, ld(RT, 'col_major', 'Wh', `${16 * c * (d + 8)}u + ${16 * i}u`, 'LDK'), `s_${c}`));
    smma.push(`subgroupMatrixStore<row_major>(&Sf, sg * 16u * LDS + ${16 * c}u, s_${c}, LDS);`);
  }
  const pv: string[] = [];
  for (const c of range(NK)) {
    pv.push(`let p_${c} = ${ld(L, 'row_major', 'Wh', `KV0 + sg * 16u * LDP + ${16 * c}u`, 'LDP')};`);
    for (const i of range(ND)) pv.push(mmaOp(`p_${c}`, ld(RT, 'row_major', 'Wh', `${16 * c * (d + 8)}u + ${16 * i}u`, 'LDK'), `o_${i}`));
  }
  // rescale: (BC + 4) / 16 matrices at a time through the subgroup's own rows of Sf
  const resc: string[] = [];
  const per = Math.floor((bc + 4) / 16);
  for (let c0 = 0; c0 < ND; c0 += per) {
    const ms = range(Math.min(per, ND - c0)).map((m) => c0 + m);
    for (const [m, i] of ms.entries()) resc.push(`subgroupMatrixStore<row_major>(&Sf, sg * 16u * LDS + ${256 * m}u, o_${i}, 16u);`);
    resc.push('workgroupBarrier();', `scale_rows(sg, lane, ${ms.length}u);`, 'workgroupBarrier();');
    for (const [m, i] of ms.entries()) resc.push(`o_${i} = ${ld(RES, 'row_major', 'Sf', `sg * 16u * LDS + ${256 * m}u`, '16u')};`);
    resc.push('workgroupBarrier();');
  }
  // epilogue: NK d-blocks at a time through Sf [BR, LDS]
  const epi: string[] = [];
  for (let c0 = 0; c0 < ND; c0 += NK) {
    const ms = range(Math.min(NK, ND - c0)).map((m) => c0 + m);
    for (const [m, i] of ms.entries()) epi.push(`subgroupMatrixStore<row_major>(&Sf, sg * 16u * LDS + ${16 * m}u, o_${i}, LDS);`);
    epi.push('workgroupBarrier();', `write_out(tid, R0, g, ${16 * c0}u, ${16 * ms.length}u);`, 'workgroupBarrier();');
  }
  s = ENABLES + (mmaSettings.diagnosticOff ? 'diagnostic(off, chromium_experimental.subgroup_matrix_uniformity);\n' : '') +
    `const HD: u32 = ${d}u;\nconst BR: u32 = ${br}u;\nconst BC: u32 = ${bc}u;\nconst TAU: f32 = ${attnMmaSettings.tau.toFixed(1)};\n` +
    fill(fwdBody, {
      Q_LOAD: qload.join('\n  '), O_DECL: odecl.join('\n  '), S_MMA: smma.join('\n    '),
      PV_MMA: pv.join('\n    '), RESCALE: resc.join('\n      '), EPILOGUE: epi.join('\n  '),
    });
  sources.set(key, s);
  return s;
}

const supported = new WeakMap<Gpu, boolean>();
/** Why the tensor-core attention cannot run here (null: it can). */
export function attnMmaUnsupportedReason(gpu: Gpu, d: number, emulated = false): string | null {
  if (d % 16 !== 0) return `head_dim ${d} is not a multiple of 16`;
  if (!attnMmaFwdTiles(gpu, d)) return `no tile fits ${limitOf(gpu)} bytes of workgroup storage`;
  if (emulated || (mmaSettings.skipDeviceCheck && gpu.features.subgroupMatrix)) return null;
  return mmaUnsupportedReason(gpu);
}

/**
 * Whether this call runs the tensor-core kernels ('mma' forces them and throws where unsupported;
 * `emulated`: the caller rewrites the builtins (tests), so only the shape and memory checks apply).
 */
export function useAttnMma(gpu: Gpu, d: number, kernels: string, emulated = false): boolean {
  if (kernels !== 'auto' && kernels !== 'mma') return false;
  if (kernels === 'auto') {
    if (!attnMmaSettings.enabled) return false;
    let ok = supported.get(gpu);
    if (ok === undefined) supported.set(gpu, (ok = mmaUnsupportedReason(gpu) === null));
    return ok && attnMmaUnsupportedReason(gpu, d) === null;
  }
  const why = attnMmaUnsupportedReason(gpu, d, emulated);
  if (why) throw new GpuError('limit', `attention: tensor-core kernels forced but unsupported: ${why}`);
  return true;
}
