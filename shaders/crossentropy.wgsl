// Cross-entropy over rows of logits [Tc, V] (a chunk of the sequence), one workgroup per row.
// Max-subtracted log-sum-exp computed online in one pass: each thread keeps (max m, Σ exp(x−m))
// over a strided slice, then wg_lse combines the pairs as m = max(m1, m2),
// s = s1·exp(m1−m) + s2·exp(m2−m) (wg_lse, wg_argmax: appended by src/gpu/ops/reduce.ts, subgroup
// operations or a tree in workgroup memory). f32 throughout. Entry points:
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

// Log-sum-exp of the row (every thread gets it); `base` = row·V.
fn row_lse(base: u32, ln: Lane) -> f32 {
  var m = NEG_BIG;
  var s = 0.0;
  for (var c = ln.lid; c < p.V; c += WG) {
    let v = logits[base + c];
    if (v > m) { s = s * exp(m - v) + 1.0; m = v; } else { s += exp(v - m); }
  }
  return wg_lse(m, s, ln);
}

fn row_index(wid: vec3<u32>, nwg: vec3<u32>) -> u32 { return wid.x + wid.y * nwg.x; }

@compute @workgroup_size(WG)
fn fwd_bwd(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, ln: Lane) {
  let lid = ln.lid;
  let row = row_index(wid, nwg);
  if (row >= p.Tc) { return; }
  let base = row * p.V;
  let label = ints[row];
  let valid = label >= 0 && u32(label) < p.V;
  var x_label = 0.0;
  if (valid) { x_label = logits[base + u32(label)]; } // read before any thread overwrites the row
  let lse = row_lse(base, ln);
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
fn forward(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, ln: Lane) {
  let lid = ln.lid;
  let row = row_index(wid, nwg);
  if (row >= p.Tc) { return; }
  let base = row * p.V;
  let lse = row_lse(base, ln);
  if (lid == 0u) {
    let label = ints[row];
    if (label == -100) { out[row] = 0.0; }
    else if (label >= 0 && u32(label) < p.V) { out[row] = lse - logits[base + u32(label)]; }
    else { out[row] = p.nan; }
  }
}

@compute @workgroup_size(WG)
fn lse_argmax(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, ln: Lane) {
  let lid = ln.lid;
  let row = row_index(wid, nwg);
  if (row >= p.Tc) { return; }
  let base = row * p.V;
  var best = NEG_BIG;
  var bi = RED_NONE;
  for (var c = lid; c < p.V; c += WG) {
    let v = logits[base + c];
    if (v > best || bi == RED_NONE) { best = v; bi = c; }
  }
  let amax = wg_argmax(best, bi, ln);
  let lse = row_lse(base, ln);
  if (lid == 0u) { out[row] = lse; ints[row] = i32(amax); }
}
