// Attention backward, dk/dv part, register-tiled, f32 (attention.tiled.bwd.ts; letters and
// masking as attention_fwd_tiled_pf.wgsl). One workgroup = BC keys of kv head h / G for ONE query
// head h (grid: key tiles × H, so short sequences still fill the GPU); it walks the query tiles of
// BR rows that can see its keys (k0 .. end of the last key's segment), recomputes
// P = exp(q·kᵀ·scale - lse), dS = P ∘ (dout·vᵀ - D_i) (D_i from the dq kernel), and accumulates
// dv = Pᵀ·dout, dk = dSᵀ·(q·scale) in registers. It writes this head's share into dkp, dvp
// [T, H*D]; attention_bwd_reduce.wgsl sums the G shares of each kv head. Aimed at latency:
//  - the q/dout rows (and lse, D_i, seg) of query tile i+1 are read from global memory into
//    registers while tile i is computed, with a constant trip count and clamped (always valid)
//    rows, so the loads are issued together and overlap the FMAs instead of stalling the
//    workgroup before the barrier; the top of the next iteration only stores them;
//  - keys per thread TMK is a wrapper constant (1: 128 threads at BC = 16, more warps per SM).
// Key tiles are already walked heavy-first (key tile 0 sees the most query rows).
// The wrapper prepends `const HD, BC, BR, TMK, NTC: u32`.
// Thread (ty, tx), NKR = BC/TMK key groups × NTC: owns keys ty + NKR·i (i < TMK), score rows
// tx + NTC·j (j < TNR) and accumulator dims vec4 tx + NTC·k (k < TD).

struct Params {
  Tq: u32, Tk: u32, nHeads: u32, nKv: u32,
  qOff: u32, useSeg: u32, writeLse: u32, scale: f32,
}

@group(0) @binding(0) var<storage, read_write> dkp: array<vec4<f32>>; // [T, H*D] per-head dk share
@group(0) @binding(1) var<storage, read_write> dvp: array<vec4<f32>>; // [T, H*D] per-head dv share
@group(0) @binding(2) var<storage, read> dout: array<vec4<f32>>;      // [T, H*D]
@group(0) @binding(3) var<storage, read> q: array<vec4<f32>>;         // [T, H*D]
@group(0) @binding(4) var<storage, read> k: array<vec4<f32>>;         // [T, Hkv*D]
@group(0) @binding(5) var<storage, read> v: array<vec4<f32>>;         // [T, Hkv*D]
@group(0) @binding(6) var<storage, read> di: array<f32>;              // [H, T] rowsum(dout ∘ out)
@group(0) @binding(7) var<storage, read> lse: array<f32>;             // [H, T]
@group(0) @binding(8) var<storage, read> seg: array<i32>;             // [T]
@group(0) @binding(9) var<uniform> p: Params;

const NKR: u32 = BC / TMK;
const WG: u32 = NKR * NTC;
const TNR: u32 = BR / NTC;
const DV: u32 = HD / 4u;
const TD: u32 = DV / NTC;
const KS: u32 = DV + 1u;
const PS: u32 = BR + 1u;
const LPT: u32 = (BR * DV + WG - 1u) / WG; // q (and dout) vec4 prefetched per thread per tile
const RPT: u32 = (BR + WG - 1u) / WG;      // row stats prefetched per thread per tile

var<workgroup> Ks: array<vec4<f32>, BC * KS>;  // [BC, D]
var<workgroup> Vs: array<vec4<f32>, BC * KS>;  // [BC, D]
var<workgroup> Qs: array<vec4<f32>, BR * KS>;  // [BR, D] q · scale
var<workgroup> dOs: array<vec4<f32>, BR * KS>; // [BR, D]
var<workgroup> Pt: array<f32, BC * PS>;  // [BC, BR] Pᵀ
var<workgroup> dSt: array<f32, BC * PS>; // [BC, BR] dSᵀ
var<workgroup> rowLse: array<f32, BR>;
var<workgroup> rowDi: array<f32, BR>;
var<workgroup> rowSeg: array<i32, BR>;
var<workgroup> qRange: vec2<u32>;

