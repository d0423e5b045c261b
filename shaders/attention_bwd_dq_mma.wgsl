// Tensor-core attention backward, dq part (WGSL subgroup matrices, f16 operands, f32
// accumulation; letters, row packing R = pos·G + hh and masking as attention_fwd_mma.wgsl).
// The wrapper (attention.mma.bwd.ts) prepends the enables and `const HD, BR, BC` and replaces
// the //@ markers with straight-line code over the subgroup matrices q_i, o_i, a_i (i < HD/16)
// and s_c, p_c (c < BC/16). One workgroup = BR = 16·NSG rows of kv head g; subgroup sg owns rows
// 16·sg .. 16·sg + 15 and holds q·scale (q_i) and dout·up (o_i) as f16 left matrices. up = 2^e is
// one power of two per call from the prep kernel's max |dout| (max·up in [1/16, 1/8)). Per key
// tile of BC keys (K and V staged as f16 in workgroup memory):
//   S = (q·scale)·kᵀ → Sf, dP' = (dout·up)·vᵀ → dPf (f32 results stored to workgroup memory);
//   each subgroup's lanes: dS' = exp(S − lse) ∘ (dP' − up·D_i) masked → f16 Dsh;
//   dQ' += dS'·K (a_i, f32 accumulators). End: dq = dQ' · scale / up.
// Every subgroupMatrixLoad/Store offset derives from subgroup_id, loop counters and consts only.

struct Params {
  T: u32, nHeads: u32, nKv: u32, nPart: u32,
  useSeg: u32, pad0: u32, pad1: u32, scale: f32,
}

@group(0) @binding(0) var<storage, read_write> dq: array<vec4<f32>>; // [T, H*D]
@group(0) @binding(1) var<storage, read> di: array<f32>;             // [H, T] rowsum(dout ∘ out)
@group(0) @binding(2) var<storage, read> dmax: array<u32>;           // [nPart] max |dout| (f32 bits)
@group(0) @binding(3) var<storage, read> dout: array<vec4<f32>>;     // [T, H*D]
@group(0) @binding(4) var<storage, read> q: array<vec4<f32>>;        // [T, H*D]
@group(0) @binding(5) var<storage, read> k: array<vec4<f32>>;        // [T, Hkv*D]
@group(0) @binding(6) var<storage, read> v: array<vec4<f32>>;        // [T, Hkv*D]
@group(0) @binding(7) var<storage, read> lse: array<f32>;            // [H, T]
@group(0) @binding(8) var<storage, read> seg: array<i32>;            // [T]
@group(0) @binding(9) var<uniform> p: Params;

const NSG: u32 = BR / 16u;
const WG: u32 = 32u * NSG;
const DV: u32 = HD / 4u;
const LDK: u32 = HD + 8u;              // row stride (f16) of [*, D] tiles
const LDP: u32 = BC + 8u;              // row stride (f16) of dS
const LDS: u32 = BC + 4u;              // row stride (f32) of S, dP
const V0: u32 = BC * LDK;              // V tile; K tile at 0
const KV0: u32 = max(2u * BC, BR) * LDK; // dS starts here in Wh (q / dout staging fits below)
const_assert HD % 16u == 0u && BC % 16u == 0u;

var<workgroup> Wh: array<f16, KV0 + BR * LDP>; // K [BC, LDK] at 0, V at V0 (q, dout staging at start); dS [BR, LDP] at KV0
var<workgroup> Sf: array<f32, BR * LDS>;       // [BR, BC] scores; epilogue scratch
var<workgroup> dPf: array<f32, BR * LDS>;      // [BR, BC] dout·vᵀ (scaled)
var<workgroup> rowLse: array<f32, BR>;
var<workgroup> rowDi: array<f32, BR>;          // up · D_i
var<workgroup> rowSeg: array<i32, BR>;
var<workgroup> colSeg: array<i32, BC>;
var<workgroup> kRange: vec2<u32>;
var<workgroup> smax: atomic<u32>;

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

