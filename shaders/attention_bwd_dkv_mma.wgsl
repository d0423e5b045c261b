// Tensor-core attention backward, dk/dv part (WGSL subgroup matrices, f16 operands, f32
// accumulation; letters, masking and the packed rows R = pos·G + hh as attention_fwd_mma.wgsl).
// The wrapper (attention.mma.bwd.ts) prepends the enables and `const HD, BK, BQ, KREG` and
// replaces the //@ markers with straight-line code over the subgroup matrices dk_i, dv_i
// (i < HD/16; with KREG also the left matrices k_i, v_i held for the whole kernel) and
// st_j, dpt_j (j < BQ/16). One workgroup = BK = 16·NSG keys of kv head g; subgroup sg owns keys
// 16·sg .. 16·sg + 15. It walks the packed rows of all G query heads of g that can see its keys
// (positions k0 .. end of the last key's segment) in tiles of BQ rows (q·scale and dout·up staged
// as f16; up = one power of two per call, see attention_bwd_dq_mma.wgsl), so the G heads' shares
// sum in registers (no reduce pass, fixed order). Row split (grid z = nSplit > 1, short sequences
// where the key tiles alone do not fill the GPU): workgroup z walks row tiles z, z + nSplit, …
// and writes its partial dk, dv at z·zStride (the wrapper sums the splits in order). Per row tile:
//   Sᵀ = k·(q·scale)ᵀ → St, dP'ᵀ = v·(dout·up)ᵀ → dPt (f32 results stored to workgroup memory);
//   lanes: Pᵀ = exp(Sᵀ − lse) masked, dS'ᵀ = Pᵀ ∘ (dP'ᵀ − up·D_i) → f16 Pt, dSt;
//   dV' += Pᵀ·(dout·up), dK' += dS'ᵀ·(q·scale). End: dk = dK' / up, dv = dV' / up.
// Every subgroupMatrixLoad/Store offset derives from subgroup_id, loop counters and consts only.

struct Params {
  T: u32, nHeads: u32, nKv: u32, nPart: u32,
  useSeg: u32, nSplit: u32, zStride: u32, scale: f32, // zStride: vec4 between the splits' outputs
}

@group(0) @binding(0) var<storage, read_write> dk: array<vec4<f32>>; // [nSplit, T, Hkv*D]
@group(0) @binding(1) var<storage, read_write> dv: array<vec4<f32>>; // [nSplit, T, Hkv*D]
@group(0) @binding(2) var<storage, read> di: array<f32>;             // [H, T] rowsum(dout ∘ out)
@group(0) @binding(3) var<storage, read> dmax: array<u32>;           // [nPart] max |dout| (f32 bits)
@group(0) @binding(4) var<storage, read> dout: array<vec4<f32>>;     // [T, H*D]
@group(0) @binding(5) var<storage, read> q: array<vec4<f32>>;        // [T, H*D]
@group(0) @binding(6) var<storage, read> k: array<vec4<f32>>;        // [T, Hkv*D]
@group(0) @binding(7) var<storage, read> v: array<vec4<f32>>;        // [T, Hkv*D]
@group(0) @binding(8) var<storage, read> lse: array<f32>;            // [H, T]
@group(0) @binding(9) var<storage, read> seg: array<i32>;            // [T]
@group(0) @binding(10) var<uniform> p: Params;

const NSG: u32 = BK / 16u;
const WG: u32 = 32u * NSG;
const DV: u32 = HD / 4u;
const LDK: u32 = HD + 8u;         // row stride (f16) of [*, D] tiles
const LDQ: u32 = BQ + 8u;         // row stride (f16) of Pᵀ, dSᵀ
const LDS: u32 = BQ + 4u;         // row stride (f32) of Sᵀ, dPᵀ
// Wh: K, V tiles [BK, LDK] (none with KREG: staged through the q/dout region at the start),
// q·scale, dout·up tiles [BQ, LDK], Pᵀ, dSᵀ [BK, LDQ].
const KVN: u32 = select(2u * BK * LDK, 0u, KREG);
const Q0: u32 = KVN;
const O0: u32 = KVN + BQ * LDK;
const P0: u32 = KVN + 2u * BQ * LDK;
const DS0: u32 = P0 + BK * LDQ;
const_assert HD % 16u == 0u && BQ % 16u == 0u;
const_assert !KREG || BK <= 2u * BQ;

var<workgroup> Wh: array<f16, DS0 + BK * LDQ>;
var<workgroup> St: array<f32, BK * LDS>;  // [BK, BQ] Sᵀ; epilogue scratch
var<workgroup> dPt: array<f32, BK * LDS>; // [BK, BQ] dP'ᵀ; epilogue scratch
var<workgroup> rowLse: array<f32, BQ>;
var<workgroup> rowDi: array<f32, BQ>;     // up · D_i
var<workgroup> rowPos: array<u32, BQ>;
var<workgroup> rowSeg: array<i32, BQ>;
var<workgroup> colSeg: array<i32, BK>;
var<workgroup> qRange: vec2<u32>;
var<workgroup> smax: atomic<u32>;

// First index j in [lo0, n) with seg[j] > want, else n (seg non-decreasing).
fn upperBound(want: i32, lo0: u32, n: u32) -> u32 {
  var lo = lo0;
  var hi = n;
  while (lo < hi) {
    let mid = (lo + hi) / 2u;
    if (seg[mid] <= want) { lo = mid + 1u; } else { hi = mid; }
  }
  return lo;
}

