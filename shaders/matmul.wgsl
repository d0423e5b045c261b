// Tiled f32 GEMM: C[M,N] = alpha · op(A) · op(B)  (+ C when accumulate != 0).
// op(A) is [M,K]: A stored [M,K], or [K,M] when TRANS_A. op(B) is [K,N]: B stored [K,N], or
// [N,K] when TRANS_B. Each workgroup computes a BM×BN tile of C, staging BK-deep slices of
// A and B in workgroup memory; each thread owns TM×TN outputs strided by the thread grid
// (rows ty + i·WG_Y, cols tx + j·WG_X) so loads and stores stay coalesced.
// Optional inverted dropout (used by LoRA) on one operand, keyed by the element's linear
// index in its own buffer: DROP = 1 masks A's elements, 2 masks B's, 3 masks C's new term.
// keep(idx) = (hash(idx ^ hash(seed ^ 0x9e3779b9)) >> 8) >= thresh, kept values × inv_keep,
// seed = p.seed + seed_base[0].
// Split-K (skinny outputs with a long K, e.g. LoRA's x·Aᵀ with r = 16): workgroup z handles
// K range [z·k_split, (z+1)·k_split) and, when SPLIT, writes its alpha-scaled partial tile to
// c[z·M·N + ...] (a scratch buffer); entry `splitk_reduce` then sums the S partials in a fixed
// order (deterministic) and applies the C-dropout and accumulate.

struct Params {
  M: u32, N: u32, K: u32, alpha: f32,
  accumulate: u32, seed: u32, thresh: u32, inv_keep: f32,
  k_split: u32, splits: u32,
}

@group(0) @binding(0) var<storage, read_write> c: array<f32>; // [M, N] (SPLIT: partials [S, M, N])
@group(0) @binding(1) var<storage, read> a: array<f32>;       // [M, K] or [K, M] (TRANS_A); splitk_reduce: partials [S, M, N]
@group(0) @binding(2) var<uniform> p: Params;
// [≥1] added to p.seed (mod 2^32): the step-dependent part of a dropout seed lives in a buffer
// written once per step, so the uniform (and the bind group) of a module repeats every step.
@group(0) @binding(3) var<storage, read> seed_base: array<u32>;
@group(0) @binding(4) var<storage, read> b: array<f32>;       // [K, N] or [N, K] (TRANS_B)

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
override SPLIT: bool = false;

const MAX_T: u32 = 4; // TM, TN <= MAX_T (register tile bound)

var<workgroup> As: array<f32, BK * BM>; // [BK][BM]
var<workgroup> Bs: array<f32, BK * BN>; // [BK][BN]

// (lowbias32, drop_key, keep_scale: dropout_hash.wgsl, appended by matmul.ts)
fn dropout_factor(idx: u32) -> f32 {
  return keep_scale(idx, drop_key());
}

@compute @workgroup_size(WG_X, WG_Y)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid3: vec3<u32>) {
  let tx = lid3.x;
  let ty = lid3.y;
  let lid = ty * WG_X + tx;
  let NT = WG_X * WG_Y;
  let row0 = wid.y * BM;
  let col0 = wid.x * BN;
  let M = p.M; let N = p.N;
  let k_begin = wid.z * p.k_split;
  let K = p.K; // operand strides use the full K
  let k_end = min(K, k_begin + p.k_split);

  var acc: array<array<f32, MAX_T>, MAX_T>;
  for (var i = 0u; i < MAX_T; i++) { for (var j = 0u; j < MAX_T; j++) { acc[i][j] = 0.0; } }

  for (var k0 = k_begin; k0 < k_end; k0 += BK) {
    // Stage A's slice as As[kk][mm] = op(A)[row0+mm, k0+kk].
    for (var l = lid; l < BM * BK; l += NT) {
      var mm: u32; var kk: u32;
      if (TRANS_A) { kk = l / BM; mm = l % BM; } else { mm = l / BK; kk = l % BK; }
      let gm = row0 + mm; let gk = k0 + kk;
      var v = 0.0;
      if (gm < M && gk < k_end) {
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
      if (gn < N && gk < k_end) {
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
      if (SPLIT) { c[wid.z * M * N + ci] = p.alpha * acc[i][j]; continue; }
      var v = p.alpha * acc[i][j];
      if (DROP == 3u) { v *= dropout_factor(ci); }
      if (p.accumulate != 0u) { v += c[ci]; }
      c[ci] = v;
    }
  }
}

// c[i] (+)= dropout(Σ_z partials[z, i]) over i < M·N, summed in z order.
@compute @workgroup_size(256)
fn splitk_reduce(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let ci = gid.x + gid.y * nwg.x * 256u;
  let mn = p.M * p.N;
  if (ci >= mn) { return; }
  var v = 0.0;
  for (var z = 0u; z < p.splits; z++) { v += a[z * mn + ci]; }
  if (DROP == 3u) { v *= dropout_factor(ci); }
  if (p.accumulate != 0u) { v += c[ci]; }
  c[ci] = v;
}
