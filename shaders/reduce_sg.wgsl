// Workgroup-wide reductions with subgroup operations, for devices with `subgroups` (reduce.ts
// prepends `enable subgroups;`): the same functions as reduce_wg.wgsl, with two barriers each
// instead of log2(WG) + 1. Level 1: a subgroup operation within each subgroup; lane 0 stores its
// subgroup's value in slot lid / size (red_*: [WG / size] used of [WG / 4]). Level 2: every
// subgroup reads all slots (lane j takes slots j, j + size, …), combines them in that fixed order
// and applies a second subgroup operation, so every invocation gets the same value and the result
// is bitwise repeatable on a device. Any subgroup size 4..128 dividing WG (WG is a power of two ≥
// 128 in every kernel using this). Assumes subgroup k is the invocations [k·size, (k+1)·size) of
// a 1-D workgroup, as on every implementation we know of (WGSL leaves the mapping open).

struct Lane {
  @builtin(local_invocation_index) lid: u32,
  @builtin(subgroup_size) size: u32,
  @builtin(subgroup_invocation_id) id: u32,
}

var<workgroup> red_a: array<f32, WG / 4u>;
var<workgroup> red_b: array<f32, WG / 4u>;
var<workgroup> red_u: array<u32, WG / 4u>;

const RED_NONE: u32 = 0xffffffffu; // "no index" for wg_argmax
const RED_NEG: f32 = -3.402823e38;

fn wg_sum(v: f32, ln: Lane) -> f32 {
  let s = subgroupAdd(v);
  if (ln.id == 0u) { red_a[ln.lid / ln.size] = s; }
  workgroupBarrier();
  var t = 0.0;
  for (var j = ln.id; j < WG / ln.size; j += ln.size) { t += red_a[j]; }
  let r = subgroupAdd(t);
  workgroupBarrier(); // the slots are free for the next call
  return r;
}

fn wg_max(v: f32, ln: Lane) -> f32 {
  let s = subgroupMax(v);
  if (ln.id == 0u) { red_a[ln.lid / ln.size] = s; }
  workgroupBarrier();
  var t = RED_NEG;
  for (var j = ln.id; j < WG / ln.size; j += ln.size) { t = max(t, red_a[j]); }
  let r = subgroupMax(t);
  workgroupBarrier();
  return r;
}

// log Σ over the workgroup of s·exp(m) (online-softmax pairs, see reduce_wg.wgsl).
fn wg_lse(m: f32, s: f32, ln: Lane) -> f32 {
  let m1 = subgroupMax(m);
  let s1 = subgroupAdd(s * exp(m - m1));
  if (ln.id == 0u) { red_a[ln.lid / ln.size] = m1; red_b[ln.lid / ln.size] = s1; }
  workgroupBarrier();
  var m2 = RED_NEG;
  var s2 = 0.0;
  for (var j = ln.id; j < WG / ln.size; j += ln.size) {
    let mj = red_a[j];
    let mm = max(m2, mj);
    s2 = s2 * exp(m2 - mm) + red_b[j] * exp(mj - mm);
    m2 = mm;
  }
  let m3 = subgroupMax(m2);
  let s3 = subgroupAdd(s2 * exp(m2 - m3));
  workgroupBarrier();
  return m3 + log(s3);
}

// Index of the workgroup's largest v, the smallest index among equal ones; i = RED_NONE for an
// invocation that saw no element. Values at or below −3.4e38 (−inf) and NaN count as −3.4e38,
// so a row that has elements always gets an index.
fn wg_argmax(v: f32, i: u32, ln: Lane) -> u32 {
  let v1 = select(RED_NEG, v, v > RED_NEG);
  let mx = subgroupMax(v1);
  let b1 = subgroupMin(select(RED_NONE, i, i != RED_NONE && v1 == mx));
  if (ln.id == 0u) { red_a[ln.lid / ln.size] = mx; red_u[ln.lid / ln.size] = b1; }
  workgroupBarrier();
  var bv = RED_NEG;
  var bi = RED_NONE;
  for (var j = ln.id; j < WG / ln.size; j += ln.size) {
    let vj = red_a[j]; let ij = red_u[j];
    if (ij != RED_NONE && (bi == RED_NONE || vj > bv || (vj == bv && ij < bi))) { bv = vj; bi = ij; }
  }
  let mx2 = subgroupMax(bv);
  let r = subgroupMin(select(RED_NONE, bi, bi != RED_NONE && bv == mx2));
  workgroupBarrier();
  return r;
}
