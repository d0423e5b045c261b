// The vectorized NF4 decode GEMVs (K % 32 == 0, M ≤ 4), used by nf4Matmul (nf4.matmul.ts):
//   y [M, N] (+)= x [M, K] · Wᵀ (+ scale · xa [M, r] · Bᵀ), W [N, K] NF4, one row chunk per call.
// v2 (nf4_gemv_v2.wgsl, default): a subgroup (or, without subgroups, a fixed group of 32
// invocations) per group of R rows, conflict-free nibble table, one chunk of prefetch.
// v1 (nf4_gemv_vec.wgsl): a workgroup of 128 per R rows, byte table, barrier-tree reduction;
// kept selectable (gemvSettings.kernel) to compare in bench/kernels.ts.
// v3 (nf4_gemv_v3.wgsl, generated in nf4.gemv.v3.ts; K % 64 == 0): P lanes per R rows, 64-column
// blocks with one scale each, U blocks of loads in flight, no subgroups (bench/gemv.ts).
// Both kernels' accumulation is generated here fully unrolled over rows, tokens and words, with
// one scalar per accumulator (private arrays indexed in loops end up in local memory on some
// drivers). All three append nf4_gemv_common.wgsl (Params, bindings, NF4 table, block scales, the
// y write with its LoRA epilogue) and a code table (nf4_gemv_lut.wgsl or nf4_gemv_lut_pair.wgsl).

import type { Gpu } from '../core/context';
import { packUniform, type Tensor } from '../core/tensor';
import gemvVecCode from '../../../shaders/nf4_gemv_vec.wgsl';
import gemvV2Code from '../../../shaders/nf4_gemv_v2.wgsl';
import gemvCommonCode from '../../../shaders/nf4_gemv_common.wgsl';
import lutNibbleCode from '../../../shaders/nf4_gemv_lut.wgsl';
import lutPairCode from '../../../shaders/nf4_gemv_lut_pair.wgsl';
import { grid1d } from './grid';
import type { nf4Bindings, RowChunk } from './nf4.chunks';
import { placeholder } from '../core/scratch';
import { nf4GemvV3, type GemvV3Plan } from './nf4.gemv.v3';

/** LoRA term fused into the GEMV: y += scale · xa · Bᵀ (xa [M, r] already computed, B [N, r]). */
export interface GemvLora { B: Tensor; xa: Tensor; scale: number }

/**
 * Which decode GEMV runs (bench/kernels.ts, bench/gemv.ts compare them): kernel 'auto' (see
 * useV3; else v2, but v1 for M ≥ 2 and < 4096 rows) | 'v3' | 'v2' | 'v1'; for v2, rows per
 * group (0 = gemvV2Rows), workgroup size (multiple of 32) and whether subgroups are used when the
 * device has them; for v3, its plan (0 fields = gemvV3Plan's defaults).
 */
export const gemvSettings: { kernel: 'auto' | 'v1' | 'v2' | 'v3'; rows: number; wg: number; subgroups: boolean; lut: 'nibble' | 'pair'; v3: Partial<GemvV3Plan> } =
  { kernel: 'auto', rows: 0, wg: 256, subgroups: true, lut: 'nibble', v3: {} };

/**
 * Whether 'auto' takes v3 (K % 64 == 0 required): at M = 1 and M = 4, the token counts measured
 * (H200 run 13: faster than the old choice on all four Llama shapes, cold and hot; M = 2, 3 not
 * measured, they keep v2 / v1).
 */
function useV3(M: number, _rows: number, K: number): boolean {
  return K % 64 === 0 && (M === 1 || M === 4);
}

/**
 * The decode GEMVs' code tables (lut_init, dot8), appended after nf4_gemv_common.wgsl: the
 * bank-replicated nibble table (v2's default, v3) and v1's byte → pair table (v1; v2's bench
 * alternative).
 */
const LUTS = { nibble: lutNibbleCode, pair: lutPairCode };

// ---- v1 -------------------------------------------------------------------------------------
const VEC_WG = 128;
const codes = new Map<string, string>(); // one string object per variant (pipeline cache key)

