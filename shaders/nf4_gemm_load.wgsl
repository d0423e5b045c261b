// NF4 tile loader for nf4_gemm_core.wgsl (nf4_common.wgsl is prepended): dequantizes the
// BK×BN tile of B = Wᵀ (forward) or W (backward) into workgroup memory Bs, zero outside W.
// Code order: nf4_gemm_load.wgsl (defines WB) + nf4_common.wgsl + nf4_gemm_core.wgsl.

const WB = 3u; // weight bindings 3..6 after O, A, params

fn init_b(t: u32) {
  init_lut(t);
  workgroupBarrier();
}

fn load_b(t: u32, r0: u32, c0: u32) {
  let dq = p.wflags != 0u;
  if (ALIGNED) {
    if (BWD) {
      // B(r, c) = W[r0 + r, c0 + c]: a tile row is BN/8 consecutive words of one W row.
      let wpr = BN / 8u;
      for (var i = t; i < BK * wpr; i += 256u) {
        let rr = i / wpr;
        let wc = i % wpr;
        let n = r0 + rr;
        let k = c0 + wc * 8u;
        let dst = rr * (BN + 1u) + wc * 8u;
        if (n < p.wrows && k < p.wk) {
          let e = n * p.wk + k;
          let word = packed[e >> 3u];
          let s = block_scale((p.ebase + e) >> 6u, dq);
          for (var j = 0u; j < 8u; j++) { Bs[dst + j] = lut[nibble(word, j)] * s; }
        } else {
          for (var j = 0u; j < 8u; j++) { Bs[dst + j] = 0.0; }
        }
      }
    } else {
      // B(r, c) = W[c0 + c, r0 + r]: BK/8 words of W row c0 + c go down tile column c.
      let wpr = BK / 8u;
      for (var i = t; i < BN * wpr; i += 256u) {
        let cc = i / wpr;
        let wr = i % wpr;
        let n = c0 + cc;
        let k = r0 + wr * 8u;
        if (n < p.wrows && k < p.wk) {
          let e = n * p.wk + k;
          let word = packed[e >> 3u];
          let s = block_scale((p.ebase + e) >> 6u, dq);
          for (var j = 0u; j < 8u; j++) { Bs[(wr * 8u + j) * (BN + 1u) + cc] = lut[nibble(word, j)] * s; }
        } else {
          for (var j = 0u; j < 8u; j++) { Bs[(wr * 8u + j) * (BN + 1u) + cc] = 0.0; }
        }
      }
    }
  } else {
    // Any K: element by element (blocks and words may straddle W rows).
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
      if (n < p.wrows && k < p.wk) { v = w_elem(n * p.wk + k, p.ebase, dq); }
      Bs[dst] = v;
    }
  }
}
