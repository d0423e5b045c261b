// LoRA up-projection for few tokens (decode, T ≤ 4): y [M, N] += scale · xa [M, r] · Bᵀ,
// B [N, r] (lora_B). One invocation per output column n: reads row n of B (r values) once and
// the tiny xa for every token.

struct Params {
  M: u32,     // tokens, 1..4
  N: u32,     // out_features
  r: u32,     // rank
  scale: f32, // lora_alpha / r
}

@group(0) @binding(0) var<storage, read_write> y: array<f32>; // [M, N]
@group(0) @binding(1) var<storage, read> xa: array<f32>;      // [M, r]
@group(0) @binding(2) var<uniform> p: Params;
@group(0) @binding(3) var<storage, read> b: array<f32>;       // [N, r] lora_B

override WG: u32 = 256;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let n = gid.x + gid.y * nwg.x * WG;
  if (n >= p.N) { return; }
  for (var m = 0u; m < p.M; m++) {
    var d = 0.0;
    for (var j = 0u; j < p.r; j++) { d = fma(b[n * p.r + j], xa[m * p.r + j], d); }
    y[m * p.N + n] = fma(p.scale, d, y[m * p.N + n]);
  }
}
