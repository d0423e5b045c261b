// Random Llama weights built directly on the GPU for benchmarks (no checkpoint): every linear
// layer is an NF4 weight quantized on the GPU (nf4Quantize, double quantization as loadWeights
// does) from one f32 staging tensor filled once with random N(0, 0.02)-like values and reused
// for all 7·L matrices (each reads its leading rows·cols values); embedding and lm_head are
// random bf16 Weight16; norms f32 near 1. The numbers are meaningless, the shapes, formats and
// byte counts are those of the real model, so kernel times are too.

import type { Gpu } from '../src/gpu/core/context';
import { createTensor, destroyTensor, tensorFrom, writeTensor } from '../src/gpu/core/tensor';
import { nf4Quantize, nf4WeightBytes } from '../src/gpu/ops/nf4';
import { weight16Bytes, weight16Upload, type Weight16 } from '../src/gpu/ops/w16';
import { LLAMA_3_1_8B_CONFIG_JSON, parseLlamaConfig, type LlamaConfig } from '../src/model/config';
import type { LinearWeight } from '../src/model/linear';
import { projShape, TARGETS, type Target } from '../src/model/modules';
import { modelDims, ropeInvFreqTensor, type LayerWeights, type ModelWeights } from '../src/model/weights';

/** The real 8B config, or a tiny one with the same structure (for a smoke run on a software GPU). */
export function benchConfig(tiny: boolean): LlamaConfig {
  if (!tiny) return parseLlamaConfig(LLAMA_3_1_8B_CONFIG_JSON, 'LLAMA_3_1_8B_CONFIG');
  return parseLlamaConfig({
    ...LLAMA_3_1_8B_CONFIG_JSON, hidden_size: 128, intermediate_size: 320, num_hidden_layers: 2,
    num_attention_heads: 4, num_key_value_heads: 2, vocab_size: 1000, bos_token_id: 1, eos_token_id: [2],
  }, 'tiny-bench');
}

export function projShapeOf(cfg: LlamaConfig, t: Target): [number, number] {
  return projShape(modelDims(cfg), t);
}

/** xorshift32 uniform in [-a, a): fast enough for a billion values. */
function fillUniform(out: Float32Array, a: number, seed: number): void {
  let s = seed >>> 0 || 1;
  const k = (2 * a) / 4294967296;
  for (let i = 0; i < out.length; i++) {
    s ^= s << 13; s >>>= 0; s ^= s >>> 17; s ^= s << 5; s >>>= 0;
    out[i] = s * k - a;
  }
}

/** Random bf16 bits [n]: a 1M-value random block tiled (values are irrelevant, bytes are not). */
function randomBf16(n: number, std: number, seed: number): Uint16Array {
  const out = new Uint16Array(n);
  const block = new Float32Array(Math.min(n, 1 << 20));
  fillUniform(block, std * Math.sqrt(3), seed);
  const bits = new Uint32Array(block.buffer);
  for (let i = 0; i < block.length; i++) out[i] = bits[i] >>> 16;
  for (let filled = block.length; filled < n; filled *= 2) out.copyWithin(filled, 0, Math.min(filled, n - filled));
  return out;
}

function randomWeight16(gpu: Gpu, rows: number, cols: number, seed: number, label: string): Weight16 {
  return weight16Upload(gpu, randomBf16(rows * cols, 0.02, seed), rows, cols, 'bf16', label);
}

export interface ModelBytes {
  nf4Linear: number; // all NF4 linear weights (packed + double-quantized absmax)
  embed: number; // bf16 embedding table
  lmHead: number; // bf16 lm_head
  norms: number; // f32 norm weights
}

export function modelBytes(cfg: LlamaConfig): ModelBytes {
  const d = modelDims(cfg);
  let nf4Linear = 0;
  for (const t of TARGETS) {
    const [o, i] = projShapeOf(cfg, t);
    nf4Linear += d.L * nf4WeightBytes(o, i, true);
  }
  return { nf4Linear, embed: weight16Bytes(d.V, d.C), lmHead: weight16Bytes(d.V, d.C), norms: (2 * d.L + 1) * d.C * 4 };
}

export async function randomModel(gpu: Gpu, cfg: LlamaConfig, onLayer?: (l: number) => void): Promise<ModelWeights> {
  const d = modelDims(cfg);
  const embed = randomWeight16(gpu, d.V, d.C, 1, 'model.embed_tokens');
  const lmHead = randomWeight16(gpu, d.V, d.C, 2, 'lm_head');
  await gpu.sync();
  let maxN = 0;
  for (const t of TARGETS) { const [o, i] = projShapeOf(cfg, t); maxN = Math.max(maxN, o * i); }
  const staging = createTensor(gpu, [maxN], 'f32', 'quant-staging');
  const host = new Float32Array(maxN);
  fillUniform(host, 0.02 * Math.sqrt(3), 3);
  writeTensor(gpu, staging, host);
  const normHost = new Float32Array(d.C);
  fillUniform(normHost, 0.1, 4);
  for (let i = 0; i < d.C; i++) normHost[i] += 1;
  const layers: LayerWeights[] = [];
  for (let l = 0; l < d.L; l++) {
    const proj = {} as Record<Target, LinearWeight>;
    for (const t of TARGETS) {
      const [o, i] = projShapeOf(cfg, t);
      proj[t] = { kind: 'nf4', w: nf4Quantize(gpu, { ...staging, shape: [o, i] }, { doubleQuant: true }, `L${l}.${t}`) };
    }
    layers.push({
      inputNorm: tensorFrom(gpu, normHost, [d.C], `L${l}.input_layernorm`),
      postNorm: tensorFrom(gpu, normHost, [d.C], `L${l}.post_attention_layernorm`),
      proj,
    });
    await gpu.sync(); // bound the queued work; the staging values are never rewritten
    onLayer?.(l);
  }
  destroyTensor(gpu, staging);
  const finalNorm = tensorFrom(gpu, normHost, [d.C], 'model.norm');
  const invFreq = ropeInvFreqTensor(gpu, cfg);
  await gpu.sync();
  return { cfg, dims: d, embed, layers, finalNorm, lmHead, invFreq, quant: 'nf4' };
}
