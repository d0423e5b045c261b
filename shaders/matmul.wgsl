// Tiled f32 GEMM: C[M,N] = alpha · op(A) · op(B)  (+ C when accumulate != 0).
// op(A) is [M,K]: A stored [M,K], or [K,M] when TRANS_A. op(B) is [K,N]: B stored [K,N], or
// [N,K] when TRANS_B. Each workgroup computes a BM×BN tile of C, staging BK-deep slices of
// A and B in workgroup memory; each thread owns TM×TN outputs strided by the thread grid
// (rows ty + i·WG_Y, cols tx + j·WG_X) so loads and stores stay coalesced.
// Optional inverted dropout (used by LoRA) on one operand, keyed by the element's linear
// index in its own buffer: DROP = 1 masks A's elements, 2 masks B's, 3 masks C's new term.
// keep(idx) = (hash(idx ^ hash(seed ^ 0x9e3779b9)) >> 8) >= thresh, kept values × inv_keep.

struct Params {
  M: u32, N: u32, K: u32, alpha: f32,
  accumulate: u32, seed: u32, thresh: u32, inv_keep: f32,
}

@group(0) @binding(0) var<storage, read_write> c: array<f32>; // [M, N]
@group(0) @binding(1) var<storage, read> a: array<f32>;       // [M, K] or [K, M] (TRANS_A)
@group(0) @binding(2) var<storage, read> b: array<f32>;       // [K, N] or [N, K] (TRANS_B)
@group(0) @binding(3) var<uniform> p: Params;

override BM: u32 = 64;
override BN: u32 = 64;
override BK: u32 = 16;
override TM: u32 = 4;
override TN: u32 = 4;
override WG_X: u32 = 16; // = BN / TN
override WG_Y: u32 = 16; // = BM / TM
override TRANS_A: bool = false;
override TRANS_B: bool = false;
override DROP: u32 = 0;

const MAX_T: u32 = 4; // TM, TN <= MAX_T (register tile bound)

var<workgroup> As: array<f32, BK * BM>; // [BK][BM]
var<workgroup> Bs: array<f32, BK * BN>; // [BK][BN]

fn lowbias32(x0: u32) -> u32 {
  var x = x0;
  x ^= x >> 16u; x *= 0x7feb352du;
  x ^= x >> 15u; x *= 0x846ca68bu;
  x ^= x >> 16u;
  return x;
}

fn dropout_factor(idx: u32) -> f32 {
  let h = lowbias32(idx ^ lowbias32(p.seed ^ 0x9e3779b9u));
  return select(0.0, p.inv_keep, (h >> 8u) >= p.thresh);
}

@compute @workgroup_size(WG_X, WG_Y)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid3: vec3<u32>) {
  let tx = lid3.x;
  let ty = lid3.y;
  let lid = ty * WG_X + tx;
  let NT = WG_X * WG_Y;
  let row0 = wid.y * BM;
  let col0 = wid.x * BN;
  let M = p.M; let N = p.N; let K = p.K;

  var acc: array<array<f32, MAX_T>, MAX_T>;
  for (var i = 0u; i < MAX_T; i++) { for (var j = 0u; j < MAX_T; j++) { acc[i][j] = 0.0; } }

  for (var k0 = 0u; k0 < K; k0 += BK) {
    // Stage A's slice as As[kk][mm] = op(A)[row0+mm, k0+kk].
    for (var l = lid; l < BM * BK; l += NT) {
      var mm: u32; var kk: u32;
      if (TRANS_A) { kk = l / BM; mm = l % BM; } else { mm = l / BK; kk = l % BK; }
      let gm = row0 + mm; let gk = k0 + kk;
      var v = 0.0;
      if (gm < M && gk < K) {
        var gi: u32;
        if (TRANS_A) { gi = gk * M + gm; } else { gi = gm * K + gk; }
        v = a[gi];
        if (DROP == 1u) { v *= dropout_factor(gi); }
      }
      As[kk * BM + mm] = v;
    }
    // Stage B's slice as Bs[kk][nn] = op(B)[k0+kk, col0+nn].
    for (var l = lid; l < BN * BK; l += NT) {
      var nn: u32; var kk: u32;
      if (TRANS_B) { nn = l / BK; kk = l % BK; } else { kk = l / BN; nn = l % BN; }
      let gn = col0 + nn; let gk = k0 + kk;
      var v = 0.0;
      if (gn < N && gk < K) {
        var gi: u32;
        if (TRANS_B) { gi = gn * K + gk; } else { gi = gk * N + gn; }
        v = b[gi];
        if (DROP == 2u) { v *= dropout_factor(gi); }
      }
      Bs[kk * BN + nn] = v;
    }
    workgroupBarrier();
    for (var kk = 0u; kk < BK; kk++) {
      var ra: array<f32, MAX_T>;
      var rb: array<f32, MAX_T>;
      for (var i = 0u; i < TM; i++) { ra[i] = As[kk * BM + ty + i * WG_Y]; }
      for (var j = 0u; j < TN; j++) { rb[j] = Bs[kk * BN + tx + j * WG_X]; }
      for (var i = 0u; i < TM; i++) {
        for (var j = 0u; j < TN; j++) { acc[i][j] = fma(ra[i], rb[j], acc[i][j]); }
      }
    }
    workgroupBarrier();
  }

  for (var i = 0u; i < TM; i++) {
    let gm = row0 + ty + i * WG_Y;
    if (gm >= M) { continue; }
    for (var j = 0u; j < TN; j++) {
      let gn = col0 + tx + j * WG_X;
      if (gn >= N) { continue; }
      let ci = gm * N + gn;
      var v = p.alpha * acc[i][j];
      if (DROP == 3u) { v *= dropout_factor(ci); }
      if (p.accumulate != 0u) { v += c[ci]; }
      c[ci] = v;
    }
  }
}
