// Tiled f32 NF4 / 16-bit GEMM v2 (no tensor cores), forward and backward (dX) in one source:
//   O [M, NO] (+)= A [M, R] · B [R, NO],  B read from the weight W [rows, K] (NF4, or bf16/f16):
//   forward  (BWD = false): O = y [M, N], A = x [M, K],  B(r=k, c=n) = W[n, k]
//   backward (BWD = true):  O = dx [M, K], A = dy [M, N], B(r=n, c=k) = W[n, k]
// Workgroup 16×16 computes a 128×BN tile of O (BN = 128 or 64); invocation (tx, ty) owns rows
// 4ty+i and 64+4ty+i, columns 4tx+j (and 64+4tx+j when BN = 128), i, j < 4: per reduction step
// it reads 4 (BN 64: 3) vec4 from workgroup memory for 64 (32) FMAs (named vec4 accumulators,
// f32, reduction in increasing r: every configuration gives the same bits at the same split).
// Each BK step the W tile is decoded ONCE into workgroup memory (8-code words, WQ per invocation:
// 8 table lookups, one block scale each), the A tile copied transposed; the next step's global
// words are loaded into registers before the FMAs of the current step and stored after them.
// NBUF = 2: two workgroup buffers, one barrier per step; NBUF = 1 (the default, faster on the
// H200): one buffer, two barriers per step. RS (forward only): an invocation's W row stays the
// same across steps, so its block scale is loaded (and double-quant decoded) only when its
// 64-element block changes instead of every step (the forward's 32 rows per warp make these
// loads scattered).
// Split-K: grid z = split, each split reduces r in [z·rsplit, min(R, (z+1)·rsplit)) and writes
// O + z·zstride (a partial buffer summed in split order by nf4_mma_reduce.wgsl).
// Needs K % 8 == 0 (whole words along k); BK is 8, 16 or 32. A is read as 4 rows × 1 r per quad
// (16 invocations cover 16 consecutive r of a row: coalesced, no alignment needed).
// The weight format comes from the prelude: nf4_common.wgsl + gemm_v2_nf4.wgsl or w16_common.wgsl
// + gemm_v2_w16.wgsl, defining
// `WWord` (8 elements of W), `W_SCALED` (64-element block scales), `w_word(e)`,
// `w_scale_load(block, flag)`, `w_scale_decode(raw, flag)`, `w_decode8(word, scale)` and `w_init(t)`. The wrapper prepends `const BK = 16u; const NBUF = 1u; const BN = 128u;
// const RS = false; const WB = 3u;` and the prelude.

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
  rsplit: u32, // reduction length per split (a multiple of BK)
  zstride: u32, // elements between the outputs of consecutive splits
  pad0: u32,
  pad1: u32,
}

@group(0) @binding(0) var<storage, read_write> O: array<f32>; // [M, ldo] (or [S, M, NO] partials)
@group(0) @binding(1) var<storage, read> A: array<f32>;       // [M, lda]
@group(0) @binding(2) var<uniform> p: Params;

override BWD: bool = false;

const S4 = 33u;               // row stride of the A tile in vec4 (128 rows + 1 vec4 padding)
const SB = BN / 4u + 1u;      // row stride of the W tile in vec4 (BN columns + 1 vec4 padding)
const AQ = BK / 8u;           // A quads (4 rows × 1 r) per invocation per step
const WN = BK * BN / 8u;      // W words per step
const WQ = (WN + 255u) / 256u; // W words per invocation (2 only for BK 32 × BN 128)
const WR = BN / 8u;           // dX: W words per tile row

// Tiles as arrays of rows (buffer b, step row r at b·BK + r): with robustness on (browsers),
// every index is clamped; split in two, the inner loop's row index is a constant after unrolling
// and the column clamp (ty, 16 + ty, tx, 16 + tx) loop-invariant, where a flat index needed one
// clamp per read (run 16a probe: the clamps cost 4 % forward, 8 % dX).
var<workgroup> As: array<array<vec4<f32>, S4>, NBUF * BK>; // As[b·BK + r][m/4][m%4]
var<workgroup> Bs: array<array<vec4<f32>, SB>, NBUF * BK>; // Bs[b·BK + r][c/4][c%4]

