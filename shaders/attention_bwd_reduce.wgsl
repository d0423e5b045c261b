// Attention backward: sum the G per-query-head shares of dk, dv (attention_bwd_dkv_tiled_pf.wgsl)
// into the kv-head gradients. Letters: T tokens, H query heads, Hkv kv heads, G = H / Hkv,
// DV = D / 4 (vec4 per head row). dk[t, g] = Σ_hh dkp[t, g·G + hh] (same for dv), assigned.

struct Params { n: u32, H: u32, Hkv: u32, DV: u32 } // n = T·Hkv·DV

@group(0) @binding(0) var<storage, read_write> dk: array<vec4<f32>>; // [T, Hkv*D]
@group(0) @binding(1) var<storage, read_write> dv: array<vec4<f32>>; // [T, Hkv*D]
@group(0) @binding(2) var<storage, read> dkp: array<vec4<f32>>;      // [T, H*D]
@group(0) @binding(3) var<storage, read> dvp: array<vec4<f32>>;      // [T, H*D]
@group(0) @binding(4) var<uniform> p: Params;

override WG: u32 = 256;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = gid.x + gid.y * nwg.x * WG;
  if (i >= p.n) { return; }
  let d4 = i % p.DV;
  let tg = i / p.DV; // t·Hkv + g
  let t = tg / p.Hkv;
  let g = tg % p.Hkv;
  let G = p.H / p.Hkv;
  var a = vec4<f32>(0.0);
  var b = vec4<f32>(0.0);
  for (var hh = 0u; hh < G; hh++) {
    let at = (t * p.H + g * G + hh) * p.DV + d4;
    a += dkp[at];
    b += dvp[at];
  }
  dk[i] = a;
  dv[i] = b;
}
