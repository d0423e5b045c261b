// The NF4 weight format of the f32 GEMM v2 (nf4_gemm_v2.wgsl; concatenated after nf4_common.wgsl):
// 8 codes per u32 word, 64-element block scales, the code book in workgroup memory.
alias WWord = u32;
const W_SCALED = true;
fn w_init(t: u32) { init_lut(t); }
fn w_word(e: u32) -> WWord { return packed[e >> 3u]; } // e % 8 == 0
fn w_scale_load(b: u32, dq: bool) -> ScaleRaw { // global block b
  if (dq) { return ScaleRaw((qcodes[b >> 2u] >> ((b & 3u) * 8u)) & 0xffu, absmax[b >> 8u]); }
  return ScaleRaw(0u, absmax[b]);
}
fn w_scale_decode(r: ScaleRaw, dq: bool) -> f32 {
  if (dq) { return qmeta[r.qc] * r.am + qmeta[256]; }
  return r.am;
}
fn w_decode8(wd: WWord, sc: f32) -> array<f32, 8> {
  return array<f32, 8>(lut[(wd >> 4u) & 15u] * sc, lut[wd & 15u] * sc, lut[(wd >> 12u) & 15u] * sc, lut[(wd >> 8u) & 15u] * sc,
                       lut[(wd >> 20u) & 15u] * sc, lut[(wd >> 16u) & 15u] * sc, lut[(wd >> 28u) & 15u] * sc, lut[(wd >> 24u) & 15u] * sc);
}
