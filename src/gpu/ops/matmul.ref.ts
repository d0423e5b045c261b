// Plain-TS reference for matmul.ts (same signature on host arrays, f64 accumulation), plus the
// dropout hash shared with lora.ref.ts. Dimension letters as in matmul.ts.

import type { GemmDropout, MatmulOpts } from './matmul';
import { dropThreshold } from './matmul';

type Arr = Float64Array | Float32Array;

/** Chris Wellons' lowbias32 integer hash (the same as matmul.wgsl). */
export function lowbias32(x: number): number {
  x = x >>> 0;
  x ^= x >>> 16;
  x = Math.imul(x, 0x7feb352d) >>> 0;
  x ^= x >>> 15;
  x = Math.imul(x, 0x846ca68b) >>> 0;
  x ^= x >>> 16;
  return x >>> 0;
}

/** Inverted-dropout factor of element `idx`: 0 if dropped, 1/(1-p) if kept (1 when p = 0). */
export function dropoutFactorRef(idx: number, p: number, seed: number): number {
  if (p <= 0) return 1;
  const h = lowbias32((idx ^ lowbias32((seed ^ 0x9e3779b9) >>> 0)) >>> 0);
  return h >>> 8 >= dropThreshold(p) ? 1 / (1 - p) : 0;
}

export function matmulRef(c: Arr, a: ArrayLike<number>, b: ArrayLike<number>, opts: MatmulOpts): void {
  matmulDropoutRef(c, a, b, opts, null);
}

export function matmulDropoutRef(c: Arr, a: ArrayLike<number>, b: ArrayLike<number>, opts: MatmulOpts, drop: GemmDropout | null): void {
  const { M, N, K } = opts;
  const alpha = opts.alpha ?? 1;
  const f = (on: 'a' | 'b' | 'c', idx: number) => (drop && drop.on === on ? dropoutFactorRef(idx, drop.p, drop.seed) : 1);
  for (let m = 0; m < M; m++) {
    for (let n = 0; n < N; n++) {
      let s = 0;
      for (let k = 0; k < K; k++) {
        const ia = opts.transA ? k * M + m : m * K + k;
        const ib = opts.transB ? n * K + k : k * N + n;
        s += a[ia] * f('a', ia) * b[ib] * f('b', ib);
      }
      const ci = m * N + n;
      const v = alpha * s * f('c', ci);
      c[ci] = opts.accumulate ? c[ci] + v : v;
    }
  }
}
