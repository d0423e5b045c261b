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

// Params, the other bindings, NF4_BITS, scale_raw / scale_of and emit: nf4_gemv_common.wgsl;
// the bank-replicated code table (lut_init, dot8): nf4_gemv_lut.wgsl. Binding 3, `packed`: the
// chunk's NF4 codes [N·K/8] u32 words, declared by the generator as an array of vec4<u32> (block
// layout, 2 per 64-column block) or of u32 / vec2<u32> / vec4<u32> (word layout).

// The wrapper (nf4.gemv.v3.ts) prepends `const WG` (invocations), `const R` (rows per slot),
// `const MM` (tokens), `const P` (lanes per slot, WG % P == 0, P % 4 == 0), `const U` (blocks per
// lane and iteration), `const S` (partials per reduction pass) and `packed`, replaces the BODY
// marker with the generated loads, decode and reduction, and appends nf4_gemv_common.wgsl and
// nf4_gemv_lut.wgsl.
override LORA: bool = false;
override DQ: bool = false;

var<workgroup> red: array<vec4<f32>, S * WG / 4u>; // [S][NS][P] partial sums of one pass

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
  lut_init(t);
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
