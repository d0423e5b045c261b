// Causal GQA attention forward, register-tiled flash attention (online softmax), f32, for GPUs
// without tensor cores in WebGPU (attention.tiled.ts; variants timed by `bench/attention.ts
// --variants`). Aimed at latency:
//  - K and V tiles are read from global memory into registers one compute phase ahead (V of tile
//    j while S = q·kᵀ of tile j runs, K of tile j+1 while O += P·V of tile j runs), with constant
//    trip counts and clamped (always valid) rows, so the loads are issued together and their
//    latency overlaps the FMAs instead of stalling the workgroup before each barrier.
//  - Row max / row sum across the NTC threads of a row: subgroup shuffles where the device has
//    subgroups (attention_rows_sg.wgsl), else workgroup memory (attention_rows_wg.wgsl).
//  - Query tiles are walked heavy-first (the last positions see the most keys), so the long
//    causal tiles start in the first wave.
// The wrapper (attention.tiled.ts) prepends `const HD, BR, BC, TM, NTC: u32` and one of the two
// row-reduction snippets (which declares rowMaxStash/rowMaxFetch/rowSumStash/rowSumFetch).
// Letters: Tq query rows, Tk key rows, H query heads, Hkv kv heads, G = H / Hkv, D head dim (HD).
// Rows of a workgroup are (position, head) pairs of ONE kv head g: row R = pos·G + hh.
// Thread (ty, tx), NTR = BR/TM row groups × NTC column groups: owns rows ty + NTR·i (i < TM);
// scores S[row, key tx + NTC·j] (j < TN) and output dims vec4 tx + NTC·k (k < TD) of those rows.
// Key j is visible iff j <= pos + qOff and (useSeg == 0 or seg[j] == seg[pos + qOff]).

struct Params {
  Tq: u32, Tk: u32, nHeads: u32, nKv: u32,
  qOff: u32, useSeg: u32, writeLse: u32, scale: f32,
}

@group(0) @binding(0) var<storage, read_write> out: array<vec4<f32>>; // [Tq, H*D]
@group(0) @binding(1) var<storage, read_write> lse: array<f32>;       // [H, Tq] (written iff writeLse)
@group(0) @binding(2) var<storage, read> q: array<vec4<f32>>;         // [Tq, H*D]
@group(0) @binding(3) var<storage, read> k: array<vec4<f32>>;         // [>=Tk, Hkv*D]
@group(0) @binding(4) var<storage, read> v: array<vec4<f32>>;         // [>=Tk, Hkv*D]
@group(0) @binding(5) var<storage, read> seg: array<i32>;             // [Tk] (read iff useSeg)
@group(0) @binding(6) var<uniform> p: Params;

const NTR: u32 = BR / TM;         // row groups
const WG: u32 = NTR * NTC;        // threads
const TN: u32 = BC / NTC;         // score columns per thread
const DV: u32 = HD / 4u;          // vec4 per head row
const TD: u32 = DV / NTC;         // output vec4 per thread row
const KS: u32 = DV + 1u;          // padded row stride (vec4) of [*, D] tiles
const PS: u32 = BC + 1u;          // padded row stride of the probability tile
const QPT: u32 = BR * DV / WG;    // q vec4 loaded per thread (the wrapper checks divisibility)
const LPT: u32 = BC * DV / WG;    // K or V vec4 loaded per thread per tile
const NEG: f32 = -1e30;           // "minus infinity" kept finite

var<workgroup> Qs: array<vec4<f32>, BR * KS>;  // [BR, D] q · scale
var<workgroup> KVs: array<vec4<f32>, BC * KS>; // [BC, D] K tile, then V tile
var<workgroup> Ps: array<f32, BR * PS>;        // [BR, BC] probabilities
var<workgroup> colSeg: array<i32, BC>;
var<workgroup> kRange: vec2<u32>;

