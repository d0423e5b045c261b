// Plain-TS references for the 16-bit weight ops (w16.ts) and bf16/f16 ↔ f32 conversions.
// W [N = rows, K = cols] stored as raw 16-bit values (bf16 or f16 bits), row-major.

import { matmulRef } from './matmul.ref';

export type Format16 = 'bf16' | 'f16';

const f32buf = new Float32Array(1);
const u32buf = new Uint32Array(f32buf.buffer);

/** bf16 bits → f32 (exact). */
export function bf16ToF32(h: number): number {
  u32buf[0] = (h & 0xffff) << 16;
  return f32buf[0];
}

/** f32 → bf16 bits, round to nearest even; NaN stays a (quiet) NaN. */
export function f32ToBf16(x: number): number {
  f32buf[0] = x;
  const u = u32buf[0];
  if ((u & 0x7f800000) === 0x7f800000 && (u & 0x7fffff) !== 0) return (u >>> 16) | 0x40;
  return ((u + 0x7fff + ((u >>> 16) & 1)) >>> 16) & 0xffff;
}

/** f16 bits → f32 (exact, subnormals included). */
export function f16ToF32(h: number): number {
  const s = h & 0x8000 ? -1 : 1;
  const e = (h >> 10) & 0x1f;
  const m = h & 0x3ff;
  if (e === 0) return s * m * 2 ** -24;
  if (e === 31) return m ? NaN : s * Infinity;
  return s * (1 + m / 1024) * 2 ** (e - 15);
}

/** f32 → f16 bits, round to nearest even; overflow → ±Inf, NaN → quiet NaN. */
export function f32ToF16(x: number): number {
  f32buf[0] = x;
  const u = u32buf[0];
  const sign = (u >>> 16) & 0x8000;
  const e = (u >>> 23) & 0xff;
  const m = u & 0x7fffff;
  if (e === 0xff) return sign | 0x7c00 | (m ? 0x200 : 0);
  const a = Math.abs(f32buf[0]);
  if (a >= 65520) return sign | 0x7c00; // rounds to infinity
  if (a < 2 ** -14) {
    // subnormal f16: multiples of 2^-24, round half to even
    const q = a * 2 ** 24;
    let r = Math.round(q);
    if (Math.abs(q - Math.trunc(q) - 0.5) === 0 && r % 2 === 1) r -= 1;
    return sign | r;
  }
  // normal: keep 10 mantissa bits, round to nearest even on the 13 dropped bits
  let v = ((e - 112) << 10) | (m >>> 13);
  const rest = m & 0x1fff;
  if (rest > 0x1000 || (rest === 0x1000 && (v & 1))) v += 1;
  return sign | v;
}

/** Convert a whole array of 16-bit values to f32. */
export function w16ToF32(raw: Uint16Array, format: Format16): Float32Array {
  const out = new Float32Array(raw.length);
  const conv = format === 'bf16' ? bf16ToF32 : f16ToF32;
  for (let i = 0; i < raw.length; i++) out[i] = conv(raw[i]);
  return out;
}

/** Round an f32 array to 16-bit values. */
export function f32ToW16(x: ArrayLike<number>, format: Format16): Uint16Array {
  const out = new Uint16Array(x.length);
  const conv = format === 'bf16' ? f32ToBf16 : f32ToF16;
  for (let i = 0; i < x.length; i++) out[i] = conv(x[i]);
  return out;
}

/** y [M, N] (+)= x [M, K] · Wᵀ, f64 accumulation. */
export function matmul16Ref(
  y: Float64Array | Float32Array, x: ArrayLike<number>, raw: Uint16Array, N: number, K: number,
  format: Format16, M: number, accumulate = false,
): void {
  matmulRef(y, x, w16ToF32(raw, format), { M, N, K, transB: true, accumulate });
}

/** dx [M, K] (+)= dy [M, N] · W, f64 accumulation. */
export function matmul16BackwardRef(
  dx: Float64Array | Float32Array, dy: ArrayLike<number>, raw: Uint16Array, N: number, K: number,
  format: Format16, M: number, accumulate = false,
): void {
  matmulRef(dx, dy, w16ToF32(raw, format), { M, N: K, K: N, accumulate });
}

/** out [T, C] = table[ids[t]] as f32; ids outside [0, V) give a zero row (as the shader). */
export function embeddingGatherRef(out: Float32Array, ids: ArrayLike<number>, raw: Uint16Array, V: number, C: number, format: Format16): void {
  const conv = format === 'bf16' ? bf16ToF32 : f16ToF32;
  for (let t = 0; t < ids.length; t++) {
    const id = ids[t];
    for (let c = 0; c < C; c++) out[t * C + c] = id >= 0 && id < V ? conv(raw[id * C + c]) : 0;
  }
}
