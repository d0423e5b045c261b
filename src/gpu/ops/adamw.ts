// AdamW with PyTorch semantics (torch.optim.AdamW, decoupled weight decay p -= lr·wd·p, bias
// correction with step t >= 1) and global-norm gradient clipping as
// torch.nn.utils.clip_grad_norm_, all on the GPU without a readback: gradNormSq accumulates
// Σ grad² of every trainable tensor into a [1] buffer (two-stage reduction), then each adamwStep
// reads it. `normSq` holds the norm of the raw accumulated grads; the clip uses the norm of the
// gradients actually applied, |gradScale|·sqrt(normSq) (gradScale = 1/accumSteps, like dividing
// the loss before backward in PyTorch).

import type { Gpu } from '../core/context';
import { check } from '../core/errors';
import { createTensor, numel, packUniform, writeTensor, type Tensor } from '../core/tensor';
import code from '../../../shaders/adamw.wgsl';
import { grid1d } from './grid';
import { checkBindable, checkDistinct, checkTensor } from './guards';
import { scratchTensor } from '../core/scratch';

const WG = 256;
const MAX_PARTIALS = 256; // stage-1 workgroups per tensor (each then strides over the tensor)

export interface AdamwOpts {
  lr: number;
  beta1: number;
  beta2: number;
  eps: number;
  weightDecay: number;
  step: number; // 1-based step count for bias correction
  maxGradNorm: number; // 0 = no clipping
  gradScale?: number; // multiplies grad before everything (default 1)
}

/** Stage-1 workgroups for a tensor of n elements. */
const partialsFor = (n: number) => Math.min(MAX_PARTIALS, Math.ceil(n / (WG * 4)));

const partialsBuffer = (gpu: Gpu, count: number) => scratchTensor(gpu, 'gradNormSq.partials', count, { min: 1024 });

function uniform(gpu: Gpu, f: Partial<Record<string, number>>): GPUBuffer {
  return gpu.uniform(packUniform([
    f.n ?? 0, f.slot ?? 0, f.count ?? 0, { f: f.maxNorm ?? 0 },
    { f: f.eps ?? 0 }, { f: f.oneMinusBeta1 ?? 0 }, { f: f.beta2 ?? 0 }, { f: f.oneMinusBeta2 ?? 0 },
  ]));
}

/**
 * The per-step values of adamw.wgsl ([4] f32: decay, step size, 1/sqrt(bc2), grad scale) in one
 * buffer per device, rewritten only when they change (once per optimizer step: every tensor of a
 * step shares them). writeTensor submits the work recorded before it first, so dispatches
 * recorded with the old values still read them.
 */
const hypers = new WeakMap<Gpu, { t: Tensor; last: string }>();
function hyperBuffer(gpu: Gpu, values: Float32Array): GPUBuffer {
  let h = hypers.get(gpu);
  if (!h) hypers.set(gpu, (h = { t: createTensor(gpu, [4], 'f32', 'adamw.hyper', true), last: '' }));
  const key = values.join(',');
  if (key !== h.last) {
    writeTensor(gpu, h.t, values);
    h.last = key;
  }
  return h.t.buffer;
}

/** normSq[0] += Σ over all grads of grad². */
export function gradNormSq(gpu: Gpu, normSq: Tensor /* [1] f32, accumulated */, grads: Tensor[]): void {
  const op = 'gradNormSq';
  checkTensor(op, 'normSq', normSq, 1);
  grads.forEach((g, i) => {
    checkTensor(op, `grads[${i}]`, g, null);
    checkDistinct(op, normSq, g, `normSq and grads[${i}]`);
  });
  checkBindable(gpu, op, ...grads);
  const nonEmpty = grads.filter((g) => numel(g.shape) > 0);
  if (nonEmpty.length === 0) return;
  const total = nonEmpty.reduce((s, g) => s + partialsFor(numel(g.shape)), 0);
  const partials = partialsBuffer(gpu, total);
  let slot = 0;
  for (const g of nonEmpty) {
    const n = numel(g.shape), nb = partialsFor(n);
    gpu.dispatch({ code, entry: 'partial_sumsq', constants: { WG } }, [partials.buffer, uniform(gpu, { n, slot }), g.buffer], [nb]);
    slot += nb;
  }
  gpu.dispatch({ code, entry: 'final_sum', constants: { WG } }, [normSq.buffer, uniform(gpu, { count: total }), partials.buffer], [1]);
}

/** One AdamW step on one parameter tensor (call gradNormSq first when clipping). */
export function adamwStep(
  gpu: Gpu,
  param: Tensor, // (n,) f32 updated in place
  grad: Tensor, // (n,) f32 raw accumulated gradient (not modified)
  m: Tensor, // (n,) f32 exp_avg, starts at 0
  v: Tensor, // (n,) f32 exp_avg_sq, starts at 0
  normSq: Tensor, // [1] f32 from gradNormSq (read only when maxGradNorm > 0)
  opts: AdamwOpts,
): void {
  const op = 'adamwStep';
  const n = numel(param.shape);
  checkTensor(op, 'param', param, null);
  checkTensor(op, 'grad', grad, n);
  checkTensor(op, 'm', m, n);
  checkTensor(op, 'v', v, n);
  checkTensor(op, 'normSq', normSq, 1);
  const bufs: [string, Tensor][] = [['param', param], ['grad', grad], ['m', m], ['v', v], ['normSq', normSq]];
  for (let i = 0; i < bufs.length; i++)
    for (let j = i + 1; j < bufs.length; j++) checkDistinct(op, bufs[i][1], bufs[j][1], `${bufs[i][0]} and ${bufs[j][0]}`);
  checkBindable(gpu, op, param, grad, m, v);
  const { lr, beta1, beta2, eps, weightDecay, step, maxGradNorm } = opts;
  const gradScale = opts.gradScale ?? 1;
  check(Number.isInteger(step) && step >= 1, op, `step must be an integer >= 1, got ${step}`);
  check(beta1 >= 0 && beta1 < 1 && beta2 >= 0 && beta2 < 1, op, `betas must be in [0, 1), got ${beta1}, ${beta2}`);
  check(lr >= 0 && eps > 0 && weightDecay >= 0 && maxGradNorm >= 0, op, 'lr, weightDecay, maxGradNorm must be >= 0 and eps > 0');
  check([lr, eps, weightDecay, maxGradNorm, gradScale].every(Number.isFinite), op, 'options must be finite');
  const bc1 = 1 - beta1 ** step;
  const bc2 = 1 - beta2 ** step;
  const u = uniform(gpu, { n, maxNorm: maxGradNorm, eps, oneMinusBeta1: 1 - beta1, beta2, oneMinusBeta2: 1 - beta2 });
  const hyper = hyperBuffer(gpu, Float32Array.of(1 - lr * weightDecay, lr / bc1, 1 / Math.sqrt(bc2), gradScale));
  gpu.dispatch(
    { code, entry: 'adamw', constants: { WG } },
    [param.buffer, u, grad.buffer, m.buffer, v.buffer, normSq.buffer, hyper],
    grid1d(gpu, Math.ceil(n / WG)),
  );
}
