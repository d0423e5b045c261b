// Row max / row sum over the NTC threads of a row group (attention_fwd_tiled_pf.wgsl), through
// workgroup memory (devices without subgroups): "stash" writes this thread's partial for row r,
// "fetch" (after the next workgroupBarrier) combines the NTC partials of row r in a fixed order.

var<workgroup> redM: array<f32, BR * NTC>; // [BR, NTC] partial row maxima
var<workgroup> redL: array<f32, BR * NTC>; // [BR, NTC] partial row sums

fn rowMaxStash(i: u32, r: u32, tx: u32, x: f32) { redM[r * NTC + tx] = x; }

fn rowMaxFetch(i: u32, r: u32) -> f32 {
  var y = -1e30;
  for (var t = 0u; t < NTC; t++) { y = max(y, redM[r * NTC + t]); }
  return y;
}

fn rowSumStash(i: u32, r: u32, tx: u32, x: f32) { redL[r * NTC + tx] = x; }

fn rowSumFetch(i: u32, r: u32) -> f32 {
  var y = 0.0;
  for (var t = 0u; t < NTC; t++) { y += redL[r * NTC + t]; }
  return y;
}
