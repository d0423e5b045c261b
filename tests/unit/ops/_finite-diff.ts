// Central finite differences of a scalar f64 function, for checking backward references.
import { expect } from 'vitest';

/** d f / d v[i] for every i (or the given indices) by (f(v+h) - f(v-h)) / 2h; v restored after. */
export function centralDiff(f: () => number, v: Float64Array, h = 1e-5, indices?: number[]): Float64Array {
  const g = new Float64Array(v.length);
  for (const i of indices ?? v.keys()) {
    const keep = v[i];
    v[i] = keep + h;
    const fp = f();
    v[i] = keep - h;
    const fm = f();
    v[i] = keep;
    g[i] = (fp - fm) / (2 * h);
  }
  return g;
}

/** Assert analytic ≈ numeric: max |a-n| ≤ tol · max(1, max |n|) over the given indices. */
export function expectGradClose(analytic: ArrayLike<number>, numeric: ArrayLike<number>, tol: number, what: string, indices?: number[]): void {
  let scale = 1, worst = 0;
  const idx = indices ?? Array.from({ length: numeric.length }, (_, i) => i);
  for (const i of idx) scale = Math.max(scale, Math.abs(numeric[i]));
  for (const i of idx) worst = Math.max(worst, Math.abs(analytic[i] - numeric[i]));
  expect(worst / scale, `${what}: finite-difference mismatch`).toBeLessThanOrEqual(tol);
}

export const f64 = (a: ArrayLike<number>) => Float64Array.from(a);
export const dot = (a: ArrayLike<number>, b: ArrayLike<number>) => {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i] * b[i];
  return s;
};
