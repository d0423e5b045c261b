// LoRA down-projection for few tokens (decode, T ≤ 4): xa [M, r] = x [M, K] · Aᵀ, A [r, K]
// (lora_A, no dropout). A GEMV with r outputs: workgroup j streams row j of A once (coalesced,
// stride WG) against the M rows of x, then a fixed-order tree in workgroup memory reduces the
// M partial sums (deterministic).

struct Params {
  M: u32, // tokens, 1..4
  K: u32, // in_features
  r: u32, // rank
}

@group(0) @binding(0) var<storage, read_write> xa: array<f32>; // [M, r]
@group(0) @binding(1) var<storage, read> x: array<f32>;        // [M, K]
@group(0) @binding(2) var<uniform> p: Params;
@group(0) @binding(3) var<storage, read> a: array<f32>;        // [r, K] lora_A

override WG: u32 = 256; // power of 2

var<workgroup> red: array<f32, 4u * WG>; // red[m·WG + t]

@compute @workgroup_size(WG)
fn main(@builtin(local_invocation_index) t: u32, @builtin(workgroup_id) wid: vec3<u32>) {
  let j = wid.x;
  var s = array<f32, 4>(0.0, 0.0, 0.0, 0.0);
  for (var k = t; k < p.K; k += WG) {
    let w = a[j * p.K + k];
    for (var m = 0u; m < 4u; m++) {
      if (m < p.M) { s[m] = fma(w, x[m * p.K + k], s[m]); }
    }
  }
  for (var m = 0u; m < 4u; m++) { red[m * WG + t] = s[m]; }
  for (var h = WG / 2u; h > 0u; h >>= 1u) {
    workgroupBarrier();
    if (t < h) {
      for (var m = 0u; m < 4u; m++) { red[m * WG + t] += red[m * WG + t + h]; }
    }
  }
  if (t < p.M) { xa[t * p.r + j] = red[t * WG]; }
}
