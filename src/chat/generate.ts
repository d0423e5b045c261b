// Text generation with a KV cache on the GPU: one prefill over the prompt (the training
// forward with k, v written into the cache), then one decode step per new token (T = 1,
// attention over the cache). Only the last row's logits [V] are read back for sampling.
// Adapter on/off is a per-call choice (lora null = base model) on the same loaded weights.
// Decode steps (T = 1) use attentionDecodeStep, whose dispatches do not depend on the position
// (read on the GPU from ws.positions), so the whole step (forward, lm_head) is captured once per
// adapter setting and replayed for every later token: only the raw encoder calls remain on the
// host (bench/NOTES.md v8).

import type { Gpu, Program } from '../gpu/core/context';
import { createReadback, createTensor, readMapped, writeTensor, type Tensor } from '../gpu/core/tensor';
import { attentionDecode, attentionForward, kvCacheWrite } from '../gpu/ops/attention';
import { allocDecodePartials, attentionDecodeStep, decodeStepSupported } from '../gpu/ops/attention_decode';
import { matmul16 } from '../gpu/ops/w16';
import { rows, type Activations } from '../model/activations';
import { modelForward, type AttendFn } from '../model/forward';
import { copyRows } from '../model/loss';
import type { LoraState } from '../model/lora';
import type { ModelWeights } from '../model/weights';
import { Rng } from '../util/rng';
import { sampleToken, type SamplingOptions } from './sampling';

export interface KvCache {
  maxCtx: number;
  k: Tensor[]; // [L] × [maxCtx, Hkv*D]
  v: Tensor[]; // [L] × [maxCtx, Hkv*D]
  /** attentionDecodeStep's split partials [H, S, D+2]; null when the head shape needs the general path. */
  part: Tensor | null;
  /** logits [V] f32 readback (MAP_READ), filled at the end of every step. */
  logits: Tensor;
  /** Captured decode steps of the base model and per adapter; recaptured when stale. */
  programs: { base: Program | null; lora: WeakMap<LoraState, Program> };
}

export function allocKvCache(gpu: Gpu, w: ModelWeights, maxCtx: number): KvCache {
  const d = w.dims, c = d.Hkv * d.D;
  const k: Tensor[] = [], v: Tensor[] = [];
  for (let l = 0; l < d.L; l++) {
    k.push(createTensor(gpu, [maxCtx, c], 'f32', `kv.k${l}`));
    v.push(createTensor(gpu, [maxCtx, c], 'f32', `kv.v${l}`));
  }
  const shape = { nHeads: d.H, nKvHeads: d.Hkv, headDim: d.D };
  const part = decodeStepSupported(shape) ? allocDecodePartials(gpu, shape, maxCtx) : null;
  const logits = createReadback(gpu, [d.V], 'f32', 'kv.logitsReadback');
  return { maxCtx, k, v, part, logits, programs: { base: null, lora: new WeakMap() } };
}

export interface GenerateOptions extends SamplingOptions {
  maxNewTokens: number;
  stopIds: readonly number[];
  seed: number;
  /** Checked between tokens; set `cancel` to stop. */
  control?: { cancel: boolean };
}

function attendWithCache(gpu: Gpu, w: ModelWeights, kv: KvCache, start: number, T: number, segIds: Tensor): AttendFn {
  const d = w.dims, shape = { nHeads: d.H, nKvHeads: d.Hkv, headDim: d.D };
  return (l, out, lse, q, k, v) => {
    kvCacheWrite(gpu, kv.k[l], kv.v[l], k, v, start);
    if (start === 0) attentionForward(gpu, out, lse, q, k, v, segIds, shape);
    else attentionDecode(gpu, out, q, kv.k[l], kv.v[l], start + T, shape);
  };
}

/**
 * Tuning of the replayed decode step: layers recorded per queue submit. Fewer layers start the
 * GPU sooner while the host encodes the rest; more save submits. H200 run 34 (bench/NOTES.md v28),
 * tok/s adapter on / off: 1 → 115 / 132, 2 → 122 / 141, 4 → 122 / 141, 8 → 111 / 131, 32 → 86 / 104.
 */
export const decodeSettings = { layersPerSubmit: 2 };

