// Cross-entropy over rows of logits [Tc, V] (a chunk of the sequence), one workgroup per row.
// Max-subtracted log-sum-exp computed online in one pass: each thread keeps (max m, Σ exp(x−m))
// over a strided slice, then a tree reduction combines pairs as m = max(m1, m2),
// s = s1·exp(m1−m) + s2·exp(m2−m). f32 throughout. Entry points:
//   fwd_bwd:    nll[t] = lse − x[label]; logits overwritten with (softmax − onehot)·gradScale
//   forward:    nll only (logits read, not written)
//   lse_argmax: out[t] = logsumexp(row), ints[t] = first index of the row's maximum
// label −100 → nll 0 and a zero gradient row; a label outside [0, V) → nll NaN, zero row.

struct Params { Tc: u32, V: u32, grad_scale: f32, nan: f32 }

@group(0) @binding(0) var<storage, read_write> out: array<f32>;    // [Tc] nll (or lse)
@group(0) @binding(1) var<storage, read_write> logits: array<f32>; // [Tc, V]
@group(0) @binding(2) var<uniform> p: Params;
@group(0) @binding(3) var<storage, read_write> ints: array<i32>;   // [Tc] labels (read) or argmax (written)

override WG: u32 = 256; // power of two

const NEG_BIG: f32 = -3.402823e38;

var<workgroup> red_m: array<f32, WG>;
var<workgroup> red_s: array<f32, WG>;
var<workgroup> red_i: array<u32, WG>;

// Log-sum-exp of the row (every thread gets it); `base` = row·V.
fn row_lse(base: u32, lid: u32) -> f32 {
  var m = NEG_BIG;
  var s = 0.0;
  for (var c = lid; c < p.V; c += WG) {
    let v = logits[base + c];
    if (v > m) { s = s * exp(m - v) + 1.0; m = v; } else { s += exp(v - m); }
  }
  red_m[lid] = m;
  red_s[lid] = s;
  workgroupBarrier();
  for (var k = WG / 2u; k > 0u; k >>= 1u) {
    if (lid < k) {
      let m1 = red_m[lid]; let m2 = red_m[lid + k];
      let mm = max(m1, m2);
      red_s[lid] = red_s[lid] * exp(m1 - mm) + red_s[lid + k] * exp(m2 - mm);
      red_m[lid] = mm;
    }
    workgroupBarrier();
  }
  let r = red_m[0] + log(red_s[0]);
  workgroupBarrier();
  return r;
}

fn row_index(wid: vec3<u32>, nwg: vec3<u32>) -> u32 { return wid.x + wid.y * nwg.x; }

@compute @workgroup_size(WG)
fn fwd_bwd(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
           @builtin(local_invocation_index) lid: u32) {
  let row = row_index(wid, nwg);
  if (row >= p.Tc) { return; }
  let base = row * p.V;
  let label = ints[row];
  let valid = label >= 0 && u32(label) < p.V;
  var x_label = 0.0;
  if (valid) { x_label = logits[base + u32(label)]; } // read before any thread overwrites the row
  let lse = row_lse(base, lid);
  if (lid == 0u) {
    if (label == -100) { out[row] = 0.0; } else if (valid) { out[row] = lse - x_label; } else { out[row] = p.nan; }
  }
  for (var c = lid; c < p.V; c += WG) {
    var g = 0.0;
    if (valid) {
      g = exp(logits[base + c] - lse);
      if (i32(c) == label) { g -= 1.0; }
      g *= p.grad_scale;
    }
    logits[base + c] = g;
  }
}

@compute @workgroup_size(WG)
fn forward(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
           @builtin(local_invocation_index) lid: u32) {
  let row = row_index(wid, nwg);
  if (row >= p.Tc) { return; }
  let base = row * p.V;
  let lse = row_lse(base, lid);
  if (lid == 0u) {
    let label = ints[row];
    if (label == -100) { out[row] = 0.0; }
    else if (label >= 0 && u32(label) < p.V) { out[row] = lse - logits[base + u32(label)]; }
    else { out[row] = p.nan; }
  }
}

@compute @workgroup_size(WG)
fn lse_argmax(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
              @builtin(local_invocation_index) lid: u32) {
  let row = row_index(wid, nwg);
  if (row >= p.Tc) { return; }
  let base = row * p.V;
  // argmax first (uses red_m / red_i), then the lse (reuses red_m).
  var best = NEG_BIG;
  var bi = 0xffffffffu;
  for (var c = lid; c < p.V; c += WG) {
    let v = logits[base + c];
    if (v > best || bi == 0xffffffffu) { best = v; bi = c; }
  }
  red_m[lid] = best;
  red_i[lid] = bi;
  workgroupBarrier();
  for (var k = WG / 2u; k > 0u; k >>= 1u) {
    if (lid < k) {
      let v2 = red_m[lid + k]; let i2 = red_i[lid + k];
      let v1 = red_m[lid]; let i1 = red_i[lid];
      if (i2 != 0xffffffffu && (i1 == 0xffffffffu || v2 > v1 || (v2 == v1 && i2 < i1))) {
        red_m[lid] = v2; red_i[lid] = i2;
      }
    }
    workgroupBarrier();
  }
  let amax = red_i[0];
  workgroupBarrier();
  let lse = row_lse(base, lid);
  if (lid == 0u) { out[row] = lse; ints[row] = i32(amax); }
}
