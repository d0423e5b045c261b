// Row scale + f16 copy for the pipelined tensor-core NF4 kernel (nf4_mma_pipe.wgsl): as
// nf4_mma_scale.wgsl, sc[m] = 2^(14 − e) with max_r |A[m, r]| = f·2^e (scale 1 for a zero or
// non-finite row), and in the same pass H[m, r] = f16(A[m, r] · sc[m]) for r < lda, 0 for
// lda ≤ r < ldh (ldh = lda rounded up to 8: every row starts on a 16-byte boundary, so the GEMM
// loads 8 f16 per vec4<u32>). The conversion is the one the staging did before (f32 → f16, the
// scale a power of two): results are identical, x/dy is converted once per call instead of once
// per output column tile. The wrapper prepends `enable f16;`.
//   A [M, lda] f32, sc [M] f32, H [M, ldh] f16 (as u32 pairs). One workgroup per row.

struct Params {
  M: u32,   // rows
  lda: u32, // row length (and stride) of A
  ldh: u32, // row stride of H (multiple of 8, ≥ lda)
}

@group(0) @binding(0) var<storage, read_write> sc: array<f32>; // [M]
@group(0) @binding(1) var<storage, read> A: array<f32>;        // [M, lda]
@group(0) @binding(2) var<uniform> p: Params;
@group(0) @binding(3) var<storage, read_write> H: array<u32>;  // [M, ldh / 2] f16 pairs

override WG: u32 = 256;
var<workgroup> red: array<f32, WG>;

@compute @workgroup_size(WG)
fn main(@builtin(local_invocation_index) t: u32, @builtin(workgroup_id) wid: vec3<u32>,
        @builtin(num_workgroups) nwg: vec3<u32>) {
  let m = wid.y * nwg.x + wid.x; // grid1d folds rows into y (uniform)
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
  let peak = red[0];
  var scale = 1.0;
  // peak ≤ f32 max rules out inf; NaN fails both comparisons.
  if (peak > 0.0 && peak <= 3.4028234e38) {
    scale = ldexp(1.0, clamp(14 - frexp(peak).exp, -126, 126));
  }
  if (m >= p.M) { return; }
  if (t == 0u) { sc[m] = scale; }
  let hp = p.ldh / 2u;
  for (var j = t; j < hp; j += WG) {
    let r = 2u * j;
    var v = vec2<f32>(0.0);
    if (r < p.lda) { v.x = A[m * p.lda + r] * scale; }
    if (r + 1u < p.lda) { v.y = A[m * p.lda + r + 1u] * scale; }
    H[m * hp + j] = bitcast<u32>(vec2<f16>(f16(v.x), f16(v.y)));
  }
}
