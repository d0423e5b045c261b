// Generator of the decode NF4 GEMV v3 (shaders/nf4_gemv_v3.wgsl; K % 64 == 0, M ≤ 4):
//   y [M, N] (+)= x [M, K] · Wᵀ (+ scale · xa [M, r] · Bᵀ), W [N, K] NF4, one row chunk per call.
// A workgroup of WG invocations = NS = WG/P row slots of R rows; P lanes split a slot's K/64
// blocks, U blocks per lane and iteration with all code and scale loads issued before the decode;
// fixed-order reduction of the P partials through workgroup memory (no subgroups: one path for
// every device). Selected by gemvSettings.kernel ('v3', or 'auto' where it won, nf4.gemv.ts).

import type { Binding, Gpu } from '../core/context';
import { GpuError } from '../core/errors';
import gemvV3Code from '../../../shaders/nf4_gemv_v3.wgsl';
import { grid1d } from './grid';

/** v3 shape: invocations, lanes per row slot, rows per slot (R), blocks per lane and iteration (U). */
export interface GemvV3Plan { wg: number; lanes: number; rows: number; unroll: number }

/**
 * The default v3 plan for M tokens, N rows, K columns (H200 run 13, bench/gemv.ts, cold weights):
 * M = 1: 64 lanes, R = 4, U = 2 (128 lanes, U = 1 at K ≥ 8192; R = 2 below 4096 rows); M ≥ 2: 64
 * lanes, R = 8, U = 1 (128 lanes, R = 4 below 4096 rows); WG 256. R halves while there would be
 * fewer than 64 workgroups (small N).
 */
export function gemvV3Plan(M: number, N: number, o: Partial<GemvV3Plan> = {}, K = 4096): GemvV3Plan {
  const big = N >= 4096;
  const d: GemvV3Plan = M === 1
    ? { wg: 256, lanes: big && K >= 8192 ? 128 : 64, rows: big ? 4 : 2, unroll: big && K >= 8192 ? 1 : 2 }
    : { wg: 256, lanes: big ? 64 : 128, rows: big ? 8 : 4, unroll: 1 };
  const wg = o.wg || d.wg, lanes = o.lanes || d.lanes, unroll = o.unroll || d.unroll;
  let rows = o.rows || d.rows;
  if (!o.rows) while (rows > 1 && Math.ceil(N / ((wg / lanes) * rows)) < 64) rows /= 2;
  return { wg, lanes, rows, unroll };
}

const codes = new Map<string, string>(); // one string object per variant (pipeline cache key)

/** The loads, decode and accumulation of the R rows of slot `slot`, then the reduction. */
function v3Body(R: number, M: number, U: number, S: number, NS: number): string[] {
  const L: string[] = [];
  const rows = [...Array(R).keys()], toks = [...Array(M).keys()], us = [...Array(U).keys()];
  for (const r of rows) {
    L.push(`  let row${r} = min(rbase + ${r}u, p.N - 1u);`);
    L.push(`  let cw${r} = row${r} * kc;`);
    L.push(`  let bb${r} = (p.ebase >> 6u) + row${r} * kb;`);
  }
  for (const r of rows) for (const m of toks) L.push(`  var s${r}_${m} = 0.0;`);
  L.push(`  for (var j0 = lane; j0 < kb; j0 += ${U}u * P) {`);
  for (const u of us) L.push(`    let j${u} = min(j0 + ${u}u * P, kb - 1u);`);
  // every load of the iteration first (U·R·2 vec4 + U·R scale words in flight)
  for (const u of us) for (const r of rows) {
    L.push(`    let a${u}_${r} = packed[cw${r} + 2u * j${u}]; let b${u}_${r} = packed[cw${r} + 2u * j${u} + 1u];`);
    L.push(`    let raw${u}_${r} = scale_raw(bb${r} + j${u});`);
  }
  for (const u of us) {
    L.push(u === 0 ? '    {' : `    if (j0 + ${u}u * P < kb) {`);
    for (const r of rows) L.push(`      let sc${r} = scale_of(raw${u}_${r}, bb${r} + j${u}, q256);`);
    for (const r of rows) for (const m of toks) L.push(`      var d${r}_${m} = 0.0;`);
    for (let q = 0; q < 8; q++) {
      for (const m of toks) {
        L.push(`      { let xi = ${m}u * kx + j${u} * 16u + ${2 * q}u; let x0 = x[xi]; let x1 = x[xi + 1u];`);
        for (const r of rows) L.push(`        d${r}_${m} += dot8(${q < 4 ? 'a' : 'b'}${u}_${r}[${q & 3}], lb, x0, x1);`);
        L.push('      }');
      }
    }
    for (const r of rows) for (const m of toks) L.push(`      s${r}_${m} = fma(d${r}_${m}, sc${r}, s${r}_${m});`);
    L.push('    }');
  }
  L.push('  }');
  // reduction: S values per pass through workgroup memory, summed in a fixed order
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

function v3Code(pl: GemvV3Plan, M: number, S: number): string {
  const key = `v3,${pl.wg},${pl.lanes},${pl.rows},${pl.unroll},${M},${S}`;
  let c = codes.get(key);
  if (c) return c;
  const NS = pl.wg / pl.lanes;
  const head = `const WG: u32 = ${pl.wg}u;\nconst R: u32 = ${pl.rows}u;\nconst MM: u32 = ${M}u;\nconst P: u32 = ${pl.lanes}u;\n` +
    `const U: u32 = ${pl.unroll}u;\nconst S: u32 = ${S}u;\n`;
  c = head + gemvV3Code.replace('//@BODY', v3Body(pl.rows, M, pl.unroll, S, NS).join('\n'));
  codes.set(key, c);
  return c;
}

/**
 * Records v3 for one row chunk of `rows` rows (bindings in nf4_gemv_v3.wgsl order, built by
 * nf4GemvVec). The reduction passes hold S ≤ 8 partials per invocation (S·WG·4 bytes + 2 KiB table).
 */
export function nf4GemvV3(gpu: Gpu, bindings: Binding[], M: number, rows: number, K: number, dq: boolean, lora: boolean, o: Partial<GemvV3Plan> = {}): void {
  const pl = gemvV3Plan(M, rows, o, K);
  if (K % 64 !== 0 || pl.wg % pl.lanes !== 0 || pl.lanes % 4 !== 0)
    throw new GpuError('shape', `nf4 GEMV v3: needs K % 64 == 0 and lanes | WG, lanes % 4 == 0 (K=${K}, WG=${pl.wg}, lanes=${pl.lanes})`);
  const wgMem = gpu.info.limits.maxComputeWorkgroupStorageSize ?? 16384;
  const S = Math.min(8, pl.rows * M, Math.floor((wgMem - 2048) / (4 * pl.wg)));
  if (S < 1) throw new GpuError('limit', `nf4 GEMV v3: WG ${pl.wg} does not fit ${wgMem} bytes of workgroup memory`);
  const perWg = (pl.wg / pl.lanes) * pl.rows;
  gpu.dispatch({ code: v3Code(pl, M, S), constants: { LORA: lora ? 1 : 0, DQ: dq ? 1 : 0 } }, bindings, grid1d(gpu, Math.ceil(rows / perWg)));
}
