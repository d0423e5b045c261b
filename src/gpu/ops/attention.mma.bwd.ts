// Tensor-core attention backward (WGSL subgroup matrices, f16 operands, f32 accumulation), used by
// attentionBackward (attention.ts) wherever the tensor-core forward is (attention.mma.ts:
// useAttnMma, same device check). Three dispatches, no float atomics, fixed-order sums:
//   attention_bwd_prep_mma.wgsl  D_i = rowsum(dout ∘ out) (f32) and per-workgroup max |dout|;
//   attention_bwd_dq_mma.wgsl    dq per tile of packed query rows (R = pos·G + hh) of a kv head;
//   attention_bwd_dkv_mma.wgsl   dk, dv per key tile of a kv head, over the rows of its G heads.
// dout is scaled by ONE power of two per call (from the global max |dout|) before its f16
// rounding, so that small gradients keep their precision; dk/dv sum over rows, so rows cannot be
// scaled separately. P is recomputed from q, k and the saved lse as the f32 kernels do.
// Letters: T tokens, H query heads, Hkv kv heads, G = H / Hkv, D head dim.

import type { Gpu } from '../core/context';
import { GpuError } from '../core/errors';
import { packUniform, type Tensor } from '../core/tensor';
import { MMA_SPLIT, mmaSettings } from './mma';
import { grid1d } from './grid';
import prepCode from '../../../shaders/attention_bwd_prep_mma.wgsl';
import dqBody from '../../../shaders/attention_bwd_dq_mma.wgsl';
import dkvBody from '../../../shaders/attention_bwd_dkv_mma.wgsl';
import splitSumCode from '../../../shaders/nf4_mma_reduce.wgsl';
import { scratchTensor } from '../core/scratch';

/** dq tiles: BR rows (16 per subgroup) × BC keys. */
export interface DqTiles { br: number; bc: number }
/** dk/dv tiles: BK keys (16 per subgroup) × BQ packed rows; kreg: K and V held in registers. */
export interface DkvTiles { bk: number; bq: number; kreg: boolean }

export const ATTN_MMA_DQ_TILES: DqTiles[] = [{ br: 64, bc: 32 }, { br: 32, bc: 32 }, { br: 32, bc: 16 }, { br: 16, bc: 16 }];
export const ATTN_MMA_DKV_TILES: DkvTiles[] = [
  { bk: 64, bq: 32, kreg: true }, { bk: 32, bq: 16, kreg: false }, { bk: 32, bq: 32, kreg: true }, { bk: 16, bq: 16, kreg: false },
];
/**
 * Forced tiles (bench, tests); undefined: the first candidate that fits the device. `dkvSplit`
 * forces the dk/dv row split (else dkvSplitFor); `wave`: workgroups resident at once (as MMA_SPLIT).
 */
export const attnMmaBwdSettings: { dq?: DqTiles; dkv?: DkvTiles; dkvSplit?: number; wave: number; maxSplit: number } =
  { wave: MMA_SPLIT.wave, maxSplit: 4 };

/**
 * Row splits of the dk/dv kernel for T tokens: its ceil(T/BK)·Hkv workgroups each walk every row
 * that sees their keys (the first key tile of a sequence walks all T·G rows), so short sequences
 * leave the GPU part idle on a long critical path. Double the split while the workgroups still
 * fit in half a wave, up to maxSplit (T = 512 at 64 keys: 64 workgroups → 4 splits).
 */
export function dkvSplitFor(T: number, hkv: number, t: DkvTiles): number {
  if (attnMmaBwdSettings.dkvSplit !== undefined) return attnMmaBwdSettings.dkvSplit;
  const wgs = Math.ceil(T / t.bk) * hkv;
  let s = 1;
  while (s < attnMmaBwdSettings.maxSplit && 2 * wgs * s <= attnMmaBwdSettings.wave) s *= 2;
  return s;
}

/** Workgroup bytes of the dq kernel (mirrors the WGSL declarations). */
export function attnMmaDqSmem(d: number, { br, bc }: DqTiles): number {
  return 2 * (Math.max(2 * bc, br) * (d + 8) + br * (bc + 8)) + 4 * (2 * br * (bc + 4) + 3 * br + bc + 2 + 1);
}
/** Workgroup bytes of the dk/dv kernel (mirrors the WGSL declarations). */
export function attnMmaDkvSmem(d: number, { bk, bq, kreg }: DkvTiles): number {
  return 2 * ((kreg ? 0 : 2 * bk * (d + 8)) + 2 * bq * (d + 8) + 2 * bk * (bq + 8)) + 4 * (2 * bk * (bq + 4) + 4 * bq + bk + 2 + 1);
}

