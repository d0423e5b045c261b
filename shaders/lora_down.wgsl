// LoRA's rank-r side, reduction over a long dimension L (training shapes; decode uses
// lora_xa.wgsl): out[t, j] = alpha · Σ_l drop(x)[t, l] · W(j, l) for j < r. Used for
// xa = dropout(x)·Aᵀ (W = A [r, L], L = K, dropout keyed by x's index t·L + l) and
// s = scale·dy·B (W = B [L, r] with W_T, L = N). Dimension letters: T rows, L reduced, r rank.
// Workgroup (wid.x, wid.y, wid.z) = (64-row tile, L split, 16-wide rank block): it streams its
// 64 × l_split block of x once (8 lanes read 8 consecutive l of a row: 32-byte segments), the
// matching 16 columns of W staged in workgroup memory LS at a time; each thread keeps 2 rows ×
// 16 sums in registers, then the 8 lanes of a row are summed in lane order (fixed order).
// SPLIT: partial sums (unscaled) go to out[z·T·r + t·r + j] and lora_reduce.wgsl adds them.

struct Params {
  T: u32, L: u32, r: u32, alpha: f32,
  l_split: u32, seed: u32, thresh: u32, inv_keep: f32,
}

@group(0) @binding(0) var<storage, read_write> out: array<f32>; // [T, r] (SPLIT: [S, T, r])
@group(0) @binding(1) var<storage, read> x: array<f32>;         // [T, L]
@group(0) @binding(2) var<uniform> p: Params;
@group(0) @binding(3) var<storage, read> seed_base: array<u32>; // [≥1] added to p.seed
@group(0) @binding(4) var<storage, read> w: array<f32>;         // [r, L] (A), or [L, r] (B) with W_T

override W_T: bool = false;
override DROP: bool = false;
override SPLIT: bool = false;

const LS: u32 = 128;    // l per staged slice of W
const LANES: u32 = 8;   // threads along l for one row
const GROUPS: u32 = 32; // row groups (workgroup = 256 threads)
const RT: u32 = 2;      // rows per thread: rows g, g + 32 of the 64-row tile
const TILE: u32 = 64;   // GROUPS · RT

var<workgroup> ws: array<vec4<f32>, 512>;  // [LS][4]: W(jb + 4q + c, l0 + ll) at [ll·4 + q][c]
var<workgroup> red: array<vec4<f32>, 256>; // [GROUPS][LANES]

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let lane = lid % LANES;
  let g = lid / LANES;
  let T = p.T; let L = p.L; let r = p.r;
  let t0 = wid.x * TILE;
  let jb = wid.z * 16u;
  let l_begin = wid.y * p.l_split;
  let l_end = min(L, l_begin + p.l_split);
  var hs = 0u;
  if (DROP) { hs = drop_key(); }
  // rows past T read row T-1 (valid memory); their sums are never written
  let row0 = min(t0 + g, T - 1u) * L;
  let row1 = min(t0 + g + GROUPS, T - 1u) * L;

  var a0 = vec4<f32>(0.0); var a1 = vec4<f32>(0.0); var a2 = vec4<f32>(0.0); var a3 = vec4<f32>(0.0);
  var b0 = vec4<f32>(0.0); var b1 = vec4<f32>(0.0); var b2 = vec4<f32>(0.0); var b3 = vec4<f32>(0.0);
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
    let n = min(LS, l_end - l0);
    for (var u = 0u; u < LS / LANES; u++) {
      let ll = lane + u * LANES;
      if (ll >= n) { break; }
      let l = l0 + ll;
      var x0 = x[row0 + l];
      var x1 = x[row1 + l];
      if (DROP) {
        x0 *= keep_scale(row0 + l, hs);
        x1 *= keep_scale(row1 + l, hs);
      }
      let w0 = ws[ll * 4u]; let w1 = ws[ll * 4u + 1u]; let w2 = ws[ll * 4u + 2u]; let w3 = ws[ll * 4u + 3u];
      a0 = fma(vec4(x0), w0, a0); a1 = fma(vec4(x0), w1, a1); a2 = fma(vec4(x0), w2, a2); a3 = fma(vec4(x0), w3, a3);
      b0 = fma(vec4(x1), w0, b0); b1 = fma(vec4(x1), w1, b1); b2 = fma(vec4(x1), w2, b2); b3 = fma(vec4(x1), w3, b3);
    }
    workgroupBarrier();
  }

  // Sum the 8 lanes of each row in lane order, one (row slot, 4 ranks) at a time.
  let acc = array<vec4<f32>, 8>(a0, a1, a2, a3, b0, b1, b2, b3);
  for (var k = 0u; k < 8u; k++) {
    red[lid] = acc[k];
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
