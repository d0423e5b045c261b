// Whole-model forward of Llama + LoRA over a packed micro-batch of T tokens, saving what the
// backward needs (activations.ts). Order per layer (HF LlamaDecoderLayer):
//   xn1 = rmsnorm(x); q,k,v = proj(xn1) (+LoRA); rope(q,k); attn = GQA(q,k,v)
//   x2 = x + o_proj(attn); xn2 = rmsnorm(x2); h = silu(gate(xn2))·up(xn2); x' = x2 + down(h)

import type { Gpu } from '../gpu/core/context';
import type { Tensor } from '../gpu/core/tensor';
import { attentionForward } from '../gpu/ops/attention';
import { copy } from '../gpu/ops/elementwise';
import { loraDownSmallMulti, loraForward, loraSmallApplies, type LoraOpts } from '../gpu/ops/lora';
import { writeTensor } from '../gpu/core/tensor';
import { nf4Matmul } from '../gpu/ops/nf4';
import { rmsnormForward } from '../gpu/ops/rmsnorm';
import { ropeForwardQK } from '../gpu/ops/rope';
import { swigluForward } from '../gpu/ops/swiglu';
import { embeddingGather } from '../gpu/ops/w16';
import { lseView, rows, type Activations, type LayerActs } from './activations';
import { linearForward, type LinearWeight } from './linear';
import type { LoraModule, LoraState } from './lora';
import type { Target } from './modules';
import { TARGETS } from './modules';
import type { LayerWeights, ModelWeights } from './weights';

/** LoRA on or off, and the dropout seed of this step (dropout only when training). */
export interface RunOptions {
  lora: LoraState | null;
  train: boolean;
  seed: number;
  /** ws.seedBase when it holds this run's stepSeedBase (withSeedBase); else seeds go whole in uniforms. */
  seedBase?: Tensor;
}

/**
 * Per-module dropout seed, distinct for every step, layer and module:
 * dropoutSeed = stepSeedBase(seed) + moduleSeed(layer, t) (mod 2^32). The kernels get the
 * module part in their uniform and the step part from ws.seedBase (written once per forward),
 * so their uniforms and bind groups are the same every step (cached, none created per step).
 */
export function dropoutSeed(seed: number, layer: number, t: Target): number {
  return (stepSeedBase(seed) + moduleSeed(layer, t)) >>> 0;
}
export function stepSeedBase(seed: number): number {
  return Math.imul(seed >>> 0, 0x9e3779b1) >>> 0;
}
export function moduleSeed(layer: number, t: Target): number {
  return (layer * 131 + TARGETS.indexOf(t) * 7919) >>> 0;
}

/** LoRA options of module t in layer l for this run (dropout only when training). */
export function loraRunOpts(run: RunOptions, lora: LoraState, l: number, t: Target): LoraOpts {
  const seed = run.seedBase ? moduleSeed(l, t) : dropoutSeed(run.seed, l, t);
  return { scale: lora.scale, dropout: run.train ? lora.dropout : 0, seed, seedBase: run.seedBase };
}

/** The run with ws.seedBase holding stepSeedBase(run.seed) (written here when dropout is on). */
export function withSeedBase(gpu: Gpu, acts: Activations, run: RunOptions, write: boolean): RunOptions {
  if (!run.train || !run.lora || run.lora.dropout === 0) return run;
  if (write) writeTensor(gpu, acts.ws.seedBase, Int32Array.of(stepSeedBase(run.seed) | 0));
  return { ...run, seedBase: acts.ws.seedBase };
}

/** Whether a module's forward at T tokens takes the decode path (xa GEMV, B term in the base GEMV epilogue). */
function smallLora(base: LinearWeight, m: LoraModule | undefined, xa: Tensor | undefined, run: RunOptions, T: number, K: number): boolean {
  const dropout = run.train ? (run.lora?.dropout ?? 0) : 0;
  return !!(m && xa && run.lora && base.kind === 'nf4' && loraSmallApplies(T, K, dropout));
}

/** y [T,out] (+)= x·Wᵀ + scale·B(A(dropout(x))); saves xa [T,r] for the backward. */
export function projForward(
  gpu: Gpu, y: Tensor, x: Tensor, base: LinearWeight, m: LoraModule | undefined, xa: Tensor | undefined,
  run: RunOptions, layer: number, t: Target, accumulate = false,
): void {
  projGroupForward(gpu, [y], x, [base], [m], [xa], run, layer, [t], accumulate);
}

/**
 * The modules of `ts` that read the same x (q/k/v, gate/up): y_i (+)= x·W_iᵀ + LoRA_i. At decode
 * (smallLora for all) their xa GEMVs run as one dispatch (loraDownSmallMulti), then each base
 * GEMV adds scale·xa_i·B_iᵀ in its epilogue.
 */
