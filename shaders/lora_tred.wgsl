// LoRA's weight gradients, reductions over the tokens T (training shapes):
// out(a, j) (+)= alpha · Σ_t drop(x)[t, a] · s[t, j] for a < A, j < r. Used for
// dB += scale·dyᵀ·xa (x = dy [T, N], A = N, s = xa, out [N, r]) and
// dA += scratchᵀ·dropout(x) (x = x [T, K], A = K, s = scratch, out [r, K] with OUT_T; dropout
// keyed by x's index t·A + a). Dimension letters: T tokens (reduced), A columns, r rank.
// Workgroup (wid.x, wid.y, wid.z) = (256 columns, T split, 16-wide rank block): each thread
// owns one column, reads it down the split's rows (coalesced across lanes) against the TS × 16
// slice of s in workgroup memory (broadcast reads) and keeps 16 sums in registers.
// SPLIT: unscaled partials go to out[z·A·r + index(a, j)] and lora_reduce.wgsl adds them in order.

struct Params {
  T: u32, A: u32, r: u32, alpha: f32,
  accumulate: u32, t_split: u32, seed: u32, thresh: u32, inv_keep: f32,
}

@group(0) @binding(0) var<storage, read_write> out: array<f32>; // [A, r] or [r, A] (OUT_T); SPLIT: [S, ·]
@group(0) @binding(1) var<storage, read> x: array<f32>;         // [T, A]
@group(0) @binding(2) var<uniform> p: Params;
@group(0) @binding(3) var<storage, read> seed_base: array<u32>; // [≥1] added to p.seed
@group(0) @binding(4) var<storage, read> s: array<f32>;         // [T, r]

override OUT_T: bool = false;
override DROP: bool = false;
override SPLIT: bool = false;

const TS: u32 = 64; // rows per staged slice of s

var<workgroup> ss: array<vec4<f32>, TS * 4u>; // [TS][4]: s[t0 + tt, jb + 4q + c] at [tt·4 + q][c]

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let T = p.T; let A = p.A; let r = p.r;
  let a = wid.x * 256u + lid;
  let ac = min(a, A - 1u); // columns past A read column A-1 and write nothing
  let jb = wid.z * 16u;
  let t_begin = wid.y * p.t_split;
  let t_end = min(T, t_begin + p.t_split);
  var hs = 0u;
  if (DROP) { hs = drop_key(); }
  var a0 = vec4<f32>(0.0); var a1 = vec4<f32>(0.0); var a2 = vec4<f32>(0.0); var a3 = vec4<f32>(0.0);
  for (var t0 = t_begin; t0 < t_end; t0 += TS) {
    for (var e = lid; e < TS * 16u; e += 256u) {
      let tt = e / 16u; let j = e % 16u;
      let t = t0 + tt; let gj = jb + j;
      var v = 0.0;
      if (t < t_end && gj < r) { v = s[t * r + gj]; }
      ss[tt * 4u + j / 4u][j % 4u] = v;
    }
    workgroupBarrier();
    let n = min(TS, t_end - t0);
    for (var tt = 0u; tt < TS; tt++) {
      if (tt >= n) { break; }
      let xi = (t0 + tt) * A + ac;
      var xv = x[xi];
      if (DROP) { xv *= keep_scale(xi, hs); }
      a0 = fma(vec4(xv), ss[tt * 4u], a0); a1 = fma(vec4(xv), ss[tt * 4u + 1u], a1);
      a2 = fma(vec4(xv), ss[tt * 4u + 2u], a2); a3 = fma(vec4(xv), ss[tt * 4u + 3u], a3);
    }
    workgroupBarrier();
  }
  if (a >= A) { return; }
  let acc = array<vec4<f32>, 4>(a0, a1, a2, a3);
  for (var j0 = 0u; j0 < 16u; j0++) {
    let j = jb + j0;
    if (j >= r) { break; }
    var oi: u32;
    if (OUT_T) { oi = j * A + a; } else { oi = a * r + j; }
    let v0 = acc[j0 / 4u][j0 % 4u];
    if (SPLIT) { out[wid.y * A * r + oi] = v0; continue; }
    var v = p.alpha * v0;
    if (p.accumulate != 0u) { v += out[oi]; }
    out[oi] = v;
  }
}
