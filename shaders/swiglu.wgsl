// SwiGLU activation of the Llama MLP: h = silu(gate) · up, silu(g) = g · sigmoid(g).
// Elementwise over n = T·I. Entry points:
//   forward:  h = silu(gate) · up
//   backward: dgate = dh · up · s · (1 + g·(1 - s)),  dup = dh · silu(g),  s = sigmoid(g)
// sigmoid is evaluated from exp(-|g|) so it never overflows.

struct Params { n: u32 }

@group(0) @binding(0) var<storage, read_write> out0: array<f32>; // forward: h [T, I]; backward: dgate [T, I]
@group(0) @binding(1) var<storage, read> gate: array<f32>;       // [T, I]
@group(0) @binding(2) var<storage, read> up: array<f32>;         // [T, I]
@group(0) @binding(3) var<uniform> p: Params;
@group(0) @binding(4) var<storage, read_write> dup: array<f32>;  // [T, I] backward only
@group(0) @binding(5) var<storage, read> dh: array<f32>;         // [T, I] backward only

override WG: u32 = 256;

fn sigmoid(g: f32) -> f32 {
  let e = exp(-abs(g));
  return select(e / (1.0 + e), 1.0 / (1.0 + e), g >= 0.0);
}

@compute @workgroup_size(WG)
fn forward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = gid.x + gid.y * nwg.x * WG;
  if (i >= p.n) { return; }
  let g = gate[i];
  out0[i] = g * sigmoid(g) * up[i];
}

@compute @workgroup_size(WG)
fn backward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = gid.x + gid.y * nwg.x * WG;
  if (i >= p.n) { return; }
  let g = gate[i];
  let s = sigmoid(g);
  let d = dh[i];
  out0[i] = d * up[i] * s * (1.0 + g * (1.0 - s));
  dup[i] = d * g * s;
}
