// NF4 GEMV v2 for decode (M ≤ 4 tokens, K % 32 == 0):
//   y [M, N] (+)= x [M, K] · Wᵀ (+ scale · xa [M, r] · Bᵀ with LORA), W [N, K] NF4.
// A workgroup owns G row groups of R rows. A row group is reduced by ONE subgroup (SG variant,
// `subgroupAdd`, no workgroup barrier tree) or by one fixed group of 32 invocations (plain
// variant: 32 partial sums per value in workgroup memory, summed in a fixed order). Within the
// group, lane `rank` (of `nact` active lanes) streams the 32-column chunks c = rank, rank + nact,
// … < K/32 of all R rows: one vec4<u32> (32 codes) per row and chunk, the loads of chunk c + nact
// issued before chunk c is decoded (one chunk of prefetch), the x values loaded once per word and
// reused for the R rows. Codes decode one nibble at a time through a 16-code table replicated
// over the 32 shared-memory banks (lut[code·32 + bank], bank = invocation index mod 32: no bank
// conflicts whatever the codes; the 256-entry byte → pair table of v1 serializes ~3× on random
// bytes). The block absmax (double-quant: 8-bit code · nested absmax + offset) is applied once
// per row and chunk; its raw word is prefetched with the codes.
// Subgroup variant: every subgroup takes a slot from a workgroup counter (no assumption about
// how invocation indices map to subgroups) and loops over the row groups g = slot, slot + nsub, …;
// lane ranks come from subgroupExclusiveAdd, so any subgroup size works. Deterministic: a row's
// sum depends only on the lane ranks and the hardware's fixed subgroupAdd order.

struct Params {
  M: u32,     // tokens, == MM
  N: u32,     // W rows in this dispatch (row chunk)
  K: u32,     // W columns, multiple of 32
  acc: u32,   // 1: y += x·Wᵀ
  ldy: u32,   // row stride of y
  o0: u32,    // first column of y written (chunk's first W row)
  ebase: u32, // flat index of the chunk's first element in the whole weight
  dq: u32,    // 1: double-quantized absmax (the DQ constant decides; kept for layout)
  r: u32,     // LoRA rank (LORA)
  scale: f32, // LoRA scale (LORA)
}

@group(0) @binding(0) var<storage, read_write> y: array<f32>;     // [M, ldy]
@group(0) @binding(1) var<storage, read> x: array<vec4<f32>>;     // [M, K/4]
@group(0) @binding(2) var<uniform> p: Params;
@group(0) @binding(3) var<storage, read> packed: array<vec4<u32>>; // [N·K/32] NF4 codes of the chunk
@group(0) @binding(4) var<storage, read> absmax: array<f32>;      // [nb] or nested [ceil(nb/256)] (dq)
@group(0) @binding(5) var<storage, read> qcodes: array<u32>;      // dq: [ceil(nb/4)] 8-bit codes; else dummy
@group(0) @binding(6) var<storage, read> qmeta: array<f32>;       // dq: [257] quant map, offset; else dummy
@group(0) @binding(7) var<storage, read> lora_b: array<f32>;      // LORA: [ldy, r] lora_B; else dummy
@group(0) @binding(8) var<storage, read> xa: array<f32>;          // LORA: [M, r]; else dummy

// The wrapper (nf4.gemv.ts) prepends `const R` (rows per group), `const MM` (tokens), `const G`
// (groups per workgroup) and, for the subgroup variant, `enable subgroups;`; it replaces the
// //@ markers with the generated prologue, accumulation and reduction.
override WG: u32 = 256;   // invocations; G = WG / 32
override LORA: bool = false;
override DQ: bool = false;

const NF4_BITS = array<u32, 16>(
  0xbf800000u, 0xbf3239b1u, 0xbf066b30u, 0xbeca32a0u, 0xbe91a24du, 0xbe3d353fu, 0xbdba7871u, 0x0u,
  0x3da2faffu, 0x3e24cae3u, 0x3e7c04ddu, 0x3ead033au, 0x3ee1a4b8u, 0x3f1007abu, 0x3f3913b3u,
  0x3f800000u);

//@DECLS

// The raw scale word of block b: its 8-bit code's u32 (DQ) or the f32 absmax bits.
fn scale_raw(b: u32) -> u32 {
  if (DQ) { return qcodes[b >> 2u]; }
  return bitcast<u32>(absmax[b]);
}
fn scale_of(raw: u32, b: u32, q256: f32) -> f32 {
  if (DQ) { return fma(qmeta[(raw >> ((b & 3u) * 8u)) & 0xffu], absmax[b >> 8u], q256); }
  return bitcast<f32>(raw);
}

// LUT: the code table in workgroup memory, `lut_init(t)` filling it and
// `dot8(w, lb, x0, x1)`: the dot of the 8 codes of word w (byte i → elements 2i (high nibble),
// 2i+1 (low)) with x0, x1 (lb = invocation index mod 32). Default (gemvSettings.lut, nf4.gemv.ts): 16 codes
// replicated over the 32 banks; the bench's alternative: v1's byte → pair table.
//@LUT

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

@compute @workgroup_size(WG)
fn main(@builtin(local_invocation_index) t: u32, @builtin(workgroup_id) wid: vec3<u32>,
        @builtin(num_workgroups) nwg: vec3<u32>) {
  lut_init(t);
  let lb = t & 31u;
  let kc = p.K / 32u; // chunks per row
  let kx = p.K / 4u;  // vec4 per x row
  var q256 = 0.0;
  if (DQ) { q256 = qmeta[256]; }
  let wrow0 = (wid.x + wid.y * nwg.x) * (G * R);
  // PROLOGUE: defines slot, nsub, rank, nact (and the workgroupBarrier after the table).
  //@PROLOGUE
  // BODY: per group g (SG: g = slot, slot + nsub, … < G; plain: g = slot) with rows
  // rbase + 0..R-1 (rbase = wrow0 + g·R): the accumulation loop, then the reduction and emit().
  //@BODY
}
