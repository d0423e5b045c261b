// Decode speed with the KV cache (src/chat/generate.ts): greedy, `newTokens` after a random
// `prompt`-token prompt, with the LoRA adapter on (as in chat) and off. Prefill time = start to
// the first token; decode tokens/s over the remaining tokens (one forward of T = 1 each, its
// logits read back for sampling). The bandwidth bound = copy bandwidth ÷ bytes read per token
// (all weights once, LoRA A/B, the KV cache up to the context length).

import type { Command, Gpu, Program } from '../src/gpu/core/context';
import { destroyTensor, writeTensor, type Tensor } from '../src/gpu/core/tensor';
import { allocKvCache, generate, type KvCache } from '../src/chat/generate';
import { CHAT_SAMPLING, GREEDY, type SamplingOptions } from '../src/chat/sampling';
import { attentionDecode, kvCacheWrite } from '../src/gpu/ops/attention';
import { loraForward } from '../src/gpu/ops/lora';
import { nf4Matmul } from '../src/gpu/ops/nf4';
import { matmul16 } from '../src/gpu/ops/w16';
import { allocActivations, rows, type Activations } from '../src/model/activations';
import type { AttendFn } from '../src/model/forward';
import { allocLora, initLora, loraModules, type LoraState } from '../src/model/lora';
import { TARGETS, type Target } from '../src/model/modules';
import type { ModelWeights } from '../src/model/weights';
import { gpuTimeMs } from './gputime';
import { modelBytes } from './random-model';
import { dispatchCounter } from './track';
import { attentionDecodeStep } from '../src/gpu/ops/attention_decode';

export interface DecodeRun { lora: boolean; sampling: 'greedy' | 'chat'; prefillMs: number; decodeTokensPerSecond: number; msPerToken: number; dispatchesPerToken: number; jsDispatchMsPerToken: number; createdPerToken: { uniforms: number; bindGroups: number } }

/** GPU time (timestamps) of the pieces of one decode token at position `prompt`. */
export interface DecodeGpu {
  forwardLoraMs: number; // whole T=1 forward + lm_head (the captured decode step, one submit), adapter on
  forwardBaseMs: number; // adapter off
  gemvMs: number; // the 7·L NF4 GEMVs alone
  loraMs: number; // the 7·L LoRA forwards at T=1 alone
  attnMs: number; // L × (KV-cache write + attention over the cache)
  lmHeadMs: number; // lm_head GEMV (bf16)
  /** The captured decode step (adapter on) by kernel: its dispatches of each pipeline replayed alone. */
  profile: { kernel: string; dispatches: number; ms: number }[];
}

/**
 * GPU time of a captured program per kernel: the dispatches of each pipeline replayed alone as
 * one submit (same bind groups; data dependencies are ignored, so the values are garbage but the
 * work is the real work).
 */
async function profileProgram(gpu: Gpu, prog: Program, reps: number): Promise<DecodeGpu['profile']> {
  const groups = new Map<GPUComputePipeline, Command[]>();
  for (const c of prog.commands) if (c.kind === 'dispatch') {
    const g = groups.get(c.pipeline) ?? [];
    g.push(c);
    groups.set(c.pipeline, g);
  }
  const rows: DecodeGpu['profile'] = [];
  for (const [p, commands] of groups) {
    const ms = (await gpuTimeMs(gpu, () => gpu.replay({ commands, epoch: prog.epoch }, { flushes: false }), reps)).ms;
    rows.push({ kernel: p.label, dispatches: commands.length, ms });
  }
  return rows.sort((a, b) => b.ms - a.ms);
}

export interface DecodeResult {
  prompt: number; newTokens: number;
  runs: DecodeRun[];
  gpu: DecodeGpu | null;
  bytesPerToken: { weights: number; lora: number; kvCache: number; total: number };
  boundTokensPerSecond: number; // copy bandwidth ÷ bytes per token
  fractionOfBound: number; // measured (adapter on) ÷ bound
}

async function once(gpu: Gpu, w: ModelWeights, lora: LoraState | null, acts: Activations, kv: KvCache,
  prompt: number[], newTokens: number, sampling: SamplingOptions = GREEDY): Promise<DecodeRun> {
  const t0 = performance.now();
  const stamps: number[] = [];
  let counter: ReturnType<typeof dispatchCounter> | null = null;
  let created0 = { ...gpu.created };
  for await (const _id of generate(gpu, w, lora, acts, kv, prompt, { ...sampling, maxNewTokens: newTokens, stopIds: [], seed: 0 })) {
    stamps.push(performance.now());
    if (stamps.length === 1) { counter = dispatchCounter(gpu); created0 = { ...gpu.created }; }
  }
  const dispatches = counter ? counter.stop() : 0;
  const jsMs = counter ? counter.jsMs() : 0;
  const n = stamps.length - 1;
  const decodeMs = stamps[stamps.length - 1] - stamps[0];
  return {
    lora: lora !== null, sampling: sampling === GREEDY ? 'greedy' : 'chat', prefillMs: stamps[0] - t0,
    decodeTokensPerSecond: n / (decodeMs / 1000), msPerToken: decodeMs / n,
    dispatchesPerToken: dispatches / n, jsDispatchMsPerToken: jsMs / n,
    createdPerToken: { uniforms: (gpu.created.uniforms - created0.uniforms) / n, bindGroups: (gpu.created.bindGroups - created0.bindGroups) / n },
  };
}

