// lora_tred.wgsl for A % 4 == 0 (all training shapes): the same product and layouts, x read as
// vec4 (4 adjacent columns per thread) with 4 row lanes per column quad and 4 rows in flight per
// thread (the scalar kernel's one 4-byte load at a time left it latency-bound).
// out(a, j) (+)= alpha · Σ_t drop(x)[t, a] · s[t, j]; out [A, r] or [r, A] (OUT_T).
// Dimension letters: T tokens (reduced), A columns, r rank.
// Workgroup (256 columns, T split, 16-wide rank block); thread (row lane rl = lid / 64, column
// quad cq = lid % 64): rows rl + 4u of each 64-row slice. The 4 row lanes are summed in order.

struct Params {
  T: u32, A: u32, r: u32, alpha: f32,
  accumulate: u32, t_split: u32, seed: u32, thresh: u32, inv_keep: f32,
}

@group(0) @binding(0) var<storage, read_write> out: array<f32>; // [A, r] or [r, A] (OUT_T); SPLIT: [S, ·]
@group(0) @binding(1) var<storage, read> x: array<vec4<f32>>;   // [T, A/4]
@group(0) @binding(2) var<uniform> p: Params;
@group(0) @binding(3) var<storage, read> seed_base: array<u32>; // [≥1] added to p.seed
@group(0) @binding(4) var<storage, read> s: array<f32>;         // [T, r]

override OUT_T: bool = false;
override DROP: bool = false;
override SPLIT: bool = false;

const TS: u32 = 64; // rows per staged slice of s

var<workgroup> ss: array<vec4<f32>, TS * 4u>; // [TS][4]: s[t0 + tt, jb + 4q + c] at [tt·4 + q][c]
var<workgroup> red: array<vec4<f32>, 256>;    // [4 row lanes][64 column quads]

fn lowbias32(x0: u32) -> u32 {
  var v = x0;
  v ^= v >> 16u; v *= 0x7feb352du;
  v ^= v >> 15u; v *= 0x846ca68bu;
  v ^= v >> 16u;
  return v;
}

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let T = p.T; let A = p.A; let r = p.r; let A4 = A / 4u;
  let cq = lid % 64u;
  let rl = lid / 64u;
  let q4 = wid.x * 64u + cq;       // column quad
  let qc = min(q4, A4 - 1u);       // quads past A read the last one and write nothing
  let jb = wid.z * 16u;
  let t_begin = wid.y * p.t_split;
  let t_end = min(T, t_begin + p.t_split);
  var hs = 0u;
  if (DROP) { hs = lowbias32((p.seed + seed_base[0]) ^ 0x9e3779b9u); }
  // acc[c·4 + q] = sums for column 4·q4 + c, ranks jb + 4q .. +3
  var acc: array<vec4<f32>, 16>;
  for (var i = 0u; i < 16u; i++) { acc[i] = vec4(0.0); }
  for (var t0 = t_begin; t0 < t_end; t0 += TS) {
    for (var e = lid; e < TS * 16u; e += 256u) {
      let tt = e / 16u; let j = e % 16u;
      let t = t0 + tt; let gj = jb + j;
      var v = 0.0;
      if (t < t_end && gj < r) { v = s[t * r + gj]; }
      ss[tt * 4u + j / 4u][j % 4u] = v;
    }
    workgroupBarrier();
    for (var u0 = 0u; u0 < TS / 4u; u0 += 4u) {
      var xs: array<vec4<f32>, 4>;
      for (var u = 0u; u < 4u; u++) { // 4 rows' loads in flight; rows past t_end meet zero s
        let t = t0 + rl + (u0 + u) * 4u;
        let xi = min(t, T - 1u) * A4 + qc;
        var v = select(vec4(0.0), x[xi], t < t_end);
        if (DROP) {
          for (var c = 0u; c < 4u; c++) { v[c] *= select(0.0, p.inv_keep, (lowbias32((xi * 4u + c) ^ hs) >> 8u) >= p.thresh); }
        }
        xs[u] = v;
      }
      for (var u = 0u; u < 4u; u++) {
        let b = (rl + (u0 + u) * 4u) * 4u;
        let s0 = ss[b]; let s1 = ss[b + 1u]; let s2 = ss[b + 2u]; let s3 = ss[b + 3u];
        for (var c = 0u; c < 4u; c++) {
          let xv = vec4(xs[u][c]);
          acc[c * 4u] = fma(xv, s0, acc[c * 4u]);
          acc[c * 4u + 1u] = fma(xv, s1, acc[c * 4u + 1u]);
          acc[c * 4u + 2u] = fma(xv, s2, acc[c * 4u + 2u]);
          acc[c * 4u + 3u] = fma(xv, s3, acc[c * 4u + 3u]);
        }
      }
    }
    workgroupBarrier();
  }

  for (var k = 0u; k < 16u; k++) { // column 4·q4 + k/4, ranks jb + 4(k%4) .. +3
    red[lid] = acc[k];
    workgroupBarrier();
    if (rl == 0u && q4 < A4) {
      let v4 = red[cq] + red[64u + cq] + red[128u + cq] + red[192u + cq];
      let a = q4 * 4u + k / 4u;
      for (var c = 0u; c < 4u; c++) {
        let j = jb + (k % 4u) * 4u + c;
        if (j < r) {
          var oi: u32;
          if (OUT_T) { oi = j * A + a; } else { oi = a * r + j; }
          if (SPLIT) { out[wid.y * A * r + oi] = v4[c]; } else {
            var v = p.alpha * v4[c];
            if (p.accumulate != 0u) { v += out[oi]; }
            out[oi] = v;
          }
        }
      }
    }
    workgroupBarrier();
  }
}