const limitOf = (gpu: Gpu) => gpu.info.limits.maxComputeWorkgroupStorageSize ?? 16384;
const dkvOk = (t: DkvTiles) => !t.kreg || t.bk <= 2 * t.bq;

/** Backward tiles for head dim d on this device (forced ones are checked), or undefined when none fits. */
export function attnMmaBwdTiles(gpu: Gpu, d: number): { dq: DqTiles; dkv: DkvTiles } | undefined {
  const lim = limitOf(gpu);
  const { dq: fq, dkv: fk } = attnMmaBwdSettings;
  if (fq && attnMmaDqSmem(d, fq) > lim) throw new GpuError('limit', `attention mma: dq tiles ${JSON.stringify(fq)} exceed ${lim} bytes`);
  if (fk && (attnMmaDkvSmem(d, fk) > lim || !dkvOk(fk))) throw new GpuError('limit', `attention mma: dkv tiles ${JSON.stringify(fk)} do not fit`);
  const dq = fq ?? ATTN_MMA_DQ_TILES.find((t) => attnMmaDqSmem(d, t) <= lim);
  const dkv = fk ?? ATTN_MMA_DKV_TILES.find((t) => dkvOk(t) && attnMmaDkvSmem(d, t) <= lim);
  return dq && dkv ? { dq, dkv } : undefined;
}

const ENABLES = 'enable f16;\nenable subgroups;\nenable chromium_experimental_subgroup_matrix;\n';
const L = 'subgroup_matrix_left<f16, 16, 16>';
const RT = 'subgroup_matrix_right<f16, 16, 16>';
const RES = 'subgroup_matrix_result<f32, 16, 16>';
const ld = (type: string, layout: string, off: string, stride: string, arr = 'Wh') =>
  `subgroupMatrixLoad<${type}, ${layout}>(&${arr}, ${off}, ${stride})`;
const mma = (a: string, b: string, c: string) => `${c} = subgroupMatrixMultiplyAccumulate(${a}, ${b}, ${c});`;
const st = (arr: string, off: string, m: string, stride: string) => `subgroupMatrixStore<row_major>(&${arr}, ${off}, ${m}, ${stride});`;
const range = (n: number) => Array.from({ length: n }, (_, i) => i);
const head = () => ENABLES + (mmaSettings.diagnosticOff ? 'diagnostic(off, chromium_experimental.subgroup_matrix_uniformity);\n' : '');

function fill(body: string, parts: Record<string, string[]>): string {
  return body.replace(/\/\/@(\w+)/g, (_m, k: string) => {
    if (!(k in parts)) throw new GpuError('validation', `attention mma bwd: no code for marker ${k}`);
    return parts[k].join('\n    ');
  });
}

const sources = new Map<string, string>();
function cached(key: string, make: () => string): string {
  let s = sources.get(key);
  if (!s) sources.set(key, (s = make()));
  return s;
}

/** WGSL of the dq kernel (one string object per variant, for the pipeline cache). */
export function attnMmaDqSource(d: number, t: DqTiles): string {
  return cached(`dq|${d}|${t.br}|${t.bc}|${mmaSettings.diagnosticOff}`, () => {
    const ND = d / 16, NK = t.bc / 16, LDK = d + 8;
    const sdp: string[] = [];
    for (const c of range(NK)) {
      sdp.push(`var s_${c} = ${RES}();`, `var p_${c} = ${RES}();`);
      for (const i of range(ND)) {
        sdp.push(mma(`q_${i}`, ld(RT, 'col_major', `${16 * c * LDK + 16 * i}u`, 'LDK'), `s_${c}`));
        sdp.push(mma(`o_${i}`, ld(RT, 'col_major', `V0 + ${16 * c * LDK + 16 * i}u`, 'LDK'), `p_${c}`));
      }
      sdp.push(st('Sf', `sg * 16u * LDS + ${16 * c}u`, `s_${c}`, 'LDS'), st('dPf', `sg * 16u * LDS + ${16 * c}u`, `p_${c}`, 'LDS'));
    }
    const dqm: string[] = [];
    for (const c of range(NK)) {
      dqm.push(`let ds_${c} = ${ld(L, 'row_major', `KV0 + sg * 16u * LDP + ${16 * c}u`, 'LDP')};`);
      for (const i of range(ND)) dqm.push(mma(`ds_${c}`, ld(RT, 'row_major', `${16 * c * LDK + 16 * i}u`, 'LDK'), `a_${i}`));
    }
    const epi: string[] = [];
    for (let c0 = 0; c0 < ND; c0 += NK) {
      const ms = range(Math.min(NK, ND - c0));
      for (const m of ms) epi.push(st('Sf', `sg * 16u * LDS + ${16 * m}u`, `a_${c0 + m}`, 'LDS'));
      epi.push('workgroupBarrier();', `write_dq(tid, R0, g, ${16 * c0}u, ${16 * ms.length}u, p.scale * down);`, 'workgroupBarrier();');
    }
    return head() + `const HD: u32 = ${d}u;\nconst BR: u32 = ${t.br}u;\nconst BC: u32 = ${t.bc}u;\n` + fill(dqBody, {
      Q_LOAD: range(ND).map((i) => `let q_${i} = ${ld(L, 'row_major', `sg * 16u * LDK + ${16 * i}u`, 'LDK')};`),
      O_LOAD: range(ND).map((i) => `let o_${i} = ${ld(L, 'row_major', `sg * 16u * LDK + ${16 * i}u`, 'LDK')};`),
      A_DECL: range(ND).map((i) => `var a_${i} = ${RES}();`),
      SDP_MMA: sdp, DQ_MMA: dqm, EPILOGUE: epi,
    });
  });
}

