// One decode token (T = 1) of causal GQA attention over the KV cache, split along the keys
// (flash-decoding), with the cache append folded in. Letters: H query heads, Hkv kv heads,
// G = H / Hkv, D head dim (D % 4 == 0), S key splits, len = positions[0] + 1 cache rows.
// Workgroup (g, s) attends the G query heads of kv head g over keys [s·c, min(len, (s+1)·c)),
// c = ceil(len / S), so each K and V row is read once for all G heads. Per block of WG keys:
// (1) invocation t scores key b + t for the G heads (its K row's D/4 vec4 loads all in flight:
// D4 is a constant), (2) block max per head (wg_max) and the probabilities into ps, (3) KG = WG / D4
// key groups of D4 invocations accumulate p·V (invocation (kg, dv): vec4 dv of keys kg, kg + KG, …,
// 8 V rows loaded before their FMAs). The KG partial (o, l) are summed in a fixed order at the end
// and the workgroup writes its G partials: o [D] at part[(h·S + s)·D], (m, l) at
// part[H·S·D + 2·(h·S + s)]; attention_decode_reduce.wgsl combines the S partials. The new
// token's row (j = len - 1) is read from k/v, not from the cache, and written into the cache by
// the workgroups s == 0: no workgroup reads cache row len - 1, so there is no race. len comes
// from the positions buffer (not a uniform): the dispatch is the same for every token, so a
// decode step can be recorded once and replayed (Gpu.capture / replay). The wrapper prepends
// `const WG, G, D4`; wg_max is appended by src/gpu/ops/reduce.ts (subgroup operations, or a tree
// in workgroup memory without subgroups).

struct Params { H: u32, Hkv: u32, D: u32, S: u32, maxT: u32, scale: f32 }

@group(0) @binding(0) var<storage, read_write> part: array<f32>;      // [H·S·D] o, then [H·S, 2] (m, l)
@group(0) @binding(1) var<storage, read_write> kCache: array<vec4<f32>>; // [maxT, Hkv·D/4]
@group(0) @binding(2) var<storage, read_write> vCache: array<vec4<f32>>; // [maxT, Hkv·D/4]
@group(0) @binding(3) var<storage, read> q: array<vec4<f32>>;         // [1, H·D/4] (after RoPE)
@group(0) @binding(4) var<storage, read> k: array<vec4<f32>>;         // [1, Hkv·D/4] (after RoPE)
@group(0) @binding(5) var<storage, read> v: array<vec4<f32>>;         // [1, Hkv·D/4]
@group(0) @binding(6) var<storage, read> positions: array<i32>;       // [≥1] position of the token
@group(0) @binding(7) var<uniform> p: Params;

const KG: u32 = WG / D4; // key groups of the p·V phase (invocations t ≥ KG·D4 idle there)
const VU: u32 = 8u;      // V rows loaded per group before their FMAs
const NEG: f32 = -3.4e38;

var<workgroup> qs: array<vec4<f32>, G * D4>;        // [G, D4] q · scale
var<workgroup> ps: array<f32, G * WG>;              // [G, WG] block probabilities
var<workgroup> osum: array<vec4<f32>, KG * G * D4>; // [KG, G, D4] partial p·V per key group
var<workgroup> lsum: array<f32, KG * G>;            // [KG, G] partial Σ p per key group
var<workgroup> lenw: u32;                           // len, read once (uniform loop bounds)

