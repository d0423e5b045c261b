// Attention backward, dq part, register-tiled, f32 (attention.tiled.bwd.ts; letters, the
// (position, head) row packing and the masking as attention_fwd_tiled_pf.wgsl).
// One workgroup = BR rows of one kv head; per key tile it recomputes dP = dout·vᵀ, then
// S = q·kᵀ·scale, dS = exp(S - lse) ∘ (dP - D_i), and accumulates dq += dS·k in registers
// (scaled at the end). D_i = rowsum(dout ∘ out) is computed here once per row and also written
// to di [H, Tq] for attention_bwd_dkv_tiled_pf.wgsl, which runs after this kernel. Aimed at latency:
//  - K and V tiles are read from global memory into registers one compute phase ahead (K of tile
//    j while dP = dout·vᵀ of tile j runs, V of tile j+1 while S, dS and dq += dS·k of tile j run),
//    with constant trip counts and clamped (always valid) rows, so the loads are issued together
//    and overlap the FMAs instead of stalling the workgroup before each barrier;
//  - rows per thread TM is a wrapper constant (2: 128 threads at BR = 32, more warps per SM);
//  - query tiles are walked heavy-first (the last positions see the most keys).
// The wrapper prepends `const HD, BR, BC, TM, NTC: u32`. Keys past a tile's end are zero (masked
// in dS, and multiplied by dS = 0 in dq).

struct Params {
  Tq: u32, Tk: u32, nHeads: u32, nKv: u32,
  qOff: u32, useSeg: u32, writeLse: u32, scale: f32,
}

@group(0) @binding(0) var<storage, read_write> dq: array<vec4<f32>>; // [T, H*D]
@group(0) @binding(1) var<storage, read_write> di: array<f32>;       // [H, T] rowsum(dout ∘ out)
@group(0) @binding(2) var<storage, read> dout: array<vec4<f32>>;     // [T, H*D]
@group(0) @binding(3) var<storage, read> q: array<vec4<f32>>;        // [T, H*D]
@group(0) @binding(4) var<storage, read> k: array<vec4<f32>>;        // [T, Hkv*D]
@group(0) @binding(5) var<storage, read> v: array<vec4<f32>>;        // [T, Hkv*D]
@group(0) @binding(6) var<storage, read> out: array<vec4<f32>>;      // [T, H*D]
@group(0) @binding(7) var<storage, read> lse: array<f32>;            // [H, T]
@group(0) @binding(8) var<storage, read> seg: array<i32>;            // [T]
@group(0) @binding(9) var<uniform> p: Params;

const NTR: u32 = BR / TM;
const WG: u32 = NTR * NTC;
const TN: u32 = BC / NTC;
const DV: u32 = HD / 4u;
const TD: u32 = DV / NTC;
const KS: u32 = DV + 1u;
const PS: u32 = BC + 1u;
const LPT: u32 = (BC * DV + WG - 1u) / WG; // K or V vec4 prefetched per thread per tile

var<workgroup> Qs: array<vec4<f32>, BR * KS>;  // [BR, D] q · scale
var<workgroup> dOs: array<vec4<f32>, BR * KS>; // [BR, D]
var<workgroup> KVs: array<vec4<f32>, BC * KS>; // [BC, D] V tile, then K tile
var<workgroup> dSs: array<f32, BR * PS>;       // [BR, BC] (scalars: no vector-component writes)
var<workgroup> rowLse: array<f32, BR>;
var<workgroup> rowDi: array<f32, BR>;
var<workgroup> colSeg: array<i32, BC>;
var<workgroup> kRange: vec2<u32>;

fn dot4(a: vec4<f32>, b: vec4<f32>, acc: f32) -> f32 {
  return fma(a.w, b.w, fma(a.z, b.z, fma(a.y, b.y, fma(a.x, b.x, acc))));
}

