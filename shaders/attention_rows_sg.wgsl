// Row max / row sum over the NTC threads of a row group (attention_fwd_tiled_pf.wgsl), with
// subgroup shuffles: the NTC threads of a row group are NTC consecutive invocations (tid = ty·NTC
// + tx), so XOR masks 1 .. NTC/2 stay inside the group. Needs `enable subgroups;`, subgroups of at
// least NTC invocations (the wrapper checks subgroupMinSize) and subgroup k = invocations
// [k·size, (k+1)·size) of the 1-D workgroup, as on every implementation we know of (reduce_sg.wgsl).
// "Stash" combines at once into a private per-row slot; "fetch" (after the next barrier, to keep
// the same call sites as the workgroup-memory version) reads it back. i: row slot < TM.

var<private> rowM: array<f32, TM>;
var<private> rowL: array<f32, TM>;

fn rowMaxStash(i: u32, r: u32, tx: u32, x: f32) {
  var y = x;
  for (var s = 1u; s < NTC; s <<= 1u) { y = max(y, subgroupShuffleXor(y, s)); }
  rowM[i] = y;
}

fn rowMaxFetch(i: u32, r: u32) -> f32 { return rowM[i]; }

fn rowSumStash(i: u32, r: u32, tx: u32, x: f32) {
  var y = x;
  for (var s = 1u; s < NTC; s <<= 1u) { y += subgroupShuffleXor(y, s); }
  rowL[i] = y;
}

fn rowSumFetch(i: u32, r: u32) -> f32 { return rowL[i]; }
