// The 16-bit weight format of the f32 GEMM v2 (nf4_gemm_v2.wgsl, whose Params has `wflags`: 1 =
// f16, else bf16; concatenated after w16_common.wgsl): 8 elements = 4 u32 words, no block scales.
alias WWord = vec4<u32>;
const W_SCALED = false;
fn w_init(t: u32) {}
fn w_scale_load(b: u32, f16: bool) -> ScaleRaw { return ScaleRaw(0u, 1.0); } // never called (W_SCALED)
fn w_scale_decode(r: ScaleRaw, f16: bool) -> f32 { return 1.0; }
fn w_word(e: u32) -> WWord { let i = e >> 1u; return vec4<u32>(wdata[i], wdata[i + 1u], wdata[i + 2u], wdata[i + 3u]); } // e % 8 == 0
fn w_decode8(wd: WWord, sc: f32) -> array<f32, 8> {
  let f = p.wflags != 0u;
  let a = pair_to_f32(wd.x, f); let b = pair_to_f32(wd.y, f); let c = pair_to_f32(wd.z, f); let d = pair_to_f32(wd.w, f);
  return array<f32, 8>(a.x, a.y, b.x, b.y, c.x, c.y, d.x, d.y);
}
