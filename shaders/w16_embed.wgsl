// Embedding gather from a 16-bit table: out [T, C] f32 = table[ids[t], :] (w16_common.wgsl is
// appended). The table may be bound one row chunk at a time: a dispatch writes the tokens whose
// id falls in [row0, row0 + rows); the first dispatch also writes zero rows for ids outside [0, V).

struct Params {
  T: u32,     // tokens
  C: u32,     // embedding width
  V: u32,     // vocabulary rows of the whole table
  row0: u32,  // first table row bound in this dispatch
  rows: u32,  // table rows bound
  first: u32, // 1: also zero the rows of invalid ids
  f16: u32,   // 1: f16, 0: bf16
}

@group(0) @binding(0) var<storage, read_write> out: array<f32>; // [T, C]
@group(0) @binding(1) var<storage, read> ids: array<i32>;       // [T]
@group(0) @binding(2) var<uniform> p: Params;
const WB = 3u; // table binding (w16_common.wgsl, appended)

override WG: u32 = 256;

@compute @workgroup_size(WG)
fn main(@builtin(local_invocation_index) li: u32, @builtin(workgroup_id) wid: vec3<u32>,
        @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = (wid.x + wid.y * nwg.x) * WG + li;
  if (i >= p.T * p.C) { return; }
  let t = i / p.C;
  let c = i % p.C;
  let id = ids[t];
  if (id < 0 || u32(id) >= p.V) {
    if (p.first != 0u) { out[i] = 0.0; }
    return;
  }
  let r = u32(id);
  if (r < p.row0 || r >= p.row0 + p.rows) { return; }
  out[i] = w16_elem((r - p.row0) * p.C + c, p.f16 != 0u);
}