/** v1: R rows per workgroup, R·M ≤ 16, R the largest power of two giving ≥ 256 workgroups. */
export function gemvVecRows(M: number, N: number): number {
  let R = 16;
  while (R > 1 && (R * M > 16 || Math.ceil(N / R) < 256)) R /= 2;
  return R;
}
/** The unrolled accumulation of nf4_gemv_vec.wgsl (see its ACCUMULATE comment). */
function gemvVecBody(R: number, M: number): string {
  const L: string[] = [];
  for (let r = 0; r < R; r++) for (let m = 0; m < M; m++) L.push(`  var s${r}_${m} = 0.0;`);
  L.push('  for (var c = t; c < kc; c += WG) {');
  for (let r = 0; r < R; r++) {
    L.push(`    let row${r} = min(row0 + ${r}u, p.N - 1u);`);
    L.push(`    let w${r} = packed[row${r} * kc + c];`);
    L.push(`    let sc${r} = block_scale((p.ebase + row${r} * p.K + c * 32u) >> 6u);`);
  }
  for (let q = 0; q < 4; q++) for (let m = 0; m < M; m++) {
    L.push(`    { let x0 = x[${m}u * kx + c * 8u + ${2 * q}u]; let x1 = x[${m}u * kx + c * 8u + ${2 * q + 1}u];`);
    for (let r = 0; r < R; r++) L.push(`      s${r}_${m} = fma(dot8(w${r}[${q}], lb, x0, x1), sc${r}, s${r}_${m});`);
    L.push('    }');
  }
  L.push('  }');
  for (let r = 0; r < R; r++) for (let m = 0; m < M; m++) L.push(`  red[${r * M + m}u * WG + t] = s${r}_${m};`);
  return L.join('\n');
}
function vecCode(R: number, M: number): string {
  const key = `v1,${R},${M}`;
  let c = codes.get(key);
  if (!c) codes.set(key, (c = `const R: u32 = ${R}u;\nconst MM: u32 = ${M}u;\n` + gemvVecCode.replace('//@ACCUMULATE', gemvVecBody(R, M)) + gemvCommonCode + LUTS.pair));
  return c;
}

// ---- v2 -------------------------------------------------------------------------------------
/**
 * v2: rows per group R ∈ {4, 2, 1}: the largest giving ≥ 128 workgroups of `groups` groups (H200
 * run 8: R = 4 fastest at 4096 and 14336 rows for M = 1 and 4 — x is loaded once per R rows —
 * R = 1 as good as any at 1024 rows).
 */
export function gemvV2Rows(M: number, N: number, groups = 8): number {
  let R = 4;
  while (R > 1 && Math.ceil(N / (groups * R)) < 128) R /= 2;
  return R;
}

/** The accumulation over the chunks of rows rbase + 0..R-1 (see nf4_gemv_v2.wgsl). */
function v2Accumulate(R: number, M: number): string[] {
  const L: string[] = [];
  const rows = [...Array(R).keys()], toks = [...Array(M).keys()];
  const each = (f: (r: number) => string) => rows.forEach((r) => L.push(f(r)));
  each((r) => `    let row${r} = min(rbase + ${r}u, p.N - 1u);`);
  each((r) => `    let e${r} = p.ebase + row${r} * p.K;`);
  for (const r of rows) for (const m of toks) L.push(`    var s${r}_${m} = 0.0;`);
  L.push('    var c = rank;');
  L.push('    let c1 = min(c, kc - 1u);');
  each((r) => `    var nw${r} = packed[row${r} * kc + c1];`);
  each((r) => `    var nr${r} = scale_raw((e${r} + c1 * 32u) >> 6u);`);
  L.push('    loop {');
  L.push('      if (c >= kc) { break; }');
  each((r) => `      let w${r} = nw${r}; let b${r} = (e${r} + c * 32u) >> 6u; let sc${r} = scale_of(nr${r}, b${r}, q256);`);
  L.push('      let cn = min(c + nact, kc - 1u);');
  each((r) => `      nw${r} = packed[row${r} * kc + cn]; nr${r} = scale_raw((e${r} + cn * 32u) >> 6u);`);
  for (const r of rows) for (const m of toks) L.push(`      var d${r}_${m} = 0.0;`);
  for (let q = 0; q < 4; q++) for (const m of toks) {
    L.push(`      { let x0 = x[${m}u * kx + c * 8u + ${2 * q}u]; let x1 = x[${m}u * kx + c * 8u + ${2 * q + 1}u];`);
    for (const r of rows) L.push(`        d${r}_${m} += dot8(w${r}[${q}], lb, x0, x1);`);
    L.push('      }');
  }
  for (const r of rows) for (const m of toks) L.push(`      s${r}_${m} = fma(d${r}_${m}, sc${r}, s${r}_${m});`);
  L.push('      c += nact;');
  L.push('    }');
  return L;
}

