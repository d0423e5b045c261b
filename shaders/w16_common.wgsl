// 16-bit weight binding and decoding shared by the w16 kernels (concatenated with
// w16_gemm_load.wgsl, w16_gemv.wgsl, w16_embed.wgsl). W [rows, K] holds bf16 or f16 bits,
// two per u32 (element 2i in the low half, as a little-endian u16 array). No shader-f16 needed:
// bf16 is the high half of an f32, f16 goes through unpack2x16float.
// The including kernel defines `const WB: u32`, the binding slot of the weight.

@group(0) @binding(WB) var<storage, read> wdata: array<u32>; // [ceil(chunkRows·K / 2)] 16-bit pairs

fn half_to_f32(h: u32, is_f16: bool) -> f32 {
  if (is_f16) { return unpack2x16float(h).x; }
  return bitcast<f32>(h << 16u);
}

// Both values of a word: (element 2i, element 2i+1).
fn pair_to_f32(word: u32, is_f16: bool) -> vec2<f32> {
  if (is_f16) { return unpack2x16float(word); }
  return vec2<f32>(bitcast<f32>(word << 16u), bitcast<f32>(word & 0xffff0000u));
}

// W element at chunk-local flat index e.
fn w16_elem(e: u32, is_f16: bool) -> f32 {
  return half_to_f32((wdata[e >> 1u] >> ((e & 1u) * 16u)) & 0xffffu, is_f16);
}
