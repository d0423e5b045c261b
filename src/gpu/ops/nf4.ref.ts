// Plain-TS reference for NF4 quantization (bitsandbytes-compatible) and the NF4 matmuls.
// W [rows=N (out), cols=K (in)] flattened row-major to n = N·K values; blocks of 64.
//
// Followed (read, not copied): bitsandbytes `csrc/kernels.cu` kQuantizeBlockwise /
// kQuantizeBlockwiseSmall (NF4 and General8bit), `dQuantizeNF4` (the decision tree below),
// `dQuantize<0>` (8-bit binary search), kDequantizeBlockwise; `bitsandbytes/functional.py`
// quantize_4bit (compress_statistics), quantize_blockwise, create_dynamic_map, dequantize_4bit.
//
// Exact semantics (the GPU quantizer in shaders/nf4_quant.wgsl reproduces them bit for bit):
// - absmax = max |x| over the block; scale = 1 / absmax in f32 (correctly rounded); each value
//   is coded as dQuantizeNF4(x · scale) (f32 product). Byte j holds element 2j in its high
//   nibble and element 2j+1 in its low nibble.
// - Tail block (n % 64 != 0): bnb loads the missing values as 0, so absmax covers only the real
//   values, and when n is odd the last byte's low nibble is the code of 0·scale (= 7, or 0 for an
//   all-zero block). packed has ceil(n/2) bytes, absmax ceil(n/64) entries.
// - All-zero block: absmax = 0, scale = +inf, 0·inf = NaN, and NaN fails every `>` of the tree,
//   so bnb writes code 0 (i.e. -1.0) for every element; dequantization gives -1·0 = 0.
// - bnb's CUDA build uses --use_fast_math (flush-to-zero, approximate reciprocal). We follow the
//   flush-to-zero part exactly (subnormal inputs, subnormal scales and subnormal absmax-offset are
//   0) but take the correctly rounded reciprocal; rcp.approx differs from it by ≤ 1 ulp only, so a
//   code can differ from a CUDA-made checkpoint only for a value within ~1e-7 relative of a
//   decision threshold. The format itself (codebook, thresholds, layout, absmax) is identical.
// - Double quantization (quantize_4bit with compress_statistics): offset = mean(absmax), computed
//   like torch's CUDA mean as sum · f32(1/n) (the sum order here is fixed: 256 strided partial
//   sums, then a pairwise tree, as the GPU does it), then absmax − offset is 8-bit quantized in
//   blocks of 256 with the signed dynamic map and dQuantize<0>'s rounding.

import { matmulRef } from './matmul.ref';
import { NESTED_BLOCK, NF4_BLOCK, NF4_CODE, type Nf4DoubleQuant, type Nf4Host } from './nf4.types';

const f32 = Math.fround;
const MIN_NORMAL = 2 ** -126;

/** Flush subnormals to zero (CUDA --use_fast_math semantics; keeps the sign of 0 irrelevant). */
export function ftz(x: number): number {
  return Math.abs(x) < MIN_NORMAL ? 0 : x;
}

/**
 * f32(1/a) rounded to nearest with 24 significant bits, then flushed to 0 if below 2^-126 (as
 * CUDA's rcp.ftz: no subnormal-precision rounding); a = 0 gives +Infinity.
 */
export function recipF32(a: number): number {
  const r = 1 / a;
  if (r >= MIN_NORMAL) return f32(r);
  return ftz(f32(r * 2 ** 64) / 2 ** 64);
}

/** Decision thresholds of bnb's dQuantizeNF4 tree, as f32 (midpoints between NF4 codes). */
export const NF4_THRESHOLDS = Float32Array.from([
  -0.8480964004993439, -0.6106329262256622, -0.4599952697753906, -0.33967943489551544,
  -0.23460740596055984, -0.13791173323988914, -0.045525018125772476, 0.03979014977812767,
  0.1202552504837513, 0.2035212516784668, 0.2920137718319893, 0.3893125355243683,
  0.5016634166240692, 0.6427869200706482, 0.8614784181118011,
]);

/**
 * NF4 code of a normalised value: the number of thresholds strictly below x. Equal to bnb's
 * binary tree for every non-NaN x (each `x > t` decides one bit); NaN gives 0 like the tree.
 */
export function quantizeNf4Value(x: number): number {
  if (Number.isNaN(x)) return 0;
  let q = 0;
  for (let i = 0; i < 15; i++) if (x > NF4_THRESHOLDS[i]) q++;
  return q;
}

let dynamicMap: Float32Array | null = null;

