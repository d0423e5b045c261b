// One training micro-step, one evaluation batch and one optimizer step over the whole model.
// These are what the training loop, evaluation and the golden tests call.

import type { Gpu } from '../gpu/core/context';
import { createTensor, readF32, type Tensor } from '../gpu/core/tensor';
import { adamwStep, gradNormSq } from '../gpu/ops/adamw';
import { fill } from '../gpu/ops/elementwise';
import type { Activations } from './activations';
import { modelBackward } from './backward';
import { uploadBatch, type PackedBatch } from './batch';
import { modelForward } from './forward';
import { loraGrads, loraModules, zeroLoraGrads, type LoraState } from './lora';
import { lossChunks, readNllSum } from './loss';
import type { ModelWeights } from './weights';

export interface MicroStepResult { nllSum: number; count: number; tokens: number }

/**
 * Forward + loss + backward on one packed micro-batch; LoRA grads accumulate (+=) scaled by
 * `gradScale / count` so the step's gradient is the mean over counted tokens times gradScale
 * (1/accumulation steps). Reads back only the NLL sum.
 */
export async function trainMicroStep(
  gpu: Gpu, w: ModelWeights, lora: LoraState, acts: Activations, batch: PackedBatch,
  opts: { seed: number; gradScale?: number },
): Promise<MicroStepResult> {
  const { T, count, runs } = uploadBatch(gpu, acts, batch, w.dims.V);
  const run = { lora, train: true, seed: opts.seed };
  modelForward(gpu, w, acts, T, run);
  lossChunks(gpu, w, acts, T, runs, count > 0 ? (opts.gradScale ?? 1) / count : 0);
  modelBackward(gpu, w, acts, T, run);
  return { nllSum: await readNllSum(gpu, acts, T), count, tokens: T };
}

/** Forward + NLL only (validation loss, perplexity); `lora` null = base model. */
export async function evalBatch(gpu: Gpu, w: ModelWeights, lora: LoraState | null, acts: Activations, batch: PackedBatch): Promise<MicroStepResult> {
  const { T, count, runs } = uploadBatch(gpu, acts, batch, w.dims.V);
  modelForward(gpu, w, acts, T, { lora, train: false, seed: 0 });
  lossChunks(gpu, w, acts, T, runs, null);
  return { nllSum: await readNllSum(gpu, acts, T), count, tokens: T };
}

/**
 * evalBatch over `batches` in order, with one batch in flight: batch b+1 is recorded before batch
 * b's loss is read back, so the GPU does not wait for the host between batches (the results and
 * their order are those of awaiting each batch).
 */
export async function* evalBatches(gpu: Gpu, w: ModelWeights, lora: LoraState | null, acts: Activations, batches: readonly PackedBatch[]): AsyncGenerator<MicroStepResult> {
  const record = (b: number) => {
    const r = evalBatch(gpu, w, lora, acts, batches[b]);
    r.catch(() => {}); // handled when awaited; if an earlier batch fails first, this one's failure is the same
    return r;
  };
  let next = batches.length > 0 ? record(0) : null;
  for (let b = 0; b < batches.length; b++) {
    const cur = next!;
    next = b + 1 < batches.length ? record(b + 1) : null;
    yield await cur;
  }
}

export interface AdamWSettings {
  lr: number; beta1: number; beta2: number; eps: number; weightDecay: number; maxGradNorm: number;
}

export const DEFAULT_ADAMW: AdamWSettings = { lr: 2e-4, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0, maxGradNorm: 1 };

/** Optimizer state that is not per-parameter: the grad-norm accumulator. */
export interface OptimizerState { normSq: Tensor /* [1] */ }

export function createOptimizerState(gpu: Gpu): OptimizerState {
  return { normSq: createTensor(gpu, [1], 'f32', 'gradNormSq') };
}

/**
 * Clip by global norm (on the GPU, no readback), AdamW update of every LoRA tensor at step t
 * (1-based), then zero the grads. Returns a function reading the pre-clip grad norm.
 */
export function optimizerStep(gpu: Gpu, lora: LoraState, opt: OptimizerState, s: AdamWSettings, step: number): () => Promise<number> {
  fill(gpu, opt.normSq, 0);
  gradNormSq(gpu, opt.normSq, loraGrads(lora));
  const o = { lr: s.lr, beta1: s.beta1, beta2: s.beta2, eps: s.eps, weightDecay: s.weightDecay, step, maxGradNorm: s.maxGradNorm };
  for (const [, , m] of loraModules(lora)) {
    adamwStep(gpu, m.A, m.dA, m.mA, m.vA, opt.normSq, o);
    adamwStep(gpu, m.B, m.dB, m.mB, m.vB, opt.normSq, o);
  }
  zeroLoraGrads(gpu, lora);
  return async () => Math.sqrt((await readF32(gpu, opt.normSq))[0]);
}
