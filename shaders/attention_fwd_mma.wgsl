// Causal GQA attention forward on tensor cores (WGSL subgroup matrices, f16 operands, f32
// accumulation): flash attention with the online softmax in f32 (letters, row packing and
// masking as attention_fwd_tiled_pf.wgsl; same Params and bindings). The wrapper
// (attention.mma.ts) prepends the enables and `const HD, BR, BC, TAU` and replaces the //@ markers
// with straight-line code over the subgroup matrices q_d, o_d (d < HD/16) and s_c (c < BC/16).
// One workgroup = BR = 16·NSG rows of one kv head g (row R = pos·G + hh); subgroup sg owns rows
// 16·sg .. 16·sg + 15. Per key tile of BC keys:
//   S = (q·scale)·kᵀ with q held in registers (f16 left matrices) and the K tile in workgroup
//   memory (f16, col_major right matrices) → f32 accumulators → stored to Sf [BR, BC];
//   two threads per row mask S, reduce the row max, and write P = exp(S − m) as f16 to Ph;
//   O += P·V (V tile f16, row_major right matrices) into f32 accumulators.
// Lazy rescaling: a row's reference max m changes only when a tile's max exceeds it by more than
// TAU (P ≤ e^TAU stays well inside f16), then O's rows are multiplied by exp(m_old − m_new)
// through workgroup memory (a result matrix cannot be scaled per row in registers). The first
// visible tile of a row sets m with O = 0, so rescaling is rare. lse = m + log(l) in f32.
// Every subgroupMatrixLoad/Store offset derives from subgroup_id, loop counters and consts only.

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

const NSG: u32 = BR / 16u;     // subgroups
const WG: u32 = 32u * NSG;     // threads
const DV: u32 = HD / 4u;       // vec4 per head row
const LDK: u32 = HD + 8u;      // row stride (f16) of [*, D] tiles
const LDP: u32 = BC + 8u;      // row stride (f16) of P
const LDS: u32 = BC + 4u;      // row stride (f32) of S
const KV0: u32 = max(BR, BC) * LDK; // Ph starts here in Wh
const HALF: u32 = BC / 2u;     // keys per softmax thread (two threads per row, keys interleaved)
const NEG: f32 = -1e30;
const_assert WG == 2u * BR;
const_assert HD % 16u == 0u && BC % 16u == 0u;

var<workgroup> Wh: array<f16, KV0 + BR * LDP>; // [0, KV0): Q staging, then K or V tile [BC, LDK]; Ph [BR, LDP] at KV0
var<workgroup> Sf: array<f32, BR * LDS>;       // [BR, BC] scores; scratch of the rescale and the epilogue
var<workgroup> redM: array<f32, 2u * BR>;      // per-thread partial row max (end: partial row sums)
var<workgroup> rowF: array<f32, BR>;           // per-row factor: rescale alpha, then 1 / l
var<workgroup> colSeg: array<i32, BC>;
var<workgroup> kRange: vec2<u32>;
var<workgroup> flag: u32;                       // some row of this tile needs its O rescaled

fn lowerBound(want: i32, hi0: u32) -> u32 {
  var lo = 0u;
  var hi = hi0;
  while (lo < hi) {
    let mid = (lo + hi) / 2u;
    if (seg[mid] < want) { lo = mid + 1u; } else { hi = mid; }
  }
  return lo;
}

fn put4(at: u32, x: vec4<f32>) {
  Wh[at] = f16(x.x);
  Wh[at + 1u] = f16(x.y);
  Wh[at + 2u] = f16(x.z);
  Wh[at + 3u] = f16(x.w);
}

// K or V rows j0 .. j0 + nc − 1 of kv head g → Wh[0 ..) as f16 (zeros beyond nc).
fn load_kv(tid: u32, j0: u32, nc: u32, g: u32, isV: bool) {
  for (var i = tid; i < BC * DV; i += WG) {
    let c = i / DV;
    let d4 = i % DV;
    var x = vec4<f32>(0.0);
    if (c < nc) {
      let at = ((j0 + c) * p.nKv + g) * DV + d4;
      if (isV) { x = v[at]; } else { x = k[at]; }
    }
    put4(c * LDK + 4u * d4, x);
  }
}