/** f32 linspace as torch's CPU kernel computes it (halves from each end). */
function linspaceF32(start: number, end: number, steps: number): Float32Array {
  const s = f32(start), e = f32(end);
  const step = f32(f32(e - s) / (steps - 1));
  const half = Math.floor(steps / 2);
  const out = new Float32Array(steps);
  for (let i = 0; i < steps; i++)
    out[i] = i < half ? f32(s + f32(step * i)) : f32(e - f32(step * (steps - i - 1)));
  return out;
}

/**
 * bnb's create_dynamic_map(signed=True, max_exponent_bits=7, total_bits=8): for exponent
 * i = 0..6, the 2^i midpoints of linspace(0.1, 1, 2^i + 1) scaled by 10^(i-6), both signs,
 * plus 0 and 1, sorted. 256 values, f32 arithmetic as torch does it.
 */
export function createDynamicMap(): Float32Array {
  if (dynamicMap) return dynamicMap;
  const data: number[] = [];
  for (let i = 0; i < 7; i++) {
    const b = linspaceF32(0.1, 1, 2 ** i + 1);
    const scale = f32(10 ** (i - 6));
    for (let j = 0; j + 1 < b.length; j++) {
      const mean = f32(f32(b[j] + b[j + 1]) / 2);
      const v = f32(scale * mean);
      data.push(v, -v);
    }
  }
  data.push(0, 1);
  data.sort((a, b) => a - b);
  dynamicMap = Float32Array.from(data);
  return dynamicMap;
}

/** bnb's dQuantize<0>: binary search over a sorted 256-entry code, round to the nearer side. */
export function quantize8Value(code: ArrayLike<number>, x: number): number {
  let pivot = 127, upperPivot = 255, lowerPivot = 0;
  let lower = -1, upper = 1;
  let val = code[pivot];
  for (let i = 64; i > 0; i >>= 1) {
    if (x > val) { lowerPivot = pivot; lower = val; pivot += i; }
    else { upperPivot = pivot; upper = val; pivot -= i; }
    val = code[pivot];
  }
  if (upperPivot === 255) upper = code[255];
  if (lowerPivot === 0) lower = code[0];
  if (x > val) return x > f32(f32(upper + val) * 0.5) ? upperPivot : pivot;
  return x < f32(f32(lower + val) * 0.5) ? lowerPivot : pivot;
}

/** Sum of n f32 values in the fixed order the GPU uses (256 strided lanes, then a tree). */
export function sumF32Fixed(v: ArrayLike<number>, lanes = 256): number {
  const part = new Float32Array(lanes);
  for (let t = 0; t < lanes; t++) {
    let s = 0;
    for (let i = t; i < v.length; i += lanes) s = f32(s + v[i]);
    part[t] = s;
  }
  for (let s = lanes >> 1; s > 0; s >>= 1) for (let t = 0; t < s; t++) part[t] = f32(part[t] + part[t + s]);
  return part[0];
}

/** 8-bit blockwise quantization of `v` (blocks of `block`) with `code`: codes + absmax. */
function quantizeBlockwise8(v: Float32Array, code: Float32Array, block: number) {
  const nb = Math.ceil(v.length / block);
  const codes = new Uint8Array(v.length);
  const absmax = new Float32Array(nb);
  for (let b = 0; b < nb; b++) {
    const lo = b * block, hi = Math.min(lo + block, v.length);
    let m = 0;
    for (let i = lo; i < hi; i++) m = Math.max(m, Math.abs(v[i]));
    absmax[b] = m;
    const s = recipF32(m);
    for (let i = lo; i < hi; i++) codes[i] = m === 0 ? 0 : quantize8Value(code, ftz(f32(v[i] * s)));
  }
  return { codes, absmax };
}

/** Quantize W [rows, cols] (row-major f32) to NF4 exactly as described in the header. */
export function nf4QuantizeRef(
  w: Float32Array,
  rows: number,
  cols: number,
  opts: { doubleQuant?: boolean } = {},
): Nf4Host {
  const n = rows * cols;
  if (w.length !== n) throw new Error(`nf4QuantizeRef: ${w.length} values for [${rows}, ${cols}]`);
  const nb = Math.ceil(n / NF4_BLOCK);
  const packed = new Uint8Array(Math.ceil(n / 2));
  const absmax = new Float32Array(nb);
  for (let b = 0; b < nb; b++) {
    const lo = b * NF4_BLOCK, hi = Math.min(lo + NF4_BLOCK, n);
    let m = 0;
    for (let i = lo; i < hi; i++) m = Math.max(m, Math.abs(ftz(w[i])));
    absmax[b] = m;
    const s = recipF32(m);
    // Pairs past n are the zero padding bnb loads; only bytes that hold a real value are kept.
    for (let i = lo; i < hi; i += 2) {
      const a = m === 0 ? 0 : quantizeNf4Value(f32(ftz(w[i]) * s));
      const c = m === 0 ? 0 : quantizeNf4Value(f32((i + 1 < n ? ftz(w[i + 1]) : 0) * s));
      packed[i >> 1] = (a << 4) | c;
    }
  }
  if (!opts.doubleQuant) return { rows, cols, packed, absmax };
  const offset = f32(sumF32Fixed(absmax) * f32(1 / nb));
  const centred = new Float32Array(nb);
  for (let b = 0; b < nb; b++) centred[b] = ftz(f32(absmax[b] - offset));
  const quantMap = createDynamicMap();
  const q = quantizeBlockwise8(centred, quantMap, NESTED_BLOCK);
  const dq: Nf4DoubleQuant = { codes: q.codes, nestedAbsmax: q.absmax, quantMap: Float32Array.from(quantMap), offset };
  return { rows, cols, packed, absmax: dq };
}

