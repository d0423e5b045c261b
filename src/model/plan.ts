// The memory plan: one size table for QLoRA training of a Llama model on the GPU, computed from
// config.json and the run options before anything is allocated; checkPlan refuses (with numbers
// and what to change) a plan that will not fit the budget or the adapter's buffer limits.
// Letters: N = batch·seq tokens of a micro-batch, C = hidden, F = intermediate, H/Hkv = heads,
// D = head_dim, V = vocab, L = layers, r = LoRA rank, R = cross-entropy rows per chunk.
// All GPU activations are f32 (the WGSL kernels compute in f32); u8 arrays round up to 4 bytes
// because WGSL storage buffers are read as u32. The activation/workspace rows mirror the engine's
// activationTable (src/model/activations.ts).

import { NESTED_BLOCK, NF4_BLOCK } from '../gpu/ops/nf4.types';
import { LINEAR_MODULES, linearShapes, normalizeTargets, type LinearModule, type LlamaConfig } from './config';

export interface PlanOptions {
  seq: number;
  batch: number;
  r: number;
  /** LoRA targets: q,k,v,o,gate,up,down (short or *_proj names). */
  targets: string[];
  /** Gradient checkpointing: save only layer inputs, recompute one layer's forward in backward. */
  recompute: boolean;
  /** Double quantization of NF4 absmax (u8 codes + nested f32 absmax per 256 blocks). */
  doubleQuant: boolean;
  /** lm_head kept 16-bit (bf16 bits, unpacked in the shader) or quantized to NF4. */
  lmHead: 'bf16' | 'nf4';
  /** Rows of [R, V] f32 logits per cross-entropy chunk (default min(N, 256)). */
  ceBlockRows?: number;
}

export interface MemoryPlan {
  /** GPU bytes per part of the size table. */
  parts: Record<string, number>;
  totalBytes: number;
  /** Largest single GPU buffer that cannot be split (must fit one storage binding). */
  largestBinding: number;
  /** Which buffer that is. */
  largestBindingName: string;
  /** Buffers the engine splits into vocabulary slices (bytes in total; each slice ≤ the binding limit). */
  splittable: Record<string, number>;
  /** Host (CPU) memory that stays off the GPU. */
  host: Record<string, number>;
  /** LoRA trainable parameter count. */
  loraParams: number;
  tokens: number; // N
  cfg: LlamaConfig;
  opts: Required<PlanOptions> & { targets: LinearModule[] };
}

const u32Round = (bytes: number) => Math.ceil(bytes / 4) * 4;

/** Bytes of one NF4 weight [out, in] on the GPU: packed codes + absmax (plain or double-quantized). */
export function nf4Bytes(out: number, inF: number, doubleQuant: boolean): { packed: number; absmax: number } {
  const n = out * inF;
  const blocks = Math.ceil(n / NF4_BLOCK);
  const absmax = doubleQuant
    ? u32Round(blocks) /* u8 codes */ + Math.ceil(blocks / NESTED_BLOCK) * 4 /* nested absmax */ + 256 * 4 /* quant map */ + 4 /* offset */
    : blocks * 4;
  return { packed: u32Round(Math.ceil(n / 2)), absmax };
}

