// Residual add with scale: out[i] = a[i] + alpha * b[i].  (n,) f32, any n.
// Used for the residual stream (alpha = 1) and for accumulating gradients.

struct Params { n: u32, alpha: f32 }

@group(0) @binding(0) var<storage, read_write> out: array<f32>; // (n,)
@group(0) @binding(1) var<storage, read> a: array<f32>;         // (n,)
@group(0) @binding(2) var<storage, read> b: array<f32>;         // (n,)
@group(0) @binding(3) var<uniform> p: Params;

override WG: u32 = 256;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  // 2-D grid so that n may exceed 65535 workgroups of WG.
  let i = gid.x + gid.y * nwg.x * WG;
  if (i >= p.n) { return; }
  out[i] = a[i] + p.alpha * b[i];
}
