// 16-bit (bf16/f16) tile loader for nf4_mma_core.wgsl (w16_common.wgsl follows): converts the
// BK×BN tile of B = Wᵀ (forward) or W (backward) to f16 in workgroup memory Bs, zero outside W,
// after multiplying by the weight's power-of-two scale ws = 2^(14 − e), max |W| = f·2^e with
// f ∈ [0.5, 1) (peak from w16_mma_peak.wgsl, computed once per weight). The scaled peak lies in
// [2^13, 2^14): bf16 values above f16's range (65504) cannot overflow, and every bf16 value
// within 2^-27 of the peak is an f16 normal after scaling, so bf16 → f16 is EXACT there (bf16's
// 8-bit significand fits f16's 11). The epilogue multiplies by b_inv_scale() = 1/ws (exact).
// Layout of Bs (LDB from the core): forward Bs[c·LDB + r], backward Bs[r·LDB + c].
// Code order: consts + nf4_mma_core.wgsl + w16_mma_load.wgsl + w16_common.wgsl.

const WB = 4u; // weight binding after O, A, params, sc

@group(0) @binding(5) var<storage, read> wpeak: array<u32>; // [1] f32 bits of max |W| (≥ 0)

var<private> wsc: f32;  // ws
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

fn b_inv_scale() -> f32 {
  return winvs;
}

fn load_b(t: u32, r0: u32, c0: u32) {
  let is_f16 = p.wflags != 0u;
  if (ALIGNED) {
    if (BWD) {
      // B(r, c) = W[r0 + r, c0 + c]: a tile row is BN/2 words of one W row.
      let wpr = BN / 2u;
      for (var i = t; i < BK * wpr; i += WG) {
        let rr = i / wpr;
        let wc = i % wpr;
        let n = r0 + rr;
        let k = c0 + wc * 2u;
        var v = vec2<f32>(0.0);
        if (n < p.wrows && k < p.wk) { v = pair_to_f32(wdata[(n * p.wk + k) >> 1u], is_f16) * wsc; }
        let dst = rr * LDB + wc * 2u;
        Bs[dst] = f16(v.x);
        Bs[dst + 1u] = f16(v.y);
      }
    } else {
      // B(r, c) = W[c0 + c, r0 + r]: BK/2 words of W row c0 + c fill column c of the tile.
      let wpr = BK / 2u;
      for (var i = t; i < BN * wpr; i += WG) {
        let cc = i / wpr;
        let wr = i % wpr;
        let n = c0 + cc;
        let k = r0 + wr * 2u;
        var v = vec2<f32>(0.0);
        if (n < p.wrows && k < p.wk) { v = pair_to_f32(wdata[(n * p.wk + k) >> 1u], is_f16) * wsc; }
        let dst = cc * LDB + wr * 2u;
        Bs[dst] = f16(v.x);
        Bs[dst + 1u] = f16(v.y);
      }
    }
  } else {
    // Odd K: element by element (a word may straddle two W rows).
    for (var i = t; i < BK * BN; i += WG) {
      var n: u32;
      var k: u32;
      var dst: u32;
      if (BWD) {
        let rr = i / BN;
        let cc = i % BN;
        n = r0 + rr; k = c0 + cc; dst = rr * LDB + cc;
      } else {
        let cc = i / BK;
        let rr = i % BK;
        n = c0 + cc; k = r0 + rr; dst = cc * LDB + rr;
      }
      var v = 0.0;
      if (n < p.wrows && k < p.wk) { v = w16_elem(n * p.wk + k, is_f16) * wsc; }
      Bs[dst] = f16(v);
    }
  }
}