/** Per-block absmax as f32 (decoding double quantization like bnb's dequantize_4bit). */
export function nf4AbsmaxRef(h: Nf4Host): Float32Array {
  if (h.absmax instanceof Float32Array) return h.absmax;
  const { codes, nestedAbsmax, quantMap, offset } = h.absmax;
  const out = new Float32Array(codes.length);
  for (let b = 0; b < codes.length; b++)
    out[b] = f32(f32(quantMap[codes[b]] * nestedAbsmax[Math.floor(b / NESTED_BLOCK)]) + offset);
  return out;
}

/** Check that a host weight's arrays have the sizes its shape implies. */
export function nf4CheckHost(h: Nf4Host, op: string): void {
  const n = h.rows * h.cols;
  const nb = Math.ceil(n / NF4_BLOCK);
  const bad = (m: string) => { throw new Error(`${op}: ${m}`); };
  if (!(h.rows > 0 && h.cols > 0 && Number.isInteger(h.rows) && Number.isInteger(h.cols))) bad(`bad shape [${h.rows}, ${h.cols}]`);
  if (h.packed.length !== Math.ceil(n / 2)) bad(`packed has ${h.packed.length} bytes, want ${Math.ceil(n / 2)}`);
  if (h.absmax instanceof Float32Array) {
    if (h.absmax.length !== nb) bad(`absmax has ${h.absmax.length} values, want ${nb}`);
  } else {
    const d = h.absmax;
    if (d.codes.length !== nb) bad(`absmax codes has ${d.codes.length} values, want ${nb}`);
    if (d.nestedAbsmax.length !== Math.ceil(nb / NESTED_BLOCK)) bad(`nestedAbsmax has ${d.nestedAbsmax.length} values, want ${Math.ceil(nb / NESTED_BLOCK)}`);
    if (d.quantMap.length !== 256) bad(`quantMap has ${d.quantMap.length} values, want 256`);
  }
}

/** Dequantize to W [rows·cols] f32: code · absmax (f32 product, as kDequantizeBlockwise). */
export function nf4DequantizeRef(h: Nf4Host): Float32Array {
  nf4CheckHost(h, 'nf4DequantizeRef');
  const n = h.rows * h.cols;
  const absmax = nf4AbsmaxRef(h);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    const byte = h.packed[i >> 1];
    const q = i & 1 ? byte & 15 : byte >> 4;
    out[i] = f32(NF4_CODE[q] * absmax[Math.floor(i / NF4_BLOCK)]);
  }
  return out;
}

/** y [M, N] (+)= x [M, K] · Wᵀ with W the dequantized [N, K]; f64 accumulation. */
export function nf4MatmulRef(
  y: Float64Array | Float32Array,
  x: ArrayLike<number>,
  h: Nf4Host,
  M: number,
  accumulate = false,
): void {
  const N = h.rows, K = h.cols;
  if (y.length !== M * N || x.length !== M * K) throw new Error(`nf4MatmulRef: y ${y.length}, x ${x.length} for M=${M} N=${N} K=${K}`);
  matmulRef(y, x, nf4DequantizeRef(h), { M, N, K, transB: true, accumulate });
}

/** dx [M, K] (+)= dy [M, N] · W [N, K]; f64 accumulation. */
export function nf4MatmulBackwardRef(
  dx: Float64Array | Float32Array,
  dy: ArrayLike<number>,
  h: Nf4Host,
  M: number,
  accumulate = false,
): void {
  const N = h.rows, K = h.cols;
  if (dx.length !== M * K || dy.length !== M * N) throw new Error(`nf4MatmulBackwardRef: dx ${dx.length}, dy ${dy.length} for M=${M} N=${N} K=${K}`);
  matmulRef(dx, dy, nf4DequantizeRef(h), { M, N: K, K: N, accumulate });
}
