// Training configuration: defaults from the seed projects (r=16, alpha=32, dropout 0.05,
// lr 2e-4, seq 512, effective batch 16) and presets. A micro-batch packs whole examples up to
// seqLen × batchSize tokens; gradAccum micro-batches make one optimizer step.

import { parseTargets, TARGETS, type Target } from '../model/modules';

export type Schedule = 'cosine' | 'linear' | 'constant';

export interface TrainConfig {
  r: number;
  alpha: number;
  dropout: number;
  targets: Target[];
  lr: number;
  schedule: Schedule;
  warmupSteps: number;
  seqLen: number; // max tokens of one example (longer ones are truncated)
  batchSize: number; // micro-batch holds up to seqLen × batchSize packed tokens
  gradAccum: number; // micro-batches per optimizer step
  epochs: number;
  maxSteps: number; // 0 = run `epochs` epochs
  evalEvery: number; // optimizer steps between validation passes (0 = never)
  evalBatches: number; // validation micro-batches per pass (0 = the whole split)
  earlyStoppingPatience: number; // evaluations without improvement before stopping (0 = off)
  checkpointEvery: number; // optimizer steps between checkpoints
  seed: number;
  weightDecay: number;
  maxGradNorm: number;
  beta1: number;
  beta2: number;
  eps: number;
  recompute: boolean; // recompute each layer's activations in the backward (saves memory)
}

export const DEFAULT_TRAIN_CONFIG: TrainConfig = {
  r: 16, alpha: 32, dropout: 0.05, targets: [...TARGETS],
  lr: 2e-4, schedule: 'cosine', warmupSteps: 10,
  seqLen: 512, batchSize: 1, gradAccum: 16, epochs: 1, maxSteps: 0,
  evalEvery: 50, evalBatches: 0, earlyStoppingPatience: 3, checkpointEvery: 25, seed: 42,
  weightDecay: 0, maxGradNorm: 1, beta1: 0.9, beta2: 0.999, eps: 1e-8, recompute: false,
};

export const PRESETS: Record<'quick-demo' | 'rtx3060-8b' | 'full', { label: string; config: Partial<TrainConfig> }> = {
  'quick-demo': {
    label: 'Quick demo (demo model, a minute)',
    config: { r: 16, alpha: 32, dropout: 0, lr: 3e-2, seqLen: 1024, gradAccum: 1, maxSteps: 30, warmupSteps: 2, evalEvery: 10, evalBatches: 2, checkpointEvery: 5 },
  },
  // The seed's hyper-parameters. No recomputation: the plan for 512 tokens is ~9.3 GiB (xn1, xn2
  // and h are shared by all layers, activations.ts), which leaves a 12 GB card room for the
  // browser, and recomputing every layer's forward would cost about a third more time per step.
  'rtx3060-8b': {
    label: 'RTX 3060 12 GB, Llama-3.1-8B (seed defaults)',
    config: { r: 16, alpha: 32, dropout: 0.05, lr: 2e-4, seqLen: 512, batchSize: 1, gradAccum: 16, epochs: 1, recompute: false },
  },
  full: {
    label: 'Full run, 3 epochs',
    config: { epochs: 3, evalEvery: 100, checkpointEvery: 50 },
  },
};

/** Fill defaults and reject impossible values with a message naming the field. */
export type TrainConfigInput = Omit<Partial<TrainConfig>, 'targets'> & { targets?: readonly string[] };

export function resolveTrainConfig(partial: TrainConfigInput): TrainConfig {
  const c: TrainConfig = { ...DEFAULT_TRAIN_CONFIG, ...partial, targets: parseTargets(partial.targets ?? DEFAULT_TRAIN_CONFIG.targets) };
  const posInt = (k: keyof TrainConfig) => {
    const v = c[k] as number;
    if (!Number.isInteger(v) || v < 1) throw new Error(`${k} must be a positive integer, got ${v}`);
  };
  const nonNegInt = (k: keyof TrainConfig) => {
    const v = c[k] as number;
    if (!Number.isInteger(v) || v < 0) throw new Error(`${k} must be a non-negative integer, got ${v}`);
  };
  (['r', 'seqLen', 'batchSize', 'gradAccum', 'epochs', 'checkpointEvery'] as const).forEach(posInt);
  (['warmupSteps', 'maxSteps', 'evalEvery', 'evalBatches', 'earlyStoppingPatience', 'seed'] as const).forEach(nonNegInt);
  if (!(c.lr > 0 && c.lr < 1)) throw new Error(`lr must be in (0, 1), got ${c.lr}`);
  if (!(c.dropout >= 0 && c.dropout < 1)) throw new Error(`dropout must be in [0, 1), got ${c.dropout}`);
  if (!(c.alpha > 0)) throw new Error(`alpha must be positive, got ${c.alpha}`);
  if (c.targets.length === 0) throw new Error('targets: choose at least one LoRA target module');
  if (!['cosine', 'linear', 'constant'].includes(c.schedule)) throw new Error(`schedule must be cosine, linear or constant`);
  return c;
}
