// The training loop: packed micro-batches with gradient accumulation, AdamW with clipping,
// warmup + decay schedule, validation every N steps with early stopping, checkpoints every N
// steps and on pause, cancel. Everything random derives from (seed, epoch, step), so a run
// resumed from a checkpoint continues bit for bit as if it had never stopped.

import type { Gpu } from '../gpu/core/context';
import { packBatches, type PackedBatch } from '../data/pack';
import type { TokenizedExample } from '../data/format';
import type { Activations } from '../model/activations';
import { nextTokenTargets } from '../model/batch';
import type { LoraState } from '../model/lora';
import { evalBatch, optimizerStep, trainMicroStep, type OptimizerState } from '../model/step';
import type { ModelWeights } from '../model/weights';
import { restoreLora, serializeCheckpoint, type CheckpointStore, type LoopPosition } from './checkpoint';
import type { TrainConfig } from './config';
import { lrAt } from './schedule';

export type TrainEvent =
  | { type: 'step'; step: number; totalSteps: number; epoch: number; loss: number; lr: number; gradNorm: number;
      tokensPerSecond: number; etaSeconds: number; gpuMemoryBytes: number; tokensSeen: number }
  | { type: 'eval'; step: number; valLoss: number; perplexity: number }
  | { type: 'checkpoint'; step: number; bytes: number; position: LoopPosition }
  | { type: 'done'; reason: 'finished' | 'early-stopped' | 'cancelled' | 'paused'; step: number };

export interface TrainContext {
  gpu: Gpu;
  weights: ModelWeights;
  lora: LoraState;
  acts: Activations;
  opt: OptimizerState;
  store: CheckpointStore | null;
  runId: string;
}

/** Set by the UI/CLI while training runs; checked between optimizer steps. */
export interface TrainControl { pause: boolean; cancel: boolean }

export interface TrainData { train: readonly TokenizedExample[]; val: readonly TokenizedExample[] }

export const START: LoopPosition = { step: 0, epoch: 0, batchInEpoch: 0, bestValLoss: null, evalsWithoutImprovement: 0, tokensSeen: 0 };

/** Examples cut to seqLen tokens (the packer then fills micro-batches of seqLen × batchSize). */
function truncate(ex: readonly TokenizedExample[], seqLen: number): TokenizedExample[] {
  return ex.map((e) => (e.ids.length <= seqLen ? e : { ...e, ids: e.ids.subarray(0, seqLen), labels: e.labels.subarray(0, seqLen) }));
}

/** Micro-batches of one epoch, cached: a pure function of (data, config, epoch). */
function epochBatches(data: TokenizedExample[], cfg: TrainConfig) {
  const cache = new Map<number, PackedBatch[]>();
  return (epoch: number) => {
    let b = cache.get(epoch);
    if (!b) {
      cache.clear();
      b = packBatches(data, { maxTokens: cfg.seqLen * cfg.batchSize, seed: cfg.seed, epoch }).batches;
      cache.set(epoch, b);
    }
    return b;
  };
}

export function totalSteps(cfg: TrainConfig, microBatchesPerEpoch: number): number {
  return cfg.maxSteps > 0 ? cfg.maxSteps : Math.max(1, Math.ceil((microBatchesPerEpoch * cfg.epochs) / cfg.gradAccum));
}

/** Mean validation loss over (up to evalBatches) packed validation micro-batches. */
export async function validationLoss(ctx: TrainContext, cfg: TrainConfig, val: readonly TokenizedExample[]): Promise<number | null> {
  if (val.length === 0) return null;
  let batches = packBatches(truncate(val, cfg.seqLen), { maxTokens: cfg.seqLen * cfg.batchSize, seed: cfg.seed, order: val.map((_, i) => i) }).batches;
  if (cfg.evalBatches > 0) batches = batches.slice(0, cfg.evalBatches);
  let nll = 0, n = 0;
  for (const b of batches) {
    const r = await evalBatch(ctx.gpu, ctx.weights, ctx.lora, ctx.acts, b);
    nll += r.nllSum; n += r.count;
  }
  return n > 0 ? nll / n : null;
}

async function checkpoint(ctx: TrainContext, cfg: TrainConfig, pos: LoopPosition, emit: (e: TrainEvent) => void) {
  if (!ctx.store) return;
  const { bytes, sha256 } = await serializeCheckpoint(ctx.gpu, ctx.lora, { runId: ctx.runId, position: pos, config: cfg, savedAt: new Date().toISOString() });
  await ctx.store.save(ctx.runId, pos.step, bytes, sha256);
  emit({ type: 'checkpoint', step: pos.step, bytes: bytes.byteLength, position: { ...pos } });
}

