// Generator of the decode NF4 GEMV v3 (shaders/nf4_gemv_v3.wgsl; K % 64 == 0, M ≤ 4):
//   y [M, N] (+)= x [M, K] · Wᵀ (+ scale · xa [M, r] · Bᵀ), W [N, K] NF4, one row chunk per call.
// A workgroup of WG invocations = NS = WG/P row slots of R rows; P lanes split a slot's K/64
// blocks, U blocks per lane and iteration with all code and scale loads issued before the decode;
// fixed-order reduction of the P partials through workgroup memory (no subgroups: one path for
// every device). Selected by gemvSettings.kernel ('v3', or 'auto' where it won, nf4.gemv.ts).
// The kernel is nf4_gemv_v3.wgsl + nf4_gemv_common.wgsl (shared with v1, v2) + nf4_gemv_lut.wgsl;
// bench/gemv.ts's probes replace the decode through GemvV3Plan.probe.

import type { Binding, Gpu } from '../core/context';
import { GpuError } from '../core/errors';
import gemvV3Code from '../../../shaders/nf4_gemv_v3.wgsl';
import gemvCommonCode from '../../../shaders/nf4_gemv_common.wgsl';
import lutCode from '../../../shaders/nf4_gemv_lut.wgsl';
import { grid1d } from './grid';

/**
 * v3 shape: invocations, lanes per row slot, rows per slot (R), units per lane and row in flight
 * (U), the layout — `vec` 0 = block layout (a unit is a 64-column block: 2 vec4<u32> per row, lanes
 * 64 columns apart); 1, 2 or 4 = word layout (a unit is `vec` consecutive u32 words = 8·vec
 * columns, consecutive lanes on consecutive units, so a subgroup's code and x loads are contiguous)
 * — and `pipe`: the next iteration's code and scale loads are issued before this iteration's
 * decode (register double buffer). (An f16 byte-pair table with packed f16 products was measured
 * slower, bench/NOTES.md v14, and removed.)
 */
export interface GemvV3Plan {
  wg: number; lanes: number; rows: number; unroll: number; vec: number; pipe: boolean;
  /** bench/gemv.ts only (WRONG results): a replacement of the decode, see GemvV3Probe. */
  probe?: GemvV3Probe;
}

/**
 * One unit's decode, as generated into the loop of v3Loop: `d<r>_<m> +=` the dot of the unit's
 * `words` u32 code words of each row r (WGSL `word(r, q)`) with token m's x (x index of word q:
 * m·kx + 2·(jc·words + q), vec4 pairs).
 */
export interface GemvV3Unit { rows: number[]; toks: number[]; words: number; word: (r: number, q: number) => string }

/**
 * A bench-side replacement of v3's decode (bench/gemv.ts's probes: timing the memory side, the
 * table or the ALU alone, results WRONG on purpose): `name` (pipeline cache key), `wgsl` appended
 * to the kernel, `prologue` lines before the loop and `unit` generating a unit's decode.
 */
export interface GemvV3Probe { name: string; wgsl: string; prologue: string[]; unit: (a: GemvV3Unit) => string[] }

/**
 * The default v3 plan for M tokens, N rows, K columns (H200 runs 13, 17 and 22, bench/gemv.ts,
 * cold weights), WG 256: from 4096 rows, M = 1: word layout of 2 words, 128 lanes, R = 8, U = 1
 * (run 22: 1.07–1.19× the block layout); M ≥ 2: word layout of 1 word, 32 lanes, R = 2, U = 4,
 * pipelined (run 17: 1.17–1.5×). Below 4096 rows, block layout: M = 1 64 lanes, R = 2, U = 2;
 * M ≥ 2 128 lanes, R = 4, U = 1. R halves while there would be fewer than 64 workgroups (small N).
 */
export function gemvV3Plan(M: number, N: number, o: Partial<GemvV3Plan> = {}): GemvV3Plan {
  const big = N >= 4096;
  const d = M === 1
    ? (big ? { wg: 256, lanes: 128, rows: 8, unroll: 1, vec: 2, pipe: false } : { wg: 256, lanes: 64, rows: 2, unroll: 2, vec: 0, pipe: false })
    : big ? { wg: 256, lanes: 32, rows: 2, unroll: 4, vec: 1, pipe: true } : { wg: 256, lanes: 128, rows: 4, unroll: 1, vec: 0, pipe: false };
  const wg = o.wg || d.wg, lanes = o.lanes || d.lanes, unroll = o.unroll || d.unroll;
  let rows = o.rows || d.rows;
  if (!o.rows) while (rows > 1 && Math.ceil(N / ((wg / lanes) * rows)) < 64) rows /= 2;
  return { wg, lanes, rows, unroll, vec: o.vec ?? d.vec, pipe: o.pipe ?? d.pipe, ...(o.probe ? { probe: o.probe } : {}) };
}