// The prefetched global words of one step (module-scope private: registers; `sc` and `fresh`
// carry the decoded block scale across steps for RS).
struct Stage {
  a: array<vec4<f32>, AQ>, // A[m0+4mq+i, r] for i < 4
  word: array<WWord, WQ>,  // 8 elements of W (8 NF4 codes or 8 16-bit values)
  raw: array<ScaleRaw, WQ>, // the block scale as loaded (decoded after the FMAs)
  sc: array<f32, WQ>,      // decoded block scale of the word (set by store_stage)
  fresh: array<bool, WQ>,  // am/qc reloaded: store_stage decodes sc again
}
var<private> st: Stage;

// A block scale as loaded: NF4 double-quant: the 8-bit code and the nested absmax; else am = absmax.
struct ScaleRaw { qc: u32, am: f32 }

fn load_stage(t: u32, m0: u32, c0: u32, r0: u32, rend: u32, first: bool) {
  for (var q = 0u; q < AQ; q++) {
    let i = t + 256u * q;
    let kk = i % BK;
    let mq = i / BK;
    let r = r0 + kk;
    var v = vec4<f32>(0.0);
    if (r < rend) {
      let m = m0 + 4u * mq;
      let base = p.a0 + r;
      if (m < p.M) { v.x = A[m * p.lda + base]; }
      if (m + 1u < p.M) { v.y = A[(m + 1u) * p.lda + base]; }
      if (m + 2u < p.M) { v.z = A[(m + 2u) * p.lda + base]; }
      if (m + 3u < p.M) { v.w = A[(m + 3u) * p.lda + base]; }
    }
    st.a[q] = v;
  }
  for (var q = 0u; q < WQ; q++) {
    let w = t + 256u * q;
    st.word[q] = WWord();
    var n: u32;
    var k: u32;
    var ok: bool;
    if (BWD) {
      n = r0 + w / WR;
      k = c0 + 8u * (w % WR);
      ok = w < WN && n < rend && k < p.wk;
    } else {
      n = c0 + w % BN;
      k = r0 + 8u * (w / BN);
      ok = w < WN && n < p.wrows && k < rend;
    }
    if (ok) {
      let e = n * p.wk + k;
      st.word[q] = w_word(e);
      let g = p.ebase + e;
      // RS: the previous step's word of this invocation was g - BK, same block unless g % 64 < BK
      if (W_SCALED && (!RS || BWD || first || (g & 63u) < BK)) {
        st.fresh[q] = true;
        st.raw[q] = w_scale_load(g >> 6u, p.wflags != 0u);
      }
    }
  }
}

fn store_stage(t: u32, buf: u32) {
  let rb = buf * BK;
  for (var q = 0u; q < AQ; q++) {
    let i = t + 256u * q;
    As[rb + i % BK][i / BK] = st.a[q];
  }
  for (var q = 0u; q < WQ; q++) {
    let w = t + 256u * q;
    if (w >= WN) { continue; }
    if (W_SCALED && st.fresh[q]) {
      st.sc[q] = w_scale_decode(st.raw[q], p.wflags != 0u);
      st.fresh[q] = false;
    }
    let v = w_decode8(st.word[q], st.sc[q]);
    if (BWD) {
      let r = rb + w / WR;
      let d = 2u * (w % WR);
      Bs[r][d] = vec4<f32>(v[0], v[1], v[2], v[3]);
      Bs[r][d + 1u] = vec4<f32>(v[4], v[5], v[6], v[7]);
    } else {
      let cc = w % BN;
      let r = rb + 8u * (w / BN);
      let d = cc / 4u;
      let j = cc % 4u;
      for (var i = 0u; i < 8u; i++) { Bs[r + i][d][j] = v[i]; }
    }
  }
}

fn put(m: u32, c: u32, v: vec4<f32>, obase: u32) {
  if (m >= p.M) { return; }
  let row = obase + m * p.ldo + p.o0;
  for (var j = 0u; j < 4u; j++) {
    if (c + j < p.NO) {
      let idx = row + c + j;
      if (p.acc != 0u) { O[idx] = O[idx] + v[j]; } else { O[idx] = v[j]; }
    }
  }
}