export function planMemory(cfg: LlamaConfig, opts: PlanOptions): MemoryPlan {
  for (const k of ['seq', 'batch', 'r'] as const)
    if (!Number.isInteger(opts[k]) || opts[k] <= 0) throw new Error(`plan: ${k} must be a positive integer, got ${opts[k]}`);
  const targets = normalizeTargets(opts.targets);
  const N = opts.seq * opts.batch;
  const { hiddenSize: C, intermediateSize: F, numAttentionHeads: H, numKeyValueHeads: Hkv, headDim: D, vocabSize: V, numHiddenLayers: L } = cfg;
  const r = opts.r;
  const R = Math.min(N, opts.ceBlockRows ?? 256);
  if (!Number.isInteger(R) || R <= 0) throw new Error(`plan: ceBlockRows must be a positive integer, got ${opts.ceBlockRows}`);
  const f32 = 4;
  const lin = linearShapes(cfg);
  const parts: Record<string, number> = {};
  const bindings: [string, number][] = [];

  // ---- frozen base weights -------------------------------------------------------------------
  let packed = 0, absmax = 0;
  for (const m of LINEAR_MODULES) {
    const b = nf4Bytes(lin[m][0], lin[m][1], opts.doubleQuant);
    packed += b.packed * L;
    absmax += b.absmax * L;
    bindings.push([`${m}.packed`, b.packed], [`${m}.absmax`, b.absmax]);
  }
  parts['weights.nf4.packed'] = packed; // L × 7 linears, n/2 bytes each
  parts['weights.nf4.absmax'] = absmax; // per 64-value block: f32, or u8 code + nested f32 per 256 blocks
  // lm_head [V, C]: 16-bit, or NF4; the engine splits it by vocabulary rows to respect the binding limit.
  const splittable: Record<string, number> = {};
  if (opts.lmHead === 'bf16') {
    parts['weights.lm_head'] = V * C * 2;
  } else {
    const b = nf4Bytes(V, C, opts.doubleQuant);
    parts['weights.lm_head'] = b.packed + b.absmax;
  }
  splittable['weights.lm_head'] = parts['weights.lm_head'];
  // Embedding [V, C] bf16 lives on the CPU; only the N gathered rows go up, as f32 [N, C].
  parts['weights.embedding.rows'] = N * C * f32;
  parts['weights.norms'] = (2 * L + 1) * C * f32; // input_layernorm, post_attention_layernorm per layer, final norm
  const host = { 'embedding.bf16': V * C * 2 };

  // ---- LoRA: A [r, in], B [out, r] per target per layer, f32 master weights + grads + AdamW m, v ----
  let loraParams = 0;
  for (const m of targets) {
    const [out, inF] = lin[m];
    loraParams += r * (inF + out) * L;
    bindings.push([`lora.${m}.A`, r * inF * f32], [`lora.${m}.B`, out * r * f32]);
  }
  parts['lora.params'] = loraParams * f32;
  parts['lora.grads'] = loraParams * f32;
  parts['lora.adam.m'] = loraParams * f32;
  parts['lora.adam.v'] = loraParams * f32;

  // ---- activations saved by one layer's forward for its backward (all f32) --------------------
  // The module inputs only LoRA's backward reads — xn1, xn2 [N, C] and mlp_h [N, F] — are one
  // buffer each for all layers, rebuilt in the backward from x, h1, gate, up (activations.ts).
  const sharedInputs = (2 * N * C + N * F) * f32;
  const perLayer: [string, number][] = [
    ['x', N * C], //             [N, C]      layer input (residual stream)
    ['rstd1', N], //             [N]         1/rms of x (input_layernorm)
    ['q', N * H * D], //         [N, H·D]    q after rope
    ['k', N * Hkv * D], //       [N, Hkv·D]  k after rope
    ['v', N * Hkv * D], //       [N, Hkv·D]  v
    ['attn', N * H * D], //      [N, H·D]    attention output = o_proj input
    ['lse', H * N], //           [H, N]      log-sum-exp of each attention row (flash backward)
    ['h1', N * C], //            [N, C]      residual after attention (x + o_proj out)
    ['rstd2', N], //             [N]         1/rms of h1 (post_attention_layernorm)
    ['gate', N * F], //          [N, F]      gate_proj out (pre-SiLU)
    ['up', N * F], //            [N, F]      up_proj out
  ];
  for (const m of targets) perLayer.push([`lora_xa.${m}`, N * r]); // [N, r] dropout(x)·Aᵀ per LoRA module
  // (dropout masks are regenerated from the step's seed, not stored)
  const layerBytes = perLayer.reduce((s, [, n]) => s + n * f32, 0);
  for (const [name, n] of perLayer) bindings.push([`act.${name}`, n * f32]);
  bindings.push(['act.mlp_h', N * F * f32]);
  parts['activations.module_inputs'] = sharedInputs; // xn1, xn2, mlp_h: one set, rebuilt per layer
  if (opts.recompute) {
    parts['activations.layer_inputs'] = L * N * C * f32; // x of every layer
    parts['activations.recompute_layer'] = layerBytes - N * C * f32; // one layer's set (less x), rebuilt in backward
  } else {
    parts['activations.saved'] = L * layerBytes;
  }
  // out [N, C] residual after the last layer, xf [N, C] final norm output, rstdF [N], nll [N]
  parts['activations.final'] = (2 * N * C + 2 * N) * f32;

  // ---- backward workspace: one layer's activation gradients (reused layer to layer) -----------
  parts['backward.workspace'] =
    (2 * N * C /* dRes, dC (norm-output grad) [N, C] */ + 2 * N * H * D /* dQ, dAttn */ + 2 * N * Hkv * D /* dK, dV */ +
      3 * N * F /* dG, dU, dH [N, F] */ + N * r /* LoRA scratch [N, r] */) * f32;
  parts['attention.workspace'] = H * N * f32; // delta = rowsum(dO∘O) [H, N]; tiles live in workgroup memory
  // ---- cross-entropy over the vocabulary in chunks of R rows: logits [R, V] (gradient in place) ---
  // logits [R, V] (overwritten by dLogits), xChunk and dxChunk [R, C], targets and nll of the chunk [R]
  parts['cross_entropy.workspace'] = (R * V + 2 * R * C + 2 * R) * f32;
  bindings.push(['cross_entropy.logits', R * V * f32]);
  parts['inputs'] = 4 * N * 4; // ids, targets, positions, segIds: i32 [N]

  const totalBytes = Object.values(parts).reduce((a, b) => a + b, 0);
  const [largestBindingName, largestBinding] = bindings.reduce((a, b) => (b[1] > a[1] ? b : a));
  return {
    parts, totalBytes, largestBinding, largestBindingName, splittable, host, loraParams, tokens: N, cfg,
    opts: { ...opts, targets, ceBlockRows: R },
  };
}

