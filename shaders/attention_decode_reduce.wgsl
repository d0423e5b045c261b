// Combines the S key-split partials of attention_decode.wgsl for one decode token:
//   out[h·D + d] = Σ_s e^{m_s - M} o_s[d] / Σ_s e^{m_s - M} l_s,  M = max_s m_s.
// One workgroup per query head h; fixed summation order (deterministic).

struct Params { H: u32, Hkv: u32, D: u32, S: u32, maxT: u32, scale: f32 }

@group(0) @binding(0) var<storage, read_write> out: array<f32>; // [1, H·D]
@group(0) @binding(1) var<storage, read> part: array<f32>;      // [H, S, D+2]
@group(0) @binding(2) var<uniform> p: Params;

override WG: u32 = 128;

@compute @workgroup_size(WG)
fn main(@builtin(local_invocation_index) t: u32, @builtin(workgroup_id) wid: vec3<u32>) {
  let h = wid.x;
  let w = p.D + 2u;
  var mx = -3.4e38;
  for (var s = 0u; s < p.S; s++) { mx = max(mx, part[(h * p.S + s) * w + p.D]); }
  var l = 0.0;
  for (var s = 0u; s < p.S; s++) {
    let b = (h * p.S + s) * w;
    l += exp(part[b + p.D] - mx) * part[b + p.D + 1u];
  }
  for (var d = t; d < p.D; d += WG) {
    var acc = 0.0;
    for (var s = 0u; s < p.S; s++) {
      let b = (h * p.S + s) * w;
      acc += exp(part[b + p.D] - mx) * part[b + d];
    }
    out[h * p.D + d] = acc / l;
  }
}
