// Copy-bandwidth microbenchmark: dst = src as vec4<f32> (16 bytes read + 16 written each).

@group(0) @binding(0) var<storage, read_write> dst: array<vec4<f32>>; // [n4]
@group(0) @binding(1) var<storage, read> src: array<vec4<f32>>;       // [n4]
@group(0) @binding(2) var<uniform> n4: u32;

override WG: u32 = 256;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let total = nwg.x * nwg.y * WG;
  for (var i = gid.x + gid.y * nwg.x * WG; i < n4; i += total) { dst[i] = src[i]; }
}
