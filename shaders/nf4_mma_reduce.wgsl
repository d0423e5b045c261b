// Split-K reduction for the tensor-core matmuls (nf4_mma_core.wgsl with S > 1 splits):
//   O [M, ldo] at column o0 (+)= Σ_{z = 0..S-1} P[z, M, NO], summed in increasing z for every
// element (a fixed order: results do not depend on scheduling). One invocation per element.
//   P [S, M, NO] f32 (partials, already unscaled), O [M, ldo] f32.

struct Params {
  M: u32,   // rows
  NO: u32,  // columns of the partials
  S: u32,   // splits
  acc: u32, // 1: O += Σ, 0: O = Σ
  ldo: u32, // row stride of O
  o0: u32,  // first column of O written
}

@group(0) @binding(0) var<storage, read_write> O: array<f32>; // [M, ldo]
@group(0) @binding(1) var<storage, read> P: array<f32>;       // [S, M, NO]
@group(0) @binding(2) var<uniform> p: Params;

override WG: u32 = 256;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = gid.y * nwg.x * WG + gid.x; // grid1d folds workgroups into y
  let n = p.M * p.NO;
  if (i >= n) { return; }
  var s = 0.0;
  for (var z = 0u; z < p.S; z++) { s += P[z * n + i]; }
  let idx = (i / p.NO) * p.ldo + p.o0 + i % p.NO;
  if (p.acc != 0u) { O[idx] = O[idx] + s; } else { O[idx] = s; }
}
