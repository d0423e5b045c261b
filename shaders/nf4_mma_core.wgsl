// Tensor-core (subgroup-matrix) GEMM core for the NF4 and 16-bit weight matmuls; a loader that
// defines `init_b`, `load_b` and `b_inv_scale` (nf4_mma_load.wgsl + nf4_common.wgsl, or
// w16_mma_load.wgsl + w16_common.wgsl) is appended.
//   O [M, NO] (+)= A [M, R] · B [R, NO],  B(r, c) read from a weight W [rows, K] by the loader:
//   forward  (BWD = false): O = y [M, N], A = x [M, K],  B(r=k, c=n) = W[n, k]
//   backward (BWD = true):  O = dx [M, K], A = dy [M, N], B(r=n, c=k) = W[n, k]
// The wrapper (src/gpu/ops/mma.ts) prepends `enable f16; enable subgroups;
// enable chromium_experimental_subgroup_matrix;` and the tile shape as consts:
//   BM, BN (workgroup tile), BK (reduction step, a multiple of 16), WM, WN (one subgroup's
//   tile, multiples of 16), BWD (bool). (BM/WM)·(BN/WN) subgroups of 32 invocations each.
// Each step stages A·diag(sc) (rows scaled by a power of two, see nf4_mma_scale.wgsl) and the
// dequantized W tile in workgroup memory as f16, then every subgroup multiplies its WM×WN block
// with 16×16×16 f16 subgroup matrices into f32 accumulators. The epilogue goes through
// workgroup memory (one 16×16 f32 matrix per subgroup at a time) to apply the bounds, the
// inverse row scale (and the loader's inverse weight scale) and accumulate.
// Split-K: workgroup z reduces rows [z·rsplit, min(R, (z+1)·rsplit)) of B (rsplit a multiple of
// BK) and writes its partial product at O + z·zstride (a scratch [S, M, NO], acc = 0); a second
// pass (nf4_mma_reduce.wgsl) sums the S partials in a fixed order. S = 1: z = 0, rsplit ≥ R. Every subgroupMatrixLoad/Store offset depends only on
// workgroup_id, subgroup_id, loop counters and uniforms: subgroup-uniform by construction.

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
  wflags: u32, // NF4: 1 = double-quantized absmax; 16-bit: 1 = f16 (else bf16)
  rsplit: u32, // reduction rows per split (multiple of BK)
  zstride: u32, // O offset between splits (0 without split-K)
}

@group(0) @binding(0) var<storage, read_write> O: array<f32>; // [M, ldo] (split-K: [S, M, NO])
@group(0) @binding(1) var<storage, read> A: array<f32>;       // [M, lda]
@group(0) @binding(2) var<uniform> p: Params;
@group(0) @binding(3) var<storage, read> sc: array<f32>;      // [≥ M] power-of-two row scale of A
// The loader's weight bindings follow from slot 4.

override ALIGNED: bool = true; // K % 8 == 0: whole NF4 words per W row

const SGM = BM / WM;          // subgroups along M
const SGN = BN / WN;          // subgroups along N
const NSG = SGM * SGN;        // subgroups per workgroup
const WG = 32u * NSG;         // invocations per workgroup (subgroups of 32)
const FM = WM / 16u;          // 16×16 matrices per subgroup along M
const FN = WN / 16u;          // ... along N
const LDA = BK + 8u;          // As row stride (f16), padded against bank conflicts
// Bs: forward column-major [BN][BK + 8] (W rows are contiguous along the reduction),
//     backward row-major [BK][BN + 8].
const LDB = select(BK + 8u, BN + 8u, BWD);
const BS_LEN = select(BN * (BK + 8u), BK * (BN + 8u), BWD);

var<workgroup> As: array<f16, BM * LDA>;     // As[m·LDA + r] = f16(A[m0 + m, r0 + r] · sc[m0 + m])
var<workgroup> Bs: array<f16, BS_LEN>;       // B tile, see LDB
var<workgroup> Cs: array<f32, NSG * 256u>;   // one 16×16 result per subgroup (epilogue)
var<workgroup> rs: array<f32, BM>;           // row scales of this tile

@compute @workgroup_size(WG)
fn main(@builtin(local_invocation_index) t: u32, @builtin(workgroup_id) wid: vec3<u32>,
        @builtin(subgroup_id) sg: u32, @builtin(subgroup_invocation_id) lane: u32,
        @builtin(subgroup_size) sgsize: u32) {
  init_b(t);
  let m0 = wid.y * BM;
  let c0 = wid.x * BN;
  for (var i = t; i < BM; i += WG) {
    var s = 1.0;
    if (m0 + i < p.M) { s = sc[m0 + i]; }
    rs[i] = s;
  }
  // This subgroup's block inside the workgroup tile (uniform: from subgroup_id only).
  let wm = (sg / SGN) * WM;
  let wn = (sg % SGN) * WN;
  // accumulators acc_i_j (i < FM, j < FN), declared by the wrapper (no dynamically indexed arrays)
  //@ACC_DECL
  workgroupBarrier();

  let rbeg = wid.z * p.rsplit;
  let rend = min(p.R, rbeg + p.rsplit);
  let zoff = wid.z * p.zstride;
  for (var r0 = rbeg; r0 < rend; r0 += BK) {
    // A tile: BM rows × BK reduction columns, f32 → scaled f16, zero outside A.
    // (r < R suffices: a split's end is a multiple of BK unless it is R)
    for (var i = t; i < BM * BK; i += WG) {
      let mm = i / BK;
      let rr = i % BK;
      let m = m0 + mm;
      let r = r0 + rr;
      var v = 0.0;
      if (m < p.M && r < p.R) { v = A[m * p.lda + p.a0 + r] * rs[mm]; }
      As[mm * LDA + rr] = f16(v);
    }
    load_b(t, r0, c0);
    workgroupBarrier();
    for (var kk = 0u; kk < BK; kk += 16u) {
      // a_i = rows wm + 16i of As, b_j = columns wn + 16j of Bs, acc_i_j += a_i · b_j (wrapper-generated)
      //@MMA_STEP
    }
    workgroupBarrier();
  }

  // Epilogue: write_tile(acc_i_j, i, j, ...) for every accumulator (wrapper-generated).
  //@EPILOGUE
}

// One subgroup parks its 16×16 result (rows wm + 16i, columns wn + 16j of the tile) in Cs and
// writes it out with bounds, the inverse row and weight scales and accumulation (at O + zoff).
// Called in uniform control flow.
fn write_tile(r: subgroup_matrix_result<f32, 16, 16>, i: u32, j: u32, sg: u32, lane: u32, sgsize: u32,
              wm: u32, wn: u32, m0: u32, c0: u32, zoff: u32) {
  let winv = b_inv_scale();
  subgroupMatrixStore<row_major>(&Cs, sg * 256u, r, 16u);
  workgroupBarrier();
  for (var e = lane; e < 256u; e += sgsize) {
    let mm = wm + 16u * i + e / 16u;
    let m = m0 + mm;
    let c = c0 + wn + 16u * j + e % 16u;
    if (m < p.M && c < p.NO) {
      let v = (Cs[sg * 256u + e] / rs[mm]) * winv;
      let idx = zoff + m * p.ldo + p.o0 + c;
      if (p.acc != 0u) { O[idx] = O[idx] + v; } else { O[idx] = v; }
    }
  }
  workgroupBarrier();
}
