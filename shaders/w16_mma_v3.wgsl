// Tensor-core GEMM v3 core for 16-bit (bf16/f16) weights (K % 8 == 0), w16_mma_v3_load.wgsl
// appended: nf4_mma_v3.wgsl's pipeline with the weight loader split out. Same Params, split-K,
// epilogue and operands as the staged 16-bit kernel (nf4_mma_core.wgsl + w16_mma_load.wgsl):
//   forward  (BWD = false): O = y [M, N] (+)= H · Wᵀ, H = x·diag(sc) as f16 [M, ldh]
//   backward (BWD = true):  O = dx [M, K] (+)= H · W, H = dy·diag(sc) as f16 [M, ldh]
// H comes from nf4_mma_half.wgsl (p.lda = ldh and p.a0 multiples of 8). Per BK step (BK a
// multiple of 16) every invocation moves PA vec4<u32> of H and PB vec4<u32> of W (8 bf16/f16
// each; PA, PB any integers ≥ 1; the wrapper generates the straight-line Stage struct at the
// STAGE_DECL marker). The loader defines alias WStage (one piece in registers),
// const LOADER_WG_BYTES (its workgroup memory), init_b(t) (once per workgroup, before the first
// barrier), fetch_w(q, r0, c0) -> WStage, store_w(q, w, buf) (8 f16 into Bs) and b_unscale(v)
// (the epilogue's inverse weight scale). Pipeline as nf4_mma_pipe.wgsl: the loads of step s + 1
// are in flight during the MMAs of step s and stored after them into the other half of
// double-buffered tiles; one barrier per step. The MMA order per output element is the staged
// kernel's (16-deep slices in order), so results equal it. Default (mma.ts V3_TILES): 128×256
// tiles, BK = 16, 8 subgroups of 64×64 (bench/NOTES.md v9).
// (The NF4 kernel keeps its own file: the same core with the NF4 loader split out the same way —
// tables declared in the appended loader — gave wrong results on the H200 while correct in the
// emulation; bench/NOTES.md v9.)
// Every subgroupMatrixLoad/Store offset depends only on workgroup_id, subgroup_id, loop
// counters and uniforms.

struct Params {
  M: u32, NO: u32, R: u32, acc: u32, ldo: u32, o0: u32,
  lda: u32,    // row stride of H (ldh, elements)
  a0: u32,     // first column of H read (multiple of 8)
  wk: u32, wrows: u32, ebase: u32, wflags: u32, rsplit: u32, zstride: u32,
}

@group(0) @binding(0) var<storage, read_write> O: array<f32>; // [M, ldo] (split-K: [S, M, NO])
@group(0) @binding(1) var<storage, read> H: array<vec4<u32>>; // [M, lda / 8] f16 × 8
@group(0) @binding(2) var<uniform> p: Params;
@group(0) @binding(3) var<storage, read> sc: array<f32>;      // [≥ M] power-of-two row scale
// the loader's weight bindings follow from slot 4

const SGM = BM / WM;
const SGN = BN / WN;
const NSG = SGM * SGN;
const WG = 32u * NSG;
const LDA = BK + 8u;
const LDB = select(BK + 8u, BN + 8u, BWD);
const BS_LEN = select(BN * (BK + 8u), BK * (BN + 8u), BWD);
const AS_LEN = BM * LDA;
const PA = BM * BK / 8u / WG; // vec4 of H per invocation per step
const PB = BN * BK / 8u / WG; // weight pieces (8 elements) per invocation per step
const_assert BK % 16u == 0u;
const_assert PA >= 1u && PA * WG * 8u == BM * BK;
const_assert PB >= 1u && PB * WG * 8u == BN * BK;
// workgroup bytes (As, Bs, Cs, rs and the loader's) within WebGPU's default 16 KiB × 3 limit
const_assert 4u * (AS_LEN + BS_LEN) + 1024u * NSG + 4u * BM + LOADER_WG_BYTES <= 49152u;

var<workgroup> As: array<f16, 2u * AS_LEN>;   // two buffers of [BM][LDA]
var<workgroup> Bs: array<f16, 2u * BS_LEN>;   // two buffers: fwd [BN][LDB] (col-major B), bwd [BK][LDB]
var<workgroup> Cs: array<f32, NSG * 256u>;
var<workgroup> rs: array<f32, BM>;

//@STAGE_DECL

// vec4 q (0 ≤ q < BM·BK/8) of the H tile: row q / (BK/8), 8 columns from r0 + (q % (BK/8))·8
// (r < R: the rest of the vec4 lies in the row, and B is zero beyond R).
fn fetch_a(q: u32, r0: u32, m0: u32) -> vec4<u32> {
  let m = m0 + q / (BK / 8u);
  let r = r0 + (q % (BK / 8u)) * 8u;
  if (m < p.M && r < p.R) { return H[(m * p.lda + p.a0 + r) >> 3u]; }
  return vec4<u32>(0u);
}

fn store_a(q: u32, a: vec4<u32>, buf: u32) {
  let ad = buf * AS_LEN + (q / (BK / 8u)) * LDA + (q % (BK / 8u)) * 8u;
  for (var j = 0u; j < 4u; j++) {
    let h = bitcast<vec2<f16>>(a[j]);
    As[ad + 2u * j] = h.x;
    As[ad + 2u * j + 1u] = h.y;
  }
}

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
  let wm = (sg / SGN) * WM;
  let wn = (sg % SGN) * WN;
  //@ACC_DECL

  let rbeg = wid.z * p.rsplit;
  let rend = min(p.R, rbeg + p.rsplit);
  let zoff = wid.z * p.zstride;
  workgroupBarrier(); // the loader's init_b
  var st = fetch(t, rbeg, m0, c0);
  stage_store(t, st, 0u);
  workgroupBarrier();
  var cur = 0u;
  for (var r0 = rbeg; r0 < rend; r0 += BK) {
    let more = r0 + BK < rend;
    if (more) { st = fetch(t, r0 + BK, m0, c0); }
    let ab = cur * AS_LEN;
    let bb = cur * BS_LEN;
    for (var kk = 0u; kk < BK; kk += 16u) {
      //@MMA_STEP
    }
    if (more) { stage_store(t, st, cur ^ 1u); }
    workgroupBarrier();
    cur ^= 1u;
  }

  //@EPILOGUE
}

fn write_tile(r: subgroup_matrix_result<f32, 16, 16>, i: u32, j: u32, sg: u32, lane: u32, sgsize: u32,
              wm: u32, wn: u32, m0: u32, c0: u32, zoff: u32) {
  subgroupMatrixStore<row_major>(&Cs, sg * 256u, r, 16u);
  workgroupBarrier();
  for (var e = lane; e < 256u; e += sgsize) {
    let mm = wm + 16u * i + e / 16u;
    let m = m0 + mm;
    let c = c0 + wn + 16u * j + e % 16u;
    if (m < p.M && c < p.NO) {
      let v = b_unscale(Cs[sg * 256u + e] / rs[mm]);
      let idx = zoff + m * p.ldo + p.o0 + c;
      if (p.acc != 0u) { O[idx] = O[idx] + v; } else { O[idx] = v; }
    }
  }
  workgroupBarrier();
}
