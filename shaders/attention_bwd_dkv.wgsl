// Attention backward, dk/dv part (see attention_fwd.wgsl for letters and masking). One workgroup
// = BC key rows of one kv head; it loops over the G query heads of that kv head and over the
// query tiles that can see its keys (rows k0 .. end of the last key's segment), recomputing
// P = exp(q·kᵀ·scale - lse) and dS = P ∘ (dout·vᵀ - D_i), D_i = rowsum(dout ∘ out), and
// accumulates dv = Pᵀ·dout, dk = scale · dSᵀ·q in workgroup memory. Outputs are assigned.

struct Params {
  Tq: u32, Tk: u32, nHeads: u32, nKv: u32,
  qOff: u32, useSeg: u32, writeLse: u32, scale: f32,
}

@group(0) @binding(0) var<storage, read_write> dk: array<f32>; // [T, Hkv*D]
@group(0) @binding(1) var<storage, read_write> dv: array<f32>; // [T, Hkv*D]
@group(0) @binding(2) var<storage, read> dout: array<f32>;     // [T, H*D]
@group(0) @binding(3) var<storage, read> q: array<f32>;        // [T, H*D]
@group(0) @binding(4) var<storage, read> k: array<f32>;        // [T, Hkv*D]
@group(0) @binding(5) var<storage, read> v: array<f32>;        // [T, Hkv*D]
@group(0) @binding(6) var<storage, read> out: array<f32>;      // [T, H*D]
@group(0) @binding(7) var<storage, read> lse: array<f32>;      // [H, T]
@group(0) @binding(8) var<storage, read> seg: array<i32>;      // [T]
@group(0) @binding(9) var<uniform> p: Params;

override HD: u32 = 64;  // head dim D
override BR: u32 = 16;  // query rows per tile
override BC: u32 = 16;  // key rows per workgroup
override WG: u32 = 64;  // threads per workgroup
override KS: u32 = HD + 1u; // row stride of [*, D] tiles: padded so rows start in different banks

var<workgroup> Ks: array<f32, BC * KS>;  // [BC, D]
var<workgroup> Vs: array<f32, BC * KS>;  // [BC, D]
var<workgroup> dKs: array<f32, BC * KS>; // [BC, D] Σ dS·(q·scale)
var<workgroup> dVs: array<f32, BC * KS>; // [BC, D] Σ P·dout
var<workgroup> Qs: array<f32, BR * KS>;  // [BR, D] q · scale
var<workgroup> dOs: array<f32, BR * KS>; // [BR, D]
var<workgroup> Ps: array<f32, BR * BC>;  // [BR, BC]
var<workgroup> dSs: array<f32, BR * BC>; // [BR, BC]
var<workgroup> rowLse: array<f32, BR>;
var<workgroup> rowDi: array<f32, BR>;
var<workgroup> rowSeg: array<i32, BR>;
var<workgroup> colSeg: array<i32, BC>;
var<workgroup> qRange: vec2<u32>;

// First index j in [lo0, n) with seg[j] > target, else n (seg non-decreasing).
fn upperBound(want: i32, lo0: u32, n: u32) -> u32 {
  var lo = lo0;
  var hi = n;
  while (lo < hi) {
    let mid = (lo + hi) / 2u;
    if (seg[mid] <= want) { lo = mid + 1u; } else { hi = mid; }
  }
  return lo;
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) tid: u32) {
  let T = p.Tq;
  let k0 = wid.x * BC;
  let g = wid.y;
  let G = p.nHeads / p.nKv;
  let qStride = p.nHeads * HD;
  let kStride = p.nKv * HD;
  let nc = min(BC, T - k0);

  for (var i = tid; i < BC * HD; i += WG) {
    let c = i / HD;
    var x = 0.0;
    var y = 0.0;
    if (c < nc) {
      let at = (k0 + c) * kStride + g * HD + i % HD;
      x = k[at];
      y = v[at];
    }
    Ks[i + c] = x;
    Vs[i + c] = y;
    dKs[i + c] = 0.0;
    dVs[i + c] = 0.0;
  }
  for (var c = tid; c < BC; c += WG) {
    var s = 0;
    if (p.useSeg != 0u && c < nc) { s = seg[k0 + c]; }
    colSeg[c] = s;
  }
  if (tid == 0u) {
    var end = T;
    if (p.useSeg != 0u) { end = upperBound(seg[k0 + nc - 1u], k0 + nc - 1u, T); }
    qRange = vec2<u32>(k0, end);
  }
  let range = workgroupUniformLoad(&qRange);

  for (var hh = 0u; hh < G; hh++) {
    let h = g * G + hh;
    for (var i0 = range.x; i0 < range.y; i0 += BR) {
      let nr = min(BR, range.y - i0);
      for (var i = tid; i < BR * HD; i += WG) {
        let r = i / HD;
        var x = 0.0;
        var y = 0.0;
        if (r < nr) {
          let at = (i0 + r) * qStride + h * HD + i % HD;
          x = q[at];
          y = dout[at];
        }
        Qs[i + r] = x * p.scale;
        dOs[i + r] = y;
      }
      for (var r = tid; r < BR; r += WG) {
        var l = 0.0;
        var di = 0.0;
        var s = 0;
        if (r < nr) {
          l = lse[h * T + i0 + r];
          let base = (i0 + r) * qStride + h * HD;
          for (var d = 0u; d < HD; d++) { di += dout[base + d] * out[base + d]; }
          if (p.useSeg != 0u) { s = seg[i0 + r]; }
        }
        rowLse[r] = l;
        rowDi[r] = di;
        rowSeg[r] = s;
      }
      workgroupBarrier();
      for (var i = tid; i < BR * BC; i += WG) {
        let r = i / BC;
        let c = i % BC;
        let ok = r < nr && c < nc && k0 + c <= i0 + r && colSeg[c] == rowSeg[r];
        var pr = 0.0;
        var ds = 0.0;
        if (ok) {
          var s = 0.0;
          var dp = 0.0;
          for (var d = 0u; d < HD; d++) {
            s += Qs[r * KS + d] * Ks[c * KS + d];
            dp += dOs[r * KS + d] * Vs[c * KS + d];
          }
          pr = exp(s - rowLse[r]);
          ds = pr * (dp - rowDi[r]);
        }
        Ps[i] = pr;
        dSs[i] = ds;
      }
      workgroupBarrier();
      for (var i = tid; i < BC * HD; i += WG) {
        let c = i / HD;
        let d = i % HD;
        var av = dVs[i + c];
        var ak = dKs[i + c];
        for (var r = 0u; r < BR; r++) {
          av += Ps[r * BC + c] * dOs[r * KS + d];
          ak += dSs[r * BC + c] * Qs[r * KS + d];
        }
        dVs[i + c] = av;
        dKs[i + c] = ak;
      }
      workgroupBarrier();
    }
  }

  for (var i = tid; i < BC * HD; i += WG) {
    let c = i / HD;
    if (c < nc) {
      let at = (k0 + c) * kStride + g * HD + i % HD;
      dk[at] = dKs[i + c];
      dv[at] = dVs[i + c];
    }
  }
}
