// NF4 weight loader of the v3 tensor-core kernel (nf4_mma_v3.wgsl; nf4_common.wgsl follows):
// a piece is one NF4 word (8 codes) with its absmax block scale; decoded two codes at a time
// through a byte → (high, low) table, and the double-absmax code book (qmeta) copied to
// workgroup memory once (the dq scale is one global load + one workgroup load instead of two
// dependent global loads).
// Code order: consts + nf4_mma_v3.wgsl + nf4_mma_v3_load.wgsl + nf4_common.wgsl.

const WB = 4u; // NF4 weight bindings 4..7 (nf4_common.wgsl)
alias WStage = vec2<u32>; // (packed word, f32 bits of its block scale)
const LOADER_WG_BYTES = 2048u + 1028u; // lut2, qm

var<workgroup> lut2: array<vec2<f32>, 256>;   // byte → (code of the high nibble, of the low nibble)
var<workgroup> qm: array<f32, 257>;           // dq: the absmax code book and offset (qmeta)

fn init_b(t: u32) {
  for (var i = t; i < 256u; i += WG) {
    lut2[i] = vec2<f32>(bitcast<f32>(NF4_BITS[i >> 4u]), bitcast<f32>(NF4_BITS[i & 15u]));
  }
  if (p.wflags != 0u) {
    for (var i = t; i < 257u; i += WG) { qm[i] = qmeta[i]; }
  }
}

// absmax of global block b (block_scale of nf4_common.wgsl with qmeta from workgroup memory).
fn scale_of(b: u32) -> f32 {
  if (p.wflags != 0u) {
    let c = (qcodes[b >> 2u] >> ((b & 3u) * 8u)) & 0xffu;
    return qm[c] * absmax[b >> 8u] + qm[256];
  }
  return absmax[b];
}

// NF4 word q (0 ≤ q < BN·BK/8) of the B tile and its block scale.
fn fetch_w(q: u32, r0: u32, c0: u32) -> WStage {
  var n: u32;
  var k: u32;
  if (BWD) {
    // B(r, c) = W[r0 + r, c0 + c]: tile row q / (BN/8), columns from (q % (BN/8))·8
    n = r0 + q / (BN / 8u);
    k = c0 + (q % (BN / 8u)) * 8u;
  } else {
    // B(r, c) = W[c0 + c, r0 + r]: tile column q / (BK/8), rows from (q % (BK/8))·8
    n = c0 + q / (BK / 8u);
    k = r0 + (q % (BK / 8u)) * 8u;
  }
  if (n < p.wrows && k < p.wk) {
    let e = n * p.wk + k;
    return vec2<u32>(packed[e >> 3u], bitcast<u32>(scale_of((p.ebase + e) >> 6u)));
  }
  return vec2<u32>(0u);
}

fn store_w(q: u32, ws: WStage, buf: u32) {
  var bd: u32;
  if (BWD) {
    bd = buf * BS_LEN + (q / (BN / 8u)) * LDB + (q % (BN / 8u)) * 8u;
  } else {
    bd = buf * BS_LEN + (q / (BK / 8u)) * LDB + (q % (BK / 8u)) * 8u;
  }
  let s = bitcast<f32>(ws.y);
  // byte b of the word holds codes 2b (high nibble) and 2b + 1 (low nibble)
  for (var b = 0u; b < 4u; b++) {
    let v = lut2[(ws.x >> (8u * b)) & 255u] * s;
    Bs[bd + 2u * b] = f16(v.x);
    Bs[bd + 2u * b + 1u] = f16(v.y);
  }
}

// NF4 values need no inverse weight scale.
fn b_unscale(v: f32) -> f32 {
  return v;
}
