// Pipelined tensor-core NF4 GEMM (K % 8 == 0), the fast twin of nf4_mma_core.wgsl +
// nf4_mma_load.wgsl (same Params, bindings, tile consts, split-K and epilogue; nf4_common.wgsl
// follows):
//   forward  (BWD = false): O = y [M, N] (+)= H · Wᵀ, H = x·diag(sc) as f16 [M, ldh]
//   backward (BWD = true):  O = dx [M, K] (+)= H · W, H = dy·diag(sc) as f16 [M, ldh]
// H comes from nf4_mma_half.wgsl (x/dy converted to f16 once per call; p.lda = ldh, a multiple
// of 8, and p.a0 a multiple of 8). Per BK = 16 step every invocation moves exactly one
// vec4<u32> of H (8 f16) and one NF4 word (8 codes, decoded two at a time through a
// byte → (high, low) table in workgroup memory) — const_asserts below. Pipeline: the global
// loads of step s + 1 are issued into registers before the subgroup-matrix products of step s,
// and stored after them into the other half of double-buffered workgroup tiles: one barrier per
// step instead of two, and the load latency hides behind the MMAs.
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
const WB = 4u; // NF4 weight bindings 4..7 (nf4_common.wgsl)



const SGM = BM / WM;
const SGN = BN / WN;
const NSG = SGM * SGN;
const WG = 32u * NSG;
const LDA = BK + 8u;
const LDB = select(BK + 8u, BN + 8u, BWD);
const BS_LEN = select(BN * (BK + 8u), BK * (BN + 8u), BWD);
const AS_LEN = BM * LDA;
const PA = BM * BK / 8u / WG; // vec4 of H per invocation per step
const PB = BN * BK / 8u / WG; // NF4 words per invocation per step
const_assert BK == 16u;
const_assert PA == 1u;
const_assert PB == 1u;

var<workgroup> As: array<f16, 2u * AS_LEN>;   // two buffers of [BM][LDA]
var<workgroup> Bs: array<f16, 2u * BS_LEN>;   // two buffers, layout as nf4_mma_core.wgsl
var<workgroup> Cs: array<f32, NSG * 256u>;
var<workgroup> rs: array<f32, BM>;
var<workgroup> lut2: array<vec2<f32>, 256>;   // byte → (code of the high nibble, of the low nibble)

// Registers of one step's global loads.
struct Stage { a: vec4<u32>, w: u32, s: f32 }

fn init_b(t: u32) {
  for (var i = t; i < 256u; i += WG) {
    lut2[i] = vec2<f32>(bitcast<f32>(NF4_BITS[i >> 4u]), bitcast<f32>(NF4_BITS[i & 15u]));
  }
}

fn fetch(t: u32, r0: u32, m0: u32, c0: u32) -> Stage {
  var st = Stage(vec4<u32>(0u), 0u, 0.0);
  // H: row mm of the tile, 8 columns from r0 + ch·8 (r < R: the rest of the vec4 lies in the
  // row, and B is zero beyond R).
  let mm = t / (BK / 8u);
  let ch = t % (BK / 8u);
  let m = m0 + mm;
  let r = r0 + ch * 8u;
  if (m < p.M && r < p.R) { st.a = H[(m * p.lda + p.a0 + r) >> 3u]; }
  var n: u32;
  var k: u32;
  if (BWD) {
    // B(r, c) = W[r0 + r, c0 + c]: word wc of tile row rr.
    n = r0 + t / (BN / 8u);
    k = c0 + (t % (BN / 8u)) * 8u;
  } else {
    // B(r, c) = W[c0 + c, r0 + r]: word wr of tile column cc.
    n = c0 + t / (BK / 8u);
    k = r0 + (t % (BK / 8u)) * 8u;
  }
  if (n < p.wrows && k < p.wk) {
    let e = n * p.wk + k;
    st.w = packed[e >> 3u];
    st.s = block_scale((p.ebase + e) >> 6u, p.wflags != 0u);
  }
  return st;
}

fn stage_store(t: u32, st: Stage, buf: u32) {
  let ad = buf * AS_LEN + (t / (BK / 8u)) * LDA + (t % (BK / 8u)) * 8u;
  for (var j = 0u; j < 4u; j++) {
    let h = bitcast<vec2<f16>>(st.a[j]);
    As[ad + 2u * j] = h.x;
    As[ad + 2u * j + 1u] = h.y;
  }
  var bd: u32;
  if (BWD) {
    bd = buf * BS_LEN + (t / (BN / 8u)) * LDB + (t % (BN / 8u)) * 8u;
  } else {
    bd = buf * BS_LEN + (t / (BK / 8u)) * LDB + (t % (BK / 8u)) * 8u;
  }
  // byte b of the word holds codes 2b (high nibble) and 2b + 1 (low nibble)
  for (var b = 0u; b < 4u; b++) {
    let v = lut2[(st.w >> (8u * b)) & 255u] * st.s;
    Bs[bd + 2u * b] = f16(v.x);
    Bs[bd + 2u * b + 1u] = f16(v.y);
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
  workgroupBarrier(); // lut2
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
      let v = Cs[sg * 256u + e] / rs[mm];
      let idx = zoff + m * p.ldo + p.o0 + c;
      if (p.acc != 0u) { O[idx] = O[idx] + v; } else { O[idx] = v; }
    }
  }
  workgroupBarrier();
}
