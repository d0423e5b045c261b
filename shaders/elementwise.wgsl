// Small in-place elementwise helpers over (n,) f32. Entry points:
//   fill:         dst[i] = value
//   scale:        dst[i] *= value
//   add_in_place: dst[i] += value · src[i]
// The uniform sits at binding 1 so that every entry point uses contiguous bindings (layout 'auto').

struct Params { n: u32, value: f32 }

@group(0) @binding(0) var<storage, read_write> dst: array<f32>; // (n,)
@group(0) @binding(1) var<uniform> p: Params;
@group(0) @binding(2) var<storage, read> src: array<f32>;       // (n,) add_in_place only

override WG: u32 = 256;

fn index(gid: vec3<u32>, nwg: vec3<u32>) -> u32 { return gid.x + gid.y * nwg.x * WG; }

@compute @workgroup_size(WG)
fn fill(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = index(gid, nwg);
  if (i < p.n) { dst[i] = p.value; }
}

@compute @workgroup_size(WG)
fn scale(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = index(gid, nwg);
  if (i < p.n) { dst[i] = dst[i] * p.value; }
}

@compute @workgroup_size(WG)
fn add_in_place(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = index(gid, nwg);
  if (i < p.n) { dst[i] = fma(p.value, src[i], dst[i]); }
}
