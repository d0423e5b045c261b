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

// Params, the other bindings, NF4_BITS, scale_raw / scale_of and emit: nf4_gemv_common.wgsl.
@group(0) @binding(3) var<storage, read> packed: array<vec4<u32>>; // [N·K/32] NF4 codes of the chunk

// The wrapper (nf4.gemv.ts) prepends `const R` (rows per group), `const MM` (tokens), `const G`
// (groups per workgroup) and, for the subgroup variant, `enable subgroups;`; it replaces the
// //@ markers with the generated prologue, accumulation and reduction and appends
// nf4_gemv_common.wgsl and the code table: lut_init(t), dot8(w, lb, x0, x1) — the dot of the 8
// codes of word w with x0, x1, lb = invocation index mod 32 — from nf4_gemv_lut.wgsl (default,
// gemvSettings.lut) or, the bench's alternative, v1's byte → pair table nf4_gemv_lut_pair.wgsl.
override WG: u32 = 256;   // invocations; G = WG / 32
override LORA: bool = false;
override DQ: bool = false;

//@DECLS

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