/** WGSL of the dk/dv kernel (one string object per variant). */
export function attnMmaDkvSource(d: number, t: DkvTiles): string {
  return cached(`dkv|${d}|${t.bk}|${t.bq}|${t.kreg}|${mmaSettings.diagnosticOff}`, () => {
    const ND = d / 16, NQ = t.bq / 16, LDK = d + 8;
    const kvl: string[] = [];
    if (t.kreg) {
      for (const [name, isV] of [['k', false], ['v', true]] as const) {
        kvl.push(`stage_keys(tid, k0, g, ${isV}, Q0);`, 'workgroupBarrier();');
        for (const i of range(ND)) kvl.push(`let ${name}_${i} = ${ld(L, 'row_major', `Q0 + sg * 16u * LDK + ${16 * i}u`, 'LDK')};`);
        kvl.push('workgroupBarrier();');
      }
    } else {
      kvl.push('stage_keys(tid, k0, g, false, 0u);', `stage_keys(tid, k0, g, true, ${t.bk * LDK}u);`);
    }
    const kOf = (i: number, name: string, base: number) => (t.kreg ? `${name}_${i}` : ld(L, 'row_major', `${base}u + sg * 16u * LDK + ${16 * i}u`, 'LDK'));
    const sdp: string[] = [];
    for (const j of range(NQ)) sdp.push(`var st_${j} = ${RES}();`, `var dpt_${j} = ${RES}();`);
    for (const i of range(ND)) {
      sdp.push(`let kl_${i} = ${kOf(i, 'k', 0)};`, `let vl_${i} = ${kOf(i, 'v', t.bk * LDK)};`);
      for (const j of range(NQ)) {
        sdp.push(mma(`kl_${i}`, ld(RT, 'col_major', `Q0 + ${16 * j * LDK + 16 * i}u`, 'LDK'), `st_${j}`));
        sdp.push(mma(`vl_${i}`, ld(RT, 'col_major', `O0 + ${16 * j * LDK + 16 * i}u`, 'LDK'), `dpt_${j}`));
      }
    }
    for (const j of range(NQ)) sdp.push(st('St', `sg * 16u * LDS + ${16 * j}u`, `st_${j}`, 'LDS'), st('dPt', `sg * 16u * LDS + ${16 * j}u`, `dpt_${j}`, 'LDS'));
    const dkv: string[] = [];
    for (const j of range(NQ)) {
      dkv.push(`let pt_${j} = ${ld(L, 'row_major', `P0 + sg * 16u * LDQ + ${16 * j}u`, 'LDQ')};`);
      dkv.push(`let dst_${j} = ${ld(L, 'row_major', `DS0 + sg * 16u * LDQ + ${16 * j}u`, 'LDQ')};`);
      for (const i of range(ND)) {
        dkv.push(mma(`pt_${j}`, ld(RT, 'row_major', `O0 + ${16 * j * LDK + 16 * i}u`, 'LDK'), `dv_${i}`));
        dkv.push(mma(`dst_${j}`, ld(RT, 'row_major', `Q0 + ${16 * j * LDK + 16 * i}u`, 'LDK'), `dk_${i}`));
      }
    }
    const per = Math.floor((t.bq + 4) / 16); // 16×16 matrices in a subgroup's 16 rows of St
    const epi: string[] = [];
    for (let i0 = 0; i0 < ND; i0 += per) {
      const ms = range(Math.min(per, ND - i0));
      for (const m of ms) {
        epi.push(st('St', `sg * 16u * LDS + ${256 * m}u`, `dk_${i0 + m}`, '16u'), st('dPt', `sg * 16u * LDS + ${256 * m}u`, `dv_${i0 + m}`, '16u'));
      }
      epi.push('workgroupBarrier();', `write_kv(sg, lane, k0, g, ${i0}u, ${ms.length}u, down, wid.z * p.zStride);`, 'workgroupBarrier();');
    }
    return head() + `const HD: u32 = ${d}u;\nconst BK: u32 = ${t.bk}u;\nconst BQ: u32 = ${t.bq}u;\nconst KREG: bool = ${t.kreg};\n` + fill(dkvBody, {
      KV_LOAD: kvl,
      ACC_DECL: range(ND).flatMap((i) => [`var dk_${i} = ${RES}();`, `var dv_${i} = ${RES}();`]),
      SDP_MMA: sdp, DKV_MMA: dkv, EPILOGUE: epi,
    });
  });
}

