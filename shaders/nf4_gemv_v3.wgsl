// NF4 GEMV v3 for decode (M ≤ 4 tokens, K % 64 == 0):
//   y [M, N] (+)= x [M, K] · Wᵀ (+ scale · xa [M, r] · Bᵀ with LORA), W [N, K] NF4.
// A workgroup of WG invocations owns NS = WG / P row slots of R rows each (NS·R rows). The P
// invocations of a slot split the K/64 blocks of its R rows: lane `lane` takes blocks j = lane,
// lane + P, … in steps of U blocks (U·R·2 vec4<u32> code loads + U·R scale words issued before
// any decode). A block is 64 columns = two contiguous vec4<u32> of codes (32 bytes per lane and
// row: one full memory sector), with ONE absmax per row and block (double-quant: the u32 of four
// 8-bit codes loaded with the codes, then quant map · nested absmax + offset). x (8 columns × M
// tokens per word, through L1) is reused over the R rows. Codes decode one nibble at a time through
// a 16-code table replicated over the 32 shared-memory banks (as v2: no bank conflicts).
// No subgroups: the P partial sums of each (row, token) go through workgroup memory and are added
// by one invocation in a fixed order (vec4 reads), S values per pass — deterministic, and the same
// code runs on SwiftShader (no subgroups, no f16).

struct Params {
  M: u32,     // tokens, == MM
  N: u32,     // W rows in this dispatch (row chunk)
  K: u32,     // W columns, multiple of 64
  acc: u32,   // 1: y += x·Wᵀ
  ldy: u32,   // row stride of y
  o0: u32,    // first column of y written (chunk's first W row)
  ebase: u32, // flat index of the chunk's first element in the whole weight (multiple of 64)
  dq: u32,    // 1: double-quantized absmax (the DQ constant decides; kept for layout)
  r: u32,     // LoRA rank (LORA)
  scale: f32, // LoRA scale (LORA)
}

@group(0) @binding(0) var<storage, read_write> y: array<f32>;     // [M, ldy]
@group(0) @binding(1) var<storage, read> x: array<vec4<f32>>;     // [M, K/4]
@group(0) @binding(2) var<uniform> p: Params;
// binding 3, `packed`: the chunk's NF4 codes [N·K/8] u32 words, declared by the generator as an
// array of vec4<u32> (block layout, 2 per 64-column block) or of u32 / vec2<u32> / vec4<u32> (word layout).
@group(0) @binding(4) var<storage, read> absmax: array<f32>;      // [nb] or nested [ceil(nb/256)] (dq)
@group(0) @binding(5) var<storage, read> qcodes: array<u32>;      // dq: [ceil(nb/4)] 8-bit codes; else dummy
@group(0) @binding(6) var<storage, read> qmeta: array<f32>;       // dq: [257] quant map, offset; else dummy
@group(0) @binding(7) var<storage, read> lora_b: array<f32>;      // LORA: [ldy, r] lora_B; else dummy
@group(0) @binding(8) var<storage, read> xa: array<f32>;          // LORA: [M, r]; else dummy

// The wrapper (nf4.gemv.v3.ts) prepends `const WG` (invocations), `const R` (rows per slot),
// `const MM` (tokens), `const P` (lanes per slot, WG % P == 0, P % 4 == 0), `const U` (blocks per
// lane and iteration), `const S` (partials per reduction pass) and replaces the BODY marker with the
// generated loads, decode and reduction.
override LORA: bool = false;
override DQ: bool = false;

const NF4_BITS = array<u32, 16>(
  0xbf800000u, 0xbf3239b1u, 0xbf066b30u, 0xbeca32a0u, 0xbe91a24du, 0xbe3d353fu, 0xbdba7871u, 0x0u,
  0x3da2faffu, 0x3e24cae3u, 0x3e7c04ddu, 0x3ead033au, 0x3ee1a4b8u, 0x3f1007abu, 0x3f3913b3u,
  0x3f800000u);

var<workgroup> lut: array<f32, 512>;        // [16 codes][32 banks]
var<workgroup> red: array<vec4<f32>, S * WG / 4u>; // [S][NS][P] partial sums of one pass

// The dot of the 8 codes of word w (byte i → elements 2i (high nibble), 2i+1 (low)) with x0, x1;
// lut[code·32 + lb]: invocation lb (mod 32) reads only bank lb.
fn dot8(w: u32, lb: u32, x0: vec4<f32>, x1: vec4<f32>) -> f32 {
  let a = vec4<f32>(lut[((w << 1u) & 0x1e0u) | lb], lut[((w << 5u) & 0x1e0u) | lb],
                    lut[((w >> 7u) & 0x1e0u) | lb], lut[((w >> 3u) & 0x1e0u) | lb]);
  let b = vec4<f32>(lut[((w >> 15u) & 0x1e0u) | lb], lut[((w >> 11u) & 0x1e0u) | lb],
                    lut[((w >> 23u) & 0x1e0u) | lb], lut[((w >> 19u) & 0x1e0u) | lb]);
  return dot(a, x0) + dot(b, x1);
}

// The raw scale word of block b: the u32 holding its 8-bit code (DQ) or the f32 absmax bits.
fn scale_raw(b: u32) -> u32 {
  if (DQ) { return qcodes[b >> 2u]; }
  return bitcast<u32>(absmax[b]);
}
fn scale_of(raw: u32, b: u32, q256: f32) -> f32 {
  if (DQ) { return fma(qmeta[(raw >> ((b & 3u) * 8u)) & 0xffu], absmax[b >> 8u], q256); }
  return bitcast<f32>(raw);
}

// y[m, o0 + row] (+)= v (+ LoRA term); rows past the chunk are skipped.
fn emit(row: u32, m: u32, v0: f32) {
  if (row >= p.N) { return; }
  var v = v0;
  if (LORA) {
    var d = 0.0;
    let n = p.o0 + row;
    for (var j = 0u; j < p.r; j++) { d = fma(lora_b[n * p.r + j], xa[m * p.r + j], d); }
    v = fma(p.scale, d, v);
  }
  let idx = m * p.ldy + p.o0 + row;
  if (p.acc != 0u) { y[idx] = y[idx] + v; } else { y[idx] = v; }
}

// The sum of the P partials of value i of slot `slot` in this pass (fixed order).
fn red_sum(i: u32, slot: u32) -> f32 {
  let base = (i * (WG / P) + slot) * (P / 4u);
  var v = 0.0;
  for (var j = 0u; j < P / 4u; j++) { let a = red[base + j]; v += (a.x + a.y) + (a.z + a.w); }
  return v;
}
fn red_put(i: u32, slot: u32, lane: u32, v: f32) {
  let k = (i * (WG / P) + slot) * P + lane;
  red[k >> 2u][k & 3u] = v;
}

@compute @workgroup_size(WG)
fn main(@builtin(local_invocation_index) t: u32, @builtin(workgroup_id) wid: vec3<u32>,
        @builtin(num_workgroups) nwg: vec3<u32>) {
  for (var i = t; i < 512u; i += WG) { lut[i] = bitcast<f32>(NF4_BITS[i >> 5u]); }
  let lb = t & 31u;
  let lane = t % P;
  let slot = t / P;
  let kb = p.K / 64u; // blocks per row
  let kc = p.K / 32u; // vec4 code words per row
  let kx = p.K / 4u;  // vec4 per x row
  var q256 = 0.0;
  if (DQ) { q256 = qmeta[256]; }
  let wrow0 = (wid.x + wid.y * nwg.x) * ((WG / P) * R); // the workgroup's first row
  let rbase = wrow0 + slot * R;
  workgroupBarrier();
  //@BODY
}
