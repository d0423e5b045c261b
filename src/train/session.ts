// A training session: the GPU state one run needs (LoRA, activations, optimizer) for loaded
// weights and a config, allocated once from the size table; plus the data split turned into
// tokenized train/val examples.

import type { Gpu } from '../gpu/core/context';
import type { PreparedDataset } from '../data/pipeline';
import { allocActivations, type Activations } from '../model/activations';
import { allocLora, initLora, type LoraState } from '../model/lora';
import { createOptimizerState, type OptimizerState } from '../model/step';
import type { ModelWeights } from '../model/weights';
import type { TrainConfig } from './config';
import type { TrainData } from './loop';

/** Rows per cross-entropy chunk: bounded so [Tc, V] logits stay ≤ 256 MiB and the binding limit. */
export function ceChunkRows(gpu: Gpu, V: number, maxT: number): number {
  const limit = Math.min(256 * 2 ** 20, gpu.info.limits.maxStorageBufferBindingSize ?? 128 * 2 ** 20);
  const rowsFit = Math.max(1, Math.floor(limit / (V * 4)));
  return Math.min(maxT, rowsFit);
}

export interface TrainState { lora: LoraState; acts: Activations; opt: OptimizerState }

export function allocTraining(gpu: Gpu, w: ModelWeights, cfg: TrainConfig): TrainState {
  const maxT = cfg.seqLen * cfg.batchSize;
  const lora = allocLora(gpu, w.dims, { r: cfg.r, alpha: cfg.alpha, dropout: cfg.dropout, targets: cfg.targets });
  initLora(gpu, lora, cfg.seed);
  const acts = allocActivations(gpu, w.dims, maxT, ceChunkRows(gpu, w.dims.V, maxT), cfg.r, cfg.targets, cfg.recompute);
  return { lora, acts, opt: createOptimizerState(gpu) };
}

export function trainData(ds: PreparedDataset): TrainData & { test: TrainData['train'] } {
  return {
    train: ds.split.train.map((i) => ds.examples[i]),
    val: ds.split.val.map((i) => ds.examples[i]),
    test: ds.split.test.map((i) => ds.examples[i]),
  };
}
