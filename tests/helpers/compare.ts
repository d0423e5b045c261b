// Numeric comparison helpers for kernel tests.

import { expect } from 'vitest';

/** Max |a-b| / max(|b|, floor): relative error with a floor so near-zero values don't explode. */
export function maxRelError(a: ArrayLike<number>, b: ArrayLike<number>, floor = 1e-3): number {
  expect(a.length).toBe(b.length);
  let scale = floor;
  for (let i = 0; i < b.length; i++) scale = Math.max(scale, Math.abs(b[i]));
  let worst = 0;
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs(a[i] - b[i]);
    if (!Number.isFinite(a[i])) return Infinity;
    worst = Math.max(worst, d / scale);
  }
  return worst;
}

/** Assert a ≈ b: max abs error relative to the largest reference magnitude. */
export function expectClose(a: ArrayLike<number>, b: ArrayLike<number>, tol: number, what = ''): void {
  const err = maxRelError(a, b);
  if (!(err <= tol)) throw new Error(`${what} max relative error ${err.toExponential(3)} > ${tol}`);
}
