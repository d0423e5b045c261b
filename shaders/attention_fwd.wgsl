// Causal grouped-query attention, flash-attention style forward (online softmax), f32.
// Letters: Tq query rows, Tk key rows, H query heads, Hkv key/value heads, D head dim (= HD),
// G = H / Hkv (query head h reads kv head h / G). One workgroup = BR query rows of one head;
// it walks key tiles of BC rows and keeps only the running max m, sum l and the output
// accumulator, so memory is O(BR·D) per workgroup, never O(T²).
// Query row i sits at absolute position i + qOff (qOff = 0 for training, len - B for decode);
// key j is visible iff j <= i + qOff and (useSeg == 0 or segIds[j] == segIds[i + qOff]).
// segIds must be non-decreasing (packed sequences); the first key tile starts at the segment
// start of the tile's first row, found by binary search.

struct Params {
  Tq: u32, Tk: u32, nHeads: u32, nKv: u32,
  qOff: u32, useSeg: u32, writeLse: u32, scale: f32,
}

@group(0) @binding(0) var<storage, read_write> out: array<f32>; // [Tq, H*D]
@group(0) @binding(1) var<storage, read_write> lse: array<f32>; // [H, Tq] (written iff writeLse)
@group(0) @binding(2) var<storage, read> q: array<f32>;         // [Tq, H*D]
@group(0) @binding(3) var<storage, read> k: array<f32>;         // [>=Tk, Hkv*D]
@group(0) @binding(4) var<storage, read> v: array<f32>;         // [>=Tk, Hkv*D]
@group(0) @binding(5) var<storage, read> seg: array<i32>;       // [Tk] (read iff useSeg)
@group(0) @binding(6) var<uniform> p: Params;

override HD: u32 = 64;  // head dim D
override BR: u32 = 16;  // query rows per workgroup
override BC: u32 = 16;  // key rows per tile
override WG: u32 = 64;  // threads per workgroup
override KS: u32 = HD + 1u; // row stride of [*, D] tiles: padded so rows start in different banks

const NEG: f32 = -1e30; // "minus infinity" kept finite (WGSL does not promise IEEE infinities)

var<workgroup> Qs: array<f32, BR * KS>;  // [BR, D] q · scale
var<workgroup> Os: array<f32, BR * KS>;  // [BR, D] unnormalised output accumulator
var<workgroup> KVs: array<f32, BC * KS>; // [BC, D] current K tile, then V tile
var<workgroup> Ss: array<f32, BR * BC>;  // [BR, BC] scores, then probabilities
var<workgroup> rowM: array<f32, BR>;
var<workgroup> rowL: array<f32, BR>;
var<workgroup> rowA: array<f32, BR>;     // rescale factor exp(m_old - m_new)
var<workgroup> rowSeg: array<i32, BR>;
var<workgroup> colSeg: array<i32, BC>;
var<workgroup> kRange: vec2<u32>;        // [first key, end key) for this query tile

// First index j in [0, hi] with seg[j] >= target (seg non-decreasing).
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
    if (r < nq) { x = q[(q0 + r) * qStride + h * HD + i % HD]; }
    Qs[i + r] = x * p.scale;
    Os[i + r] = 0.0;
  }
  for (var r = tid; r < BR; r += WG) {
    rowM[r] = NEG;
    rowL[r] = 0.0;
    var s = 0;
    if (p.useSeg != 0u && r < nq) { s = seg[q0 + r + p.qOff]; }
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
      if (c < nc) { x = k[(j0 + c) * kStride + g * HD + i % HD]; }
      KVs[i + c] = x;
    }
    for (var c = tid; c < BC; c += WG) {
      var s = 0;
      if (p.useSeg != 0u && c < nc) { s = seg[j0 + c]; }
      colSeg[c] = s;
    }
    workgroupBarrier();
    for (var i = tid; i < BR * BC; i += WG) {
      let r = i / BC;
      let c = i % BC;
      var s = 0.0;
      for (var d = 0u; d < HD; d++) { s += Qs[r * KS + d] * KVs[c * KS + d]; }
      let ok = r < nq && c < nc && j0 + c <= q0 + r + p.qOff && colSeg[c] == rowSeg[r];
      Ss[i] = select(NEG, s, ok);
    }
    workgroupBarrier();
    for (var r = tid; r < BR; r += WG) {
      let mOld = rowM[r];
      var mx = mOld;
      for (var c = 0u; c < BC; c++) { mx = max(mx, Ss[r * BC + c]); }
      var sum = 0.0;
      for (var c = 0u; c < BC; c++) {
        let s = Ss[r * BC + c];
        let e = select(0.0, exp(s - mx), s > 0.5 * NEG);
        Ss[r * BC + c] = e;
        sum += e;
      }
      let a = exp(mOld - mx);
      rowA[r] = a;
      rowL[r] = rowL[r] * a + sum;
      rowM[r] = mx;
    }
    for (var i = tid; i < BC * HD; i += WG) {
      let c = i / HD;
      var x = 0.0;
      if (c < nc) { x = v[(j0 + c) * kStride + g * HD + i % HD]; }
      KVs[i + c] = x; // K is no longer read: the score loop finished before the last barrier
    }
    workgroupBarrier();
    for (var i = tid; i < BR * HD; i += WG) {
      let r = i / HD;
      let d = i % HD;
      var acc = Os[i + r] * rowA[r];
      for (var c = 0u; c < BC; c++) { acc += Ss[r * BC + c] * KVs[c * KS + d]; }
      Os[i + r] = acc;
    }
    workgroupBarrier();
  }

  for (var i = tid; i < BR * HD; i += WG) {
    let r = i / HD;
    if (r < nq) { out[(q0 + r) * qStride + h * HD + i % HD] = Os[i + r] / rowL[r]; }
  }
  if (p.writeLse != 0u) {
    for (var r = tid; r < nq; r += WG) { lse[h * p.Tq + q0 + r] = rowM[r] + log(rowL[r]); }
  }
}
