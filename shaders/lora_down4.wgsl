// lora_down.wgsl for L % 4 == 0 (all training shapes): the same product and layout, x read as
// vec4 so each thread keeps 8 loads of 16 bytes in flight per W slice (the scalar kernel's
// 2 × 4-byte loads left the GPU latency-bound at ~0.5 TB/s). out[t, j] = alpha · Σ_l drop(x)[t, l]
// · W(j, l); W = A [r, L] or B [L, r] (W_T). Dimension letters: T rows, L reduced, r rank.
// Workgroup (64-row tile, L split, 16-wide rank block); thread (row group g, lane): rows g, g + 32,
// l quads lane + 8u of each 128-l slice. Lanes of a row are summed in lane order (fixed order).

struct Params {
  T: u32, L: u32, r: u32, alpha: f32,
  l_split: u32, seed: u32, thresh: u32, inv_keep: f32,
}

@group(0) @binding(0) var<storage, read_write> out: array<f32>;    // [T, r] (SPLIT: [S, T, r])
@group(0) @binding(1) var<storage, read> x: array<vec4<f32>>;      // [T, L/4]
@group(0) @binding(2) var<uniform> p: Params;
@group(0) @binding(3) var<storage, read> seed_base: array<u32>;    // [≥1] added to p.seed
@group(0) @binding(4) var<storage, read> w: array<f32>;            // [r, L] (A), or [L, r] (B) with W_T

override W_T: bool = false;
override DROP: bool = false;
override SPLIT: bool = false;

const LS: u32 = 128;
const LANES: u32 = 8;
const GROUPS: u32 = 32;
const TILE: u32 = 64;

var<workgroup> ws: array<vec4<f32>, 512>;  // [LS][4]: W(jb + 4q + c, l0 + ll) at [ll·4 + q][c]
var<workgroup> red: array<vec4<f32>, 256>; // [GROUPS][LANES]

fn lowbias32(x0: u32) -> u32 {
  var v = x0;
  v ^= v >> 16u; v *= 0x7feb352du;
  v ^= v >> 15u; v *= 0x846ca68bu;
  v ^= v >> 16u;
  return v;
}

fn keep4(i: u32, hs: u32) -> vec4<f32> {
  var k: vec4<f32>;
  for (var c = 0u; c < 4u; c++) { k[c] = select(0.0, p.inv_keep, (lowbias32((i + c) ^ hs) >> 8u) >= p.thresh); }
  return k;
}

// acc[q] += xv[c] · ws[(ll + c)·4 + q] over the 4 l of one quad
fn quad(xv: vec4<f32>, ll: u32, a: ptr<function, array<vec4<f32>, 4>>) {
  for (var c = 0u; c < 4u; c++) {
    let b = (ll + c) * 4u;
    (*a)[0] = fma(vec4(xv[c]), ws[b], (*a)[0]);
    (*a)[1] = fma(vec4(xv[c]), ws[b + 1u], (*a)[1]);
    (*a)[2] = fma(vec4(xv[c]), ws[b + 2u], (*a)[2]);
    (*a)[3] = fma(vec4(xv[c]), ws[b + 3u], (*a)[3]);
  }
}

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let lane = lid % LANES;
  let g = lid / LANES;
  let T = p.T; let L = p.L; let r = p.r; let L4 = L / 4u;
  let t0 = wid.x * TILE;
  let jb = wid.z * 16u;
  let l_begin = wid.y * p.l_split;
  let l_end = min(L, l_begin + p.l_split);
  var hs = 0u;
  if (DROP) { hs = lowbias32((p.seed + seed_base[0]) ^ 0x9e3779b9u); }
  let row0 = min(t0 + g, T - 1u) * L4; // rows past T read row T-1; their sums are never written
  let row1 = min(t0 + g + GROUPS, T - 1u) * L4;

  var a: array<vec4<f32>, 4>;
  var b: array<vec4<f32>, 4>;
  for (var q = 0u; q < 4u; q++) { a[q] = vec4(0.0); b[q] = vec4(0.0); }
  for (var l0 = l_begin; l0 < l_end; l0 += LS) {
    for (var e = lid; e < LS * 16u; e += 256u) {
      var ll: u32; var j: u32;
      if (W_T) { ll = e / 16u; j = e % 16u; } else { j = e / LS; ll = e % LS; }
      let gl = l0 + ll; let gj = jb + j;
      var v = 0.0;
      if (gl < l_end && gj < r) {
        if (W_T) { v = w[gl * r + gj]; } else { v = w[gj * L + gl]; }
      }
      ws[ll * 4u + j / 4u][j % 4u] = v;
    }
    workgroupBarrier();
    // 4 quads per thread per slice, loads issued together; quads past l_end meet zero weights
    // (their loads are clamped in range and zeroed)
    var xs0: array<vec4<f32>, 4>;
    var xs1: array<vec4<f32>, 4>;
    for (var u = 0u; u < 4u; u++) {
      let l4 = l0 / 4u + lane + u * LANES;
      let ok = l4 * 4u < l_end;
      let lc = min(l4, L4 - 1u);
      xs0[u] = select(vec4(0.0), x[row0 + lc], ok);
      xs1[u] = select(vec4(0.0), x[row1 + lc], ok);
      if (DROP) { xs0[u] *= keep4((row0 + lc) * 4u, hs); xs1[u] *= keep4((row1 + lc) * 4u, hs); }
    }
    for (var u = 0u; u < 4u; u++) {
      let ll = (lane + u * LANES) * 4u;
      quad(xs0[u], ll, &a);
      quad(xs1[u], ll, &b);
    }
    workgroupBarrier();
  }

  for (var k = 0u; k < 8u; k++) {
    if (k < 4u) { red[lid] = a[k]; } else { red[lid] = b[k - 4u]; }
    workgroupBarrier();
    if (lane < 4u) {
      var s = 0.0;
      for (var m = 0u; m < LANES; m++) { s += red[g * LANES + m][lane]; }
      let t = t0 + g + (k / 4u) * GROUPS;
      let j = jb + (k % 4u) * 4u + lane;
      if (t < T && j < r) {
        if (SPLIT) { out[(wid.y * T + t) * r + j] = s; } else { out[t * r + j] = p.alpha * s; }
      }
    }
    workgroupBarrier();
  }
}
