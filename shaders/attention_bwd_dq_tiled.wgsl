// Attention backward, dq part, register-tiled (see attention_fwd_tiled.wgsl for the letters, the
// prepended consts HD, BR, BC, TM, NTC, the (position, head) row packing and the masking).
// One workgroup = BR rows of one kv head; per key tile it recomputes dP = dout·vᵀ, then
// S = q·kᵀ·scale, dS = exp(S - lse) ∘ (dP - D_i), and accumulates dq += dS·k in registers
// (scaled at the end). D_i = rowsum(dout ∘ out) is computed here once per row and also written
// to di [H, Tq] for attention_bwd_dkv_tiled.wgsl, which runs after this kernel.

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
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) tid: u32) {
  let G = p.nHeads / p.nKv;
  let g = wid.y;
  let R0 = wid.x * BR;
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

  for (var j0 = range.x; j0 < range.y; j0 += BC) {
    let nc = min(BC, range.y - j0);
    for (var i = tid; i < BC * DV; i += WG) {
      let c = i / DV;
      let d4 = i % DV;
      var x = vec4<f32>(0.0);
      if (c < nc) { x = v[((j0 + c) * p.nKv + g) * DV + d4]; }
      KVs[c * KS + d4] = x;
    }
    for (var c = tid; c < BC; c += WG) {
      var s = -1;
      if (p.useSeg != 0u && c < nc) { s = seg[j0 + c]; }
      colSeg[c] = s;
    }
    workgroupBarrier();
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
    workgroupBarrier();
    for (var i = tid; i < BC * DV; i += WG) {
      let c = i / DV;
      let d4 = i % DV;
      var x = vec4<f32>(0.0);
      if (c < nc) { x = k[((j0 + c) * p.nKv + g) * DV + d4]; }
      KVs[c * KS + d4] = x;
    }
    workgroupBarrier();
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
    workgroupBarrier();
    for (var c = 0u; c < BC; c++) {
      var dsv: array<f32, TM>;
      for (var i = 0u; i < TM; i++) { dsv[i] = dSs[(ty + NTR * i) * PS + c]; }
      for (var kk = 0u; kk < TD; kk++) {
        let kv = KVs[c * KS + tx + NTC * kk];
        for (var i = 0u; i < TM; i++) { acc[i][kk] = fma(vec4<f32>(dsv[i]), kv, acc[i][kk]); }
      }
    }
    workgroupBarrier();
  }

  for (var i = 0u; i < TM; i++) {
    let R = R0 + ty + NTR * i;
    if (R < nRows) {
      let at = ((R / G) * p.nHeads + g * G + R % G) * DV;
      for (var kk = 0u; kk < TD; kk++) { dq[at + tx + NTC * kk] = acc[i][kk] * p.scale; }
    }
  }
}
