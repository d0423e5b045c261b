// Plain-TS reference for attention.ts (same signatures on host arrays, f64 math, O(T²)).
// Letters: T tokens, H = nHeads, Hkv = nKvHeads, D = headDim, G = H/Hkv, B new tokens (decode).
// Token i attends to j iff j <= i and segIds[j] == segIds[i]; query head h reads kv head h/G.

import type { AttnShape } from './attention';

type Out = Float64Array | Float32Array;
type In = ArrayLike<number>;

/** Probabilities row P[i, 0..T) of head h (zeros where masked) and the row's log-sum-exp. */
function probRow(
  q: In, k: In, segIds: In | null, s: AttnShape, h: number, i: number, qPos: number, tk: number, prow: Float64Array,
): number {
  const { nHeads: H, nKvHeads: Hkv, headDim: D } = s;
  const g = Math.floor(h / (H / Hkv));
  const scale = 1 / Math.sqrt(D);
  let mx = -Infinity;
  for (let j = 0; j < tk; j++) {
    const ok = j <= qPos && (!segIds || segIds[j] === segIds[qPos]);
    if (!ok) { prow[j] = -Infinity; continue; }
    let dot = 0;
    for (let d = 0; d < D; d++) dot += q[i * H * D + h * D + d] * k[j * Hkv * D + g * D + d];
    prow[j] = dot * scale;
    mx = Math.max(mx, prow[j]);
  }
  let sum = 0;
  for (let j = 0; j < tk; j++) sum += prow[j] = prow[j] === -Infinity ? 0 : Math.exp(prow[j] - mx);
  for (let j = 0; j < tk; j++) prow[j] /= sum;
  return mx + Math.log(sum);
}

export function attentionForwardRef(
  out: Out, // [T, H*D]
  lse: Out, // [H, T]
  q: In, // [T, H*D]
  k: In, // [T, Hkv*D]
  v: In, // [T, Hkv*D]
  segIds: In, // [T]
  shape: AttnShape,
): void {
  const { nHeads: H, nKvHeads: Hkv, headDim: D } = shape;
  const T = segIds.length;
  const prow = new Float64Array(T);
  for (let h = 0; h < H; h++) {
    const g = Math.floor(h / (H / Hkv));
    for (let i = 0; i < T; i++) {
      lse[h * T + i] = probRow(q, k, segIds, shape, h, i, i, T, prow);
      for (let d = 0; d < D; d++) {
        let acc = 0;
        for (let j = 0; j < T; j++) acc += prow[j] * v[j * Hkv * D + g * D + d];
        out[i * H * D + h * D + d] = acc;
      }
    }
  }
}

/** dq, dk, dv (assigned) from dout; probabilities recomputed from q, k (lse and out as given). */
export function attentionBackwardRef(
  dq: Out, // [T, H*D]
  dk: Out, // [T, Hkv*D]
  dv: Out, // [T, Hkv*D]
  dout: In, // [T, H*D]
  q: In, // [T, H*D]
  k: In, // [T, Hkv*D]
  v: In, // [T, Hkv*D]
  out: In, // [T, H*D]
  lse: In, // [H, T]
  segIds: In, // [T]
  shape: AttnShape,
): void {
  const { nHeads: H, nKvHeads: Hkv, headDim: D } = shape;
  const T = segIds.length;
  const scale = 1 / Math.sqrt(D);
  dq.fill(0);
  dk.fill(0);
  dv.fill(0);
  for (let h = 0; h < H; h++) {
    const g = Math.floor(h / (H / Hkv));
    for (let i = 0; i < T; i++) {
      const qi = i * H * D + h * D;
      let Di = 0;
      for (let d = 0; d < D; d++) Di += dout[qi + d] * out[qi + d];
      for (let j = 0; j <= i; j++) {
        if (segIds[j] !== segIds[i]) continue;
        const kj = j * Hkv * D + g * D;
        let s = 0, dp = 0;
        for (let d = 0; d < D; d++) {
          s += q[qi + d] * k[kj + d];
          dp += dout[qi + d] * v[kj + d];
        }
        const p = Math.exp(s * scale - lse[h * T + i]);
        const ds = p * (dp - Di) * scale;
        for (let d = 0; d < D; d++) {
          dv[kj + d] += p * dout[qi + d];
          dq[qi + d] += ds * k[kj + d];
          dk[kj + d] += ds * q[qi + d];
        }
      }
    }
  }
}

/** Host arrays carry no shape, so the row width C = Hkv*D is an extra last argument. */
export function kvCacheWriteRef(
  kCache: Out, // [maxT, C]
  vCache: Out, // [maxT, C]
  k: In, // [B, C]
  v: In, // [B, C]
  startPos: number,
  C: number,
): void {
  if (startPos * C + k.length > kCache.length) throw new Error('kvCacheWriteRef: rows past the cache');
  for (let i = 0; i < k.length; i++) {
    kCache[startPos * C + i] = k[i];
    vCache[startPos * C + i] = v[i];
  }
}

/** B = q.length / (H*D) new tokens at positions len-B .. len-1 over cache rows 0..len-1. */
export function attentionDecodeRef(
  out: Out, // [B, H*D]
  q: In, // [B, H*D]
  kCache: In, // [maxT, Hkv*D]
  vCache: In, // [maxT, Hkv*D]
  len: number,
  shape: AttnShape,
): void {
  const { nHeads: H, nKvHeads: Hkv, headDim: D } = shape;
  const B = q.length / (H * D);
  const prow = new Float64Array(len);
  for (let h = 0; h < H; h++) {
    const g = Math.floor(h / (H / Hkv));
    for (let b = 0; b < B; b++) {
      probRow(q, kCache, null, shape, h, b, len - B + b, len, prow);
      for (let d = 0; d < D; d++) {
        let acc = 0;
        for (let j = 0; j < len; j++) acc += prow[j] * vCache[j * Hkv * D + g * D + d];
        out[b * H * D + h * D + d] = acc;
      }
    }
  }
}
