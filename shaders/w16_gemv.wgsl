// 16-bit GEMV for decode (M ≤ 4 tokens): y [M, N] (+)= x [M, K] · Wᵀ, W [N, K] bf16/f16
// (w16_common.wgsl is appended). Each W row is read once by TPR invocations striding its
// words, 4 words per invocation in flight; the M partial dot products are reduced in workgroup
// memory.

struct Params {
  M: u32,     // tokens, 1..4
  N: u32,     // W rows in this dispatch (row chunk)
  K: u32,     // W columns
  acc: u32,   // 1: y += x·Wᵀ
  ldy: u32,   // row stride of y
  o0: u32,    // first column of y written (chunk's first W row)
  f16: u32,   // 1: f16, 0: bf16
}

@group(0) @binding(0) var<storage, read_write> y: array<f32>; // [M, ldy]
@group(0) @binding(1) var<storage, read> x: array<f32>;       // [M, K]
@group(0) @binding(2) var<uniform> p: Params;
const WB = 3u; // weight binding (w16_common.wgsl, appended)

override WG: u32 = 256;
override TPR: u32 = 64;
override ALIGNED: bool = true; // K % 2 == 0

var<workgroup> red: array<f32, 4u * WG>;

@compute @workgroup_size(WG)
fn main(@builtin(local_invocation_index) t: u32, @builtin(workgroup_id) wid: vec3<u32>,
        @builtin(num_workgroups) nwg: vec3<u32>) {
  let row = (wid.x + wid.y * nwg.x) * (WG / TPR) + t / TPR;
  let lane = t % TPR;
  let f16 = p.f16 != 0u;
  var s = array<f32, 4>(0.0, 0.0, 0.0, 0.0);
  if (row < p.N) {
    if (ALIGNED) {
      let base = (row * p.K) >> 1u;
      let nw = p.K / 2u;
      var w = lane;
      // 4 words per step, all loaded before their FMAs (4 coalesced loads in flight per invocation)
      for (; w + 3u * TPR < nw; w += 4u * TPR) {
        let v = array<vec2<f32>, 4>(pair_to_f32(wdata[base + w], f16), pair_to_f32(wdata[base + w + TPR], f16),
                                    pair_to_f32(wdata[base + w + 2u * TPR], f16), pair_to_f32(wdata[base + w + 3u * TPR], f16));
        for (var m = 0u; m < 4u; m++) {
          if (m < p.M) {
            for (var j = 0u; j < 4u; j++) {
              let xb = m * p.K + (w + j * TPR) * 2u;
              s[m] = fma(v[j].x, x[xb], fma(v[j].y, x[xb + 1u], s[m]));
            }
          }
        }
      }
      for (; w < nw; w += TPR) {
        let v = pair_to_f32(wdata[base + w], f16);
        for (var m = 0u; m < 4u; m++) {
          if (m < p.M) {
            let xb = m * p.K + w * 2u;
            s[m] = fma(v.x, x[xb], fma(v.y, x[xb + 1u], s[m]));
          }
        }
      }
    } else {
      for (var k = lane; k < p.K; k += TPR) {
        let v = w16_elem(row * p.K + k, f16);
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