// This thread's share of rows j0 .. j0+BC-1 of `src` (kv head g); rows past `last` read row
// `last` (valid memory), storeKV zeroes them (tile rows past the end hold zeros).
fn loadK(j0: u32, last: u32, g: u32, tid: u32) -> array<vec4<f32>, LPT> {
  var r: array<vec4<f32>, LPT>;
  for (var u = 0u; u < LPT; u++) {
    let i = min(tid + WG * u, BC * DV - 1u);
    r[u] = k[(min(j0 + i / DV, last) * p.nKv + g) * DV + i % DV];
  }
  return r;
}

fn loadV(j0: u32, last: u32, g: u32, tid: u32) -> array<vec4<f32>, LPT> {
  var r: array<vec4<f32>, LPT>;
  for (var u = 0u; u < LPT; u++) {
    let i = min(tid + WG * u, BC * DV - 1u);
    r[u] = v[(min(j0 + i / DV, last) * p.nKv + g) * DV + i % DV];
  }
  return r;
}

fn storeKV(x: array<vec4<f32>, LPT>, nc: u32, tid: u32) {
  for (var u = 0u; u < LPT; u++) {
    let i = tid + WG * u;
    if (i < BC * DV) { KVs[(i / DV) * KS + i % DV] = select(vec4<f32>(0.0), x[u], i / DV < nc); }
  }
}

fn lowerBound(want: i32, hi0: u32) -> u32 {
  var lo = 0u;
  var hi = hi0;
  while (lo < hi) {
    let mid = (lo + hi) / 2u;
    if (seg[mid] < want) { lo = mid + 1u; } else { hi = mid; }
  }
  return lo;
}

