// One decode token (T = 1) of causal GQA attention over the KV cache, split along the keys
// (flash-decoding), with the cache append folded in. Letters: H query heads, Hkv kv heads,
// G = H / Hkv, D head dim (D % 4 == 0), S key splits, len = positions[0] + 1 cache rows.
// Workgroup (h, s) attends query head h over keys [s·c, min(len, (s+1)·c)), c = ceil(len / S),
// in blocks of WG keys with an online softmax, and writes its partial (o [D], m, l) to
// part[(h·S + s)·(D+2)]; attention_decode_reduce.wgsl combines the S partials. The new token's
// row (j = len - 1) is read from k/v, not from the cache, and written into the cache by the
// workgroups (h % G == 0, s == 0): no workgroup reads cache row len - 1, so there is no race.
// len comes from the positions buffer (not a uniform): the dispatch is the same for every
// token, so a decode step can be recorded once and replayed (Gpu.capture / replay).
// wg_max / wg_sum (block max and sum of the online softmax) are appended by src/gpu/ops/reduce.ts:
// subgroup operations, or a tree in workgroup memory without subgroups.

struct Params { H: u32, Hkv: u32, D: u32, S: u32, maxT: u32, scale: f32 }

@group(0) @binding(0) var<storage, read_write> part: array<f32>;      // [H, S, D+2]
@group(0) @binding(1) var<storage, read_write> kCache: array<vec4<f32>>; // [maxT, Hkv·D/4]
@group(0) @binding(2) var<storage, read_write> vCache: array<vec4<f32>>; // [maxT, Hkv·D/4]
@group(0) @binding(3) var<storage, read> q: array<vec4<f32>>;         // [1, H·D/4] (after RoPE)
@group(0) @binding(4) var<storage, read> k: array<vec4<f32>>;         // [1, Hkv·D/4] (after RoPE)
@group(0) @binding(5) var<storage, read> v: array<vec4<f32>>;         // [1, Hkv·D/4]
@group(0) @binding(6) var<storage, read> positions: array<i32>;       // [≥1] position of the token
@group(0) @binding(7) var<uniform> p: Params;

override WG: u32 = 128;  // invocations = keys per block (power of two)
override DV: u32 = 32;   // max D / 4 held in workgroup memory (wrapper: D ≤ 4·DV)

var<workgroup> qs: array<vec4<f32>, DV>; // q · scale
var<workgroup> ps: array<f32, WG>;       // block scores, then probabilities
var<workgroup> lenw: u32;                // len, read once (workgroupUniformLoad: uniform loop bounds)

@compute @workgroup_size(WG)
fn main(ln: Lane, @builtin(workgroup_id) wid: vec3<u32>) {
  let t = ln.lid;
  let h = wid.x;
  let s = wid.y;
  let g = h / (p.H / p.Hkv);
  let d4 = p.D / 4u;
  if (t == 0u) { lenw = u32(positions[0]) + 1u; }
  let len = workgroupUniformLoad(&lenw);
  let last = len - 1u;
  let rowv = p.Hkv * d4;           // vec4 per cache row
  let kvo = g * d4;                // this kv head's first vec4 in a row
  for (var i = t; i < d4; i += WG) { qs[i] = q[h * d4 + i] * p.scale; }
  if (h % (p.H / p.Hkv) == 0u && s == 0u && last < p.maxT) {
    for (var i = t; i < d4; i += WG) {
      kCache[last * rowv + kvo + i] = k[kvo + i];
      vCache[last * rowv + kvo + i] = v[kvo + i];
    }
  }
  workgroupBarrier();

  let c = (len + p.S - 1u) / p.S;
  let j0 = min(len, s * c);
  let j1 = min(len, j0 + c);
  var m = -3.4e38;
  var l = 0.0;
  // o[d] for d = t, t + WG, … < D: at most 4 per invocation (D ≤ 4·WG, checked by the wrapper).
  var o = vec4<f32>(0.0);
  for (var b = j0; b < j1; b += WG) {
    let j = b + t;
    var sc = -3.4e38;
    if (j < j1) {
      var acc = 0.0;
      for (var i = 0u; i < d4; i++) {
        var kv: vec4<f32>;
        if (j == last) { kv = k[kvo + i]; } else { kv = kCache[j * rowv + kvo + i]; }
        acc += dot(qs[i], kv);
      }
      sc = acc;
    }
    let mb = max(m, wg_max(sc, ln));
    var pj = 0.0;
    if (j < j1) { pj = exp(sc - mb); }
    ps[t] = pj;
    let alpha = exp(m - mb);
    l = l * alpha + wg_sum(pj, ln); // wg_sum's barriers also publish ps
    m = mb;
    o *= alpha;
    let nb = min(WG, j1 - b);
    for (var e = 0u; e < 4u; e++) {
      let d = t + e * WG;
      if (d < p.D) {
        var acc = 0.0;
        for (var jj = 0u; jj < nb; jj++) {
          let jr = b + jj;
          var vv: f32;
          if (jr == last) { vv = v[kvo + d / 4u][d % 4u]; } else { vv = vCache[jr * rowv + kvo + d / 4u][d % 4u]; }
          acc = fma(ps[jj], vv, acc);
        }
        o[e] += acc;
      }
    }
    workgroupBarrier(); // ps is rewritten by the next block
  }
  let base = (h * p.S + s) * (p.D + 2u);
  for (var e = 0u; e < 4u; e++) {
    let d = t + e * WG;
    if (d < p.D) { part[base + d] = o[e]; }
  }
  if (t == 0u) {
    part[base + p.D] = m;
    part[base + p.D + 1u] = l;
  }
}
