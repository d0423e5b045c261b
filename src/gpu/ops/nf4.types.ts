// Host-side NF4 weights in the bitsandbytes layout (shared by the quantizer, the GPU upload,
// the bnb-4bit checkpoint importer/exporter). A weight W [rows=out, cols=in] is flattened
// row-major to n = rows·cols values, cut into blocks of 64 (the last block may be partial),
// each block scaled by its absmax and each value mapped to the nearest of the 16 NF4 codes.

/** bitsandbytes' 16 NF4 code values (the `quant_map` of a bnb-4bit checkpoint). */
export const NF4_CODE = Float32Array.from([
  -1.0, -0.6961928009986877, -0.5250730514526367, -0.39491748809814453,
  -0.28444138169288635, -0.18477343022823334, -0.09105003625154495, 0.0,
  0.07958029955625534, 0.16093020141124725, 0.24611230194568634, 0.33791524171829224,
  0.44070982933044434, 0.5626170039176941, 0.7229568362236023, 1.0,
]);

export const NF4_BLOCK = 64;
export const NESTED_BLOCK = 256;

/** Double quantization of absmax: 8-bit codes, blocks of 256, plus a global offset. */
export interface Nf4DoubleQuant {
  codes: Uint8Array; // [nBlocks] index into quantMap
  nestedAbsmax: Float32Array; // [ceil(nBlocks / 256)]
  quantMap: Float32Array; // [256] bitsandbytes' signed dynamic map
  offset: number; // mean of the absmax values, subtracted before quantizing
}

export interface Nf4Host {
  rows: number; // out features
  cols: number; // in features
  packed: Uint8Array; // [ceil(n / 2)] two codes per byte, high nibble = even element
  /** Per-block absmax: plain f32, or double-quantized. */
  absmax: Float32Array | Nf4DoubleQuant;
}
