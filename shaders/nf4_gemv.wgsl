// NF4 GEMV for decode (M ≤ 4 tokens): y [M, N] (+)= x [M, K] · Wᵀ, W [N, K] NF4
// (nf4_common.wgsl is appended). Bandwidth-bound on W: each W row is read once by TPR
// invocations striding its words; the M partial dot products are reduced in workgroup memory.

struct Params {
  M: u32,     // tokens, 1..4
  N: u32,     // W rows in this dispatch (row chunk)
  K: u32,     // W columns
  acc: u32,   // 1: y += x·Wᵀ
  ldy: u32,   // row stride of y
  o0: u32,    // first column of y written (chunk's first W row)
  ebase: u32, // flat index of the chunk's first element in the whole weight
  dq: u32,    // 1: double-quantized absmax
}

@group(0) @binding(0) var<storage, read_write> y: array<f32>; // [M, ldy]
@group(0) @binding(1) var<storage, read> x: array<f32>;       // [M, K]
@group(0) @binding(2) var<uniform> p: Params;
const WB = 3u; // weight bindings 3..6 (nf4_common.wgsl, appended)

override WG: u32 = 256;
override TPR: u32 = 64; // invocations per W row (power of 2 dividing WG)
override ALIGNED: bool = true; // K % 8 == 0

var<workgroup> red: array<f32, 4u * WG>; // red[m·WG + t]

@compute @workgroup_size(WG)
fn main(@builtin(local_invocation_index) t: u32, @builtin(workgroup_id) wid: vec3<u32>,
        @builtin(num_workgroups) nwg: vec3<u32>) {
  init_lut(t);
  workgroupBarrier();
  let row = (wid.x + wid.y * nwg.x) * (WG / TPR) + t / TPR;
  let lane = t % TPR;
  let dq = p.dq != 0u;
  var s = array<f32, 4>(0.0, 0.0, 0.0, 0.0);
  if (row < p.N) {
    if (ALIGNED) {
      for (var w = lane; w < p.K / 8u; w += TPR) {
        let e = row * p.K + w * 8u;
        let word = packed[e >> 3u];
        let sc = block_scale((p.ebase + e) >> 6u, dq);
        var v: array<f32, 8>;
        for (var j = 0u; j < 8u; j++) { v[j] = lut[nibble(word, j)]; }
        for (var m = 0u; m < 4u; m++) {
          if (m < p.M) {
            let xb = m * p.K + w * 8u;
            var d = 0.0;
            for (var j = 0u; j < 8u; j++) { d = fma(v[j], x[xb + j], d); }
            s[m] = fma(d, sc, s[m]);
          }
        }
      }
    } else {
      for (var k = lane; k < p.K; k += TPR) {
        let v = w_elem(row * p.K + k, p.ebase, dq);
        for (var m = 0u; m < 4u; m++) {
          if (m < p.M) { s[m] = fma(v, x[m * p.K + k], s[m]); }
        }
      }
    }
  }
  for (var m = 0u; m < 4u; m++) { red[m * WG + t] = s[m]; }
  for (var h = TPR / 2u; h > 0u; h >>= 1u) {
    workgroupBarrier();
    if (lane < h) {
      for (var m = 0u; m < 4u; m++) { red[m * WG + t] += red[m * WG + t + h]; }
    }
  }
  if (lane == 0u && row < p.N) {
    for (var m = 0u; m < 4u; m++) {
      if (m < p.M) {
        let idx = m * p.ldy + p.o0 + row;
        if (p.acc != 0u) { y[idx] = y[idx] + red[m * WG + t]; } else { y[idx] = red[m * WG + t]; }
      }
    }
  }
}