fn dot4(a: vec4<f32>, b: vec4<f32>, acc: f32) -> f32 {
  return fma(a.w, b.w, fma(a.z, b.z, fma(a.y, b.y, fma(a.x, b.x, acc))));
}

// First index j in [0, hi] with seg[j] >= want (seg non-decreasing).
fn lowerBound(want: i32, hi0: u32) -> u32 {
  var lo = 0u;
  var hi = hi0;
  while (lo < hi) {
    let mid = (lo + hi) / 2u;
    if (seg[mid] < want) { lo = mid + 1u; } else { hi = mid; }
  }
  return lo;
}

// This thread's share of K rows j0.. (rows past `last` read row `last`: valid memory, and the
// columns are masked (K) or multiplied by P = 0 (V)).
fn loadK(j0: u32, last: u32, g: u32, tid: u32) -> array<vec4<f32>, LPT> {
  var r: array<vec4<f32>, LPT>;
  for (var u = 0u; u < LPT; u++) {
    let i = tid + WG * u;
    r[u] = k[(min(j0 + i / DV, last) * p.nKv + g) * DV + i % DV];
  }
  return r;
}

fn loadV(j0: u32, last: u32, g: u32, tid: u32) -> array<vec4<f32>, LPT> {
  var r: array<vec4<f32>, LPT>;
  for (var u = 0u; u < LPT; u++) {
    let i = tid + WG * u;
    r[u] = v[(min(j0 + i / DV, last) * p.nKv + g) * DV + i % DV];
  }
  return r;
}

fn storeKV(x: array<vec4<f32>, LPT>, tid: u32) {
  for (var u = 0u; u < LPT; u++) {
    let i = tid + WG * u;
    KVs[(i / DV) * KS + i % DV] = x[u];
  }
}

