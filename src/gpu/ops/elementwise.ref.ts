// Plain-TS references for elementwise.ts on host arrays.
type Arr = Float64Array | Float32Array;

export function fillRef(t: Arr, value: number): void { t.fill(value); }
export function scaleRef(t: Arr, alpha: number): void { for (let i = 0; i < t.length; i++) t[i] *= alpha; }
export function copyRef(dst: Arr, src: ArrayLike<number>): void { for (let i = 0; i < dst.length; i++) dst[i] = src[i]; }
export function addInPlaceRef(dst: Arr, src: ArrayLike<number>, alpha = 1): void {
  for (let i = 0; i < dst.length; i++) dst[i] += alpha * src[i];
}
