// Workgroup-wide reductions through a tree in workgroup memory: the path for devices without
// `subgroups` (reduce_sg.wgsl has the same functions with subgroup operations). Appended by
// src/gpu/ops/reduce.ts to kernels that reduce one row per workgroup (rmsnorm.wgsl,
// crossentropy.wgsl, attention_decode.wgsl); the kernel declares `override WG: u32` (a power of
// two) and takes `ln: Lane` in its entry point. Every invocation gets the result; each function
// must be called in workgroup-uniform control flow (it has barriers). Fixed pairing order, so the
// results are bitwise repeatable.

struct Lane { @builtin(local_invocation_index) lid: u32 }

var<workgroup> red_a: array<f32, WG>;
var<workgroup> red_b: array<f32, WG>;
var<workgroup> red_u: array<u32, WG>;

const RED_NONE: u32 = 0xffffffffu; // "no index" for wg_argmax

fn wg_sum(v: f32, ln: Lane) -> f32 {
  let t = ln.lid;
  red_a[t] = v;
  workgroupBarrier();
  for (var s = WG / 2u; s > 0u; s >>= 1u) {
    if (t < s) { red_a[t] += red_a[t + s]; }
    workgroupBarrier();
  }
  let r = red_a[0];
  workgroupBarrier();
  return r;
}

fn wg_max(v: f32, ln: Lane) -> f32 {
  let t = ln.lid;
  red_a[t] = v;
  workgroupBarrier();
  for (var s = WG / 2u; s > 0u; s >>= 1u) {
    if (t < s) { red_a[t] = max(red_a[t], red_a[t + s]); }
    workgroupBarrier();
  }
  let r = red_a[0];
  workgroupBarrier();
  return r;
}

// log Σ over the workgroup of s·exp(m): each invocation holds an online-softmax pair (m = its
// max, s = Σ exp(x − m) over its slice); pairs combine as m = max(m1, m2),
// s = s1·exp(m1 − m) + s2·exp(m2 − m). An empty slice is (−3.4e38, 0).
fn wg_lse(m: f32, s: f32, ln: Lane) -> f32 {
  let t = ln.lid;
  red_a[t] = m;
  red_b[t] = s;
  workgroupBarrier();
  for (var k = WG / 2u; k > 0u; k >>= 1u) {
    if (t < k) {
      let m1 = red_a[t]; let m2 = red_a[t + k];
      let mm = max(m1, m2);
      red_b[t] = red_b[t] * exp(m1 - mm) + red_b[t + k] * exp(m2 - mm);
      red_a[t] = mm;
    }
    workgroupBarrier();
  }
  let r = red_a[0] + log(red_b[0]);
  workgroupBarrier();
  return r;
}

// Index of the workgroup's largest v, the smallest index among equal ones; i = RED_NONE for an
// invocation that saw no element (it never wins).
fn wg_argmax(v: f32, i: u32, ln: Lane) -> u32 {
  let t = ln.lid;
  red_a[t] = v;
  red_u[t] = i;
  workgroupBarrier();
  for (var k = WG / 2u; k > 0u; k >>= 1u) {
    if (t < k) {
      let v2 = red_a[t + k]; let i2 = red_u[t + k];
      let v1 = red_a[t]; let i1 = red_u[t];
      if (i2 != RED_NONE && (i1 == RED_NONE || v2 > v1 || (v2 == v1 && i2 < i1))) {
        red_a[t] = v2; red_u[t] = i2;
      }
    }
    workgroupBarrier();
  }
  let r = red_u[0];
  workgroupBarrier();
  return r;
}
