// Tensor-core NF4 dX kernel (K % 8 == 0): nf4_mma_v3.wgsl for the backward only,
//   O = dx [M, K] (+)= H · W, H = dy·diag(sc) as f16 [M, ldh] (nf4_mma_half.wgsl),
// B(r, c) = W[r0 + r, c0 + c] (r: reduction = rows of W, c: output column = column of W).
// Same Params, bindings, split-K, epilogue, f16 operands and 16-deep MMA order as v3, so the same
// results bit for bit at the same plan. Differences (bench/NOTES.md v10):
//  - TB = true: the B tile is stored transposed, [BN][BK + 8] (column-major B, the forward's
//    layout and col_major subgroupMatrixLoad), instead of [BK][BN + 8] (row_major load). The
//    words are fetched with consecutive invocations along r (q % BK) and the 8 codes of a word go
//    to 8 tile rows; invocations with odd word column start at byte 2 of the word so the two
//    half-warps hit different banks. TB = false: v3's layout (for tile-shape variants).
//  - the double-quant offset qmeta[256] lives in a private variable (qm is 256 floats: 4 bytes
//    less workgroup memory, so 256×128 tiles with TB fit 48 KiB).
// Code order: consts (BM, BN, BK, WM, WN, BWD = true, TB) + this file + nf4_common.wgsl; all
// workgroup tables are declared before the entry point (as in v3: bench/NOTES.md v9).
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
const_assert BWD;
const LDB = select(BN + 8u, BK + 8u, TB);
const BS_LEN = select(BK * (BN + 8u), BN * (BK + 8u), TB);
const AS_LEN = BM * LDA;
const PA = BM * BK / 8u / WG; // vec4 of H per invocation per step
const PB = BN * BK / 8u / WG; // NF4 words per invocation per step
const_assert BK % 16u == 0u;
const_assert PA >= 1u && PA * WG * 8u == BM * BK;
const_assert PB >= 1u && PB * WG * 8u == BN * BK;
// workgroup bytes (As, Bs, Cs, rs, lut2, qm) within WebGPU's default 16 KiB × 3 limit
const_assert 4u * (AS_LEN + BS_LEN) + 1024u * NSG + 4u * BM + 2048u + 1024u <= 49152u;

var<workgroup> As: array<f16, 2u * AS_LEN>;   // two buffers of [BM][LDA]
var<workgroup> Bs: array<f16, 2u * BS_LEN>;   // two buffers: TB [BN][LDB] (col-major B), else [BK][LDB]
var<workgroup> Cs: array<f32, NSG * 256u>;
var<workgroup> rs: array<f32, BM>;
var<workgroup> lut2: array<vec2<f32>, 256>;   // byte → (code of the high nibble, of the low nibble)
var<workgroup> qm: array<f32, 256>;           // dq: the absmax code book (qmeta[0..256))
var<private> qoff: f32;                       // dq: the offset (qmeta[256])

//@STAGE_DECL

fn init_b(t: u32) {
  for (var i = t; i < 256u; i += WG) {
    lut2[i] = vec2<f32>(bitcast<f32>(NF4_BITS[i >> 4u]), bitcast<f32>(NF4_BITS[i & 15u]));
  }
  if (p.wflags != 0u) {
    for (var i = t; i < 256u; i += WG) { qm[i] = qmeta[i]; }
    qoff = qmeta[256];
  }
}

// absmax of global block b (block_scale of nf4_common.wgsl with qmeta from workgroup memory).
fn scale_of(b: u32) -> f32 {
  if (p.wflags != 0u) {
    let c = (qcodes[b >> 2u] >> ((b & 3u) * 8u)) & 0xffu;
    return qm[c] * absmax[b >> 8u] + qoff;
  }
  return absmax[b];
}

// vec4 q (0 ≤ q < BM·BK/8) of the H tile: row q / (BK/8), 8 columns from r0 + (q % (BK/8))·8
// (r < R: the rest of the vec4 lies in the row, and B is zero beyond R).
fn fetch_a(q: u32, r0: u32, m0: u32) -> vec4<u32> {
  let m = m0 + q / (BK / 8u);
  let r = r0 + (q % (BK / 8u)) * 8u;
  if (m < p.M && r < p.R) { return H[(m * p.lda + p.a0 + r) >> 3u]; }
  return vec4<u32>(0u);
}

// NF4 word q (0 ≤ q < BN·BK/8) of the B tile and its block scale: B(r, c) = W[r0 + r, c0 + c].
fn fetch_w(q: u32, r0: u32, c0: u32) -> vec2<u32> {
  var n: u32;
  var k: u32;
  if (TB) {
    // tile row q % BK, columns from (q / BK)·8
    n = r0 + q % BK;
    k = c0 + (q / BK) * 8u;
  } else {
    // tile row q / (BN/8), columns from (q % (BN/8))·8
    n = r0 + q / (BN / 8u);
    k = c0 + (q % (BN / 8u)) * 8u;
  }
  if (n < p.wrows && k < p.wk) {
    let e = n * p.wk + k;
    return vec2<u32>(packed[e >> 3u], bitcast<u32>(scale_of((p.ebase + e) >> 6u)));
  }
  return vec2<u32>(0u);
}

fn store_a(q: u32, a: vec4<u32>, buf: u32) {
  let ad = buf * AS_LEN + (q / (BK / 8u)) * LDA + (q % (BK / 8u)) * 8u;
  for (var j = 0u; j < 4u; j++) {
    let h = bitcast<vec2<f16>>(a[j]);
    As[ad + 2u * j] = h.x;
    As[ad + 2u * j + 1u] = h.y;
  }
}

fn store_w(q: u32, ws: vec2<u32>, buf: u32) {
  let s = bitcast<f32>(ws.y);
  if (TB) {
    // element (r, c) at Bs[c·LDB + r]; the word's 8 codes are columns 8·cw .. 8·cw + 7 of row r
    let r = q % BK;
    let cw = q / BK;
    let bd = buf * BS_LEN + cw * 8u * LDB + r;
    let rot = (cw & 1u) * 2u;
    for (var b = 0u; b < 4u; b++) {
      let bb = (b + rot) & 3u;
      // byte bb holds codes 2·bb (high nibble) and 2·bb + 1 (low nibble)
      let v = lut2[(ws.x >> (8u * bb)) & 255u] * s;
      Bs[bd + 2u * bb * LDB] = f16(v.x);
      Bs[bd + (2u * bb + 1u) * LDB] = f16(v.y);
    }
  } else {
    let bd = buf * BS_LEN + (q / (BN / 8u)) * LDB + (q % (BN / 8u)) * 8u;
    // byte b of the word holds codes 2b (high nibble) and 2b + 1 (low nibble)
    for (var b = 0u; b < 4u; b++) {
      let v = lut2[(ws.x >> (8u * b)) & 255u] * s;
      Bs[bd + 2u * b] = f16(v.x);
      Bs[bd + 2u * b + 1u] = f16(v.y);
    }
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
  workgroupBarrier(); // lut2, qm
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
