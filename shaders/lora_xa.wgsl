// LoRA down-projection for few tokens (decode, T ≤ 4), for up to three modules that read the
// same input (q/k/v, gate/up) in one dispatch: xa_i [M, r] = x [M, K] · A_iᵀ, A_i [r, K]
// (lora_A, no dropout). Workgroup (j, i) streams row j of A_i once as vec4 (coalesced, stride
// WG, 4 loads per invocation in flight) against the M rows of x, one accumulator per token, then
// wg_sum (src/gpu/ops/reduce.ts: subgroup operations, or a tree in workgroup memory) reduces the
// M partial sums in a fixed order (deterministic). Modules past the dispatch's y size are never
// touched: the wrapper binds small dummies there.

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

override WG: u32 = 256; // power of 2, ≥ 128 (reduce.ts)

fn a_at(i: u32, e: u32) -> vec4<f32> {
  if (i == 0u) { return a0[e]; }
  if (i == 1u) { return a1[e]; }
  return a2[e];
}

@compute @workgroup_size(WG)
fn main(ln: Lane, @builtin(workgroup_id) wid: vec3<u32>) {
  let t = ln.lid;
  let j = wid.x;
  let i = wid.y;
  let k4 = p.K / 4u;
  let row = j * k4;
  var s = array<f32, 4>(0.0, 0.0, 0.0, 0.0);
  // 4 vec4 of A per invocation loaded before their dots (one memory latency per 4 steps)
  var k = t;
  for (; k + 3u * WG < k4; k += 4u * WG) {
    let w0 = a_at(i, row + k);
    let w1 = a_at(i, row + k + WG);
    let w2 = a_at(i, row + k + 2u * WG);
    let w3 = a_at(i, row + k + 3u * WG);
    for (var m = 0u; m < p.M; m++) {
      let xb = m * k4 + k;
      s[m] += (dot(w0, x[xb]) + dot(w1, x[xb + WG])) + (dot(w2, x[xb + 2u * WG]) + dot(w3, x[xb + 3u * WG]));
    }
  }
  for (; k < k4; k += WG) {
    let w = a_at(i, row + k);
    for (var m = 0u; m < p.M; m++) { s[m] += dot(w, x[m * k4 + k]); }
  }
  for (var m = 0u; m < p.M; m++) {
    let v = wg_sum(s[m], ln);
    if (t == 0u) {
      let o = m * p.r + j;
      if (i == 0u) { xa0[o] = v; } else if (i == 1u) { xa1[o] = v; } else { xa2[o] = v; }
    }
  }
}
