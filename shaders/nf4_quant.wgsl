// NF4 quantization on the GPU, bit-identical to nf4QuantizeRef (src/gpu/ops/nf4.ref.ts, whose
// header gives the bitsandbytes semantics followed). n = rows·cols values, blocks of 64.
// Entry points:
//   quant4     one invocation per output word (8 values); 8 invocations share a block's absmax.
//   dq_mean    one workgroup of 256: offset = (fixed-order f32 sum of absmax) · f32(1/nb).
//   dq_quant8  one workgroup per nested block of 256 absmax values: 8-bit dynamic-map codes.
//   recip_check  test hook: out[i] = recip_ftz(in[i]) (the correctly rounded reciprocal).
// Exactness: only +, −, × (correctly rounded in WGSL/Vulkan/Metal/D3D) and integer ops are used;
// 1/x is computed by integer long division (WGSL's f32 division is only 2.5 ulp accurate);
// subnormals are flushed explicitly by bit tests so hardware denormal modes do not matter.

struct Params {
  n: u32,      // number of weight values (quant4) or of absmax values nb (dq_*)
  inv_n: f32,  // f32(1 / nb) for dq_mean
}

@group(0) @binding(0) var<storage, read_write> outw: array<u32>;   // quant4: packed [ceil(n/8)]; dq_quant8: codes [ceil(nb/4)]
@group(0) @binding(1) var<storage, read_write> outf: array<f32>;   // quant4: absmax [nb]; dq_quant8: nested absmax [ceil(nb/256)]; recip_check: out
@group(0) @binding(2) var<storage, read> src: array<f32>;          // quant4: W [n]; dq_*: absmax [nb]; recip_check: in
@group(0) @binding(3) var<storage, read_write> qmeta: array<f32>;   // [257]: 8-bit quant map [256], offset [256]
@group(0) @binding(4) var<uniform> p: Params;

// bitsandbytes dQuantizeNF4 thresholds (midpoints of the NF4 code book) as exact f32 bits.
const NF4_T = array<u32, 15>(
  0xbf591cd8u, 0xbf1c5270u, 0xbeeb8480u, 0xbeadea76u, 0xbe703cecu, 0xbe0d38bcu, 0xbd3a7871u,
  0x3d22faffu, 0x3df64862u, 0x3e5067e0u, 0x3e9582d4u, 0x3ec753f9u, 0x3f006d04u, 0x3f248dafu,
  0x3f5c89dau);

// Every entry point uses all five bindings (bind groups are positional); unused ones get dummies.
fn use_all_bindings() {
  _ = arrayLength(&outw);
  _ = arrayLength(&outf);
  _ = arrayLength(&src);
  _ = arrayLength(&qmeta);
  _ = p.n;
}

fn ftz(x: f32) -> f32 {
  return select(x, 0.0, (bitcast<u32>(x) & 0x7f800000u) == 0u);
}

// |x| as ordered u32 bits (max over these equals the f32 max for non-NaN values).
fn abs_bits(x: f32) -> u32 {
  return bitcast<u32>(ftz(x)) & 0x7fffffffu;
}

// Correctly rounded f32(1/a) for a normal positive a, flushed to 0 when the result is subnormal.
fn recip_ftz(a: f32) -> f32 {
  let b = bitcast<u32>(a) & 0x7fffffffu;
  let e = b >> 23u; // biased exponent, 1..254 for normal a
  let frac = b & 0x7fffffu;
  if (e == 0u || e == 255u) { return 0.0; } // zero/subnormal/inf: callers never use the result
  if (frac == 0u) { // a = 2^(e-127): exact reciprocal 2^(127-e), biased exponent 254 - e
    if (e >= 254u) { return 0.0; }
    return bitcast<f32>((254u - e) << 23u);
  }
  if (e >= 254u) { return 0.0; } // 1/a < 2^-127: subnormal, flushed
  // q = floor(2^47 / m) with m = 1.frac·2^23 in (2^23, 2^24): long division, remainder r < m.
  let m = frac | 0x800000u;
  var r = 0x800000u; // 2^47 >> 24
  var q = 0u;
  for (var i = 0u; i < 24u; i++) {
    r = r << 1u;
    q = q << 1u;
    if (r >= m) { r -= m; q |= 1u; }
  }
  var ex = 253u - e; // biased exponent of 1/a for q in [2^23, 2^24)
  if (2u * r > m) { q += 1u; } // round to nearest (a tie is impossible: m is not a power of 2)
  if (q == 0x1000000u) { q = 0x800000u; ex += 1u; }
  if (ex == 0u) { return 0.0; } // below 2^-126 after rounding to 24 bits: flushed
  return bitcast<f32>((ex << 23u) | (q & 0x7fffffu));
}

fn nf4_code(x: f32) -> u32 {
  var q = 0u;
  for (var i = 0u; i < 15u; i++) { q += select(0u, 1u, x > bitcast<f32>(NF4_T[i])); }
  return q;
}

override WG: u32 = 64;

var<workgroup> part_max: array<u32, WG>;

