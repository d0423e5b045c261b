// 16-bit tile loader for nf4_gemm_core.wgsl: converts the BK×BN tile of B = Wᵀ (forward) or
// W (backward) to f32 in workgroup memory Bs, zero outside W.
// Code order: w16_gemm_load.wgsl (defines WB) + w16_common.wgsl + nf4_gemm_core.wgsl.

const WB = 3u; // weight binding after O, A, params

fn init_b(t: u32) {}

fn load_b(t: u32, r0: u32, c0: u32) {
  let f16 = p.wflags != 0u;
  if (ALIGNED) {
    if (BWD) {
      // B(r, c) = W[r0 + r, c0 + c]: BN/2 words per tile row
      let wpr = BN / 2u;
      for (var i = t; i < BK * wpr; i += 256u) {
        let rr = i / wpr;
        let wc = i % wpr;
        let n = r0 + rr;
        let k = c0 + wc * 2u;
        var v = vec2<f32>(0.0);
        if (n < p.wrows && k < p.wk) { v = pair_to_f32(wdata[(n * p.wk + k) >> 1u], f16); }
        Bs[rr * (BN + 1u) + wc * 2u] = v.x;
        Bs[rr * (BN + 1u) + wc * 2u + 1u] = v.y;
      }
    } else {
      // B(r, c) = W[c0 + c, r0 + r]: BK/2 words of W row c0 + c down tile column c
      let wpr = BK / 2u;
      for (var i = t; i < BN * wpr; i += 256u) {
        let cc = i / wpr;
        let wr = i % wpr;
        let n = c0 + cc;
        let k = r0 + wr * 2u;
        var v = vec2<f32>(0.0);
        if (n < p.wrows && k < p.wk) { v = pair_to_f32(wdata[(n * p.wk + k) >> 1u], f16); }
        Bs[(wr * 2u) * (BN + 1u) + cc] = v.x;
        Bs[(wr * 2u + 1u) * (BN + 1u) + cc] = v.y;
      }
    }
  } else {
    for (var i = t; i < BK * BN; i += 256u) {
      var n: u32;
      var k: u32;
      var dst: u32;
      if (BWD) {
        let rr = i / BN;
        let cc = i % BN;
        n = r0 + rr; k = c0 + cc; dst = rr * (BN + 1u) + cc;
      } else {
        let cc = i / BK;
        let rr = i % BK;
        n = c0 + cc; k = r0 + rr; dst = rr * (BN + 1u) + cc;
      }
      var v = 0.0;
      if (n < p.wrows && k < p.wk) { v = w16_elem(n * p.wk + k, f16); }
      Bs[dst] = v;
    }
  }
}
