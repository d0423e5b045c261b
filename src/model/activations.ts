// Activation and workspace buffers of the model: one size table, allocated once for the
// largest micro-batch (maxT tokens) and viewed at the actual token count T each step.
// Letters: T tokens, C hidden, H/Hkv heads, D head_dim, I intermediate, V vocab, r LoRA rank,
// Tc rows per cross-entropy chunk.

import type { Gpu } from '../gpu/core/context';
import { createTensor, type DType, type Tensor } from '../gpu/core/tensor';
import type { Target } from './modules';

export interface ModelDims {
  C: number; H: number; Hkv: number; D: number; I: number; V: number; L: number;
}

/**
 * Saved per layer for the backward pass (one shared set when recomputing). xn1, xn2 and h are
 * one buffer each shared by all layers even without recomputation: only LoRA's backward reads
 * them, and it rebuilds them from the saved x, x2, g, u (backward.ts) — three cheap elementwise
 * passes per layer instead of 2·C + I floats per token per layer (1.4 GB at 8B, 512 tokens).
 */
export interface LayerActs {
  x: Tensor; // [T, C] layer input (residual stream)
  xn1: Tensor; // [T, C] input_layernorm(x) (shared by all layers)
  rstd1: Tensor; // [T]
  q: Tensor; // [T, H*D] after RoPE
  k: Tensor; // [T, Hkv*D] after RoPE
  v: Tensor; // [T, Hkv*D]
  attn: Tensor; // [T, H*D] attention output (o_proj input)
  lse: Tensor; // [H, T] softmax log-sum-exp per row
  x2: Tensor; // [T, C] x + o_proj(attn)
  xn2: Tensor; // [T, C] post_attention_layernorm(x2) (shared by all layers)
  rstd2: Tensor; // [T]
  g: Tensor; // [T, I] gate_proj(xn2)
  u: Tensor; // [T, I] up_proj(xn2)
  h: Tensor; // [T, I] silu(g) * u (down_proj input; shared by all layers)
  xa: Partial<Record<Target, Tensor>>; // [T, r] dropout(x)·Aᵀ per LoRA module
}

/** Gradient and loss workspace shared by all layers. */
export interface Workspace {
  ids: Tensor; // [T] i32 token ids
  positions: Tensor; // [T] i32 position within its sequence
  segIds: Tensor; // [T] i32 sequence index within the packed batch
  targets: Tensor; // [T] i32 next-token targets (-100 = no loss)
  seedBase: Tensor; // [1] u32 bits: this micro-step's part of the LoRA dropout seeds (forward.ts stepSeedBase)
  out: Tensor; // [T, C] residual stream after the last layer
  xf: Tensor; // [T, C] final norm output
  rstdF: Tensor; // [T]
  nll: Tensor; // [T] per-token negative log-likelihood (0 where no target)
  dRes: Tensor; // [T, C] gradient of the residual stream
  dC: Tensor; // [T, C] gradient of a norm output
  dQ: Tensor; // [T, H*D]
  dK: Tensor; // [T, Hkv*D]
  dV: Tensor; // [T, Hkv*D]
  dAttn: Tensor; // [T, H*D]
  dG: Tensor; // [T, I]
  dU: Tensor; // [T, I]
  dH: Tensor; // [T, I]
  loraScratch: Tensor; // [T, r]
  xChunk: Tensor; // [Tc, C] rows of xf fed to lm_head
  logits: Tensor; // [Tc, V] logits, overwritten by dLogits
  tChunk: Tensor; // [Tc] i32 targets of the chunk
  nllChunk: Tensor; // [Tc]
  dxChunk: Tensor; // [Tc, C]
}

export interface SizeEntry { name: string; shape: number[]; dtype: DType; count: number }