@compute @workgroup_size(WG)
fn quant4(@builtin(local_invocation_index) t: u32, @builtin(workgroup_id) wid: vec3<u32>,
          @builtin(num_workgroups) nwg: vec3<u32>) {
  use_all_bindings();
  let word = (wid.x + wid.y * nwg.x) * WG + t; // 8 values 8·word .. 8·word+7
  let e0 = word * 8u;
  var v: array<f32, 8>;
  var m = 0u;
  for (var j = 0u; j < 8u; j++) {
    let e = e0 + j;
    v[j] = select(0.0, ftz(src[min(e, p.n - 1u)]), e < p.n); // bnb pads the tail with zeros
    m = max(m, abs_bits(v[j]));
  }
  part_max[t] = m;
  workgroupBarrier();
  let g = t & ~7u; // first of the 8 invocations sharing this block of 64
  var bm = 0u;
  for (var j = 0u; j < 8u; j++) { bm = max(bm, part_max[g + j]); }
  if (e0 >= p.n) { return; }
  let amax = bitcast<f32>(bm);
  if ((t & 7u) == 0u) { outf[e0 >> 6u] = amax; }
  let s = recip_ftz(amax);
  var packed = 0u;
  for (var j = 0u; j < 8u; j++) {
    if (e0 + (j & ~1u) >= p.n) { break; } // bytes holding no real value stay 0
    // all-zero block: bnb's 0·inf = NaN fails every comparison, giving code 0
    let q = select(nf4_code(v[j] * s), 0u, bm == 0u);
    let shift = (j >> 1u) * 8u + select(4u, 0u, (j & 1u) == 1u); // even element: high nibble
    packed |= q << shift;
  }
  outw[word] = packed;
}

var<workgroup> part_sum: array<f32, 256>;

@compute @workgroup_size(256)
fn dq_mean(@builtin(local_invocation_index) t: u32) {
  use_all_bindings();
  var s = 0.0;
  for (var i = t; i < p.n; i += 256u) { s = s + src[i]; }
  part_sum[t] = s;
  for (var h = 128u; h > 0u; h >>= 1u) {
    workgroupBarrier();
    if (t < h) { part_sum[t] = part_sum[t] + part_sum[t + h]; }
  }
  if (t == 0u) { qmeta[256] = part_sum[0] * p.inv_n; }
}

var<workgroup> qmap: array<f32, 256>;
var<workgroup> nmax: array<u32, 256>;
var<workgroup> qcodes: array<u32, 256>;

// bnb dQuantize<0>: 7-step binary search, then round to the nearer neighbour via midpoints.
fn quant8(x: f32) -> u32 {
  var pivot = 127u;
  var upper_pivot = 255u;
  var lower_pivot = 0u;
  var lower = -1.0;
  var upper = 1.0;
  var val = qmap[pivot];
  for (var i = 64u; i > 0u; i >>= 1u) {
    if (x > val) { lower_pivot = pivot; lower = val; pivot += i; }
    else { upper_pivot = pivot; upper = val; pivot -= i; }
    val = qmap[pivot];
  }
  if (upper_pivot == 255u) { upper = qmap[255]; }
  if (lower_pivot == 0u) { lower = qmap[0]; }
  if (x > val) { return select(pivot, upper_pivot, x > (upper + val) * 0.5); }
  return select(pivot, lower_pivot, x < (lower + val) * 0.5);
}

@compute @workgroup_size(256)
fn dq_quant8(@builtin(local_invocation_index) t: u32, @builtin(workgroup_id) wid: vec3<u32>,
             @builtin(num_workgroups) nwg: vec3<u32>) {
  use_all_bindings();
  let blk = wid.x + wid.y * nwg.x;
  let i = blk * 256u + t;
  qmap[t] = qmeta[t];
  let offset = qmeta[256];
  let v = select(0.0, ftz(src[min(i, p.n - 1u)] - offset), i < p.n);
  nmax[t] = abs_bits(v);
  for (var h = 128u; h > 0u; h >>= 1u) {
    workgroupBarrier();
    if (t < h) { nmax[t] = max(nmax[t], nmax[t + h]); }
  }
  workgroupBarrier();
  let bm = nmax[0];
  let s = recip_ftz(bitcast<f32>(bm));
  qcodes[t] = select(quant8(ftz(v * s)), 0u, bm == 0u);
  workgroupBarrier();
  if (t == 0u) { outf[blk] = bitcast<f32>(bm); }
  if (t < 64u && blk * 256u + t * 4u < p.n) {
    var w = 0u;
    for (var j = 0u; j < 4u; j++) {
      if (blk * 256u + t * 4u + j < p.n) { w |= qcodes[t * 4u + j] << (8u * j); }
    }
    outw[blk * 64u + t] = w;
  }
}

@compute @workgroup_size(64)
fn recip_check(@builtin(global_invocation_id) gid: vec3<u32>) {
  use_all_bindings();
  if (gid.x < p.n) { outf[gid.x] = recip_ftz(src[gid.x]); }
}
