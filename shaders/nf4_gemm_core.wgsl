// Tiled GEMM core shared by the NF4 and 16-bit weight matmuls (a loader file that defines
// `init_b` and `load_b` is prepended: nf4_gemm_load.wgsl or w16_gemm_load.wgsl).
//   O [M, NO] (+)= A [M, R] · B [R, NO],  B(r, c) read from a weight W [rows, K] by the loader:
//   forward  (BWD = false): O = y [M, N], A = x [M, K],  B(r=k, c=n) = W[n, k]
//   backward (BWD = true):  O = dx [M, K], A = dy [M, N], B(r=n, c=k) = W[n, k]
// Workgroup 16×16 computes a BM×BN tile of O, TM×TN outputs per invocation (strided by 16 so
// workgroup-memory reads are conflict-free), stepping BK along R through workgroup tiles
// (A transposed, both padded by one column against bank conflicts). f32 accumulation.
// TM/TN size private arrays, which WGSL requires to be const, so the wrapper prepends the tile
// shape as consts: `const TM = 4u; const TN = 4u;` (64×64) or 8u/8u (128×128); BK is an override.

struct Params {
  M: u32,      // rows of O and A
  NO: u32,     // output columns in this dispatch
  R: u32,      // reduction length in this dispatch
  acc: u32,    // 1: O += A·B, 0: O = A·B
  ldo: u32,    // row stride of O
  o0: u32,     // first column of O written
  lda: u32,    // row stride of A
  a0: u32,     // first column of A read
  wk: u32,     // K: columns of W (its row stride in elements)
  wrows: u32,  // rows of W in this dispatch (row chunk)
  ebase: u32,  // flat index of the chunk's first element in the whole weight (absmax blocks)
  wflags: u32, // NF4: 1 = double-quantized absmax; 16-bit: 1 = f16, 0 = bf16
}

@group(0) @binding(0) var<storage, read_write> O: array<f32>; // [M, ldo]
@group(0) @binding(1) var<storage, read> A: array<f32>;       // [M, lda]
@group(0) @binding(2) var<uniform> p: Params;
// The loader's weight bindings follow from slot 3.

const BM = 16u * TM;
const BN = 16u * TN;
override BK: u32 = 32;
override BWD: bool = false;
override ALIGNED: bool = true; // K % 8 == 0 (NF4) / K % 2 == 0 (16-bit): whole words per row

var<workgroup> As: array<f32, BK * (BM + 1u)>; // As[r·(BM+1) + m]
var<workgroup> Bs: array<f32, BK * (BN + 1u)>; // Bs[r·(BN+1) + c]

@compute @workgroup_size(16, 16)
fn main(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(local_invocation_index) t: u32,
        @builtin(workgroup_id) wid: vec3<u32>) {
  init_b(t);
  let m0 = wid.y * BM;
  let c0 = wid.x * BN;
  var acc: array<f32, TM * TN>;
  for (var r0 = 0u; r0 < p.R; r0 += BK) {
    for (var i = t; i < BM * BK; i += 256u) {
      let mm = i / BK;
      let rr = i % BK;
      let m = m0 + mm;
      let r = r0 + rr;
      var v = 0.0;
      if (m < p.M && r < p.R) { v = A[m * p.lda + p.a0 + r]; }
      As[rr * (BM + 1u) + mm] = v;
    }
    load_b(t, r0, c0);
    workgroupBarrier();
    for (var rr = 0u; rr < BK; rr++) {
      var a: array<f32, TM>;
      var b: array<f32, TN>;
      for (var i = 0u; i < TM; i++) { a[i] = As[rr * (BM + 1u) + lid.y + 16u * i]; }
      for (var j = 0u; j < TN; j++) { b[j] = Bs[rr * (BN + 1u) + lid.x + 16u * j]; }
      for (var i = 0u; i < TM; i++) {
        for (var j = 0u; j < TN; j++) { acc[i * TN + j] = fma(a[i], b[j], acc[i * TN + j]); }
      }
    }
    workgroupBarrier();
  }
  for (var i = 0u; i < TM; i++) {
    let m = m0 + lid.y + 16u * i;
    if (m >= p.M) { continue; }
    for (var j = 0u; j < TN; j++) {
      let c = c0 + lid.x + 16u * j;
      if (c >= p.NO) { continue; }
      let idx = m * p.ldo + p.o0 + c;
      if (p.acc != 0u) { O[idx] = O[idx] + acc[i * TN + j]; } else { O[idx] = acc[i * TN + j]; }
    }
  }
}
