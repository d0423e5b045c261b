// Plain-TS reference for residual.ts (same signature on host arrays).

export function residualAddRef(out: Float64Array | Float32Array, a: ArrayLike<number>, b: ArrayLike<number>, alpha = 1): void {
  for (let i = 0; i < out.length; i++) out[i] = a[i] + alpha * b[i];
}