@compute @workgroup_size(WG)
fn main(ln: Lane, @builtin(workgroup_id) wid: vec3<u32>) {
  let t = ln.lid;
  let g = wid.x;
  let s = wid.y;
  if (t == 0u) { lenw = u32(positions[0]) + 1u; }
  let len = workgroupUniformLoad(&lenw);
  let last = len - 1u;
  let rowv = p.Hkv * D4; // vec4 per cache row
  let kvo = g * D4;      // this kv head's first vec4 in a row
  for (var i = t; i < G * D4; i += WG) { qs[i] = q[g * G * D4 + i] * p.scale; }
  if (s == 0u && last < p.maxT) {
    for (var i = t; i < D4; i += WG) {
      kCache[last * rowv + kvo + i] = k[kvo + i];
      vCache[last * rowv + kvo + i] = v[kvo + i];
    }
  }
  workgroupBarrier();

  let c = (len + p.S - 1u) / p.S;
  let j0 = min(len, s * c);
  let j1 = min(len, j0 + c);
  let dv = t % D4; // p·V role: vec4 dv of the rows of key group kg
  let kg = t / D4;
  var m: array<f32, G>;
  var l: array<f32, G>;
  var o: array<vec4<f32>, G>;
  for (var h = 0u; h < G; h++) { m[h] = NEG; }
  for (var b = j0; b < j1; b += WG) {
    // (1) scores of key j = b + t for the G heads
    let j = b + t;
    var sc: array<f32, G>;
    for (var h = 0u; h < G; h++) { sc[h] = NEG; }
    if (j < j1) {
      for (var h = 0u; h < G; h++) { sc[h] = 0.0; }
      if (j == last) {
        for (var i = 0u; i < D4; i++) { let kv = k[kvo + i]; for (var h = 0u; h < G; h++) { sc[h] += dot(qs[h * D4 + i], kv); } }
      } else {
        let kb = j * rowv + kvo;
        for (var i = 0u; i < D4; i++) { let kv = kCache[kb + i]; for (var h = 0u; h < G; h++) { sc[h] += dot(qs[h * D4 + i], kv); } }
      }
    }
    // (2) online softmax: block max per head, probabilities, rescale of the running sums
    for (var h = 0u; h < G; h++) {
      let mb = max(m[h], wg_max(sc[h], ln));
      var pj = 0.0;
      if (j < j1) { pj = exp(sc[h] - mb); }
      ps[h * WG + t] = pj;
      let alpha = exp(m[h] - mb);
      o[h] *= alpha;
      l[h] *= alpha;
      m[h] = mb;
    }
    workgroupBarrier();
    // (3) p·V: VU rows of this key group in flight (rows past the block clamped to a valid row, p = 0)
    let nb = min(WG, j1 - b);
    if (kg < KG) {
      for (var jj0 = kg; jj0 < nb; jj0 += VU * KG) {
        var vv: array<vec4<f32>, VU>;
        for (var u = 0u; u < VU; u++) {
          let jr = min(b + jj0 + u * KG, j1 - 1u);
          vv[u] = select(vCache[jr * rowv + kvo + dv], v[kvo + dv], jr == last);
        }
        for (var u = 0u; u < VU; u++) {
          let jj = jj0 + u * KG;
          for (var h = 0u; h < G; h++) {
            let pp = select(0.0, ps[h * WG + min(jj, WG - 1u)], jj < nb);
            o[h] = fma(vec4<f32>(pp), vv[u], o[h]);
            l[h] += pp;
          }
        }
      }
    }
    workgroupBarrier(); // ps is rewritten by the next block
  }
  // the KG key groups' partials, summed in key-group order
  if (kg < KG) {
    for (var h = 0u; h < G; h++) {
      osum[(kg * G + h) * D4 + dv] = o[h];
      if (dv == 0u) { lsum[kg * G + h] = l[h]; }
    }
  }
  workgroupBarrier();
  for (var i = t; i < G * D4; i += WG) {
    let h = i / D4;
    var acc = vec4<f32>(0.0);
    for (var kk = 0u; kk < KG; kk++) { acc += osum[(kk * G + h) * D4 + i % D4]; }
    let base = ((g * G + h) * p.S + s) * p.D + 4u * (i % D4);
    part[base] = acc.x;
    part[base + 1u] = acc.y;
    part[base + 2u] = acc.z;
    part[base + 3u] = acc.w;
  }
  if (t < G) {
    var ls = 0.0;
    for (var kk = 0u; kk < KG; kk++) { ls += lsum[kk * G + t]; }
    let base = p.H * p.S * p.D + 2u * ((g * G + t) * p.S + s);
    part[base] = m[t];
    part[base + 1u] = ls;
  }
}
