// RMSNorm as HF LlamaRMSNorm (weight frozen): out = x · rstd · w, rstd = 1/sqrt(mean(x²) + eps).
// Dimension letters: T rows (tokens), C channels. One workgroup per row; each thread walks the
// row with stride WG, then wg_sum (appended by src/gpu/ops/reduce.ts: subgroup operations, or a
// tree in workgroup memory without subgroups; f32 throughout).
// Entry points (bindings shared so every entry point sees one layout):
//   forward:  out, rstd written
//   backward: dx (+)= rstd·(w·dout) − x·rstd³·Σ(w·dout·x)/C

struct Params { T: u32, C: u32, eps: f32, accumulate: u32 }

@group(0) @binding(0) var<storage, read_write> out: array<f32>;  // forward: out [T, C]; backward: dx [T, C]
@group(0) @binding(1) var<storage, read_write> rstd: array<f32>; // [T] forward writes, backward reads
@group(0) @binding(2) var<storage, read> x: array<f32>;          // [T, C]
@group(0) @binding(3) var<storage, read> w: array<f32>;          // [C]
@group(0) @binding(4) var<uniform> p: Params;
@group(0) @binding(5) var<storage, read> dout: array<f32>;       // [T, C] backward only

override WG: u32 = 256; // power of two

@compute @workgroup_size(WG)
fn forward(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, ln: Lane) {
  let lid = ln.lid;
  let row = wid.x + wid.y * nwg.x;
  if (row >= p.T) { return; }
  let base = row * p.C;
  var ss = 0.0;
  for (var c = lid; c < p.C; c += WG) { let v = x[base + c]; ss = fma(v, v, ss); }
  let total = wg_sum(ss, ln);
  let r = 1.0 / sqrt(total / f32(p.C) + p.eps);
  if (lid == 0u) { rstd[row] = r; }
  for (var c = lid; c < p.C; c += WG) { out[base + c] = (x[base + c] * r) * w[c]; }
}

@compute @workgroup_size(WG)
fn backward(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, ln: Lane) {
  let lid = ln.lid;
  let row = wid.x + wid.y * nwg.x;
  if (row >= p.T) { return; }
  let base = row * p.C;
  var s = 0.0;
  for (var c = lid; c < p.C; c += WG) { s = fma(w[c] * dout[base + c], x[base + c], s); }
  let total = wg_sum(s, ln);
  let r = rstd[row];
  let k = r * r * r * total / f32(p.C);
  for (var c = lid; c < p.C; c += WG) {
    var v = r * w[c] * dout[base + c] - k * x[base + c];
    if (p.accumulate != 0u) { v += out[base + c]; }
    out[base + c] = v;
  }
}
