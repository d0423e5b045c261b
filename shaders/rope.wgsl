// Rotary position embedding, HF rotate_half convention: within each head of size D, element i
// pairs with i + D/2 (i < D/2) and both rotate by angle = position · inv_freq[i]:
//   forward (sgn = +1):  y_i = x_i cos − x_{i+D/2} sin,  y_{i+D/2} = x_{i+D/2} cos + x_i sin
//   backward (sgn = −1): the inverse (transposed) rotation, applied to the gradient.
// In place on x [T, H·D]; one thread per (t, h, i). Entry `main_qk` rotates q [T, H·D] (x) and
// k [T, H2·D] (x2) in one dispatch: threads idx < n take q, the next n2 take k (same math). Dimension letters: T tokens, H heads,
// D head_dim. The angle is the f32 product, as transformers computes it; it is then reduced
// modulo 2π (Cody–Waite, 2π split into pieces whose products with k < 2^15 are exact) so that
// cos/sin stay accurate at long positions where GPU trig loses precision.

struct Params { n: u32, H: u32, half: u32, sgn: f32, n2: u32, H2: u32 }

@group(0) @binding(0) var<storage, read_write> x: array<f32>;  // [T, H·D] rotated in place
@group(0) @binding(1) var<storage, read> positions: array<i32>; // [T]
@group(0) @binding(2) var<storage, read> inv_freq: array<f32>;  // [D/2]
@group(0) @binding(3) var<uniform> p: Params;                    // n = T·H·D/2, n2 = T·H2·D/2
@group(0) @binding(4) var<storage, read_write> x2: array<f32>; // main_qk: k [T, H2·D] rotated in place

override WG: u32 = 256;

const TWO_PI_1: f32 = 6.28125;               // 201/32
const TWO_PI_2: f32 = 0.001934051513671875;  // 507·2^-18
const TWO_PI_3: f32 = 1.255422830581665e-06; // 337·2^-28
const TWO_PI_4: f32 = 2.430837753308879e-10; // the rest of 2π
const INV_TWO_PI: f32 = 0.15915494309189535;

fn reduce_angle(a: f32) -> f32 {
  let k = round(a * INV_TWO_PI);
  return (((a - k * TWO_PI_1) - k * TWO_PI_2) - k * TWO_PI_3) - k * TWO_PI_4;
}

// (cos, sin·sgn) of pair i of token t, and the flat index of the pair's first element.
struct Rot { c: f32, s: f32, j: u32 }

fn rotation(idx: u32, H: u32) -> Rot {
  let i = idx % p.half;
  let th = idx / p.half; // t·H + h
  let t = th / H;
  let ang = reduce_angle(f32(positions[t]) * inv_freq[i]);
  return Rot(cos(ang), p.sgn * sin(ang), th * 2u * p.half + i);
}

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let idx = gid.x + gid.y * nwg.x * WG;
  if (idx >= p.n) { return; }
  let r = rotation(idx, p.H);
  let j = r.j;
  let a = x[j];
  let b = x[j + p.half];
  x[j] = a * r.c - b * r.s;
  x[j + p.half] = b * r.c + a * r.s;
}

@compute @workgroup_size(WG)
fn main_qk(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let idx = gid.x + gid.y * nwg.x * WG;
  if (idx < p.n) {
    let r = rotation(idx, p.H);
    let j = r.j;
    let a = x[j];
    let b = x[j + p.half];
    x[j] = a * r.c - b * r.s;
    x[j + p.half] = b * r.c + a * r.s;
  } else if (idx < p.n + p.n2) {
    let r = rotation(idx - p.n, p.H2);
    let j = r.j;
    let a = x2[j];
    let b = x2[j + p.half];
    x2[j] = a * r.c - b * r.s;
    x2[j + p.half] = b * r.c + a * r.s;
  }
}
