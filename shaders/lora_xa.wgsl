// LoRA down-projection for few tokens (decode, T ≤ 4), for up to three modules that read the
// same input (q/k/v, gate/up) in one dispatch: xa_i [M, r] = x [M, K] · A_iᵀ, A_i [r, K]
// (lora_A, no dropout). Workgroup (j, i) streams row j of A_i once as vec4 (coalesced, stride
// WG) against the M rows of x, one scalar accumulator per token, then a fixed-order tree in
// workgroup memory reduces the M partial sums (deterministic). Modules past NMOD (the
// dispatch's y size) are never touched: the wrapper binds small dummies there.

struct Params {
  M: u32, // tokens, 1..4
  K: u32, // in_features, multiple of 4
  r: u32, // rank
}

@group(0) @binding(0) var<storage, read_write> xa0: array<f32>; // [M, r]
@group(0) @binding(1) var<storage, read_write> xa1: array<f32>; // [M, r] (or dummy)
@group(0) @binding(2) var<storage, read_write> xa2: array<f32>; // [M, r] (or dummy)
@group(0) @binding(3) var<storage, read> x: array<vec4<f32>>;   // [M, K/4]
@group(0) @binding(4) var<uniform> p: Params;
@group(0) @binding(5) var<storage, read> a0: array<vec4<f32>>;  // [r, K/4] lora_A
@group(0) @binding(6) var<storage, read> a1: array<vec4<f32>>;  // [r, K/4] (or dummy)
@group(0) @binding(7) var<storage, read> a2: array<vec4<f32>>;  // [r, K/4] (or dummy)

override WG: u32 = 256; // power of 2

var<workgroup> red: array<f32, 4u * WG>; // red[m·WG + t]

fn a_at(i: u32, e: u32) -> vec4<f32> {
  if (i == 0u) { return a0[e]; }
  if (i == 1u) { return a1[e]; }
  return a2[e];
}

@compute @workgroup_size(WG)
fn main(@builtin(local_invocation_index) t: u32, @builtin(workgroup_id) wid: vec3<u32>) {
  let j = wid.x;
  let i = wid.y;
  let k4 = p.K / 4u;
  var s0 = 0.0;
  var s1 = 0.0;
  var s2 = 0.0;
  var s3 = 0.0;
  for (var k = t; k < k4; k += WG) {
    let w = a_at(i, j * k4 + k);
    s0 += dot(w, x[k]);
    if (p.M > 1u) { s1 += dot(w, x[k4 + k]); }
    if (p.M > 2u) { s2 += dot(w, x[2u * k4 + k]); }
    if (p.M > 3u) { s3 += dot(w, x[3u * k4 + k]); }
  }
  red[t] = s0;
  red[WG + t] = s1;
  red[2u * WG + t] = s2;
  red[3u * WG + t] = s3;
  for (var h = WG / 2u; h > 0u; h >>= 1u) {
    workgroupBarrier();
    if (t < h) {
      for (var m = 0u; m < 4u; m++) { red[m * WG + t] += red[m * WG + t + h]; }
    }
  }
  workgroupBarrier();
  if (t < p.M) {
    let v = red[t * WG];
    let o = t * p.r + j;
    if (i == 0u) { xa0[o] = v; } else if (i == 1u) { xa1[o] = v; } else { xa2[o] = v; }
  }
}
