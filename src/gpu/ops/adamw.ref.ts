// Plain-TS reference for adamw.ts on host arrays (f64 math), written as torch.optim.AdamW's
// single-tensor path and torch.nn.utils.clip_grad_norm_.
import type { AdamwOpts } from './adamw';

type Arr = Float64Array | Float32Array;

export function gradNormSqRef(normSq: Arr, grads: ArrayLike<number>[]): void {
  let s = 0;
  for (const g of grads) for (let i = 0; i < g.length; i++) s += g[i] * g[i];
  normSq[0] += s;
}

export function adamwStepRef(param: Arr, grad: ArrayLike<number>, m: Arr, v: Arr, normSq: ArrayLike<number>, o: AdamwOpts): void {
  const gs = o.gradScale ?? 1;
  // clip_grad_norm_: total_norm of the (scaled) grads; clip_coef = max_norm / (total_norm + 1e-6), clamped to 1
  const clip = o.maxGradNorm > 0 ? Math.min(1, o.maxGradNorm / (Math.abs(gs) * Math.sqrt(normSq[0]) + 1e-6)) : 1;
  const bc1 = 1 - o.beta1 ** o.step, bc2 = 1 - o.beta2 ** o.step;
  for (let i = 0; i < param.length; i++) {
    const g = grad[i] * gs * clip;
    param[i] *= 1 - o.lr * o.weightDecay;
    m[i] += (1 - o.beta1) * (g - m[i]);
    v[i] = o.beta2 * v[i] + (1 - o.beta2) * g * g;
    param[i] -= (o.lr / bc1) * (m[i] / (Math.sqrt(v[i]) / Math.sqrt(bc2) + o.eps));
  }
}
