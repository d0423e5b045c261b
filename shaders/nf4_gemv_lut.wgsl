// The decode GEMVs' default code table (v2 nf4_gemv_v2.wgsl, v3 nf4_gemv_v3.wgsl), appended after
// nf4_gemv_common.wgsl (NF4_BITS); the kernel defines `WG` (invocations per workgroup), calls
// lut_init(t) and a workgroupBarrier before the first dot8.
// lut[c·32 + b] = NF4[c]: the 16 codes replicated over the 32 shared-memory banks; invocation
// bank lb = t mod 32 reads only bank lb, whatever the codes (no conflicts); indices formed as
// ((w >> s) & 0x1e0) | lb = code · 32 + lb.
var<workgroup> lut: array<f32, 512>; // [16 codes][32 banks]

fn lut_init(t: u32) { for (var i = t; i < 512u; i += WG) { lut[i] = bitcast<f32>(NF4_BITS[i >> 5u]); } }

// The dot of the 8 codes of word w (byte i → elements 2i (high nibble), 2i+1 (low)) with x0, x1.
fn dot8(w: u32, lb: u32, x0: vec4<f32>, x1: vec4<f32>) -> f32 {
  let a = vec4<f32>(lut[((w << 1u) & 0x1e0u) | lb], lut[((w << 5u) & 0x1e0u) | lb],
                    lut[((w >> 7u) & 0x1e0u) | lb], lut[((w >> 3u) & 0x1e0u) | lb]);
  let b = vec4<f32>(lut[((w >> 15u) & 0x1e0u) | lb], lut[((w >> 11u) & 0x1e0u) | lb],
                    lut[((w >> 23u) & 0x1e0u) | lb], lut[((w >> 19u) & 0x1e0u) | lb]);
  return dot(a, x0) + dot(b, x1);
}
