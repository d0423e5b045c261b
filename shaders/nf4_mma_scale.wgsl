// Row scales for the f16 tensor-core matmuls (nf4_mma_core.wgsl): sc[m] = 2^(14 − e) where
// max_r |A[m, r]| = f·2^e, f ∈ [0.5, 1), so the scaled row peaks in [2^13, 2^14): far from f16
// overflow (65504) and from its subnormals (< 2^-14) for everything within 2^-27 of the row's
// peak. Powers of two make scaling and unscaling exact; tiny gradients (dy ~ 1e-8) keep f16's
// full 11-bit precision instead of flushing to zero. A zero or non-finite row gets scale 1.
//   A [M, lda] f32 (whole rows), sc [M] f32. One workgroup per row.

struct Params {
  M: u32,   // rows
  lda: u32, // row length (and stride)
}

@group(0) @binding(0) var<storage, read_write> sc: array<f32>; // [M]
@group(0) @binding(1) var<storage, read> A: array<f32>;        // [M, lda]
@group(0) @binding(2) var<uniform> p: Params;

override WG: u32 = 256;
var<workgroup> red: array<f32, WG>;

@compute @workgroup_size(WG)
fn main(@builtin(local_invocation_index) t: u32, @builtin(workgroup_id) wid: vec3<u32>,
        @builtin(num_workgroups) nwg: vec3<u32>) {
  let m = wid.y * nwg.x + wid.x; // grid1d folds rows into y
  var mx = 0.0;
  if (m < p.M) {
    for (var r = t; r < p.lda; r += WG) { mx = max(mx, abs(A[m * p.lda + r])); }
  }
  red[t] = mx;
  workgroupBarrier();
  for (var s = WG / 2u; s > 0u; s >>= 1u) {
    if (t < s) { red[t] = max(red[t], red[t + s]); }
    workgroupBarrier();
  }
  if (t == 0u && m < p.M) {
    let peak = red[0];
    var scale = 1.0;
    // peak ≤ f32 max rules out inf; NaN fails both comparisons.
    if (peak > 0.0 && peak <= 3.4028234e38) {
      scale = ldexp(1.0, clamp(14 - frexp(peak).exp, -126, 126));
    }
    sc[m] = scale;
  }
}
