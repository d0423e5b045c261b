// v1's code table (nf4_gemv_vec.wgsl; for v2 the bench alternative gemvSettings.lut = 'pair'),
// appended after nf4_gemv_common.wgsl (NF4_BITS); same interface as nf4_gemv_lut.wgsl: the kernel
// defines `WG`, calls lut_init(t) and a workgroupBarrier before the first dot8.
// byte → (code of high nibble, code of low nibble): 2 codes per read, but random banks.
var<workgroup> lut2: array<vec2<f32>, 256>;

fn lut_init(t: u32) {
  for (var i = t; i < 256u; i += WG) { lut2[i] = vec2<f32>(bitcast<f32>(NF4_BITS[i >> 4u]), bitcast<f32>(NF4_BITS[i & 15u])); }
}

// The dot of the 8 codes of word w (byte i → elements 2i (high nibble), 2i+1 (low)) with x0, x1;
// lb (the bank of nf4_gemv_lut.wgsl's table) is unused here.
fn dot8(w: u32, lb: u32, x0: vec4<f32>, x1: vec4<f32>) -> f32 {
  let a = lut2[w & 0xffu]; let b = lut2[(w >> 8u) & 0xffu]; let c = lut2[(w >> 16u) & 0xffu]; let d = lut2[w >> 24u];
  return dot(vec4<f32>(a, b), x0) + dot(vec4<f32>(c, d), x1);
}
