// Fixed-order sum of split partials (LoRA training GEMMs, lora_down.wgsl / lora_tred.wgsl):
// out[i] = alpha · Σ_z part[z·n + i] (+ out[i] when accumulate), z = 0..splits-1 in order.
// Dimension letters: n outputs, S splits.

struct Params { n: u32, splits: u32, alpha: f32, accumulate: u32 }

@group(0) @binding(0) var<storage, read_write> out: array<f32>; // [n]
@group(0) @binding(1) var<storage, read> part: array<f32>;      // [S, n]
@group(0) @binding(2) var<uniform> p: Params;

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = gid.x + gid.y * nwg.x * 256u;
  if (i >= p.n) { return; }
  var s = 0.0;
  for (var z = 0u; z < p.splits; z++) { s += part[z * p.n + i]; }
  var v = p.alpha * s;
  if (p.accumulate != 0u) { v += out[i]; }
  out[i] = v;
}