/** One token at the position held in ws.positions[0]: its dispatches never depend on it. */
function decodeForward(gpu: Gpu, w: ModelWeights, lora: LoraState | null, acts: Activations, kv: KvCache, part: Tensor): void {
  const d = w.dims, ws = acts.ws, shape = { nHeads: d.H, nKvHeads: d.Hkv, headDim: d.D };
  const positions = rows(ws.positions, 1);
  const attend: AttendFn = (l, out, _lse, q, k, v) => attentionDecodeStep(gpu, out, part, kv.k[l], kv.v[l], q, k, v, positions, shape);
  modelForward(gpu, w, acts, 1, { lora, train: false, seed: 0 }, attend);
  lastLogits(gpu, w, acts, kv, 1);
}

/** logits [1, V] of row T-1 of xf (ws.logits), copied into the readback kv.logits. */
function lastLogits(gpu: Gpu, w: ModelWeights, acts: Activations, kv: KvCache, T: number): void {
  const ws = acts.ws;
  copyRows(gpu, ws.xChunk, 0, ws.xf, T - 1, 1, w.dims.C);
  matmul16(gpu, rows(ws.logits, 1), rows(ws.xChunk, 1), w.lmHead);
  gpu.copyBuffer(ws.logits.buffer, 0, kv.logits.buffer, 0, w.dims.V * 4);
}

/** Run T tokens starting at position `start` through the model, filling the cache; logits of the last row. */
async function step(gpu: Gpu, w: ModelWeights, lora: LoraState | null, acts: Activations, kv: KvCache, ids: number[], start: number): Promise<Float32Array> {
  const T = ids.length, ws = acts.ws;
  writeTensor(gpu, ws.ids, Int32Array.from(ids));
  writeTensor(gpu, ws.positions, Int32Array.from(ids, (_, i) => start + i));
  const part = kv.part;
  if (T === 1 && start > 0 && part) { // attentionDecodeStep reads no segIds
    const prog = lora ? kv.programs.lora.get(lora) : kv.programs.base;
    if (prog && gpu.isCurrent(prog)) gpu.replay(prog, { flushes: decodeSettings.layersPerSubmit });
    else {
      const fresh = gpu.capture(() => decodeForward(gpu, w, lora, acts, kv, part));
      if (lora) kv.programs.lora.set(lora, fresh);
      else kv.programs.base = fresh;
    }
  } else {
    writeTensor(gpu, ws.segIds, new Int32Array(T));
    modelForward(gpu, w, acts, T, { lora, train: false, seed: 0 }, attendWithCache(gpu, w, kv, start, T, rows(ws.segIds, T)));
    lastLogits(gpu, w, acts, kv, T);
  }
  // Read back only the one row of logits that sampling needs ([V] f32).
  const bytes = await readMapped(gpu, kv.logits);
  return new Float32Array(bytes.buffer, 0, w.dims.V);
}

/**
 * Generate up to maxNewTokens after `prompt`, yielding each token id as soon as it is known.
 * Prefill runs in chunks of at most acts.maxT tokens.
 */
export async function* generate(
  gpu: Gpu, w: ModelWeights, lora: LoraState | null, acts: Activations, kv: KvCache,
  prompt: readonly number[], o: GenerateOptions,
): AsyncGenerator<number> {
  if (prompt.length === 0) throw new Error('generate: the prompt is empty');
  if (prompt.length + o.maxNewTokens > kv.maxCtx)
    throw new Error(`generate: prompt (${prompt.length}) + max new tokens (${o.maxNewTokens}) exceed the context of ${kv.maxCtx} tokens`);
  const rng = new Rng(o.seed);
  const context = [...prompt];
  let logits: Float32Array | null = null;
  for (let s = 0; s < prompt.length; s += acts.maxT) {
    const chunk = prompt.slice(s, s + acts.maxT);
    logits = await step(gpu, w, lora, acts, kv, chunk, s);
  }
  for (let n = 0; n < o.maxNewTokens; n++) {
    if (o.control?.cancel) return;
    const id = sampleToken(logits!, context, o, rng);
    yield id;
    if (o.stopIds.includes(id)) return;
    context.push(id);
    if (n + 1 < o.maxNewTokens) logits = await step(gpu, w, lora, acts, kv, [id], context.length - 1);
  }
}