function v2Code(R: number, M: number, G: number, sg: boolean, lut: keyof typeof LUTS): string {
  const key = `v2,${R},${M},${G},${sg},${lut}`;
  let c = codes.get(key);
  if (c) return c;
  const RM = R * M;
  const pairs: [number, number][] = [];
  for (let r = 0; r < R; r++) for (let m = 0; m < M; m++) pairs.push([r, m]);
  let decls: string, prologue: string[], body: string[];
  if (sg) {
    decls = 'var<workgroup> nsg: atomic<u32>; // subgroups that took a slot';
    prologue = [
      '  var s0 = 0u;',
      '  if (subgroupElect()) { s0 = atomicAdd(&nsg, 1u); }',
      '  let slot = subgroupBroadcastFirst(s0);',
      '  let rank = subgroupExclusiveAdd(1u);',
      '  let nact = subgroupAdd(1u);',
      '  workgroupBarrier();',
      '  let nsub = atomicLoad(&nsg);',
    ];
    body = [
      '  for (var g = slot; g < G; g += nsub) {',
      '    let rbase = wrow0 + g * R;',
      '    if (rbase >= p.N) { break; }',
      ...v2Accumulate(R, M),
      ...pairs.map(([r, m], i) => `    { let v = subgroupAdd(s${r}_${m}); if (rank == ${i}u % nact) { emit(rbase + ${r}u, ${m}u, v); } }`),
      '  }',
    ];
  } else {
    decls = `var<workgroup> red: array<f32, ${RM * 32} * G>; // red[((g·R + r)·MM + m)·32 + rank]`;
    prologue = ['  let slot = t >> 5u;', '  let rank = t & 31u;', '  let nact = 32u;', '  workgroupBarrier();'];
    body = [
      '  let g = slot;',
      '  let rbase = wrow0 + g * R;',
      '  {',
      ...v2Accumulate(R, M),
      ...pairs.map(([r, m], i) => `    red[(g * ${RM}u + ${i}u) * 32u + rank] = s${r}_${m};`),
      '  }',
      '  workgroupBarrier();',
      `  if (rank < ${RM}u) {`,
      `    let base = (g * ${RM}u + rank) * 32u;`,
      '    var v = 0.0;',
      '    for (var j = 0u; j < 32u; j++) { v += red[base + j]; }',
      `    emit(rbase + rank / MM, rank % MM, v);`,
      '  }',
    ];
  }
  const head = (sg ? 'enable subgroups;\ndiagnostic(off, subgroup_uniformity);\n' : '') +
    `const R: u32 = ${R}u;\nconst MM: u32 = ${M}u;\nconst G: u32 = ${G}u;\n`;
  c = head + gemvV2Code.replace('//@DECLS', decls).replace('//@PROLOGUE', prologue.join('\n')).replace('//@BODY', body.join('\n')) + gemvCommonCode + LUTS[lut];
  codes.set(key, c);
  return c;
}

/**
 * One row chunk of y (+)= x·Wᵀ (+ LoRA) with the vectorized GEMV selected by gemvSettings.
 * wb: the chunk's weight bindings (nf4Bindings); dq: weight is double-quantized.
 */
export function nf4GemvVec(gpu: Gpu, y: Tensor, x: Tensor, wb: ReturnType<typeof nf4Bindings>, c: RowChunk, K: number, dq: boolean, acc: boolean, lo?: GemvLora): void {
  const M = x.shape[0], N = y.shape[1];
  const u = gpu.uniform(packUniform([M, c.rows, K, acc ? 1 : 0, N, c.row0, c.row0 * K, dq ? 1 : 0, lo ? lo.B.shape[1] : 0, { f: lo ? lo.scale : 0 }]));
  const lb = lo ? [lo.B.buffer, lo.xa.buffer] : [placeholder(gpu, 2).buffer, placeholder(gpu, 3).buffer];
  const bindings = [y.buffer, x.buffer, u, ...wb, ...lb];
  if (gemvSettings.kernel === 'v3' ? K % 64 === 0 : gemvSettings.kernel === 'auto' && useV3(M, c.rows, K)) {
    nf4GemvV3(gpu, bindings, M, c.rows, K, dq, !!lo, gemvSettings.v3);
    return;
  }
  // v1 stays the default for M ≥ 2 on small outputs (run 8: 1024×4096 at M = 4 14.4 µs vs 17–24)
  if (gemvSettings.kernel === 'v1' || (gemvSettings.kernel === 'auto' && M >= 2 && c.rows < 4096)) {
    const R = gemvVecRows(M, c.rows);
    gpu.dispatch({ code: vecCode(R, M), constants: { WG: VEC_WG, LORA: lo ? 1 : 0, DQ: dq ? 1 : 0 } }, bindings, grid1d(gpu, Math.ceil(c.rows / R)));
    return;
  }
  const wg = gemvSettings.wg, G = wg / 32;
  const sg = gpu.features.subgroups && gemvSettings.subgroups;
  let R = gemvSettings.rows || gemvV2Rows(M, c.rows, G);
  // the plain variant's reduction buffer (R·M·32·G floats) + the 2 KiB table must fit
  const wgMem = gpu.info.limits.maxComputeWorkgroupStorageSize ?? 16384;
  while (!sg && R > 1 && R * M * 128 * G + 2048 > wgMem) R /= 2;
  gpu.dispatch({ code: v2Code(R, M, G, sg, gemvSettings.lut), constants: { WG: wg, LORA: lo ? 1 : 0, DQ: dq ? 1 : 0 } }, bindings, grid1d(gpu, Math.ceil(c.rows / (G * R))));
}