async function decodeGpu(gpu: Gpu, w: ModelWeights, lora: LoraState, acts: Activations, kv: KvCache, pos: number): Promise<DecodeGpu> {
  const d = w.dims, ws = acts.ws, a = acts.layers[0], one = (t: Tensor) => rows(t, 1);
  const shape = { nHeads: d.H, nKvHeads: d.Hkv, headDim: d.D };
  writeTensor(gpu, ws.ids, Int32Array.of(1));
  writeTensor(gpu, ws.positions, Int32Array.of(pos));
  writeTensor(gpu, ws.segIds, Int32Array.of(0));
  await gpu.sync();
  // As generate.ts decodes (attentionDecodeStep where the head shape allows it).
  const attend: AttendFn = (l, out, _lse, q, k, v) => {
    if (kv.part) return attentionDecodeStep(gpu, out, kv.part, kv.k[l], kv.v[l], q, k, v, one(ws.positions), shape);
    kvCacheWrite(gpu, kv.k[l], kv.v[l], k, v, pos);
    attentionDecode(gpu, out, q, kv.k[l], kv.v[l], pos + 1, shape);
  };
  const io: Record<Target, [Tensor, Tensor]> = { // x, y at T = 1
    q_proj: [a.xn1, a.q], k_proj: [a.xn1, a.k], v_proj: [a.xn1, a.v], o_proj: [a.attn, ws.dC],
    gate_proj: [a.xn2, a.g], up_proj: [a.xn2, a.u], down_proj: [a.h, ws.dC],
  };
  const reps = 5;
  // Whole token: the captured decode programs (generate.ts) replayed as one submit, so the
  // timestamps bracket all of it (the per-layer submits of a normal replay would not be).
  const whole = async (prog: Program | null | undefined) =>
    prog ? (await gpuTimeMs(gpu, () => gpu.replay(prog, { flushes: false }), reps)).ms : NaN;
  const forwardLoraMs = await whole(kv.programs.lora.get(lora));
  const forwardBaseMs = await whole(kv.programs.base);
  const progLora = kv.programs.lora.get(lora);
  const profile = progLora ? await profileProgram(gpu, progLora, reps) : [];
  const gemvMs = (await gpuTimeMs(gpu, () => {
    for (const lw of w.layers) for (const t of TARGETS) {
      const p = lw.proj[t];
      if (p.kind === 'nf4') nf4Matmul(gpu, one(io[t][1]), one(io[t][0]), p.w);
    }
  }, reps)).ms;
  const loraMs = (await gpuTimeMs(gpu, () => {
    for (const [l, t, m] of loraModules(lora))
      loraForward(gpu, one(io[t][1]), one(acts.layers[l].xa[t]!), one(io[t][0]), m.A, m.B, { scale: lora.scale, dropout: 0, seed: 0 });
  }, reps)).ms;
  const attnMs = (await gpuTimeMs(gpu, () => { for (let l = 0; l < d.L; l++) attend(l, one(a.attn), a.lse, one(a.q), one(a.k), one(a.v)); }, reps)).ms;
  const lmHeadMs = (await gpuTimeMs(gpu, () => matmul16(gpu, one(ws.logits), one(ws.xChunk), w.lmHead), reps)).ms;
  return { forwardLoraMs, forwardBaseMs, gemvMs, loraMs, attnMs, lmHeadMs, profile };
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
  const runs = [await once(gpu, w, lora, acts, kv, prompt, o.newTokens), await once(gpu, w, null, acts, kv, prompt, o.newTokens),
    await once(gpu, w, lora, acts, kv, prompt, o.newTokens, CHAT_SAMPLING)]; // the chat panel's sampling (host work per token)
  const dgpu = await decodeGpu(gpu, w, lora, acts, kv, o.prompt);
  const mb = modelBytes(w.cfg);
  const weights = mb.nf4Linear + mb.lmHead + mb.norms + d.C * 2; // + one embedding row
  let loraBytes = 0;
  for (const [, , m] of loraModules(lora)) loraBytes += (m.A.buffer.size + m.B.buffer.size);
  const kvCache = d.L * 2 * ctx * d.Hkv * d.D * 4; // read at most once per token at the full context
  const total = weights + loraBytes + kvCache;
  const bound = (o.copyGBs * 1e9) / total;
  const seen = new Set<GPUBuffer>();
  const kill = (t: Tensor) => { if (!seen.has(t.buffer)) { seen.add(t.buffer); destroyTensor(gpu, t); } };
  [...kv.k, ...kv.v, kv.logits, ...(kv.part ? [kv.part] : [])].forEach(kill);
  for (const [, , m] of loraModules(lora)) [m.A, m.B, m.dA, m.dB, m.mA, m.vA, m.mB, m.vB].forEach(kill);
  for (const l of acts.layers) for (const t of Object.values(l)) {
    if ('buffer' in (t as object)) kill(t as Tensor);
    else Object.values(t as Record<string, Tensor>).forEach(kill);
  }
  Object.values(acts.ws).forEach(kill);
  await gpu.sync();
  return {
    prompt: o.prompt, newTokens: o.newTokens, runs, gpu: dgpu,
    bytesPerToken: { weights, lora: loraBytes, kvCache, total },
    boundTokensPerSecond: bound, fractionOfBound: runs[0].decodeTokensPerSecond / bound,
  };
}
