// Fast seeded uniform fill for large benchmark operands (xorshift32; the tests' Rng is too slow
// for hundreds of millions of values): out[i] ∈ [-a, a).
export function fillUniform(out: Float32Array, a: number, seed: number): Float32Array {
  let s = seed >>> 0 || 1;
  const k = (2 * a) / 4294967296;
  for (let i = 0; i < out.length; i++) {
    s ^= s << 13; s >>>= 0; s ^= s >>> 17; s ^= s << 5; s >>>= 0;
    out[i] = s * k - a;
  }
  return out;
}