/** The one size table: every activation/workspace tensor with its shape and multiplicity. */
export function activationTable(d: ModelDims, maxT: number, Tc: number, r: number, targets: readonly Target[], recompute: boolean): SizeEntry[] {
  const T = maxT;
  const layerSets = recompute ? 1 : d.L;
  const e = (name: string, shape: number[], count = 1, dtype: DType = 'f32') => ({ name, shape, dtype, count });
  return [
    e('layer.x', [T, d.C], d.L), // layer inputs are always kept (recompute starts from them)
    e('layer.xn1', [T, d.C]), e('layer.rstd1', [T], layerSets),
    e('layer.q', [T, d.H * d.D], layerSets), e('layer.k', [T, d.Hkv * d.D], layerSets), e('layer.v', [T, d.Hkv * d.D], layerSets),
    e('layer.attn', [T, d.H * d.D], layerSets), e('layer.lse', [d.H, T], layerSets),
    e('layer.x2', [T, d.C], layerSets), e('layer.xn2', [T, d.C]), e('layer.rstd2', [T], layerSets),
    e('layer.g', [T, d.I], layerSets), e('layer.u', [T, d.I], layerSets), e('layer.h', [T, d.I]),
    e('layer.xa', [T, r], layerSets * targets.length),
    e('ids', [T], 1, 'i32'), e('positions', [T], 1, 'i32'), e('segIds', [T], 1, 'i32'), e('targets', [T], 1, 'i32'), e('seedBase', [1], 1, 'i32'),
    e('out', [T, d.C]), e('xf', [T, d.C]), e('rstdF', [T]), e('nll', [T]),
    e('dRes', [T, d.C]), e('dC', [T, d.C]), e('dQ', [T, d.H * d.D]), e('dK', [T, d.Hkv * d.D]), e('dV', [T, d.Hkv * d.D]),
    e('dAttn', [T, d.H * d.D]), e('dG', [T, d.I]), e('dU', [T, d.I]), e('dH', [T, d.I]), e('loraScratch', [T, r]),
    e('xChunk', [Tc, d.C]), e('logits', [Tc, d.V]), e('tChunk', [Tc], 1, 'i32'), e('nllChunk', [Tc]), e('dxChunk', [Tc, d.C]),
  ];
}

export function tableBytes(table: SizeEntry[]): number {
  return table.reduce((s, x) => s + x.count * x.shape.reduce((a, b) => a * b, 1) * 4, 0);
}

export interface Activations {
  maxT: number;
  Tc: number;
  recompute: boolean;
  layers: LayerActs[]; // [L]; with recompute all share one set except `x`
  ws: Workspace;
}

export function allocActivations(gpu: Gpu, d: ModelDims, maxT: number, Tc: number, r: number, targets: readonly Target[], recompute: boolean): Activations {
  const T = maxT;
  const t = (shape: number[], label: string, dtype: DType = 'f32') => createTensor(gpu, shape, dtype, label);
  const inputs = { xn1: t([T, d.C], 'xn1'), xn2: t([T, d.C], 'xn2'), h: t([T, d.I], 'h') }; // shared by all layers
  const makeSet = (l: number): Omit<LayerActs, 'x'> => ({
    ...inputs, rstd1: t([T], `L${l}.rstd1`),
    q: t([T, d.H * d.D], `L${l}.q`), k: t([T, d.Hkv * d.D], `L${l}.k`), v: t([T, d.Hkv * d.D], `L${l}.v`),
    attn: t([T, d.H * d.D], `L${l}.attn`), lse: t([d.H, T], `L${l}.lse`),
    x2: t([T, d.C], `L${l}.x2`), rstd2: t([T], `L${l}.rstd2`),
    g: t([T, d.I], `L${l}.g`), u: t([T, d.I], `L${l}.u`),
    xa: Object.fromEntries(targets.map((m) => [m, t([T, r], `L${l}.xa.${m}`)])),
  });
  const shared = recompute ? makeSet(0) : null;
  const layers: LayerActs[] = [];
  for (let l = 0; l < d.L; l++) layers.push({ x: t([T, d.C], `L${l}.x`), ...(shared ?? makeSet(l)) });
  const ws: Workspace = {
    ids: t([T], 'ids', 'i32'), positions: t([T], 'positions', 'i32'), segIds: t([T], 'segIds', 'i32'), targets: t([T], 'targets', 'i32'), seedBase: t([1], 'seedBase', 'i32'),
    out: t([T, d.C], 'out'), xf: t([T, d.C], 'xf'), rstdF: t([T], 'rstdF'), nll: t([T], 'nll'),
    dRes: t([T, d.C], 'dRes'), dC: t([T, d.C], 'dC'), dQ: t([T, d.H * d.D], 'dQ'), dK: t([T, d.Hkv * d.D], 'dK'), dV: t([T, d.Hkv * d.D], 'dV'),
    dAttn: t([T, d.H * d.D], 'dAttn'), dG: t([T, d.I], 'dG'), dU: t([T, d.I], 'dU'), dH: t([T, d.I], 'dH'), loraScratch: t([T, r], 'loraScratch'),
    xChunk: t([Tc, d.C], 'xChunk'), logits: t([Tc, d.V], 'logits'), tChunk: t([Tc], 'tChunk', 'i32'), nllChunk: t([Tc], 'nllChunk'), dxChunk: t([Tc, d.C], 'dxChunk'),
  };
  return { maxT, Tc, recompute, layers, ws };
}

/** The same buffer seen with fewer leading rows (T ≤ maxT): ops read the count from the shape. */
export function rows(t: Tensor, T: number): Tensor {
  return { ...t, shape: [T, ...t.shape.slice(1)] };
}

/** lse is [H, T]: its view keeps H and shrinks T. */
export function lseView(t: Tensor, T: number): Tensor {
  return { ...t, shape: [t.shape[0], T] };
}
