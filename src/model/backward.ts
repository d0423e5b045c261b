// Hand-written backward of Llama + LoRA (no autograd tape), layers in reverse order.
// Rules: LoRA parameter grads accumulate (+=) across micro-batches; activation grads are
// assigned, except where a residual adds in (rmsnorm backward accumulates into dRes).
// With recomputation, each layer's forward is re-run from its saved input right before its
// backward. Without it, the module inputs that only LoRA's backward reads (xn1, xn2, h: one
// buffer each for all layers, activations.ts) are rebuilt from the saved x, x2, g, u right
// before their use — the same kernels on the same inputs, so the same bits as in the forward.

import type { Gpu } from '../gpu/core/context';
import type { Tensor } from '../gpu/core/tensor';
import { attentionBackward } from '../gpu/ops/attention';
import { loraBackward } from '../gpu/ops/lora';
import { rmsnormBackward, rmsnormForward } from '../gpu/ops/rmsnorm';
import { ropeBackwardQK } from '../gpu/ops/rope';
import { swigluBackward, swigluForward } from '../gpu/ops/swiglu';
import { lseView, rows, type Activations, type LayerActs } from './activations';
import { batchAttention, layerForward, loraRunOpts, submitSettings, withSeedBase, type RunOptions } from './forward';
import { linearBackward } from './linear';
import type { Target } from './modules';
import type { ModelWeights } from './weights';

/**
 * dx (+)= dy·W + LoRA's share; LoRA dA, dB += .... `x` is the projection's input.
 */
function projBackward(
  gpu: Gpu, w: ModelWeights, acts: Activations, run: RunOptions, l: number, t: Target,
  dx: Tensor, dy: Tensor, x: Tensor, a: LayerActs, accumulate: boolean, needDx: boolean,
): void {
  const T = dy.shape[0];
  if (needDx) linearBackward(gpu, dx, dy, w.layers[l].proj[t], accumulate);
  const m = run.lora?.layers[l][t];
  const xa = a.xa[t];
  if (!m || !xa || !run.lora) return;
  loraBackward(gpu, m.dA, m.dB, dx, dy, x, m.A, m.B, rows(xa, T), rows(acts.ws.loraScratch, T), loraRunOpts(run, run.lora, l, t));
}

/** Whether LoRA's backward will read the input of any of `ts` in layer l (it needs it rebuilt). */
function readsInput(run: RunOptions, a: LayerActs, l: number, ts: Target[]): boolean {
  return !!run.lora && ts.some((t) => run.lora!.layers[l][t] && a.xa[t]);
}

/** Backward of one layer: on entry ws.dRes = dLoss/d(layer output); on exit dLoss/d(layer input). */
function layerBackward(gpu: Gpu, w: ModelWeights, acts: Activations, l: number, T: number, run: RunOptions): void {
  const d = w.dims, ws = acts.ws, a = acts.layers[l], lw = w.layers[l];
  const v = (t: Tensor) => rows(t, T);
  const dRes = v(ws.dRes), dC = v(ws.dC), dH = v(ws.dH), dG = v(ws.dG), dU = v(ws.dU);
  const dAttn = v(ws.dAttn), dQ = v(ws.dQ), dK = v(ws.dK), dV = v(ws.dV);
  const first = l === 0; // the embedding is frozen: layer 0 needs no dx below its LoRA grads
  const rebuild = !acts.recompute, eps = w.cfg.rmsNormEps;
  // MLP: x' = x2 + down(silu(gate(xn2)) * up(xn2))
  if (rebuild && readsInput(run, a, l, ['down_proj'])) swigluForward(gpu, v(a.h), v(a.g), v(a.u));
  projBackward(gpu, w, acts, run, l, 'down_proj', dH, dRes, v(a.h), a, false, true);
  swigluBackward(gpu, dG, dU, dH, v(a.g), v(a.u));
  if (rebuild && readsInput(run, a, l, ['gate_proj', 'up_proj'])) rmsnormForward(gpu, v(a.xn2), rows(a.rstd2, T), v(a.x2), lw.postNorm, eps);
  projBackward(gpu, w, acts, run, l, 'gate_proj', dC, dG, v(a.xn2), a, false, true);
  projBackward(gpu, w, acts, run, l, 'up_proj', dC, dU, v(a.xn2), a, true, true);
  rmsnormBackward(gpu, dRes, dC, v(a.x2), lw.postNorm, rows(a.rstd2, T), { accumulate: true });
  // Attention: x2 = x + o(attn(rope(q(xn1)), rope(k(xn1)), v(xn1)))
  projBackward(gpu, w, acts, run, l, 'o_proj', dAttn, dRes, v(a.attn), a, false, true);
  attentionBackward(gpu, dQ, dK, dV, dAttn, v(a.q), v(a.k), v(a.v), v(a.attn), lseView(a.lse, T), v(ws.segIds),
    { nHeads: d.H, nKvHeads: d.Hkv, headDim: d.D });
  ropeBackwardQK(gpu, dQ, dK, v(ws.positions), w.invFreq, d.H, d.Hkv, d.D);
  if (first && !run.lora) return;
  if (rebuild && readsInput(run, a, l, ['q_proj', 'k_proj', 'v_proj'])) rmsnormForward(gpu, v(a.xn1), rows(a.rstd1, T), v(a.x), lw.inputNorm, eps);
  projBackward(gpu, w, acts, run, l, 'q_proj', dC, dQ, v(a.xn1), a, false, !first);
  projBackward(gpu, w, acts, run, l, 'k_proj', dC, dK, v(a.xn1), a, true, !first);
  projBackward(gpu, w, acts, run, l, 'v_proj', dC, dV, v(a.xn1), a, true, !first);
  if (!first) rmsnormBackward(gpu, dRes, dC, v(a.x), lw.inputNorm, rows(a.rstd1, T), { accumulate: true });
}

/** Backward from ws.dC = dLoss/dxf (written by lossChunks) down to every LoRA gradient. */
export function modelBackward(gpu: Gpu, w: ModelWeights, acts: Activations, T: number, runIn: RunOptions): void {
  const ws = acts.ws;
  const run = withSeedBase(gpu, acts, runIn, false); // the forward wrote this step's ws.seedBase
  rmsnormBackward(gpu, rows(ws.dRes, T), rows(ws.dC, T), rows(ws.out, T), w.finalNorm, rows(ws.rstdF, T));
  for (let l = w.dims.L - 1; l >= 0; l--) {
    if (acts.recompute) {
      const out = l + 1 < w.dims.L ? acts.layers[l + 1].x : ws.out;
      // Recompute into the shared set; `out` is rewritten with the same values it holds.
      layerForward(gpu, w, w.layers[l], l, acts.layers[l], rows(out, T), batchAttention(gpu, w, rows(ws.segIds, T)), rows(ws.positions, T), T, run);
    }
    layerBackward(gpu, w, acts, l, T, run);
    if (l % submitSettings.layersPerSubmit === 0) gpu.flush(); // recording overlaps GPU execution
  }
}