/** Scratch of the backward: D_i [H, T] f32 and the prep kernel's partial maxima, grown on demand. */
function bwdScratch(gpu: Gpu, nDi: number, nPart: number) {
  const buf = (name: string, n: number) => scratchTensor(gpu, name, n, { min: 4 }).buffer;
  return { di: buf('attention.mma.di', nDi), dmax: buf('attention.mma.dmax', nPart) };
}

/**
 * Record the tensor-core backward (shapes checked by attentionBackward). `source` rewrites the
 * matrix kernels' WGSL (tests emulate the builtins).
 */
export function attnMmaBackward(
  gpu: Gpu,
  dq: Tensor, dk: Tensor, dv: Tensor, // [T, H*D], [T, Hkv*D] ×2 f32 (assigned)
  dout: Tensor, q: Tensor, k: Tensor, v: Tensor, out: Tensor, // [T, H*D], [T, Hkv*D] ×2, [T, H*D]
  lse: Tensor, segIds: Tensor, // [H, T] f32, [T] i32
  h: number, hkv: number, d: number,
  source?: (code: string) => string,
): void {
  const T = segIds.shape[0];
  const tiles = attnMmaBwdTiles(gpu, d);
  if (!tiles) throw new GpuError('limit', `attention mma backward: no tile fits ${limitOf(gpu)} bytes of workgroup storage`);
  const W = 64;
  const [gx, gy] = grid1d(gpu, Math.ceil((T * h) / W));
  const nPart = gx * gy;
  const s = bwdScratch(gpu, T * h, nPart);
  gpu.dispatch(
    { code: prepCode, constants: { WG: W } },
    [s.di, s.dmax, dout.buffer, out.buffer, gpu.uniform(packUniform([T, h, d / 4, 0]))],
    [gx, gy],
  );
  const u = gpu.uniform(packUniform([T, h, hkv, nPart, 1, 0, 0, { f: 1 / Math.sqrt(d) }]));
  const src = (c: string) => (source ? source(c) : c);
  const G = h / hkv;
  gpu.dispatch(
    { code: src(attnMmaDqSource(d, tiles.dq)) },
    [dq.buffer, s.di, s.dmax, dout.buffer, q.buffer, k.buffer, v.buffer, lse.buffer, segIds.buffer, u],
    [Math.ceil((T * G) / tiles.dq.br), hkv],
  );
  const S = dkvSplitFor(T, hkv, tiles.dkv);
  const n = T * hkv * d; // elements of dk (and of dv)
  const grid: [number, number, number] = [Math.ceil(T / tiles.dkv.bk), hkv, S];
  // S > 1: partials [S, T, Hkv·D] of dk and dv, then summed in split order into dk, dv (assigned).
  const part = (name: string) => scratchTensor(gpu, name, S * n, { min: 4 }).buffer;
  const [pk, pv] = S === 1 ? [dk.buffer, dv.buffer] : [part('attention.mma.dk_split'), part('attention.mma.dv_split')];
  const uk = gpu.uniform(packUniform([T, h, hkv, nPart, 1, S, S === 1 ? 0 : n / 4, { f: 1 / Math.sqrt(d) }]));
  gpu.dispatch({ code: src(attnMmaDkvSource(d, tiles.dkv)) },
    [pk, pv, s.di, s.dmax, dout.buffer, q.buffer, k.buffer, v.buffer, lse.buffer, segIds.buffer, uk], grid);
  if (S === 1) return;
  const ur = gpu.uniform(packUniform([T, hkv * d, S, 0, hkv * d, 0]));
  const g1 = grid1d(gpu, Math.ceil(n / 256));
  gpu.dispatch({ code: splitSumCode, constants: { WG: 256 } }, [dk.buffer, { buffer: pk, offset: 0, size: 4 * S * n }, ur], g1);
  gpu.dispatch({ code: splitSumCode, constants: { WG: 256 } }, [dv.buffer, { buffer: pv, offset: 0, size: 4 * S * n }, ur], g1);
}
