// Plain-TS reference for rope.ts on host arrays. The angle is the f32 product fround(pos ·
// inv_freq) as in transformers; cos/sin and the rotation are in f64.
type Arr = Float64Array | Float32Array;

function rotateRef(x: Arr, positions: ArrayLike<number>, invFreq: ArrayLike<number>, nHeads: number, headDim: number, sgn: number): void {
  const half = headDim / 2;
  for (let t = 0; t < positions.length; t++) {
    for (let h = 0; h < nHeads; h++) {
      const base = (t * nHeads + h) * headDim;
      for (let i = 0; i < half; i++) {
        const ang = Math.fround(Math.fround(positions[t]) * invFreq[i]);
        const c = Math.cos(ang), s = sgn * Math.sin(ang);
        const x1 = x[base + i], x2 = x[base + i + half];
        x[base + i] = x1 * c - x2 * s;
        x[base + i + half] = x2 * c + x1 * s;
      }
    }
  }
}

export function ropeForwardRef(x: Arr, positions: ArrayLike<number>, invFreq: ArrayLike<number>, nHeads: number, headDim: number): void {
  rotateRef(x, positions, invFreq, nHeads, headDim, 1);
}

export function ropeBackwardRef(dx: Arr, positions: ArrayLike<number>, invFreq: ArrayLike<number>, nHeads: number, headDim: number): void {
  rotateRef(dx, positions, invFreq, nHeads, headDim, -1);
}
