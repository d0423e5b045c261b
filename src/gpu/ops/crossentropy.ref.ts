// Plain-TS reference for crossentropy.ts on host arrays (f64 math). Tc = labels.length.
type Arr = Float64Array | Float32Array;

function lseRow(logits: ArrayLike<number>, base: number, V: number): number {
  let m = -Infinity;
  for (let c = 0; c < V; c++) m = Math.max(m, logits[base + c]);
  let s = 0;
  for (let c = 0; c < V; c++) s += Math.exp(logits[base + c] - m);
  return m + Math.log(s);
}

export function crossEntropyForwardRef(nll: Arr, logits: ArrayLike<number>, labels: ArrayLike<number>): void {
  const Tc = labels.length, V = logits.length / Tc;
  for (let t = 0; t < Tc; t++) {
    const y = labels[t];
    if (y === -100) nll[t] = 0;
    else if (y < 0 || y >= V) nll[t] = NaN;
    else nll[t] = lseRow(logits, t * V, V) - logits[t * V + y];
  }
}

export function crossEntropyForwardBackwardRef(nll: Arr, logits: Arr, labels: ArrayLike<number>, gradScale: number): void {
  crossEntropyForwardRef(nll, logits, labels);
  const Tc = labels.length, V = logits.length / Tc;
  for (let t = 0; t < Tc; t++) {
    const y = labels[t];
    const valid = y >= 0 && y < V;
    const lse = valid ? lseRow(logits, t * V, V) : 0;
    for (let c = 0; c < V; c++) {
      const i = t * V + c;
      logits[i] = valid ? (Math.exp(logits[i] - lse) - (c === y ? 1 : 0)) * gradScale : 0;
    }
  }
}

export function logsumexpArgmaxRef(lse: Arr, argmax: Int32Array, logits: ArrayLike<number>): void {
  const Tc = lse.length, V = logits.length / Tc;
  for (let t = 0; t < Tc; t++) {
    lse[t] = lseRow(logits, t * V, V);
    let bi = 0;
    for (let c = 1; c < V; c++) if (logits[t * V + c] > logits[t * V + bi]) bi = c;
    argmax[t] = bi;
  }
}