@compute @workgroup_size(WG)
fn main(
  @builtin(workgroup_id) wid: vec3<u32>,
  @builtin(num_workgroups) nwg: vec3<u32>,
  @builtin(local_invocation_index) tid: u32,
) {
  let G = p.nHeads / p.nKv;
  let g = wid.y;
  let R0 = (nwg.x - 1u - wid.x) * BR; // heavy (late) query tiles first
  let nRows = p.Tq * G;
  let ty = tid / NTC;
  let tx = tid % NTC;

  for (var u = 0u; u < QPT; u++) {
    let i = tid + WG * u;
    let r = i / DV;
    let R = R0 + r;
    var x = vec4<f32>(0.0);
    if (R < nRows) { x = q[((R / G) * p.nHeads + g * G + R % G) * DV + i % DV] * p.scale; }
    Qs[r * KS + i % DV] = x;
  }
  if (tid == 0u) {
    let firstPos = R0 / G + p.qOff;
    let lastPos = min(R0 + BR, nRows) - 1u;
    var start = 0u;
    if (p.useSeg != 0u) { start = lowerBound(seg[firstPos], firstPos); }
    kRange = vec2<u32>(start, min(p.Tk, lastPos / G + p.qOff + 1u));
  }
  var rowPos: array<u32, TM>;
  var rowSeg: array<i32, TM>;
  var m: array<f32, TM>;
  var l: array<f32, TM>;
  var o: array<array<vec4<f32>, TD>, TM>;
  for (var i = 0u; i < TM; i++) {
    let R = R0 + ty + NTR * i;
    rowPos[i] = select(0u, R / G + p.qOff, R < nRows);
    var s = -1;
    if (R < nRows && p.useSeg != 0u) { s = seg[R / G + p.qOff]; }
    rowSeg[i] = select(-2, s, R < nRows); // -2 never matches a key: padding rows see nothing
    m[i] = NEG;
    l[i] = 0.0;
    for (var kk = 0u; kk < TD; kk++) { o[i][kk] = vec4<f32>(0.0); }
  }
  let range = workgroupUniformLoad(&kRange);
  let last = range.y - 1u;
  var kreg = loadK(range.x, last, g, tid);

  for (var j0 = range.x; j0 < range.y; j0 += BC) {
    let nc = min(BC, range.y - j0);
    storeKV(kreg, tid);
    for (var c = tid; c < BC; c += WG) {
      var s = -1;
      if (p.useSeg != 0u && c < nc) { s = seg[j0 + c]; }
      colSeg[c] = select(-3, s, c < nc);
    }
    workgroupBarrier(); // (1) K tile visible
    let vreg = loadV(j0, last, g, tid); // in flight while the scores are computed
    var s: array<array<f32, TN>, TM>;
    for (var i = 0u; i < TM; i++) { for (var j = 0u; j < TN; j++) { s[i][j] = 0.0; } }
    for (var d4 = 0u; d4 < DV; d4++) {
      var qv: array<vec4<f32>, TM>;
      for (var i = 0u; i < TM; i++) { qv[i] = Qs[(ty + NTR * i) * KS + d4]; }
      for (var j = 0u; j < TN; j++) {
        let kv = KVs[(tx + NTC * j) * KS + d4];
        for (var i = 0u; i < TM; i++) { s[i][j] = dot4(qv[i], kv, s[i][j]); }
      }
    }
    for (var i = 0u; i < TM; i++) {
      var mx = NEG;
      for (var j = 0u; j < TN; j++) {
        let c = tx + NTC * j;
        let ok = j0 + c <= rowPos[i] && (p.useSeg == 0u || colSeg[c] == rowSeg[i]) && c < nc && rowSeg[i] != -2;
        s[i][j] = select(NEG, s[i][j], ok);
        mx = max(mx, s[i][j]);
      }
      rowMaxStash(i, ty + NTR * i, tx, mx);
    }
    workgroupBarrier(); // (2) K no longer read; partial maxima visible
    var alpha: array<f32, TM>;
    for (var i = 0u; i < TM; i++) {
      let r = ty + NTR * i;
      let mx = max(m[i], rowMaxFetch(i, r));
      alpha[i] = exp(m[i] - mx);
      m[i] = mx;
      var sum = 0.0;
      for (var j = 0u; j < TN; j++) {
        let e = select(0.0, exp(s[i][j] - mx), s[i][j] > 0.5 * NEG);
        Ps[r * PS + tx + NTC * j] = e;
        sum += e;
      }
      rowSumStash(i, r, tx, sum);
    }
    storeKV(vreg, tid);
    if (j0 + BC < range.y) { kreg = loadK(j0 + BC, last, g, tid); } // in flight during P·V
    workgroupBarrier(); // (3) P and V visible; partial sums visible
    for (var i = 0u; i < TM; i++) {
      l[i] = l[i] * alpha[i] + rowSumFetch(i, ty + NTR * i);
      for (var kk = 0u; kk < TD; kk++) { o[i][kk] *= alpha[i]; }
    }
    for (var c = 0u; c < BC; c++) {
      var pv: array<f32, TM>;
      for (var i = 0u; i < TM; i++) { pv[i] = Ps[(ty + NTR * i) * PS + c]; }
      for (var kk = 0u; kk < TD; kk++) {
        let vv = KVs[c * KS + tx + NTC * kk];
        for (var i = 0u; i < TM; i++) { o[i][kk] = fma(vec4<f32>(pv[i]), vv, o[i][kk]); }
      }
    }
    workgroupBarrier(); // (4) V and P no longer read
  }

  for (var i = 0u; i < TM; i++) {
    let R = R0 + ty + NTR * i;
    if (R < nRows) {
      let pos = R / G;
      let h = g * G + R % G;
      let inv = 1.0 / l[i];
      for (var kk = 0u; kk < TD; kk++) { out[(pos * p.nHeads + h) * DV + tx + NTC * kk] = o[i][kk] * inv; }
      if (p.writeLse != 0u && tx == 0u) { lse[h * p.Tq + pos] = m[i] + log(l[i]); }
    }
  }
}
