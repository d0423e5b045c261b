// Combines the S key-split partials of attention_decode.wgsl for one decode token:
//   out[h·D + d] = Σ_s e^{m_s - M} o_s[d] / Σ_s e^{m_s - M} l_s,  M = max_s m_s.
// One workgroup per query head h. The S weights e^{m_s - M} are computed once (invocation s) into
// workgroup memory; the p·V sums run as SG = WG / D split groups of D invocations (group sg takes
// splits sg, sg + SG, …, 4 loads in flight) whose sums are added in group order: fixed summation
// order (deterministic). part layout (attention_decode.wgsl): o at (h·S + s)·D + d for the first
// H·S·D values, then (m, l) at H·S·D + 2·(h·S + s).

struct Params { H: u32, Hkv: u32, D: u32, S: u32, maxT: u32, scale: f32 }

@group(0) @binding(0) var<storage, read_write> out: array<f32>; // [1, H·D]
@group(0) @binding(1) var<storage, read> part: array<f32>;      // [H·S·D] o, then [H·S, 2] (m, l)
@group(0) @binding(2) var<uniform> p: Params;

override WG: u32 = 256;
const SMAX: u32 = 256u; // splits held in workgroup memory (the wrapper checks S ≤ SMAX)

var<workgroup> wts: array<f32, SMAX>; // [S] m_s, then e^{m_s - M}
var<workgroup> lw: array<f32, SMAX>;  // [S] l_s
var<workgroup> red: array<f32, WG>;   // [SG, D] group sums (D ≤ WG); [WG] per invocation otherwise

@compute @workgroup_size(WG)
fn main(@builtin(local_invocation_index) t: u32, @builtin(workgroup_id) wid: vec3<u32>) {
  let h = wid.x;
  let S = p.S;
  let ml = p.H * S * p.D + 2u * h * S; // this head's (m, l) pairs
  for (var s = t; s < S; s += WG) { wts[s] = part[ml + 2u * s]; lw[s] = part[ml + 2u * s + 1u]; }
  workgroupBarrier();
  var mx = -3.4e38;
  for (var s = 0u; s < S; s++) { mx = max(mx, wts[s]); }
  workgroupBarrier(); // every invocation has read the maxima before they are overwritten
  for (var s = t; s < S; s += WG) { wts[s] = exp(wts[s] - mx); }
  workgroupBarrier();
  var l = 0.0;
  for (var s = 0u; s < S; s++) { l = fma(wts[s], lw[s], l); }
  let ob = h * S * p.D; // this head's o rows
  let SG = max(1u, WG / p.D);
  let sg = t / p.D;
  // invocation (sg, d) sums splits sg, sg + SG, … for column d (and d + WG, … when D > WG)
  for (var d = t % p.D; d < p.D && sg < SG; d += WG) {
    var acc = 0.0;
    var s = sg;
    for (; s + 3u * SG < S; s += 4u * SG) {
      let a = part[ob + s * p.D + d];
      let b = part[ob + (s + SG) * p.D + d];
      let c = part[ob + (s + 2u * SG) * p.D + d];
      let e = part[ob + (s + 3u * SG) * p.D + d];
      acc = fma(wts[s], a, acc);
      acc = fma(wts[s + SG], b, acc);
      acc = fma(wts[s + 2u * SG], c, acc);
      acc = fma(wts[s + 3u * SG], e, acc);
    }
    for (; s < S; s += SG) { acc = fma(wts[s], part[ob + s * p.D + d], acc); }
    if (SG == 1u) { out[h * p.D + d] = acc / l; } else { red[t] = acc; }
  }
  if (SG > 1u) {
    workgroupBarrier();
    for (var d = t; d < p.D; d += WG) {
      var acc = 0.0;
      for (var g = 0u; g < SG; g++) { acc += red[g * p.D + d]; }
      out[h * p.D + d] = acc / l;
    }
  }
}