// Packed rows R0 .. R0 + BR − 1 of q·scale (isO: dout·up) → Wh[0 ..) as f16 (zeros past nRows).
fn stage_rows(tid: u32, R0: u32, g: u32, isO: bool, f: f32) {
  let G = p.nHeads / p.nKv;
  for (var i = tid; i < BR * DV; i += WG) {
    let rr = i / DV;
    let d4 = i % DV;
    let R = R0 + rr;
    var x = vec4<f32>(0.0);
    if (R < p.T * G) {
      let at = ((R / G) * p.nHeads + g * G + R % G) * DV + d4;
      if (isO) { x = dout[at]; } else { x = q[at]; }
    }
    put4(rr * LDK + 4u * d4, x * f);
  }
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) tid: u32,
        @builtin(subgroup_id) sg: u32, @builtin(subgroup_invocation_id) lane: u32) {
  let G = p.nHeads / p.nKv;
  let g = wid.y;
  let R0 = wid.x * BR;
  let nRows = p.T * G;

  // one power-of-two scale of dout per call: max over the prep kernel's partial maxima
  var mb = 0u;
  for (var i = tid; i < p.nPart; i += WG) { mb = max(mb, dmax[i]); }
  atomicMax(&smax, mb);
  for (var r = tid; r < BR; r += WG) {
    let R = R0 + r;
    var s = -2; // never matches a key: padding rows see nothing
    var ls = 0.0;
    var d = 0.0;
    if (R < nRows) {
      let h = g * G + R % G;
      s = select(-1, seg[R / G], p.useSeg != 0u);
      ls = lse[h * p.T + R / G];
      d = di[h * p.T + R / G];
    }
    rowSeg[r] = s;
    rowLse[r] = ls;
    rowDi[r] = d;
  }
  if (tid == 0u) {
    let firstPos = R0 / G;
    let lastPos = min(R0 + BR, nRows) - 1u;
    var start = 0u;
    if (p.useSeg != 0u) { start = lowerBound(seg[firstPos], firstPos); }
    kRange = vec2<u32>(start, min(p.T, lastPos / G + 1u));
  }
  workgroupBarrier();
  let e8 = clamp((atomicLoad(&smax) >> 23u) & 0xffu, 1u, 249u);
  let up = bitcast<f32>((250u - e8) << 23u);  // 2^(123 − e8): max |dout| · up in [1/16, 1/8)
  let down = bitcast<f32>((e8 + 4u) << 23u); // 1 / up
  stage_rows(tid, R0, g, false, p.scale);
  let range = workgroupUniformLoad(&kRange);
  //@Q_LOAD
  workgroupBarrier();
  stage_rows(tid, R0, g, true, up);
  workgroupBarrier();
  //@O_LOAD
  //@A_DECL
  workgroupBarrier(); // staging read before the first K/V tile overwrites it

  for (var j0 = range.x; j0 < range.y; j0 += BC) {
    let nc = min(BC, range.y - j0);
    for (var i = tid; i < BC * DV; i += WG) {
      let c = i / DV;
      let d4 = i % DV;
      var x = vec4<f32>(0.0);
      var y = vec4<f32>(0.0);
      if (c < nc) {
        let at = ((j0 + c) * p.nKv + g) * DV + d4;
        x = k[at];
        y = v[at];
      }
      put4(c * LDK + 4u * d4, x);
      put4(V0 + c * LDK + 4u * d4, y);
    }
    for (var c = tid; c < BC; c += WG) {
      var s = -1;
      if (p.useSeg != 0u && c < nc) { s = seg[j0 + c]; }
      colSeg[c] = select(-3, s, c < nc);
    }
    workgroupBarrier();
    //@SDP_MMA
    workgroupBarrier(); // S, dP stored
    for (var e = lane; e < 16u * BC; e += 32u) {
      let r = sg * 16u + e / BC;
      let c = e % BC;
      let R = R0 + r;
      let ok = j0 + c <= R / G && (p.useSeg == 0u || colSeg[c] == rowSeg[r]) && c < nc && rowSeg[r] != -2;
      var ds = 0.0;
      if (ok) { ds = exp(Sf[r * LDS + c] - rowLse[r]) * (dPf[r * LDS + c] - up * rowDi[r]); }
      Wh[KV0 + r * LDP + c] = f16(ds);
    }
    workgroupBarrier(); // dS written
    //@DQ_MMA
    workgroupBarrier(); // K and dS read
  }
  //@EPILOGUE
}

// Columns [c0, c0 + w) of the dq rows, staged in Sf [BR, LDS] → dq · f.
fn write_dq(tid: u32, R0: u32, g: u32, c0: u32, w: u32, f: f32) {
  let G = p.nHeads / p.nKv;
  let w4 = w / 4u;
  for (var i = tid; i < BR * w4; i += WG) {
    let rr = i / w4;
    let d4 = i % w4;
    let R = R0 + rr;
    if (R < p.T * G) {
      let at = rr * LDS + 4u * d4;
      let x = vec4<f32>(Sf[at], Sf[at + 1u], Sf[at + 2u], Sf[at + 3u]) * f;
      dq[((R / G) * p.nHeads + g * G + R % G) * DV + c0 / 4u + d4] = x;
    }
  }
}
