// Attention backward, dq part (see attention_fwd.wgsl for letters and masking). One workgroup =
// BR query rows of one head; it walks the same key tiles as the forward and recomputes
// P = exp(q·kᵀ·scale - lse), dP = dout·vᵀ, dS = P ∘ (dP - D_i) with D_i = rowsum(dout ∘ out),
// and accumulates dq = scale · dS·k. No atomics: dk/dv come from attention_bwd_dkv.wgsl.

struct Params {
  Tq: u32, Tk: u32, nHeads: u32, nKv: u32,
  qOff: u32, useSeg: u32, writeLse: u32, scale: f32,
}

@group(0) @binding(0) var<storage, read_write> dq: array<f32>; // [T, H*D]
@group(0) @binding(1) var<storage, read> dout: array<f32>;     // [T, H*D]
@group(0) @binding(2) var<storage, read> q: array<f32>;        // [T, H*D]
@group(0) @binding(3) var<storage, read> k: array<f32>;        // [T, Hkv*D]
@group(0) @binding(4) var<storage, read> v: array<f32>;        // [T, Hkv*D]
@group(0) @binding(5) var<storage, read> out: array<f32>;      // [T, H*D]
@group(0) @binding(6) var<storage, read> lse: array<f32>;      // [H, T]
@group(0) @binding(7) var<storage, read> seg: array<i32>;      // [T]
@group(0) @binding(8) var<uniform> p: Params;

override HD: u32 = 64;  // head dim D
override BR: u32 = 16;  // query rows per workgroup
override BC: u32 = 16;  // key rows per tile
override WG: u32 = 64;  // threads per workgroup
override KS: u32 = HD + 1u; // row stride of [*, D] tiles: padded so rows start in different banks

var<workgroup> Qs: array<f32, BR * KS>;  // [BR, D] q · scale
var<workgroup> dOs: array<f32, BR * KS>; // [BR, D]
var<workgroup> dQs: array<f32, BR * KS>; // [BR, D] Σ dS·k (unscaled)
var<workgroup> KVs: array<f32, BC * KS>; // [BC, D] V tile, then K tile
var<workgroup> Ss: array<f32, BR * BC>;  // [BR, BC] dP, then dS
var<workgroup> rowLse: array<f32, BR>;
var<workgroup> rowDi: array<f32, BR>;
var<workgroup> rowSeg: array<i32, BR>;
var<workgroup> colSeg: array<i32, BC>;
var<workgroup> kRange: vec2<u32>;

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
  let q0 = wid.x * BR;
  let h = wid.y;
  let g = h / (p.nHeads / p.nKv);
  let qStride = p.nHeads * HD;
  let kStride = p.nKv * HD;
  let nq = min(BR, p.Tq - q0);

  for (var i = tid; i < BR * HD; i += WG) {
    let r = i / HD;
    var x = 0.0;
    var y = 0.0;
    if (r < nq) {
      let at = (q0 + r) * qStride + h * HD + i % HD;
      x = q[at];
      y = dout[at];
    }
    Qs[i + r] = x * p.scale;
    dOs[i + r] = y;
    dQs[i + r] = 0.0;
  }
  for (var r = tid; r < BR; r += WG) {
    var l = 0.0;
    var di = 0.0;
    var s = 0;
    if (r < nq) {
      l = lse[h * p.Tq + q0 + r];
      let base = (q0 + r) * qStride + h * HD;
      for (var d = 0u; d < HD; d++) { di += dout[base + d] * out[base + d]; }
      if (p.useSeg != 0u) { s = seg[q0 + r + p.qOff]; }
    }
    rowLse[r] = l;
    rowDi[r] = di;
    rowSeg[r] = s;
  }
  if (tid == 0u) {
    var start = 0u;
    if (p.useSeg != 0u) { start = lowerBound(seg[q0 + p.qOff], q0 + p.qOff); }
    kRange = vec2<u32>(start, min(p.Tk, q0 + nq + p.qOff));
  }
  let range = workgroupUniformLoad(&kRange);

  for (var j0 = range.x; j0 < range.y; j0 += BC) {
    let nc = min(BC, range.y - j0);
    for (var i = tid; i < BC * HD; i += WG) {
      let c = i / HD;
      var x = 0.0;
      if (c < nc) { x = v[(j0 + c) * kStride + g * HD + i % HD]; }
      KVs[i + c] = x;
    }
    for (var c = tid; c < BC; c += WG) {
      var s = 0;
      if (p.useSeg != 0u && c < nc) { s = seg[j0 + c]; }
      colSeg[c] = s;
    }
    workgroupBarrier();
    for (var i = tid; i < BR * BC; i += WG) { // dP = dout · vᵀ
      let r = i / BC;
      let c = i % BC;
      var s = 0.0;
      for (var d = 0u; d < HD; d++) { s += dOs[r * KS + d] * KVs[c * KS + d]; }
      Ss[i] = s;
    }
    workgroupBarrier();
    for (var i = tid; i < BC * HD; i += WG) {
      let c = i / HD;
      var x = 0.0;
      if (c < nc) { x = k[(j0 + c) * kStride + g * HD + i % HD]; }
      KVs[i + c] = x;
    }
    workgroupBarrier();
    for (var i = tid; i < BR * BC; i += WG) { // dS = P ∘ (dP - D_i), same (r, c) per thread
      let r = i / BC;
      let c = i % BC;
      let ok = r < nq && c < nc && j0 + c <= q0 + r + p.qOff && colSeg[c] == rowSeg[r];
      var ds = 0.0;
      if (ok) {
        var s = 0.0;
        for (var d = 0u; d < HD; d++) { s += Qs[r * KS + d] * KVs[c * KS + d]; }
        ds = exp(s - rowLse[r]) * (Ss[i] - rowDi[r]);
      }
      Ss[i] = ds;
    }
    workgroupBarrier();
    for (var i = tid; i < BR * HD; i += WG) {
      let r = i / HD;
      let d = i % HD;
      var acc = dQs[i + r];
      for (var c = 0u; c < BC; c++) { acc += Ss[r * BC + c] * KVs[c * KS + d]; }
      dQs[i + r] = acc;
    }
    workgroupBarrier();
  }

  for (var i = tid; i < BR * HD; i += WG) {
    let r = i / HD;
    if (r < nq) { dq[(q0 + r) * qStride + h * HD + i % HD] = dQs[i + r] * p.scale; }
  }
}