const codes = new Map<string, string>(); // one string object per variant (pipeline cache key)
const range = (n: number) => [...Array(n).keys()];

/** How a layout names its units: per-row unit count, u32 words per unit, loads and words of one unit. */
interface Layout {
  units: string;                                  // WGSL: units per row
  words: number;                                  // u32 code words (8 columns each) per unit
  rowBase: (r: number) => string;                 // WGSL: first packed index of row r
  load: (n: string, r: number, J: string) => string[]; // `let`/assignment targets named n…
  vars: (n: string) => string[];                  // register names one unit's codes use
  word: (n: string, q: number) => string;         // WGSL: u32 word q of the unit held in n…
  block: (J: string) => string;                   // WGSL: 64-column block (within the row) of unit J
}

function layoutOf(V: number): Layout {
  if (V === 0) return {
    units: 'kb', words: 8, rowBase: (r) => `row${r} * kc`,
    load: (n, r, J) => [`${n}a = packed[cw${r} + 2u * ${J}]`, `${n}b = packed[cw${r} + 2u * ${J} + 1u]`],
    vars: (n) => [`${n}a`, `${n}b`],
    word: (n, q) => `${n}${q < 4 ? 'a' : 'b'}[${q & 3}]`, block: (J) => J,
  };
  return {
    units: `p.K / ${8 * V}u`, words: V, rowBase: (r) => `row${r} * nu`,
    load: (n, r, J) => [`${n}a = packed[cw${r} + ${J}]`], vars: (n) => [`${n}a`],
    word: (n, q) => (V > 1 ? `${n}a[${q}]` : `${n}a`), block: (J) => `(((${J}) * ${V}u) >> 3u)`,
  };
}

/**
 * The loads, decode and accumulation of the R rows of slot `slot`: lane `lane` takes units
 * j0 = lane, lane + U·P, … and j0 + u·P for u < U; all U·R code and scale loads of an iteration are
 * issued before its decode (pipe: one iteration ahead).
 */
function v3Loop(pl: GemvV3Plan, M: number): string[] {
  const { rows: R, unroll: U, pipe } = pl;
  const lay = layoutOf(pl.vec);
  const L: string[] = [], rows = range(R), toks = range(M), us = range(U);
  L.push(`  let nu = ${lay.units}; // units per row`);
  L.push(...(pl.probe?.prologue ?? []));
  for (const r of rows) {
    L.push(`  let row${r} = min(rbase + ${r}u, p.N - 1u);`);
    L.push(`  let cw${r} = ${lay.rowBase(r)};`);
    L.push(`  let bb${r} = (p.ebase >> 6u) + row${r} * kb;`);
  }
  for (const r of rows) for (const m of toks) L.push(`  var s${r}_${m} = 0.0;`);
  // the loads of the iteration whose first unit is `first` into registers c<u>_<r>…
  const loads = (first: string, decl: string, ind: string) => {
    for (const u of us) {
      L.push(`${ind}let jl${u} = min(${first} + ${u}u * P, nu - 1u);`);
      for (const r of rows) {
        for (const ln of lay.load(`c${u}_${r}`, r, `jl${u}`)) L.push(`${ind}${decl}${ln};`);
        L.push(`${ind}${decl}raw${u}_${r} = scale_raw(bb${r} + ${lay.block(`jl${u}`)});`);
      }
    }
  };
  if (pipe) {
    for (const u of us) for (const r of rows) for (const v of [...lay.vars(`c${u}_${r}`), `raw${u}_${r}`]) L.push(`  var ${v}: ${v.startsWith('raw') ? 'u32' : PACKED_TYPE[pl.vec]};`);
    L.push('  {');
    loads('lane', '', '    ');
    L.push('  }');
  }
  L.push(`  for (var j0 = lane; j0 < nu; j0 += ${U}u * P) {`);
  if (pipe) { // current units → k…, next iteration's loads → c…
    for (const u of us) for (const r of rows) for (const v of [...lay.vars(`c${u}_${r}`), `raw${u}_${r}`]) L.push(`    let k${v} = ${v};`);
    loads(`j0 + ${U}u * P`, '', '    ');
  } else loads('j0', 'let ', '    ');
  const cur = (n: string) => (pipe ? `k${n}` : n);
  for (const u of us) {
    L.push(u === 0 ? '    {' : `    if (j0 + ${u}u * P < nu) {`);
    L.push(`      let jc = min(j0 + ${u}u * P, nu - 1u);`);
    for (const r of rows) for (const m of toks) L.push(`      var d${r}_${m} = 0.0;`);
    L.push(...(pl.probe?.unit ?? decodeUnit)({ rows, toks, words: lay.words, word: (r, q) => cur(lay.word(`c${u}_${r}`, q)) }));
    for (const r of rows) {
      L.push(`      { let sc = scale_of(${cur(`raw${u}_${r}`)}, bb${r} + ${lay.block('jc')}, q256);`);
      for (const m of toks) L.push(`        s${r}_${m} = fma(d${r}_${m}, sc, s${r}_${m});`);
      L.push('      }');
    }
    L.push('    }');
  }
  L.push('  }');
  return L;
}

