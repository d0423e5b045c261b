// Plain-TS reference for rmsnorm.ts on host arrays (f64 math). T = rstd.length, C = w.length.
type Arr = Float64Array | Float32Array;

export function rmsnormForwardRef(out: Arr, rstd: Arr, x: ArrayLike<number>, w: ArrayLike<number>, eps: number): void {
  const C = w.length, T = rstd.length;
  for (let t = 0; t < T; t++) {
    let ss = 0;
    for (let c = 0; c < C; c++) ss += x[t * C + c] ** 2;
    const r = 1 / Math.sqrt(ss / C + eps);
    rstd[t] = r;
    for (let c = 0; c < C; c++) out[t * C + c] = x[t * C + c] * r * w[c];
  }
}

export function rmsnormBackwardRef(
  dx: Arr, dout: ArrayLike<number>, x: ArrayLike<number>, w: ArrayLike<number>, rstd: ArrayLike<number>,
  opts: { accumulate?: boolean } = {},
): void {
  const C = w.length, T = rstd.length;
  for (let t = 0; t < T; t++) {
    let s = 0;
    for (let c = 0; c < C; c++) s += w[c] * dout[t * C + c] * x[t * C + c];
    const r = rstd[t], k = (r * r * r * s) / C;
    for (let c = 0; c < C; c++) {
      const v = r * w[c] * dout[t * C + c] - k * x[t * C + c];
      dx[t * C + c] = opts.accumulate ? dx[t * C + c] + v : v;
    }
  }
}
