// max |W| of a 16-bit weight for the tensor-core loader (w16_mma_load.wgsl), as f32 bits:
// non-negative floats order like their u32 bit patterns, so atomicMax over the bits is the max
// (order-independent: deterministic). NaN bit patterns exceed +inf's and end up as the peak
// (the loader then keeps scale 1). peak must start at 0; one dispatch per row chunk.
//   W chunk [n elements] bf16/f16 pairs in u32 (w16_common.wgsl, WB = 1), peak [1] u32.

struct Params {
  n: u32,      // elements in this chunk
  is_f16: u32, // 1 = f16, 0 = bf16
}

const WB = 1u;
@group(0) @binding(0) var<storage, read_write> peak: array<atomic<u32>>; // [1]
@group(0) @binding(2) var<uniform> p: Params;

override WG: u32 = 256;
const PER = 16u; // words per invocation
var<workgroup> red: array<u32, WG>;

// |v| as f32 bits (sign cleared: exact, NaN stays above +inf)
fn abs_bits(v: f32) -> u32 {
  return bitcast<u32>(v) & 0x7fffffffu;
}

@compute @workgroup_size(WG)
fn main(@builtin(local_invocation_index) t: u32, @builtin(workgroup_id) wid: vec3<u32>,
        @builtin(num_workgroups) nwg: vec3<u32>) {
  let g = wid.y * nwg.x + wid.x; // grid1d folds workgroups into y
  let words = (p.n + 1u) / 2u;
  var mx = 0u;
  for (var j = 0u; j < PER; j++) {
    let w = (g * PER + j) * WG + t;
    if (w < words) {
      let v = pair_to_f32(wdata[w], p.is_f16 != 0u);
      mx = max(mx, abs_bits(v.x));
      if (2u * w + 1u < p.n) { mx = max(mx, abs_bits(v.y)); } // not the padding half of an odd chunk
    }
  }
  red[t] = mx;
  workgroupBarrier();
  for (var s = WG / 2u; s > 0u; s >>= 1u) {
    if (t < s) { red[t] = max(red[t], red[t + s]); }
    workgroupBarrier();
  }
  if (t == 0u) { atomicMax(&peak[0], red[0]); }
}