fn put4(at: u32, x: vec4<f32>) {
  Wh[at] = f16(x.x);
  Wh[at + 1u] = f16(x.y);
  Wh[at + 2u] = f16(x.z);
  Wh[at + 3u] = f16(x.w);
}

// Keys k0 .. k0 + BK − 1 of kv head g (k, or v if isV) → Wh[at ..) as f16 (zeros past T).
fn stage_keys(tid: u32, k0: u32, g: u32, isV: bool, at: u32) {
  for (var i = tid; i < BK * DV; i += WG) {
    let c = i / DV;
    let d4 = i % DV;
    var x = vec4<f32>(0.0);
    if (k0 + c < p.T) {
      let a = ((k0 + c) * p.nKv + g) * DV + d4;
      if (isV) { x = v[a]; } else { x = k[a]; }
    }
    put4(at + c * LDK + 4u * d4, x);
  }
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) tid: u32,
        @builtin(subgroup_id) sg: u32, @builtin(subgroup_invocation_id) lane: u32) {
  let T = p.T;
  let G = p.nHeads / p.nKv;
  let g = wid.y;
  let k0 = wid.x * BK;
  let nc = min(BK, T - k0);

  var mb = 0u;
  for (var i = tid; i < p.nPart; i += WG) { mb = max(mb, dmax[i]); }
  atomicMax(&smax, mb);
  for (var c = tid; c < BK; c += WG) {
    var s = -1;
    if (c < nc && p.useSeg != 0u) { s = seg[k0 + c]; }
    colSeg[c] = select(-2, s, c < nc); // -2 never matches a row: padding keys see nothing
  }
  if (tid == 0u) {
    var end = T;
    if (p.useSeg != 0u) { end = upperBound(seg[k0 + nc - 1u], k0 + nc - 1u, T); }
    qRange = vec2<u32>(k0 * G, end * G);
  }
  workgroupBarrier();
  let e8 = clamp((atomicLoad(&smax) >> 23u) & 0xffu, 1u, 249u);
  let up = bitcast<f32>((250u - e8) << 23u);  // max |dout| · up in [1/16, 1/8)
  let down = bitcast<f32>((e8 + 4u) << 23u); // 1 / up
  let range = workgroupUniformLoad(&qRange);
  //@KV_LOAD
  //@ACC_DECL

  for (var R0 = range.x + wid.z * BQ; R0 < range.y; R0 += p.nSplit * BQ) {
    let nr = min(BQ, range.y - R0);
    for (var i = tid; i < BQ * DV; i += WG) {
      let r = i / DV;
      let d4 = i % DV;
      var x = vec4<f32>(0.0);
      var y = vec4<f32>(0.0);
      if (r < nr) {
        let R = R0 + r;
        let at = ((R / G) * p.nHeads + g * G + R % G) * DV + d4;
        x = q[at] * p.scale;
        y = dout[at] * up;
      }
      put4(Q0 + r * LDK + 4u * d4, x);
      put4(O0 + r * LDK + 4u * d4, y);
    }
    for (var r = tid; r < BQ; r += WG) {
      let R = R0 + r;
      var ls = 0.0;
      var d = 0.0;
      var s = -3; // padding rows match no key
      if (r < nr) {
        let h = g * G + R % G;
        ls = lse[h * T + R / G];
        d = di[h * T + R / G];
        s = select(-1, seg[R / G], p.useSeg != 0u);
      }
      rowLse[r] = ls;
      rowDi[r] = up * d;
      rowPos[r] = R / G;
      rowSeg[r] = s;
    }
    workgroupBarrier();
    //@SDP_MMA
    workgroupBarrier(); // Sᵀ, dPᵀ stored
    for (var e = lane; e < 16u * BQ; e += 32u) {
      let c = sg * 16u + e / BQ;
      let r = e % BQ;
      var pr = 0.0;
      var ds = 0.0;
      if (k0 + c <= rowPos[r] && rowSeg[r] == colSeg[c]) {
        pr = exp(St[c * LDS + r] - rowLse[r]);
        ds = pr * (dPt[c * LDS + r] - rowDi[r]);
      }
      Wh[P0 + c * LDQ + r] = f16(pr);
      Wh[DS0 + c * LDQ + r] = f16(ds);
    }
    workgroupBarrier(); // Pᵀ, dSᵀ written
    //@DKV_MMA
    workgroupBarrier(); // tiles read before the next rows overwrite them
  }
  //@EPILOGUE
}

// nm matrices of subgroup sg staged at St / dPt [sg·16·LDS + m·256 ..) (its own rows, stride
// 16) → columns 16·(i0 + m) of its keys' dk / dv (split output at vec4 offset zo), times f.
fn write_kv(sg: u32, lane: u32, k0: u32, g: u32, i0: u32, nm: u32, f: f32, zo: u32) {
  for (var e = lane; e < nm * 64u; e += 32u) {
    let m = e / 64u;
    let rr = (e % 64u) / 4u;
    let d4 = e % 4u;
    let c = sg * 16u + rr;
    if (k0 + c < p.T) {
      let at = sg * 16u * LDS + m * 256u + rr * 16u + 4u * d4;
      let o = zo + ((k0 + c) * p.nKv + g) * DV + 4u * (i0 + m) + d4;
      dk[o] = vec4<f32>(St[at], St[at + 1u], St[at + 2u], St[at + 3u]) * f;
      dv[o] = vec4<f32>(dPt[at], dPt[at + 1u], dPt[at + 2u], dPt[at + 3u]) * f;
    }
  }
}
