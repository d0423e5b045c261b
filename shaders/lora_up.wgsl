// LoRA's wide output side (training shapes; decode uses lora_yb.wgsl):
// out[t, n] (+)= alpha · drop(t·N + n) · Σ_j s[t, j] · W(j, n), reduction over the rank r.
// Used for y += scale·xa·Bᵀ (s = xa, W = B [N, r] with W_T) and dx += dropout(scratch·A)
// (s = scratch, W = A [r, N], N = K, dropout keyed by dx's index). Dimension letters: T rows,
// N output columns, r rank.
// Workgroup (wid.x, wid.y) = (256 columns, TT rows): each thread owns one column n, holds its 16
// weights of a rank chunk in registers and its TT sums; the TT × 16 slice of s sits in workgroup
// memory (every lane reads the same address: broadcast). out is read and written once, coalesced.

struct Params {
  T: u32, N: u32, r: u32, alpha: f32,
  accumulate: u32, seed: u32, thresh: u32, inv_keep: f32,
}

@group(0) @binding(0) var<storage, read_write> out: array<f32>; // [T, N]
@group(0) @binding(1) var<storage, read> s: array<f32>;         // [T, r]
@group(0) @binding(2) var<uniform> p: Params;
@group(0) @binding(3) var<storage, read> seed_base: array<u32>; // [≥1] added to p.seed
@group(0) @binding(4) var<storage, read> w: array<f32>;         // [r, N] (A), or [N, r] (B) with W_T

override W_T: bool = false;
override DROP: bool = false;
override ONE_CHUNK: bool = false; // r ≤ 16: one rank chunk, each row's sum goes straight to out

const TT: u32 = 32; // rows per workgroup

var<workgroup> ss: array<vec4<f32>, TT * 4u>; // [TT][4]: s[t0 + tt, jb + 4q + c] at [tt·4 + q][c]

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let T = p.T; let N = p.N; let r = p.r;
  let n = wid.x * 256u + lid;
  let nc = min(n, N - 1u); // columns past N compute on column N-1 and write nothing
  let t0 = wid.y * TT;
  var acc: array<f32, TT>;
  for (var tt = 0u; tt < TT; tt++) { acc[tt] = 0.0; }
  for (var jb = 0u; jb < r; jb += 16u) {
    for (var e = lid; e < TT * 16u; e += 256u) {
      let tt = e / 16u; let j = e % 16u;
      let t = t0 + tt; let gj = jb + j;
      var v = 0.0;
      if (t < T && gj < r) { v = s[t * r + gj]; }
      ss[tt * 4u + j / 4u][j % 4u] = v;
    }
    var wv: array<vec4<f32>, 4>;
    for (var q = 0u; q < 4u; q++) {
      for (var c = 0u; c < 4u; c++) {
        let j = jb + q * 4u + c;
        var v = 0.0;
        if (j < r) { if (W_T) { v = w[nc * r + j]; } else { v = w[j * N + nc]; } }
        wv[q][c] = v;
      }
    }
    workgroupBarrier();
    if (ONE_CHUNK) {
      if (n < N) {
        var hs = 0u;
        if (DROP) { hs = drop_key(); }
        for (var tt = 0u; tt < TT; tt++) {
          let t = t0 + tt;
          if (t >= T) { break; }
          let i = t * N + n;
          var v = p.alpha * (dot(ss[tt * 4u], wv[0]) + dot(ss[tt * 4u + 1u], wv[1]) + dot(ss[tt * 4u + 2u], wv[2]) + dot(ss[tt * 4u + 3u], wv[3]));
          if (DROP) { v *= keep_scale(i, hs); }
          if (p.accumulate != 0u) { v += out[i]; }
          out[i] = v;
        }
      }
      return;
    }
    for (var tt = 0u; tt < TT; tt++) {
      acc[tt] += dot(ss[tt * 4u], wv[0]) + dot(ss[tt * 4u + 1u], wv[1]) + dot(ss[tt * 4u + 2u], wv[2]) + dot(ss[tt * 4u + 3u], wv[3]);
    }
    workgroupBarrier();
  }
  if (n >= N) { return; }
  var hs = 0u;
  if (DROP) { hs = drop_key(); }
  for (var tt = 0u; tt < TT; tt++) {
    let t = t0 + tt;
    if (t >= T) { break; }
    let i = t * N + n;
    var v = p.alpha * acc[tt];
    if (DROP) { v *= keep_scale(i, hs); }
    if (p.accumulate != 0u) { v += out[i]; }
    out[i] = v;
  }
}
