// 16-bit (bf16/f16) weight loader of the v3 tensor-core kernel (w16_mma_v3.wgsl; K % 8 == 0):
// a piece is one vec4<u32> of W = 8 consecutive elements of one W row (16-byte aligned: K % 8 == 0
// and the row chunk starts at a multiple of 128 elements), converted to f32, multiplied by the
// weight's power-of-two scale ws = 2^(14 − e) (max |W| = f·2^e, f ∈ [0.5, 1), peak from
// w16_mma_peak.wgsl) and stored as 8 f16 — the conversion of w16_mma_load.wgsl (exact for bf16
// within 2^-27 of the peak, no overflow), so the staged and v3 kernels see the same operands.
// The epilogue multiplies by 1/ws (exact).
//   forward:  B(r, c) = W[c0 + c, r0 + r] (a piece fills 8 reduction rows of tile column c)
//   backward: B(r, c) = W[r0 + r, c0 + c] (a piece fills 8 columns of tile row r)
// Code order: consts + w16_mma_v3.wgsl + w16_mma_v3_load.wgsl.

alias WStage = vec4<u32>; // 8 bf16/f16 (element 2i in the low half of word i)
const LOADER_WG_BYTES = 0u;

@group(0) @binding(4) var<storage, read> wdata: array<vec4<u32>>; // [chunkRows·K / 8] W chunk
@group(0) @binding(5) var<storage, read> wpeak: array<u32>;       // [1] f32 bits of max |W| (≥ 0)

var<private> wsc: f32;   // ws
var<private> winvs: f32; // 1 / ws

fn init_b(t: u32) {
  let peak = bitcast<f32>(wpeak[0]);
  wsc = 1.0;
  // NaN fails both comparisons; an infinite peak keeps scale 1 (results are inf/NaN anyway)
  if (peak > 0.0 && peak <= 3.4028234e38) {
    wsc = ldexp(1.0, clamp(14 - frexp(peak).exp, -126, 126));
  }
  winvs = 1.0 / wsc;
}

// vec4 q (0 ≤ q < BN·BK/8) of the B tile.
fn fetch_w(q: u32, r0: u32, c0: u32) -> WStage {
  var n: u32;
  var k: u32;
  if (BWD) {
    // tile row q / (BN/8) = W row r0 + ..., columns from (q % (BN/8))·8
    n = r0 + q / (BN / 8u);
    k = c0 + (q % (BN / 8u)) * 8u;
  } else {
    // tile column q / (BK/8) = W row c0 + ..., reduction rows from (q % (BK/8))·8
    n = c0 + q / (BK / 8u);
    k = r0 + (q % (BK / 8u)) * 8u;
  }
  if (n < p.wrows && k < p.wk) { return wdata[(n * p.wk + k) >> 3u]; }
  return vec4<u32>(0u);
}

// Both values of a word as f32: (element 2i, element 2i + 1).
fn pair_f32(word: u32, is_f16: bool) -> vec2<f32> {
  if (is_f16) { return unpack2x16float(word); }
  return vec2<f32>(bitcast<f32>(word << 16u), bitcast<f32>(word & 0xffff0000u));
}

fn store_w(q: u32, w: WStage, buf: u32) {
  var bd: u32;
  if (BWD) {
    bd = buf * BS_LEN + (q / (BN / 8u)) * LDB + (q % (BN / 8u)) * 8u;
  } else {
    bd = buf * BS_LEN + (q / (BK / 8u)) * LDB + (q % (BK / 8u)) * 8u;
  }
  let is_f16 = p.wflags != 0u;
  for (var j = 0u; j < 4u; j++) {
    let v = pair_f32(w[j], is_f16) * wsc;
    Bs[bd + 2u * j] = f16(v.x);
    Bs[bd + 2u * j + 1u] = f16(v.y);
  }
}

fn b_unscale(v: f32) -> f32 {
  return v * winvs;
}
