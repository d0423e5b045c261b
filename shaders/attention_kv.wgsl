// KV-cache append: copy B new rows of k and v into rows startPos .. startPos+B-1 of the caches.
// Letters: B new tokens, C = Hkv*D columns per row, maxT cache rows.

struct Params { n: u32, offset: u32 } // n = B*C values, offset = startPos*C

@group(0) @binding(0) var<storage, read_write> kCache: array<f32>; // [maxT, C]
@group(0) @binding(1) var<storage, read_write> vCache: array<f32>; // [maxT, C]
@group(0) @binding(2) var<storage, read> k: array<f32>;            // [B, C]
@group(0) @binding(3) var<storage, read> v: array<f32>;            // [B, C]
@group(0) @binding(4) var<uniform> p: Params;

override WG: u32 = 256;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = gid.x + gid.y * nwg.x * WG;
  if (i >= p.n) { return; }
  kCache[p.offset + i] = k[i];
  vCache[p.offset + i] = v[i];
}
