// Decode speed with the KV cache (src/chat/generate.ts): greedy, `newTokens` after a random
// `prompt`-token prompt, with the LoRA adapter on (as in chat) and off. Prefill time = start to
// the first token; decode tokens/s over the remaining tokens (one forward of T = 1 each, its
// logits read back for sampling). The bandwidth bound = copy bandwidth ÷ bytes read per token
// (all weights once, LoRA A/B, the KV cache up to the context length).

import type { Gpu } from '../src/gpu/core/context';
import { destroyTensor, type Tensor } from '../src/gpu/core/tensor';
import { allocKvCache, generate } from '../src/chat/generate';
import { GREEDY } from '../src/chat/sampling';
import { allocActivations } from '../src/model/activations';
import { allocLora, initLora, loraModules, type LoraState } from '../src/model/lora';
import { TARGETS } from '../src/model/modules';
import type { ModelWeights } from '../src/model/weights';
import { modelBytes } from './random-model';
import { dispatchCounter } from './track';

export interface DecodeRun { lora: boolean; prefillMs: number; decodeTokensPerSecond: number; msPerToken: number; dispatchesPerToken: number; jsDispatchMsPerToken: number }

export interface DecodeResult {
  prompt: number; newTokens: number;
  runs: DecodeRun[];
  bytesPerToken: { weights: number; lora: number; kvCache: number; total: number };
  boundTokensPerSecond: number; // copy bandwidth ÷ bytes per token
  fractionOfBound: number; // measured (adapter on) ÷ bound
}

async function once(gpu: Gpu, w: ModelWeights, lora: LoraState | null, acts: ReturnType<typeof allocActivations>, kv: ReturnType<typeof allocKvCache>,
  prompt: number[], newTokens: number): Promise<DecodeRun> {
  const t0 = performance.now();
  const stamps: number[] = [];
  let counter: ReturnType<typeof dispatchCounter> | null = null;
  for await (const _id of generate(gpu, w, lora, acts, kv, prompt, { ...GREEDY, maxNewTokens: newTokens, stopIds: [], seed: 0 })) {
    stamps.push(performance.now());
    if (stamps.length === 1) counter = dispatchCounter(gpu);
  }
  const dispatches = counter ? counter.stop() : 0;
  const jsMs = counter ? counter.jsMs() : 0;
  const n = stamps.length - 1;
  const decodeMs = stamps[stamps.length - 1] - stamps[0];
  return {
    lora: lora !== null, prefillMs: stamps[0] - t0,
    decodeTokensPerSecond: n / (decodeMs / 1000), msPerToken: decodeMs / n,
    dispatchesPerToken: dispatches / n, jsDispatchMsPerToken: jsMs / n,
  };
}

export async function benchDecode(gpu: Gpu, w: ModelWeights, o: { prompt: number; newTokens: number; r: number; copyGBs: number }): Promise<DecodeResult> {
  const d = w.dims;
  const lora = allocLora(gpu, d, { r: o.r, alpha: 2 * o.r, dropout: 0, targets: [...TARGETS] });
  initLora(gpu, lora, 1);
  const acts = allocActivations(gpu, d, o.prompt, Math.min(o.prompt, 64), o.r, lora.targets, false);
  const ctx = Math.max(o.prompt + o.newTokens, 12); // the warm-up runs 8 + 4
  const kv = allocKvCache(gpu, w, ctx);
  const prompt = Array.from({ length: o.prompt }, (_, i) => (i * 7919 + 13) % d.V);
  await once(gpu, w, lora, acts, kv, prompt.slice(0, 8), 4); // warm-up: compiles the decode pipelines
  await once(gpu, w, null, acts, kv, prompt.slice(0, 8), 4);
  const runs = [await once(gpu, w, lora, acts, kv, prompt, o.newTokens), await once(gpu, w, null, acts, kv, prompt, o.newTokens)];
  const mb = modelBytes(w.cfg);
  const weights = mb.nf4Linear + mb.lmHead + mb.norms + d.C * 2; // + one embedding row
  let loraBytes = 0;
  for (const [, , m] of loraModules(lora)) loraBytes += (m.A.buffer.size + m.B.buffer.size);
  const kvCache = d.L * 2 * ctx * d.Hkv * d.D * 4; // read at most once per token at the full context
  const total = weights + loraBytes + kvCache;
  const bound = (o.copyGBs * 1e9) / total;
  const seen = new Set<GPUBuffer>();
  const kill = (t: Tensor) => { if (!seen.has(t.buffer)) { seen.add(t.buffer); destroyTensor(gpu, t); } };
  [...kv.k, ...kv.v].forEach(kill);
  for (const [, , m] of loraModules(lora)) [m.A, m.B, m.dA, m.dB, m.mA, m.vA, m.mB, m.vB].forEach(kill);
  for (const l of acts.layers) for (const t of Object.values(l)) {
    if ('buffer' in (t as object)) kill(t as Tensor);
    else Object.values(t as Record<string, Tensor>).forEach(kill);
  }
  Object.values(acts.ws).forEach(kill);
  await gpu.sync();
  return {
    prompt: o.prompt, newTokens: o.newTokens, runs,
    bytesPerToken: { weights, lora: loraBytes, kvCache, total },
    boundTokensPerSecond: bound, fractionOfBound: runs[0].decodeTokensPerSecond / bound,
  };
}