function projGroupForward(
  gpu: Gpu, ys: Tensor[], x: Tensor, bases: LinearWeight[], ms: (LoraModule | undefined)[], xas: (Tensor | undefined)[],
  run: RunOptions, layer: number, ts: Target[], accumulate = false,
): void {
  const T = x.shape[0], K = x.shape[1];
  if (run.lora && ts.every((_, i) => smallLora(bases[i], ms[i], xas[i], run, T, K))) {
    const lora = run.lora;
    loraDownSmallMulti(gpu, xas.map((xa) => rows(xa!, T)), x, ms.map((m) => m!.A));
    ts.forEach((_, i) => {
      const b = bases[i];
      if (b.kind === 'nf4') nf4Matmul(gpu, ys[i], x, b.w, { accumulate, lora: { B: ms[i]!.B, xa: rows(xas[i]!, T), scale: lora.scale } });
    });
    return;
  }
  ts.forEach((t, i) => {
    const m = ms[i], xa = xas[i];
    linearForward(gpu, ys[i], x, bases[i], accumulate);
    if (m && xa && run.lora) {
      loraForward(gpu, ys[i], rows(xa, T), x, m.A, m.B, loraRunOpts(run, run.lora, layer, t));
    }
  });
}

/** One decoder layer: reads a.x, writes every saved activation and `out` [T,C]. */
/**
 * How a layer attends: training/prefill run causal attention over the batch itself; decoding
 * writes k, v into the layer's KV cache and attends over it (generate.ts).
 */
export type AttendFn = (l: number, out: Tensor, lse: Tensor, q: Tensor, k: Tensor, v: Tensor) => void;

export function batchAttention(gpu: Gpu, w: ModelWeights, segIds: Tensor): AttendFn {
  const d = w.dims;
  return (_l, out, lse, q, k, v) =>
    attentionForward(gpu, out, lse, q, k, v, segIds, { nHeads: d.H, nKvHeads: d.Hkv, headDim: d.D });
}

export function layerForward(
  gpu: Gpu, w: ModelWeights, lw: LayerWeights, l: number, a: LayerActs, out: Tensor,
  attend: AttendFn, positions: Tensor, T: number, run: RunOptions,
): void {
  const d = w.dims;
  const mods = run.lora?.layers[l] ?? {};
  const v = <K extends keyof LayerActs>(k: K) => rows(a[k] as Tensor, T);
  const x = v('x'), xn1 = v('xn1'), q = v('q'), k = v('k'), vv = v('v'), attn = v('attn');
  const x2 = v('x2'), xn2 = v('xn2'), g = v('g'), u = v('u'), h = v('h');
  const proj = (y: Tensor, xin: Tensor, t: Target, acc = false) =>
    projForward(gpu, y, xin, lw.proj[t], mods[t], a.xa[t], run, l, t, acc);
  const group = (ys: Tensor[], xin: Tensor, ts: Target[]) =>
    projGroupForward(gpu, ys, xin, ts.map((t) => lw.proj[t]), ts.map((t) => mods[t]), ts.map((t) => a.xa[t]), run, l, ts);

  rmsnormForward(gpu, xn1, rows(a.rstd1, T), x, lw.inputNorm, w.cfg.rmsNormEps);
  group([q, k, vv], xn1, ['q_proj', 'k_proj', 'v_proj']);
  ropeForwardQK(gpu, q, k, positions, w.invFreq, d.H, d.Hkv, d.D);
  attend(l, attn, lseView(a.lse, T), q, k, vv);
  // In place (inference: x, x2 and out are one residual stream) the residual adds need no copies.
  if (x2.buffer !== x.buffer) copy(gpu, x2, x);
  proj(x2, attn, 'o_proj', true);
  rmsnormForward(gpu, xn2, rows(a.rstd2, T), x2, lw.postNorm, w.cfg.rmsNormEps);
  group([g, u], xn2, ['gate_proj', 'up_proj']);
  swigluForward(gpu, h, g, u);
  if (out.buffer !== x2.buffer) copy(gpu, out, x2);
  proj(out, h, 'down_proj', true);
}

/**
 * The layer's saved activations as a run uses them: training keeps every layer's x and x2 for
 * the backward; inference (no backward) updates one residual stream `res` [T,C] in place, which
 * saves two buffer copies per layer (each also ends the compute pass: decode runs them per token).
 */
function layerActsFor(acts: Activations, l: number, res: Tensor | null): LayerActs {
  const a = acts.layers[l];
  return res ? { ...a, x: res, x2: res } : a;
}

/** Layers recorded per queue submit in the forward and backward (decode replays choose their own). */
export const submitSettings = { layersPerSubmit: 1 };

/** Embedding → all layers → final norm. Leaves xf [T,C] in the workspace for the loss (training: and every layer's activations for the backward). */
export function modelForward(gpu: Gpu, w: ModelWeights, acts: Activations, T: number, runIn: RunOptions, attend?: AttendFn): void {
  const ws = acts.ws;
  const run = withSeedBase(gpu, acts, runIn, true);
  const positions = rows(ws.positions, T);
  const att = attend ?? batchAttention(gpu, w, rows(ws.segIds, T));
  embeddingGather(gpu, rows(acts.layers[0].x, T), rows(ws.ids, T), w.embed);
  const res = run.train ? null : acts.layers[0].x; // inference: one residual stream, updated in place
  for (let l = 0; l < w.dims.L; l++) {
    const out = res ?? (l + 1 < w.dims.L ? acts.layers[l + 1].x : ws.out);
    layerForward(gpu, w, w.layers[l], l, layerActsFor(acts, l, res), rows(out, T), att, positions, T, run);
    if ((l + 1) % submitSettings.layersPerSubmit === 0) gpu.flush(); // the GPU runs these layers while JS records the next
  }
  rmsnormForward(gpu, rows(ws.xf, T), rows(ws.rstdF, T), rows(res ?? ws.out, T), w.finalNorm, w.cfg.rmsNormEps);
}
