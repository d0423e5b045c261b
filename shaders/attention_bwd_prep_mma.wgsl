// Tensor-core attention backward, preparation (plain WGSL; attention.mma.bwd.ts): per row
// (position t, query head h) D_i = rowsum(dout ∘ out) in f32 (the summation order of
// attention_bwd_dq_tiled_pf.wgsl), and per workgroup the largest |dout| of its rows, from which the
// dq/dkv kernels derive ONE power-of-two scale of dout per call (dk and dv sum over rows, so rows
// cannot be scaled separately). Letters: T tokens, H query heads, D head dim (DV = D / 4).
// The maximum is taken on the bits of non-negative floats with an integer atomic: order-free,
// so deterministic.

struct Params { T: u32, H: u32, DV: u32, pad: u32 }

@group(0) @binding(0) var<storage, read_write> di: array<f32>;   // [H, T]
@group(0) @binding(1) var<storage, read_write> dmax: array<u32>; // [workgroups] max |dout| (f32 bits)
@group(0) @binding(2) var<storage, read> dout: array<vec4<f32>>; // [T, H*D]
@group(0) @binding(3) var<storage, read> out: array<vec4<f32>>;  // [T, H*D]
@group(0) @binding(4) var<uniform> p: Params;

override WG: u32 = 64;
var<workgroup> smax: atomic<u32>;

fn dot4(a: vec4<f32>, b: vec4<f32>, acc: f32) -> f32 {
  return fma(a.w, b.w, fma(a.z, b.z, fma(a.y, b.y, fma(a.x, b.x, acc))));
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) tid: u32) {
  let w = wid.x + wid.y * nwg.x;
  let i = w * WG + tid; // row t·H + h
  var m = 0.0;
  if (i < p.T * p.H) {
    let base = i * p.DV;
    var d = 0.0;
    for (var d4 = 0u; d4 < p.DV; d4++) {
      let x = dout[base + d4];
      d = dot4(x, out[base + d4], d);
      let a = abs(x);
      m = max(m, max(max(a.x, a.y), max(a.z, a.w)));
    }
    di[(i % p.H) * p.T + i / p.H] = d;
  }
  atomicMax(&smax, bitcast<u32>(m));
  workgroupBarrier();
  if (tid == 0u) { dmax[w] = atomicLoad(&smax); }
}