/** The decode of one unit through the code table (dot8, nf4_gemv_lut.wgsl); see GemvV3Unit. */
function decodeUnit(a: GemvV3Unit): string[] {
  const L: string[] = [];
  for (const q of range(a.words)) for (const m of a.toks) {
    L.push(`      { let xi = ${m}u * kx + 2u * (jc * ${a.words}u + ${q}u); let x0 = x[xi]; let x1 = x[xi + 1u];`);
    for (const r of a.rows) L.push(`        d${r}_${m} += dot8(${a.word(r, q)}, lb, x0, x1);`);
    L.push('      }');
  }
  return L;
}

/** The fixed-order reduction of the P partials: S values per pass through workgroup memory. */
function v3Reduce(R: number, M: number, S: number, NS: number): string[] {
  const L: string[] = [];
  const RM = R * M;
  for (let s0 = 0; s0 < RM; s0 += S) {
    const n = Math.min(S, RM - s0);
    if (s0 > 0) L.push('  workgroupBarrier();');
    for (let i = 0; i < n; i++) {
      const k = s0 + i, r = Math.floor(k / M), m = k % M;
      L.push(`  red_put(${i}u, slot, lane, s${r}_${m});`);
    }
    L.push('  workgroupBarrier();');
    L.push(`  if (t < ${NS * n}u) {`);
    L.push(`    let sl = t / ${n}u; let i = t % ${n}u; let k = ${s0}u + i;`);
    L.push(`    emit(wrow0 + sl * R + k / MM, k % MM, red_sum(i, sl));`);
    L.push('  }');
  }
  return L;
}

const PACKED_TYPE: Record<number, string> = { 0: 'vec4<u32>', 1: 'u32', 2: 'vec2<u32>', 4: 'vec4<u32>' };

function v3Code(pl: GemvV3Plan, M: number, S: number): string {
  const key = `v3,${pl.wg},${pl.lanes},${pl.rows},${pl.unroll},${pl.vec},${pl.pipe},${pl.probe?.name ?? ''},${M},${S}`;
  let c = codes.get(key);
  if (c) return c;
  const NS = pl.wg / pl.lanes;
  const head = `const WG: u32 = ${pl.wg}u;\nconst R: u32 = ${pl.rows}u;\nconst MM: u32 = ${M}u;\nconst P: u32 = ${pl.lanes}u;\n` +
    `const U: u32 = ${pl.unroll}u;\nconst S: u32 = ${S}u;\n` +
    `@group(0) @binding(3) var<storage, read> packed: array<${PACKED_TYPE[pl.vec]}>; // NF4 codes of the chunk\n`;
  const body = [...v3Loop(pl, M), ...v3Reduce(pl.rows, M, S, NS)];
  c = head + gemvV3Code.replace('//@BODY', body.join('\n')) + gemvCommonCode + lutCode + (pl.probe?.wgsl ?? '');
  codes.set(key, c);
  return c;
}

/**
 * Records v3 for one row chunk of `rows` rows (bindings in nf4_gemv_v3.wgsl order, built by
 * nf4GemvVec). The reduction passes hold S ≤ 8 partials per invocation (S·WG·4 bytes + 2 KiB table).
 */
export function nf4GemvV3(gpu: Gpu, bindings: Binding[], M: number, rows: number, K: number, dq: boolean, lora: boolean, o: Partial<GemvV3Plan> = {}): void {
  const pl = gemvV3Plan(M, rows, o);
  if (K % 64 !== 0 || pl.wg % pl.lanes !== 0 || pl.lanes % 4 !== 0)
    throw new GpuError('shape', `nf4 GEMV v3: needs K % 64 == 0 and lanes | WG, lanes % 4 == 0 (K=${K}, WG=${pl.wg}, lanes=${pl.lanes})`);
  if (!(pl.vec in PACKED_TYPE)) throw new GpuError('shape', `nf4 GEMV v3: vec must be 0, 1, 2 or 4 (got ${pl.vec})`);
  const wgMem = gpu.info.limits.maxComputeWorkgroupStorageSize ?? 16384;
  const S = Math.min(8, pl.rows * M, Math.floor((wgMem - 2048) / (4 * pl.wg)));
  if (S < 1) throw new GpuError('limit', `nf4 GEMV v3: WG ${pl.wg} does not fit ${wgMem} bytes of workgroup memory`);
  const perWg = (pl.wg / pl.lanes) * pl.rows;
  gpu.dispatch({ code: v3Code(pl, M, S), constants: { LORA: lora ? 1 : 0, DQ: dq ? 1 : 0 } }, bindings, grid1d(gpu, Math.ceil(rows / perWg)));
}