@compute @workgroup_size(16, 16)
fn main(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(local_invocation_index) t: u32,
        @builtin(workgroup_id) wid: vec3<u32>) {
  w_init(t);
  workgroupBarrier();
  let tx = lid.x;
  let ty = lid.y;
  let m0 = wid.y * 128u;
  let c0 = wid.x * BN;
  let rbeg = wid.z * p.rsplit;
  let rend = min(p.R, rbeg + p.rsplit);
  var c00 = vec4<f32>(0.0); var c01 = vec4<f32>(0.0); var c10 = vec4<f32>(0.0); var c11 = vec4<f32>(0.0);
  var c20 = vec4<f32>(0.0); var c21 = vec4<f32>(0.0); var c30 = vec4<f32>(0.0); var c31 = vec4<f32>(0.0);
  var c40 = vec4<f32>(0.0); var c41 = vec4<f32>(0.0); var c50 = vec4<f32>(0.0); var c51 = vec4<f32>(0.0);
  var c60 = vec4<f32>(0.0); var c61 = vec4<f32>(0.0); var c70 = vec4<f32>(0.0); var c71 = vec4<f32>(0.0);
  load_stage(t, m0, c0, rbeg, rend, true);
  store_stage(t, 0u);
  workgroupBarrier();
  var buf = 0u;
  for (var r0 = rbeg; r0 < rend; r0 += BK) {
    let more = r0 + BK < rend;
    if (more) { load_stage(t, m0, c0, r0 + BK, rend, false); }
    let row0 = select(buf * BK, 0u, NBUF == 1u); // single buffer: a constant row base
    for (var rr = 0u; rr < BK; rr++) {
      let a0 = As[row0 + rr][ty];
      let a1 = As[row0 + rr][16u + ty];
      let b0 = Bs[row0 + rr][tx];
      c00 = fma(vec4<f32>(a0.x), b0, c00); c10 = fma(vec4<f32>(a0.y), b0, c10);
      c20 = fma(vec4<f32>(a0.z), b0, c20); c30 = fma(vec4<f32>(a0.w), b0, c30);
      c40 = fma(vec4<f32>(a1.x), b0, c40); c50 = fma(vec4<f32>(a1.y), b0, c50);
      c60 = fma(vec4<f32>(a1.z), b0, c60); c70 = fma(vec4<f32>(a1.w), b0, c70);
      if (BN == 128u) {
        let b1 = Bs[row0 + rr][16u + tx];
        c01 = fma(vec4<f32>(a0.x), b1, c01); c11 = fma(vec4<f32>(a0.y), b1, c11);
        c21 = fma(vec4<f32>(a0.z), b1, c21); c31 = fma(vec4<f32>(a0.w), b1, c31);
        c41 = fma(vec4<f32>(a1.x), b1, c41); c51 = fma(vec4<f32>(a1.y), b1, c51);
        c61 = fma(vec4<f32>(a1.z), b1, c61); c71 = fma(vec4<f32>(a1.w), b1, c71);
      }
    }
    if (NBUF == 1u) { workgroupBarrier(); }
    if (more) {
      buf = (buf + 1u) % NBUF;
      store_stage(t, buf);
    }
    workgroupBarrier();
  }
  let ob = wid.z * p.zstride;
  let ma = m0 + 4u * ty;
  let mb = m0 + 64u + 4u * ty;
  let ca = c0 + 4u * tx;
  put(ma, ca, c00, ob); put(ma + 1u, ca, c10, ob); put(ma + 2u, ca, c20, ob); put(ma + 3u, ca, c30, ob);
  put(mb, ca, c40, ob); put(mb + 1u, ca, c50, ob); put(mb + 2u, ca, c60, ob); put(mb + 3u, ca, c70, ob);
  if (BN == 128u) {
    let cb = c0 + 64u + 4u * tx;
    put(ma, cb, c01, ob); put(ma + 1u, cb, c11, ob); put(ma + 2u, cb, c21, ob); put(ma + 3u, cb, c31, ob);
    put(mb, cb, c41, ob); put(mb + 1u, cb, c51, ob); put(mb + 2u, cb, c61, ob); put(mb + 3u, cb, c71, ob);
  }
}
