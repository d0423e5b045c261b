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
import { evalBatches, optimizerStep, trainMicroStep, type OptimizerState } from '../model/step';
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

/** One optimizer step in flight (false: every step is read back before the next is recorded; tests, A/B). */
export const loopSettings = { pipeline: true };

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
  for await (const r of evalBatches(ctx.gpu, ctx.weights, ctx.lora, ctx.acts, batches)) { nll += r.nllSum; n += r.count; }
  return n > 0 ? nll / n : null;
}

async function checkpoint(ctx: TrainContext, cfg: TrainConfig, pos: LoopPosition, emit: (e: TrainEvent) => void) {
  if (!ctx.store) return;
  const { bytes, sha256 } = await serializeCheckpoint(ctx.gpu, ctx.lora, { runId: ctx.runId, position: pos, config: cfg, savedAt: new Date().toISOString() });
  await ctx.store.save(ctx.runId, pos.step, bytes, sha256);
  emit({ type: 'checkpoint', step: pos.step, bytes: bytes.byteLength, position: { ...pos } });
}

/** What recordStep reads and advances: the loop position as recorded (step, epoch, batch). */
interface StepRecorder {
  ctx: TrainContext; cfg: TrainConfig; total: number; pos: LoopPosition;
  batchesOf: (epoch: number) => PackedBatch[];
}

/** An optimizer step recorded on the GPU whose loss, token count and grad norm are not read yet. */
interface PendingStep {
  step: number; epoch: number; lr: number; count: number; // count: predicted tokens (the loss's denominator)
  results: Promise<{ nll: number; tokens: number; gradNorm: number }>;
}

/**
 * Record one optimizer step: its gradAccum micro-batches (wrapping into the next epoch) and the
 * AdamW update; advances pos.step/epoch/batchInEpoch. Seeds and learning rate depend only on
 * the step, so the recorded commands are those of an unpipelined loop.
 */
function recordStep(r: StepRecorder): PendingStep {
  const { ctx, cfg, pos } = r;
  const window: PackedBatch[] = [];
  while (window.length < cfg.gradAccum) {
    if (pos.batchInEpoch >= r.batchesOf(pos.epoch).length) { pos.epoch++; pos.batchInEpoch = 0; }
    window.push(r.batchesOf(pos.epoch)[pos.batchInEpoch++]);
  }
  const counts = window.map((b) => nextTokenTargets(b).count);
  const count = counts.reduce((a, b) => a + b, 0);
  const micro = window.map((b, k) => trainMicroStep(ctx.gpu, ctx.weights, ctx.lora, ctx.acts, b, {
    seed: (cfg.seed * 1000003 + pos.step * cfg.gradAccum + k) >>> 0,
    gradScale: count > 0 ? counts[k] / count : 0,
  }));
  const lr = lrAt(pos.step + 1, r.total, cfg.lr, cfg.warmupSteps, cfg.schedule);
  const gradNorm = optimizerStep(ctx.gpu, ctx.lora, ctx.opt, { ...cfg, lr }, pos.step + 1)();
  pos.step++;
  const results = Promise.all([Promise.all(micro), gradNorm]).then(([ms, g]) => ({
    nll: ms.reduce((a, m) => a + m.nllSum, 0), tokens: ms.reduce((a, m) => a + m.tokens, 0), gradNorm: g,
  }));
  return { step: pos.step, epoch: pos.epoch, lr, count, results };
}

/** Evaluation (with early-stopping bookkeeping) and checkpoint after step pos.step; true = stop early. */
async function atBoundary(ctx: TrainContext, cfg: TrainConfig, data: TrainData, pos: LoopPosition, total: number, emit: (e: TrainEvent) => void): Promise<boolean> {
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
  return stopEarly;
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

  // Optimizer step n+1 is recorded before step n's loss and grad norm are read back, so the GPU
  // never waits for the host between steps (H200: +9 % tokens/s with tensor cores, +5 % f32;
  // bench/NOTES.md v29). A step that ends at a boundary (evaluation, checkpoint, the last step)
  // is completed before anything newer is recorded: those read the adapter as of that step.
  const boundary = (step: number) => step === total || step % cfg.checkpointEvery === 0 || (cfg.evalEvery > 0 && step % cfg.evalEvery === 0);
  const rec: StepRecorder = { ctx, cfg, total, pos, batchesOf };
  let pending: PendingStep | null = null;
  for (;;) {
    // Let queued messages (the UI's pause/cancel through comlink) run before reading the flags:
    // awaiting GPU readbacks alone does not guarantee the worker processes them between steps.
    await new Promise((r) => setTimeout(r, 0));
    const mayRecord: boolean = !control.cancel && !control.pause && pos.step < total && !(pending && (!loopSettings.pipeline || boundary(pending.step)));
    const next: PendingStep | null = mayRecord ? recordStep(rec) : null;
    next?.results.catch(() => {}); // handled when awaited; if this step fails first, the newer one's failure is the same
    if (pending) {
      const r = await pending.results;
      pos.tokensSeen += r.tokens;
      const secs = (performance.now() - t0) / 1000;
      const perStep = secs / (pending.step - step0);
      emit({
        type: 'step', step: pending.step, totalSteps: total, epoch: pending.epoch, loss: pending.count ? r.nll / pending.count : 0, lr: pending.lr,
        gradNorm: r.gradNorm, tokensPerSecond: (pos.tokensSeen - tokens0) / Math.max(secs, 1e-9), etaSeconds: perStep * (total - pending.step),
        gpuMemoryBytes: ctx.gpu.allocatedBytes, tokensSeen: pos.tokensSeen,
      });
      if (boundary(pending.step) && await atBoundary(ctx, cfg, data, pos, total, emit)) { reason = 'early-stopped'; break; }
    }
    pending = next;
    if (pending) continue;
    if (pos.step >= total) break;
    if (control.cancel) { reason = 'cancelled'; break; }
    if (control.pause) { reason = 'paused'; await checkpoint(ctx, cfg, pos, emit); break; }
  }
  emit({ type: 'done', reason, step: pos.step });
  return pos;
}

export { restoreLora };
