// Plain-TS reference for swiglu.ts on host arrays (f64 math).
type Arr = Float64Array | Float32Array;

const sigmoid = (g: number) => 1 / (1 + Math.exp(-g));

export function swigluForwardRef(h: Arr, gate: ArrayLike<number>, up: ArrayLike<number>): void {
  for (let i = 0; i < h.length; i++) h[i] = gate[i] * sigmoid(gate[i]) * up[i];
}

export function swigluBackwardRef(dgate: Arr, dup: Arr, dh: ArrayLike<number>, gate: ArrayLike<number>, up: ArrayLike<number>): void {
  for (let i = 0; i < dgate.length; i++) {
    const g = gate[i], s = sigmoid(g);
    dgate[i] = dh[i] * up[i] * s * (1 + g * (1 - s));
    dup[i] = dh[i] * g * s;
  }
}
