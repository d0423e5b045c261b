// f32 FMA peak microbenchmark: each invocation runs 16 independent FMA chains for `iters`
// rounds (2 FLOPs per FMA) and writes one value so the compiler keeps the work.

struct Params { iters: u32, seed: f32 }

@group(0) @binding(0) var<storage, read_write> out: array<f32>; // [invocations]
@group(0) @binding(1) var<uniform> p: Params;

override WG: u32 = 256;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = gid.x + gid.y * nwg.x * WG;
  let b = p.seed * f32(i & 7u);
  var a0 = vec4<f32>(b, b + 1.0, b + 2.0, b + 3.0);
  var a1 = a0 + 0.5;
  var a2 = a0 + 0.25;
  var a3 = a0 + 0.125;
  let m = vec4<f32>(0.9999);
  let c = vec4<f32>(0.0001);
  for (var k = 0u; k < p.iters; k++) {
    a0 = fma(a0, m, c); a1 = fma(a1, m, c); a2 = fma(a2, m, c); a3 = fma(a3, m, c);
    a0 = fma(a0, m, c); a1 = fma(a1, m, c); a2 = fma(a2, m, c); a3 = fma(a3, m, c);
  }
  let s = a0 + a1 + a2 + a3;
  out[i] = s.x + s.y + s.z + s.w;
}
