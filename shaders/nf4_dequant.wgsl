// NF4 → f32 dequantization of one row chunk: out[e] = code(e) · absmax((ebase + e) / 64)
// (nf4_common.wgsl is appended). One invocation per packed word (8 values), any K.

struct Params {
  n: u32,     // values in this chunk
  ebase: u32, // flat index of the chunk's first value in the whole weight
  dq: u32,    // 1: double-quantized absmax
}

@group(0) @binding(0) var<storage, read_write> out: array<f32>; // [n]
@group(0) @binding(1) var<uniform> p: Params;
const WB = 2u; // weight bindings 2..5 (nf4_common.wgsl, appended)

override WG: u32 = 256;

@compute @workgroup_size(WG)
fn main(@builtin(local_invocation_index) t: u32, @builtin(workgroup_id) wid: vec3<u32>,
        @builtin(num_workgroups) nwg: vec3<u32>) {
  init_lut(t);
  workgroupBarrier();
  let w = (wid.x + wid.y * nwg.x) * WG + t;
  let e0 = w * 8u;
  if (e0 >= p.n) { return; }
  let word = packed[w];
  let dq = p.dq != 0u;
  for (var j = 0u; j < 8u; j++) {
    let e = e0 + j;
    if (e < p.n) { out[e] = lut[nibble(word, j)] * block_scale((p.ebase + e) >> 6u, dq); }
  }
}
