// Optimizer kernels (f32): global gradient norm and the AdamW step (PyTorch semantics).
// Entry points (bindings shared: 0 read_write, 1 uniform, 2 read, 3..6 AdamW only):
//   partial_sumsq: stage 1 — workgroup w sums grad[i]² over i ≡ w·WG + lid (mod nwg·WG) with a
//                  tree reduction and writes partials[slot + w]
//   final_sum:     stage 2 — one workgroup sums partials[0..count) and adds it to normSq[0]
//   adamw:         clip = min(1, max_norm / (|grad_scale|·sqrt(normSq) + 1e-6)) (1 if max_norm = 0)
//                  g = grad·grad_scale·clip; p *= 1 − lr·wd; m = lerp(m, g, 1 − β1);
//                  v = β2·v + (1 − β2)·g²; p −= (lr / bc1) · m / (sqrt(v) / sqrt(bc2) + eps)

struct Params {
  n: u32, slot: u32, count: u32, max_norm: f32,
  eps: f32, one_minus_beta1: f32, beta2: f32, one_minus_beta2: f32, // 1 − β from f64 on the host
}

@group(0) @binding(0) var<storage, read_write> dst: array<f32>;  // partials | normSq [1] | param (n,)
@group(0) @binding(1) var<uniform> p: Params;
@group(0) @binding(2) var<storage, read> src: array<f32>;        // grad (n,) | partials [count]
@group(0) @binding(3) var<storage, read_write> m: array<f32>;    // (n,) exp_avg
@group(0) @binding(4) var<storage, read_write> v: array<f32>;    // (n,) exp_avg_sq
@group(0) @binding(5) var<storage, read> norm_sq: array<f32>;    // [1] Σ grad² over all LoRA grads
// [4] the values that change every step: decay = 1 − lr·wd, step_size = lr / bc1,
// inv_sqrt_bc2, grad_scale. A buffer written once per step, not the uniform: the uniform and the
// bind groups then stay the same from step to step (cached, none created per step).
@group(0) @binding(6) var<storage, read> hyper: array<f32>;

override WG: u32 = 256; // power of two

var<workgroup> red: array<f32, WG>;

fn wg_sum(x: f32, lid: u32) -> f32 {
  red[lid] = x;
  workgroupBarrier();
  for (var s = WG / 2u; s > 0u; s >>= 1u) {
    if (lid < s) { red[lid] += red[lid + s]; }
    workgroupBarrier();
  }
  return red[0];
}

@compute @workgroup_size(WG)
fn partial_sumsq(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                 @builtin(local_invocation_index) lid: u32) {
  var s = 0.0;
  for (var i = wid.x * WG + lid; i < p.n; i += nwg.x * WG) { let g = src[i]; s = fma(g, g, s); }
  let total = wg_sum(s, lid);
  if (lid == 0u) { dst[p.slot + wid.x] = total; }
}

@compute @workgroup_size(WG)
fn final_sum(@builtin(local_invocation_index) lid: u32) {
  var s = 0.0;
  for (var i = lid; i < p.count; i += WG) { s += src[i]; }
  let total = wg_sum(s, lid);
  if (lid == 0u) { dst[0] = dst[0] + total; }
}

@compute @workgroup_size(WG)
fn adamw(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = gid.x + gid.y * nwg.x * WG;
  if (i >= p.n) { return; }
  let decay = hyper[0];
  let step_size = hyper[1];
  let inv_sqrt_bc2 = hyper[2];
  let grad_scale = hyper[3];
  var clip = 1.0;
  if (p.max_norm > 0.0) {
    clip = min(1.0, p.max_norm / (abs(grad_scale) * sqrt(norm_sq[0]) + 1e-6));
  }
  let g = src[i] * grad_scale * clip;
  let mi = m[i] + p.one_minus_beta1 * (g - m[i]);
  let vi = p.beta2 * v[i] + p.one_minus_beta2 * g * g;
  m[i] = mi;
  v[i] = vi;
  let denom = sqrt(vi) * inv_sqrt_bc2 + p.eps;
  dst[i] = dst[i] * decay - step_size * mi / denom;
}