// Rescale scratch: nm ≤ LDS / 16 matrices of subgroup sg at Sf[sg·16·LDS + m·256 ..) (its own
// score rows; stride 16) times the row factors rowF.
fn scale_rows(sg: u32, lane: u32, nm: u32) {
  for (var e = lane; e < nm * 256u; e += 32u) {
    Sf[sg * 16u * LDS + e] *= rowF[sg * 16u + (e % 256u) / 16u];
  }
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) tid: u32,
        @builtin(subgroup_id) sg: u32, @builtin(subgroup_invocation_id) lane: u32) {
  let G = p.nHeads / p.nKv;
  let g = wid.y;
  let R0 = wid.x * BR;
  let nRows = p.Tq * G;
  let r = tid / 2u;  // softmax row of this thread
  let hf = tid % 2u; // keys hf, hf + 2, ...
  let R = R0 + r;

  // q · scale → f16 staging → left matrices in registers.
  for (var i = tid; i < BR * DV; i += WG) {
    let rr = i / DV;
    let d4 = i % DV;
    var x = vec4<f32>(0.0);
    if (R0 + rr < nRows) { x = q[(((R0 + rr) / G) * p.nHeads + g * G + (R0 + rr) % G) * DV + d4] * p.scale; }
    put4(rr * LDK + 4u * d4, x);
  }
  if (tid == 0u) {
    let firstPos = R0 / G + p.qOff;
    let lastPos = min(R0 + BR, nRows) - 1u;
    var start = 0u;
    if (p.useSeg != 0u) { start = lowerBound(seg[firstPos], firstPos); }
    kRange = vec2<u32>(start, min(p.Tk, lastPos / G + p.qOff + 1u));
    flag = 0u;
  }
  let rowPos = select(0u, R / G + p.qOff, R < nRows);
  var rowSeg = -2; // never matches a key: padding rows see nothing
  if (R < nRows) { rowSeg = select(-1, seg[R / G + p.qOff], p.useSeg != 0u); }
  var m = NEG;     // reference max of the row
  var l = 0.0;     // partial sum of exp(s − m) over this thread's keys
  let range = workgroupUniformLoad(&kRange);
  //@Q_LOAD
  //@O_DECL
  workgroupBarrier(); // q read before the first K tile overwrites the staging

  for (var j0 = range.x; j0 < range.y; j0 += BC) {
    let nc = min(BC, range.y - j0);
    load_kv(tid, j0, nc, g, false);
    for (var c = tid; c < BC; c += WG) {
      var s = -1;
      if (p.useSeg != 0u && c < nc) { s = seg[j0 + c]; }
      colSeg[c] = select(-3, s, c < nc);
    }
    workgroupBarrier();
    //@S_MMA
    workgroupBarrier(); // K read, S stored
    load_kv(tid, j0, nc, g, true);
    var mx = NEG;
    for (var jj = 0u; jj < HALF; jj++) {
      let c = hf + 2u * jj;
      let ok = j0 + c <= rowPos && (p.useSeg == 0u || colSeg[c] == rowSeg) && c < nc && rowSeg != -2;
      let s = select(NEG, Sf[r * LDS + c], ok);
      Sf[r * LDS + c] = s;
      mx = max(mx, s);
    }
    redM[2u * r + hf] = mx;
    workgroupBarrier();
    mx = max(redM[2u * r], redM[2u * r + 1u]);
    var alpha = 1.0;
    if (m < 0.5 * NEG) {
      m = mx; // first visible keys of the row (O and l are still 0); stays NEG if none
    } else if (mx > m + TAU) {
      alpha = exp(m - mx);
      m = mx;
      flag = 1u;
    }
    if (hf == 0u) { rowF[r] = alpha; }
    l *= alpha;
    for (var jj = 0u; jj < HALF; jj++) {
      let c = hf + 2u * jj;
      let s = Sf[r * LDS + c];
      let e = select(0.0, exp(s - m), s > 0.5 * NEG);
      l += e;
      Wh[KV0 + r * LDP + c] = f16(e);
    }
    if (workgroupUniformLoad(&flag) != 0u) {
      //@RESCALE
    }
    //@PV_MMA
    workgroupBarrier(); // V and P read
    if (tid == 0u) { flag = 0u; }
  }

  redM[2u * r + hf] = l;
  workgroupBarrier();
  let lt = redM[2u * r] + redM[2u * r + 1u];
  if (hf == 0u) {
    rowF[r] = select(0.0, 1.0 / lt, lt > 0.0);
    if (R < nRows && p.writeLse != 0u) { lse[(g * G + R % G) * p.Tq + R / G] = m + log(lt); }
  }
  //@EPILOGUE
}

// Columns [c0, c0 + NKB·16) of the output rows, staged in Sf [BR, LDS], scaled by 1 / l → out.
fn write_out(tid: u32, R0: u32, g: u32, c0: u32, w: u32) {
  let G = p.nHeads / p.nKv;
  let nRows = p.Tq * G;
  let w4 = w / 4u;
  for (var i = tid; i < BR * w4; i += WG) {
    let rr = i / w4;
    let d4 = i % w4;
    let R = R0 + rr;
    if (R < nRows) {
      let at = rr * LDS + 4u * d4;
      let x = vec4<f32>(Sf[at], Sf[at + 1u], Sf[at + 2u], Sf[at + 3u]) * rowF[rr];
      out[((R / G) * p.nHeads + g * G + R % G) * DV + c0 / 4u + d4] = x;
    }
  }
}