export interface BufferLimits {
  maxBufferSize: number;
  maxStorageBufferBindingSize: number;
}

const GiB = 1024 ** 3, MiB = 1024 ** 2;
export const fmtGiB = (b: number) => `${(b / GiB).toFixed(2)} GiB`;
const fmtMiB = (b: number) => `${(b / MiB).toFixed(1)} MiB`;

/** null if the plan fits the budget and the adapter's limits, else a message with numbers and what to change. */
export function checkPlan(plan: MemoryPlan, limits: BufferLimits, budgetBytes: number): string | null {
  const problems: string[] = [];
  const bindLimit = Math.min(limits.maxStorageBufferBindingSize, limits.maxBufferSize);
  if (plan.largestBinding > bindLimit) {
    const hint = plan.largestBindingName === 'cross_entropy.logits'
      ? `lower ceBlockRows (now ${plan.opts.ceBlockRows}; at most ${Math.floor(bindLimit / (plan.cfg.vocabSize * 4))} rows fit)`
      : 'use shorter sequences or a smaller batch';
    problems.push(`the largest buffer ${plan.largestBindingName} needs ${fmtMiB(plan.largestBinding)} but this GPU binds at most ${fmtMiB(bindLimit)} (maxStorageBufferBindingSize ${limits.maxStorageBufferBindingSize}, maxBufferSize ${limits.maxBufferSize}): ${hint}`);
  }
  if (plan.totalBytes > budgetBytes) {
    const top = Object.entries(plan.parts).sort((a, b) => b[1] - a[1]).slice(0, 4).map(([k, v]) => `${k} ${fmtGiB(v)}`).join(', ');
    const fixes: string[] = [];
    const again = (o: Partial<PlanOptions>) => planMemory(plan.cfg, { ...plan.opts, ...o });
    if (!plan.opts.recompute) {
      const p = again({ recompute: true });
      fixes.push(`--recompute (gradient checkpointing): ${fmtGiB(p.totalBytes)}${p.totalBytes <= budgetBytes ? ' (fits)' : ''}`);
    }
    let lo = 0, hi = plan.opts.seq; // largest seq that fits with the other options unchanged
    while (hi - lo > 1) {
      const mid = (lo + hi) >> 1;
      if (again({ seq: mid }).totalBytes <= budgetBytes) lo = mid; else hi = mid;
    }
    fixes.push(lo > 0 ? `shorter sequences: --seq ${lo} or less fits` : 'no sequence length fits with these options');
    if (plan.opts.batch > 1) fixes.push(`--batch 1: ${fmtGiB(again({ batch: 1 }).totalBytes)}`);
    if (plan.opts.r > 1) fixes.push(`--r ${Math.max(1, plan.opts.r >> 1)}: ${fmtGiB(again({ r: Math.max(1, plan.opts.r >> 1) }).totalBytes)}`);
    if (plan.opts.targets.length > 1) {
      const attnOnly = plan.opts.targets.filter((t) => ['q_proj', 'k_proj', 'v_proj', 'o_proj'].includes(t));
      const fewer = attnOnly.length && attnOnly.length < plan.opts.targets.length ? attnOnly : plan.opts.targets.slice(0, 2);
      fixes.push(`fewer targets (${fewer.map((t) => t.replace('_proj', '')).join(',')}): ${fmtGiB(again({ targets: fewer }).totalBytes)}`);
    }
    if (plan.opts.lmHead === 'bf16') fixes.push(`lm_head in NF4: ${fmtGiB(again({ lmHead: 'nf4' }).totalBytes)}`);
    if (!plan.opts.doubleQuant) fixes.push(`double quantization: ${fmtGiB(again({ doubleQuant: true }).totalBytes)}`);
    problems.push(`training needs ${fmtGiB(plan.totalBytes)} of GPU memory but the budget is ${fmtGiB(budgetBytes)} (largest parts: ${top}). Try: ${fixes.join('; ')}`);
  }
  return problems.length ? `memory plan refused: ${problems.join('. Also, ')}` : null;
}
