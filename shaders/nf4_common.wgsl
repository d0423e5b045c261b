// NF4 weight bindings and decoding shared by the NF4 kernels (concatenated with nf4_gemm_load.wgsl,
// nf4_gemv.wgsl, nf4_dequant.wgsl). One weight W [rows, K] in bitsandbytes layout: element e
// (flat, row-major) is nibble e of `packed` (even e = high nibble of its byte), scaled by the
// absmax of block (ebase + e) / 64. A weight larger than the binding limit is bound one row chunk
// at a time (packed at a byte offset); absmax/qcodes are bound whole and indexed globally.

// The including kernel defines `const WB: u32` = the first binding slot of the weight (WebGPU
// binds by position in this project, so every kernel's bindings are contiguous from 0).
@group(0) @binding(WB) var<storage, read> packed: array<u32>;      // [ceil(chunkRows·K / 8)] NF4 codes
@group(0) @binding(WB + 1u) var<storage, read> absmax: array<f32>; // [nb] absmax, or [ceil(nb/256)] nested absmax (dq)
@group(0) @binding(WB + 2u) var<storage, read> qcodes: array<u32>; // dq: [ceil(nb/4)] 8-bit absmax codes; else a dummy
@group(0) @binding(WB + 3u) var<storage, read> qmeta: array<f32>;  // dq: [257] quant map, offset; else a dummy

// The 16 NF4 code values (bitsandbytes' quant_map) as exact f32 bits.
const NF4_BITS = array<u32, 16>(
  0xbf800000u, 0xbf3239b1u, 0xbf066b30u, 0xbeca32a0u, 0xbe91a24du, 0xbe3d353fu, 0xbdba7871u, 0x0u,
  0x3da2faffu, 0x3e24cae3u, 0x3e7c04ddu, 0x3ead033au, 0x3ee1a4b8u, 0x3f1007abu, 0x3f3913b3u,
  0x3f800000u);

var<workgroup> lut: array<f32, 16>; // NF4 code book in workgroup memory (divergent lookups)

fn init_lut(t: u32) {
  if (t < 16u) { lut[t] = bitcast<f32>(NF4_BITS[t]); }
}

// absmax of global block b; double quantization decodes quant_map[code] · nested + offset.
fn block_scale(b: u32, dq: bool) -> f32 {
  if (dq) {
    let c = (qcodes[b >> 2u] >> ((b & 3u) * 8u)) & 0xffu;
    return qmeta[c] * absmax[b >> 8u] + qmeta[256];
  }
  return absmax[b];
}

// Code j (0..7) of a packed word: byte j/2, high nibble for even j.
fn nibble(word: u32, j: u32) -> u32 {
  return (word >> ((j >> 1u) * 8u + select(4u, 0u, (j & 1u) == 1u))) & 15u;
}

// Dequantized W element at chunk-local flat index e (any alignment).
fn w_elem(e: u32, ebase: u32, dq: bool) -> f32 {
  return lut[nibble(packed[e >> 3u], e & 7u)] * block_scale((ebase + e) >> 6u, dq);
}