// One query tile's rows as this thread holds them between the load and the store.
struct Pre {
  x: array<vec4<f32>, LPT>, // q · scale
  y: array<vec4<f32>, LPT>, // dout
  ls: array<f32, RPT>,
  d: array<f32, RPT>,
  s: array<i32, RPT>,
}

fn dot4(a: vec4<f32>, b: vec4<f32>, acc: f32) -> f32 {
  return fma(a.w, b.w, fma(a.z, b.z, fma(a.y, b.y, fma(a.x, b.x, acc))));
}

// First index j in [lo0, n) with seg[j] > want, else n (seg non-decreasing).
fn upperBound(want: i32, lo0: u32, n: u32) -> u32 {
  var lo = lo0;
  var hi = n;
  while (lo < hi) {
    let mid = (lo + hi) / 2u;
    if (seg[mid] <= want) { lo = mid + 1u; } else { hi = mid; }
  }
  return lo;
}

// Rows i0 .. i0+BR-1 of head h; rows past `last` read row `last` (valid memory; the store zeroes
// them, so that padding rows contribute exactly 0).
fn loadRows(i0: u32, last: u32, h: u32, tid: u32) -> Pre {
  var r: Pre;
  for (var u = 0u; u < LPT; u++) {
    let i = min(tid + WG * u, BR * DV - 1u);
    let at = (min(i0 + i / DV, last) * p.nHeads + h) * DV + i % DV;
    r.x[u] = q[at] * p.scale;
    r.y[u] = dout[at];
  }
  for (var u = 0u; u < RPT; u++) {
    let t = min(i0 + min(tid + WG * u, BR - 1u), last);
    r.ls[u] = lse[h * p.Tq + t];
    r.d[u] = di[h * p.Tq + t];
    r.s[u] = select(-1, seg[t], p.useSeg != 0u);
  }
  return r;
}

