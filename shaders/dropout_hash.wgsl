// Inverted-dropout mask shared by matmul.wgsl and the LoRA kernels (lora_down/up/tred.wgsl):
// the wrappers append this file, so every kernel masks element i bit-identically to the others
// (and to matmul.ref.ts): keep(i) = (lowbias32(i ^ key) >> 8) >= p.thresh, kept values ×
// p.inv_keep, key = lowbias32((p.seed + seed_base[0]) ^ 0x9e3779b9) (drop_key, once per thread).
// The including shader declares `p` (with seed, thresh, inv_keep) and `seed_base`.

// Chris Wellons' lowbias32 integer hash.
fn lowbias32(x0: u32) -> u32 {
  var x = x0;
  x ^= x >> 16u; x *= 0x7feb352du;
  x ^= x >> 15u; x *= 0x846ca68bu;
  x ^= x >> 16u;
  return x;
}

fn drop_key() -> u32 {
  return lowbias32((p.seed + seed_base[0]) ^ 0x9e3779b9u);
}

// 0 or p.inv_keep: the factor of element i under the mask of `key`.
fn keep_scale(i: u32, key: u32) -> f32 {
  return select(0.0, p.inv_keep, (lowbias32(i ^ key) >> 8u) >= p.thresh);
}