/**
 * Train from `resume` (a checkpoint's position, its weights already restored with
 * restoreLora) or from the start. Returns the final position.
 */
export async function train(
  ctx: TrainContext, cfg: TrainConfig, data: TrainData, control: TrainControl,
  emit: (e: TrainEvent) => void, resume: LoopPosition = START,
): Promise<LoopPosition> {
  const trainEx = truncate(data.train, cfg.seqLen);
  if (trainEx.length === 0) throw new Error('the training split is empty');
  const batchesOf = epochBatches(trainEx, cfg);
  const total = totalSteps(cfg, batchesOf(0).length);
  const pos: LoopPosition = { ...resume };
  const t0 = performance.now();
  const tokens0 = pos.tokensSeen, step0 = pos.step;
  let reason: 'finished' | 'early-stopped' | 'cancelled' | 'paused' = 'finished';
  if (cfg.evalEvery > 0 && pos.step === 0) {
    // Baseline before any update, so the curve starts where the model starts.
    const v = await validationLoss(ctx, cfg, data.val);
    if (v !== null) emit({ type: 'eval', step: 0, valLoss: v, perplexity: Math.exp(v) });
  }

  while (pos.step < total) {
    // Let queued messages (the UI's pause/cancel through comlink) run before reading the flags:
    // awaiting GPU readbacks alone does not guarantee the worker processes them between steps.
    await new Promise((r) => setTimeout(r, 0));
    if (control.cancel) { reason = 'cancelled'; break; }
    if (control.pause) { reason = 'paused'; await checkpoint(ctx, cfg, pos, emit); break; }
    // One optimizer step = gradAccum micro-batches (wrapping into the next epoch).
    const window: PackedBatch[] = [];
    while (window.length < cfg.gradAccum) {
      if (pos.batchInEpoch >= batchesOf(pos.epoch).length) { pos.epoch++; pos.batchInEpoch = 0; }
      window.push(batchesOf(pos.epoch)[pos.batchInEpoch++]);
    }
    const counts = window.map((b) => nextTokenTargets(b).count);
    const totalCount = counts.reduce((a, b) => a + b, 0);
    let nll = 0;
    for (let k = 0; k < window.length; k++) {
      const r = await trainMicroStep(ctx.gpu, ctx.weights, ctx.lora, ctx.acts, window[k], {
        seed: (cfg.seed * 1000003 + pos.step * cfg.gradAccum + k) >>> 0,
        gradScale: totalCount > 0 ? counts[k] / totalCount : 0,
      });
      nll += r.nllSum;
      pos.tokensSeen += r.tokens;
    }
    const lr = lrAt(pos.step + 1, total, cfg.lr, cfg.warmupSteps, cfg.schedule);
    const gradNorm = await optimizerStep(ctx.gpu, ctx.lora, ctx.opt, { ...cfg, lr }, pos.step + 1)();
    pos.step++;
    const secs = (performance.now() - t0) / 1000;
    const perStep = secs / (pos.step - step0);
    emit({
      type: 'step', step: pos.step, totalSteps: total, epoch: pos.epoch, loss: totalCount ? nll / totalCount : 0, lr, gradNorm,
      tokensPerSecond: (pos.tokensSeen - tokens0) / Math.max(secs, 1e-9), etaSeconds: perStep * (total - pos.step),
      gpuMemoryBytes: ctx.gpu.allocatedBytes, tokensSeen: pos.tokensSeen,
    });
    if (cfg.evalEvery > 0 && (pos.step % cfg.evalEvery === 0 || pos.step === total)) {
      const v = await validationLoss(ctx, cfg, data.val);
      if (v !== null) {
        emit({ type: 'eval', step: pos.step, valLoss: v, perplexity: Math.exp(v) });
        if (pos.bestValLoss === null || v < pos.bestValLoss) { pos.bestValLoss = v; pos.evalsWithoutImprovement = 0; }
        else pos.evalsWithoutImprovement++;
      }
    }
    const stopEarly = cfg.earlyStoppingPatience > 0 && pos.evalsWithoutImprovement >= cfg.earlyStoppingPatience;
    if (pos.step % cfg.checkpointEvery === 0 || pos.step === total || stopEarly) await checkpoint(ctx, cfg, pos, emit);
    if (stopEarly) { reason = 'early-stopped'; break; }
  }
  emit({ type: 'done', reason, step: pos.step });
  return pos;
}

export { restoreLora };
