// Shared by the decode NF4 GEMVs v1 (nf4_gemv_vec.wgsl), v2 (nf4_gemv_v2.wgsl) and v3
// (nf4_gemv_v3.wgsl), appended to each kernel by its wrapper (nf4.gemv.ts, nf4.gemv.v3.ts):
//   y [M, N] (+)= x [M, K] · Wᵀ (+ scale · xa [M, r] · Bᵀ with LORA), W [N, K] NF4.
// Here: the Params uniform, every binding but `packed`, the NF4 code values, the block-scale load
// and decode of v2 / v3, and the write of y with the LoRA epilogue.
// The including kernel declares `override LORA: bool`, `override DQ: bool` and binding 3:
//   @group(0) @binding(3) var<storage, read> packed: array<…>; // [N·K/8] u32 words of NF4 codes
// (its element type — u32, vec2<u32> or vec4<u32> — is the kernel's choice of load width).

struct Params {
  M: u32,     // tokens, == MM
  N: u32,     // W rows in this dispatch (row chunk)
  K: u32,     // W columns, multiple of 32 (v3: of 64)
  acc: u32,   // 1: y += x·Wᵀ
  ldy: u32,   // row stride of y
  o0: u32,    // first column of y written (chunk's first W row)
  ebase: u32, // flat index of the chunk's first element in the whole weight (v3: multiple of 64)
  dq: u32,    // 1: double-quantized absmax (the DQ constant decides; kept for layout)
  r: u32,     // LoRA rank (LORA)
  scale: f32, // LoRA scale (LORA)
}

@group(0) @binding(0) var<storage, read_write> y: array<f32>;     // [M, ldy]
@group(0) @binding(1) var<storage, read> x: array<vec4<f32>>;     // [M, K/4]
@group(0) @binding(2) var<uniform> p: Params;
@group(0) @binding(4) var<storage, read> absmax: array<f32>;      // [nb] or nested [ceil(nb/256)] (dq)
@group(0) @binding(5) var<storage, read> qcodes: array<u32>;      // dq: [ceil(nb/4)] 8-bit codes; else dummy
@group(0) @binding(6) var<storage, read> qmeta: array<f32>;       // dq: [257] quant map, offset; else dummy
@group(0) @binding(7) var<storage, read> lora_b: array<f32>;      // LORA: [ldy, r] lora_B; else dummy
@group(0) @binding(8) var<storage, read> xa: array<f32>;          // LORA: [M, r]; else dummy

// The 16 NF4 code values (bitsandbytes' quant_map) as exact f32 bits.
const NF4_BITS = array<u32, 16>(
  0xbf800000u, 0xbf3239b1u, 0xbf066b30u, 0xbeca32a0u, 0xbe91a24du, 0xbe3d353fu, 0xbdba7871u, 0x0u,
  0x3da2faffu, 0x3e24cae3u, 0x3e7c04ddu, 0x3ead033au, 0x3ee1a4b8u, 0x3f1007abu, 0x3f3913b3u,
  0x3f800000u);

// The raw scale word of block b (64 elements): the u32 holding its 8-bit code (DQ) or the f32
// absmax bits — loaded with the codes, decoded later by scale_of (v2, v3).
fn scale_raw(b: u32) -> u32 {
  if (DQ) { return qcodes[b >> 2u]; }
  return bitcast<u32>(absmax[b]);
}
// The absmax of block b from its raw word; DQ: quant_map[code] · nested absmax + offset (q256 =
// qmeta[256], loaded once per invocation).
fn scale_of(raw: u32, b: u32, q256: f32) -> f32 {
  if (DQ) { return fma(qmeta[(raw >> ((b & 3u) * 8u)) & 0xffu], absmax[b >> 8u], q256); }
  return bitcast<f32>(raw);
}

// y[m, o0 + row] (+)= v (+ LoRA term scale · Σ_j B[o0 + row, j] · xa[m, j]); rows past the chunk
// are skipped.
fn emit(row: u32, m: u32, v0: f32) {
  if (row >= p.N) { return; }
  var v = v0;
  if (LORA) {
    var d = 0.0;
    let n = p.o0 + row;
    for (var j = 0u; j < p.r; j++) { d = fma(lora_b[n * p.r + j], xa[m * p.r + j], d); }
    v = fma(p.scale, d, v);
  }
  let idx = m * p.ldy + p.o0 + row;
  if (p.acc != 0u) { y[idx] = y[idx] + v; } else { y[idx] = v; }
}