fn storeRows(x: Pre, nr: u32, tid: u32) {
  for (var u = 0u; u < LPT; u++) {
    let i = tid + WG * u;
    if (i < BR * DV) {
      let ok = i / DV < nr;
      Qs[(i / DV) * KS + i % DV] = select(vec4<f32>(0.0), x.x[u], ok);
      dOs[(i / DV) * KS + i % DV] = select(vec4<f32>(0.0), x.y[u], ok);
    }
  }
  for (var u = 0u; u < RPT; u++) {
    let r = tid + WG * u;
    if (r < BR) {
      let ok = r < nr;
      rowLse[r] = select(0.0, x.ls[u], ok);
      rowDi[r] = select(0.0, x.d[u], ok);
      rowSeg[r] = select(-3, x.s[u], ok); // padding rows match no key
    }
  }
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) tid: u32) {
  let T = p.Tq;
  let k0 = wid.x * BC;
  let h = wid.y;
  let G = p.nHeads / p.nKv;
  let g = h / G;
  let nc = min(BC, T - k0);
  let ty = tid / NTC;
  let tx = tid % NTC;

  for (var i = tid; i < BC * DV; i += WG) {
    let c = i / DV;
    let d4 = i % DV;
    var x = vec4<f32>(0.0);
    var y = vec4<f32>(0.0);
    if (c < nc) {
      let at = ((k0 + c) * p.nKv + g) * DV + d4;
      x = k[at];
      y = v[at];
    }
    Ks[c * KS + d4] = x;
    Vs[c * KS + d4] = y;
  }
  if (tid == 0u) {
    var end = T;
    if (p.useSeg != 0u) { end = upperBound(seg[k0 + nc - 1u], k0 + nc - 1u, T); }
    qRange = vec2<u32>(k0, end);
  }
  var colPos: array<u32, TMK>;
  var colSeg: array<i32, TMK>;
  var aK: array<array<vec4<f32>, TD>, TMK>;
  var aV: array<array<vec4<f32>, TD>, TMK>;
  for (var i = 0u; i < TMK; i++) {
    let c = ty + NKR * i;
    colPos[i] = k0 + c;
    var s = -1;
    if (c < nc && p.useSeg != 0u) { s = seg[k0 + c]; }
    colSeg[i] = select(-2, s, c < nc); // -2 never matches a row: padding keys see nothing
    for (var kk = 0u; kk < TD; kk++) {
      aK[i][kk] = vec4<f32>(0.0);
      aV[i][kk] = vec4<f32>(0.0);
    }
  }
  let range = workgroupUniformLoad(&qRange);
  let last = range.y - 1u;
  var pre = loadRows(range.x, last, h, tid);

  for (var i0 = range.x; i0 < range.y; i0 += BR) {
    storeRows(pre, min(BR, range.y - i0), tid);
    workgroupBarrier(); // (1) the query tile is visible
    if (i0 + BR < range.y) { pre = loadRows(i0 + BR, last, h, tid); } // in flight during the tile
    var s: array<array<f32, TNR>, TMK>;
    var dp: array<array<f32, TNR>, TMK>;
    for (var i = 0u; i < TMK; i++) {
      for (var j = 0u; j < TNR; j++) { s[i][j] = 0.0; dp[i][j] = 0.0; }
    }
    for (var d4 = 0u; d4 < DV; d4++) {
      var kv: array<vec4<f32>, TMK>;
      var vv: array<vec4<f32>, TMK>;
      for (var i = 0u; i < TMK; i++) {
        kv[i] = Ks[(ty + NKR * i) * KS + d4];
        vv[i] = Vs[(ty + NKR * i) * KS + d4];
      }
      for (var j = 0u; j < TNR; j++) {
        let r = tx + NTC * j;
        let qv = Qs[r * KS + d4];
        let ov = dOs[r * KS + d4];
        for (var i = 0u; i < TMK; i++) {
          s[i][j] = dot4(kv[i], qv, s[i][j]);
          dp[i][j] = dot4(vv[i], ov, dp[i][j]);
        }
      }
    }
    for (var i = 0u; i < TMK; i++) {
      let c = ty + NKR * i;
      for (var j = 0u; j < TNR; j++) {
        let r = tx + NTC * j;
        let ok = colPos[i] <= i0 + r && rowSeg[r] == colSeg[i];
        var pr = 0.0;
        var ds = 0.0;
        if (ok) {
          pr = exp(s[i][j] - rowLse[r]);
          ds = pr * (dp[i][j] - rowDi[r]);
        }
        Pt[c * PS + r] = pr;
        dSt[c * PS + r] = ds;
      }
    }
    workgroupBarrier(); // (2) Pᵀ, dSᵀ visible
    for (var r = 0u; r < BR; r++) {
      var pv: array<f32, TMK>;
      var sv: array<f32, TMK>;
      for (var i = 0u; i < TMK; i++) {
        pv[i] = Pt[(ty + NKR * i) * PS + r];
        sv[i] = dSt[(ty + NKR * i) * PS + r];
      }
      for (var kk = 0u; kk < TD; kk++) {
        let ov = dOs[r * KS + tx + NTC * kk];
        let qv = Qs[r * KS + tx + NTC * kk];
        for (var i = 0u; i < TMK; i++) {
          aV[i][kk] = fma(vec4<f32>(pv[i]), ov, aV[i][kk]);
          aK[i][kk] = fma(vec4<f32>(sv[i]), qv, aK[i][kk]);
        }
      }
    }
    workgroupBarrier(); // (3) the query tile and Pᵀ, dSᵀ no longer read
  }

  for (var i = 0u; i < TMK; i++) {
    let c = ty + NKR * i;
    if (c < nc) {
      let at = ((k0 + c) * p.nHeads + h) * DV;
      for (var kk = 0u; kk < TD; kk++) {
        dkp[at + tx + NTC * kk] = aK[i][kk];
        dvp[at + tx + NTC * kk] = aV[i][kk];
      }
    }
  }
}
