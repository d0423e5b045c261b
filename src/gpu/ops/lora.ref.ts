// Plain-TS reference for lora.ts on host arrays (f64 math). Host arrays carry no shape, so the
// dimensions (T tokens, K in_features, N out_features, r rank) come in `opts`.

import { dropoutFactorRef, matmulRef } from './matmul.ref';
import type { LoraOpts } from './lora';

type Arr = Float64Array | Float32Array;
export interface LoraRefOpts extends LoraOpts { T: number; K: number; N: number; r: number }

function dropped(x: ArrayLike<number>, o: LoraRefOpts): Float64Array {
  const out = new Float64Array(o.T * o.K);
  for (let i = 0; i < out.length; i++) out[i] = x[i] * dropoutFactorRef(i, o.dropout, o.seed);
  return out;
}

export function loraForwardRef(y: Arr, xa: Arr, x: ArrayLike<number>, A: ArrayLike<number>, B: ArrayLike<number>, o: LoraRefOpts): void {
  matmulRef(xa, dropped(x, o), A, { M: o.T, N: o.r, K: o.K, transB: true });
  matmulRef(y, xa, B, { M: o.T, N: o.N, K: o.r, transB: true, alpha: o.scale, accumulate: true });
}

export function loraBackwardRef(
  dA: Arr, dB: Arr, dx: Arr, dy: ArrayLike<number>, x: ArrayLike<number>, A: ArrayLike<number>,
  B: ArrayLike<number>, xa: ArrayLike<number>, scratch: Arr, o: LoraRefOpts,
): void {
  matmulRef(dB, dy, xa, { M: o.N, N: o.r, K: o.T, transA: true, alpha: o.scale, accumulate: true });
  matmulRef(scratch, dy, B, { M: o.T, N: o.r, K: o.N, alpha: o.scale });
  matmulRef(dA, scratch, dropped(x, o), { M: o.r, N: o.K, K: o.T, transA: true, accumulate: true });
  const g = new Float64Array(o.T * o.K);
  matmulRef(g, scratch, A, { M: o.T, N: o.K, K: o.r });
  for (let i = 0; i < g.length; i++) dx[i] += g[i] * dropoutFactorRef(i, o.dropout, o.seed);
}
