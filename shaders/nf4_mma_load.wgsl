// NF4 tile loader for nf4_mma_core.wgsl (nf4_common.wgsl follows): dequantizes the BK×BN tile
// of B = Wᵀ (forward) or W (backward) into workgroup memory Bs as f16, zero outside W.
// Layout of Bs (LDB from the core): forward Bs[c·LDB + r] (column-major: a W row runs down the
// reduction), backward Bs[r·LDB + c] (row-major: a W row runs along the output columns).
// Code order: consts + nf4_mma_core.wgsl + nf4_mma_load.wgsl + nf4_common.wgsl.

const WB = 4u; // weight bindings 4..7 after O, A, params, sc

fn init_b(t: u32) {
  init_lut(t);
}

// The NF4 tile is not scaled.
fn b_inv_scale() -> f32 {
  return 1.0;
}

fn load_b(t: u32, r0: u32, c0: u32) {
  let dq = p.wflags != 0u;
  if (ALIGNED) {
    if (BWD) {
      // B(r, c) = W[r0 + r, c0 + c]: a tile row is BN/8 consecutive words of one W row.
      let wpr = BN / 8u;
      for (var i = t; i < BK * wpr; i += WG) {
        let rr = i / wpr;
        let wc = i % wpr;
        let n = r0 + rr;
        let k = c0 + wc * 8u;
        let dst = rr * LDB + wc * 8u;
        if (n < p.wrows && k < p.wk) {
          let e = n * p.wk + k;
          let word = packed[e >> 3u];
          let s = block_scale((p.ebase + e) >> 6u, dq);
          for (var j = 0u; j < 8u; j++) { Bs[dst + j] = f16(lut[nibble(word, j)] * s); }
        } else {
          for (var j = 0u; j < 8u; j++) { Bs[dst + j] = 0.0h; }
        }
      }
    } else {
      // B(r, c) = W[c0 + c, r0 + r]: BK/8 words of W row c0 + c fill column c of the tile.
      let wpr = BK / 8u;
      for (var i = t; i < BN * wpr; i += WG) {
        let cc = i / wpr;
        let wr = i % wpr;
        let n = c0 + cc;
        let k = r0 + wr * 8u;
        let dst = cc * LDB + wr * 8u;
        if (n < p.wrows && k < p.wk) {
          let e = n * p.wk + k;
          let word = packed[e >> 3u];
          let s = block_scale((p.ebase + e) >> 6u, dq);
          for (var j = 0u; j < 8u; j++) { Bs[dst + j] = f16(lut[nibble(word, j)] * s); }
        } else {
          for (var j = 0u; j < 8u; j++) { Bs[dst + j] = 0.0h; }
        }
      }
    }
  } else {
    // Any K: element by element (blocks and words may straddle W rows).
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
      if (n < p.wrows && k < p.wk) { v = w_elem(n * p.wk + k, p.ebase, dq); }
      Bs[dst] = f16(v);
    }
  }
}