@compute @workgroup_size(WG)
fn main(
  @builtin(workgroup_id) wid: vec3<u32>,
  @builtin(num_workgroups) nwg: vec3<u32>,
  @builtin(local_invocation_index) tid: u32,
) {
  let G = p.nHeads / p.nKv;
  let g = wid.y;
  let R0 = (nwg.x - 1u - wid.x) * BR; // heavy (late) query tiles first
  let nRows = p.Tq * G;
  let ty = tid / NTC;
  let tx = tid % NTC;

  for (var i = tid; i < BR * DV; i += WG) {
    let r = i / DV;
    let d4 = i % DV;
    var x = vec4<f32>(0.0);
    var y = vec4<f32>(0.0);
    let R = R0 + r;
    if (R < nRows) {
      let at = ((R / G) * p.nHeads + g * G + R % G) * DV + d4;
      x = q[at] * p.scale;
      y = dout[at];
    }
    Qs[r * KS + d4] = x;
    dOs[r * KS + d4] = y;
  }
  for (var r = tid; r < BR; r += WG) {
    let R = R0 + r;
    var ls = 0.0;
    var d = 0.0;
    if (R < nRows) {
      let pos = R / G;
      let h = g * G + R % G;
      let base = (pos * p.nHeads + h) * DV;
      // Same summation order as dP = dout·vᵀ below, so that dP - D_i is exactly 0 where it
      // should be (one visible key: out = v).
      for (var d4 = 0u; d4 < DV; d4++) { d = dot4(dout[base + d4], out[base + d4], d); }
      ls = lse[h * p.Tq + pos];
      di[h * p.Tq + pos] = d;
    }
    rowLse[r] = ls;
    rowDi[r] = d;
  }
  if (tid == 0u) {
    let firstPos = R0 / G + p.qOff;
    let lastPos = min(R0 + BR, nRows) - 1u;
    var start = 0u;
    if (p.useSeg != 0u) { start = lowerBound(seg[firstPos], firstPos); }
    kRange = vec2<u32>(start, min(p.Tk, lastPos / G + p.qOff + 1u));
  }
  var rowPos: array<u32, TM>;
  var rowSeg: array<i32, TM>;
  var acc: array<array<vec4<f32>, TD>, TM>;
  for (var i = 0u; i < TM; i++) {
    let R = R0 + ty + NTR * i;
    rowPos[i] = select(0u, R / G + p.qOff, R < nRows);
    var s = -1;
    if (R < nRows && p.useSeg != 0u) { s = seg[R / G + p.qOff]; }
    rowSeg[i] = select(-2, s, R < nRows);
    for (var kk = 0u; kk < TD; kk++) { acc[i][kk] = vec4<f32>(0.0); }
  }
  let range = workgroupUniformLoad(&kRange); // also orders the rowLse/rowDi writes
  var myLse: array<f32, TM>;
  var myDi: array<f32, TM>;
  for (var i = 0u; i < TM; i++) {
    myLse[i] = rowLse[ty + NTR * i];
    myDi[i] = rowDi[ty + NTR * i];
  }

  let last = range.y - 1u;
  var vreg = loadV(range.x, last, g, tid);

  for (var j0 = range.x; j0 < range.y; j0 += BC) {
    let nc = min(BC, range.y - j0);
    storeKV(vreg, nc, tid);
    for (var c = tid; c < BC; c += WG) {
      var s = -1;
      if (p.useSeg != 0u && c < nc) { s = seg[j0 + c]; }
      colSeg[c] = s;
    }
    workgroupBarrier(); // (1) V tile visible
    let kreg = loadK(j0, last, g, tid); // in flight while dP is computed
    var dp: array<array<f32, TN>, TM>;
    for (var i = 0u; i < TM; i++) { for (var j = 0u; j < TN; j++) { dp[i][j] = 0.0; } }
    for (var d4 = 0u; d4 < DV; d4++) {
      var ov: array<vec4<f32>, TM>;
      for (var i = 0u; i < TM; i++) { ov[i] = dOs[(ty + NTR * i) * KS + d4]; }
      for (var j = 0u; j < TN; j++) {
        let vv = KVs[(tx + NTC * j) * KS + d4];
        for (var i = 0u; i < TM; i++) { dp[i][j] = dot4(ov[i], vv, dp[i][j]); }
      }
    }
    workgroupBarrier(); // (2) V no longer read
    storeKV(kreg, nc, tid);
    workgroupBarrier(); // (3) K tile visible
    if (j0 + BC < range.y) { vreg = loadV(j0 + BC, last, g, tid); } // in flight during S, dS, dq
    var s: array<array<f32, TN>, TM>;
    for (var i = 0u; i < TM; i++) { for (var j = 0u; j < TN; j++) { s[i][j] = 0.0; } }
    for (var d4 = 0u; d4 < DV; d4++) {
      var qv: array<vec4<f32>, TM>;
      for (var i = 0u; i < TM; i++) { qv[i] = Qs[(ty + NTR * i) * KS + d4]; }
      for (var j = 0u; j < TN; j++) {
        let kv = KVs[(tx + NTC * j) * KS + d4];
        for (var i = 0u; i < TM; i++) { s[i][j] = dot4(qv[i], kv, s[i][j]); }
      }
    }
    for (var i = 0u; i < TM; i++) {
      let r = ty + NTR * i;
      for (var j = 0u; j < TN; j++) {
        let c = tx + NTC * j;
        let ok = j0 + c <= rowPos[i] && (p.useSeg == 0u || colSeg[c] == rowSeg[i]) && c < nc && rowSeg[i] != -2;
        var ds = 0.0;
        if (ok) { ds = exp(s[i][j] - myLse[i]) * (dp[i][j] - myDi[i]); }
        dSs[r * PS + c] = ds;
      }
    }
    workgroupBarrier(); // (4) dS visible
    for (var c = 0u; c < BC; c++) {
      var dsv: array<f32, TM>;
      for (var i = 0u; i < TM; i++) { dsv[i] = dSs[(ty + NTR * i) * PS + c]; }
      for (var kk = 0u; kk < TD; kk++) {
        let kv = KVs[c * KS + tx + NTC * kk];
        for (var i = 0u; i < TM; i++) { acc[i][kk] = fma(vec4<f32>(dsv[i]), kv, acc[i][kk]); }
      }
    }
    workgroupBarrier(); // (5) K and dS no longer read
  }

  for (var i = 0u; i < TM; i++) {
    let R = R0 + ty + NTR * i;
    if (R < nRows) {
      let at = ((R / G) * p.nHeads + g * G + R % G) * DV;
      for (var kk = 0u; kk < TD; kk++) { dq[at + tx + NTC * kk] = acc[i][kk] * p.scale; }
    }
  }
}
