// Base model weights on the GPU, loaded tensor by tensor from HF safetensors (single file or
// sharded) so an 8B model never sits whole in memory. Linear layers become NF4 (quantized on
// the GPU as they arrive) or stay 16-bit; embedding and lm_head are 16-bit; norms f32.

import type { Gpu } from '../gpu/core/context';
import { createTensor, destroyTensor, tensorFrom, writeTensor, type Tensor } from '../gpu/core/tensor';
import { nf4Quantize, nf4Upload } from '../gpu/ops/nf4';
import { BNB_QS_SUFFIX, readBnbWeight, type TensorReader as BnbReader } from './bnb';
import { weight16Upload, type Weight16 } from '../gpu/ops/w16';
import { ropeInvFreq } from '../gpu/ops/rope';
import type { LlamaConfig } from './config';
import type { ModelDims } from './activations';
import { linearIn, linearOut, type LinearWeight } from './linear';
import { moduleKey, projShape, TARGETS, type Target } from './modules';
import { bf16ToF32, f16ToF32, f32ToBf16, type StDtype, type TypedData } from './safetensors';

export interface LayerWeights {
  inputNorm: Tensor; // [C] input_layernorm.weight
  postNorm: Tensor; // [C] post_attention_layernorm.weight
  proj: Record<Target, LinearWeight>; // q [H*D, C], k/v [Hkv*D, C], o [C, H*D], gate/up [I, C], down [C, I]
}

export interface ModelWeights {
  cfg: LlamaConfig;
  dims: ModelDims;
  embed: Weight16; // [V, C]
  layers: LayerWeights[]; // [L]
  finalNorm: Tensor; // [C] model.norm.weight
  lmHead: Weight16; // [V, C] (the embedding when tie_word_embeddings)
  invFreq: Tensor; // [D/2] RoPE inverse frequencies (llama3 scaling applied)
  quant: 'nf4' | 'w16';
}

/** Anything that reads named tensors: SafetensorsFile, ShardedSafetensors. */
export interface TensorReader {
  names(): string[];
  read(name: string): Promise<{ dtype: StDtype; shape: number[]; data: TypedData }>;
}

export interface LoadProgress { tensors: number; totalTensors: number; name: string }

export function modelDims(cfg: LlamaConfig): ModelDims {
  return {
    C: cfg.hiddenSize, H: cfg.numAttentionHeads, Hkv: cfg.numKeyValueHeads, D: cfg.headDim,
    I: cfg.intermediateSize, V: cfg.vocabSize, L: cfg.numHiddenLayers,
  };
}

function expectShape(name: string, got: number[], want: number[]): void {
  if (got.length !== want.length || got.some((g, i) => g !== want[i]))
    throw new Error(`model.safetensors: tensor "${name}" has shape [${got}], config.json implies [${want}]`);
}

async function readF32(r: TensorReader, name: string, shape: number[]): Promise<Float32Array> {
  const t = await r.read(name);
  expectShape(name, t.shape, shape);
  if (t.dtype === 'F32') return t.data as Float32Array;
  if (t.dtype === 'BF16') return bf16ToF32(t.data as Uint16Array);
  if (t.dtype === 'F16') return f16ToF32(t.data as Uint16Array);
  throw new Error(`model.safetensors: tensor "${name}" is ${t.dtype}; expected F32, F16 or BF16`);
}

/** 16-bit upload; F32 sources are rounded to bf16 (exact for bf16-representable values). */
async function read16(gpu: Gpu, r: TensorReader, name: string, rowsN: number, cols: number): Promise<Weight16> {
  const t = await r.read(name);
  expectShape(name, t.shape, [rowsN, cols]);
  if (t.dtype === 'BF16' || t.dtype === 'F16')
    return weight16Upload(gpu, t.data as Uint16Array, rowsN, cols, t.dtype === 'BF16' ? 'bf16' : 'f16', name);
  if (t.dtype === 'F32') return weight16Upload(gpu, f32ToBf16(t.data as Float32Array), rowsN, cols, 'bf16', name);
  throw new Error(`model.safetensors: tensor "${name}" is ${t.dtype}; expected F32, F16 or BF16`);
}

function bnbReader(r: TensorReader, names: Set<string>): BnbReader {
  return { has: (n) => names.has(n), read: (n) => r.read(n) };
}

/** RoPE inverse frequencies [D/2] of a config (llama3 scaling applied) on the GPU. */
export function ropeInvFreqTensor(gpu: Gpu, cfg: LlamaConfig): Tensor {
  const rs = cfg.ropeScaling;
  const scaling = rs && { factor: rs.factor, lowFreqFactor: rs.lowFreqFactor, highFreqFactor: rs.highFreqFactor, originalMaxPositionEmbeddings: rs.originalMaxPositionEmbeddings };
  return tensorFrom(gpu, ropeInvFreq({ headDim: cfg.headDim, ropeTheta: cfg.ropeTheta, scaling }), [cfg.headDim / 2], 'rope.invFreq');
}

/**
 * Load a Llama model. quant 'nf4' quantizes each linear weight on the GPU as it arrives (one
 * f32 staging tensor reused); 'w16' keeps them 16-bit.
 */
export async function loadWeights(
  gpu: Gpu, cfg: LlamaConfig, r: TensorReader,
  opts: { quant: 'nf4' | 'w16'; doubleQuant?: boolean; onProgress?: (p: LoadProgress) => void },
): Promise<ModelWeights> {
  const d = modelDims(cfg);
  const names = new Set(r.names());
  const need = (n: string) => { if (!names.has(n)) throw new Error(`model.safetensors: missing tensor "${n}"`); return n; };
  const total = 3 + d.L * 9 - (cfg.tieWordEmbeddings ? 1 : 0);
  let done = 0;
  const tick = (name: string) => opts.onProgress?.({ tensors: ++done, totalTensors: total, name });

  const embed = await read16(gpu, r, need('model.embed_tokens.weight'), d.V, d.C); tick('model.embed_tokens.weight');
  let staging: Tensor | null = null;
  const layers: LayerWeights[] = [];
  for (let l = 0; l < d.L; l++) {
    const pre = `model.layers.${l}`;
    const inputNorm = tensorFrom(gpu, await readF32(r, need(`${pre}.input_layernorm.weight`), [d.C]), [d.C], `${pre}.input_layernorm`); tick(`${pre}.input_layernorm.weight`);
    const postNorm = tensorFrom(gpu, await readF32(r, need(`${pre}.post_attention_layernorm.weight`), [d.C]), [d.C], `${pre}.post_attention_layernorm`); tick(`${pre}.post_attention_layernorm.weight`);
    const proj = {} as Record<Target, LinearWeight>;
    for (const t of TARGETS) {
      const name = need(`${moduleKey(l, t)}.weight`);
      const [outF, inF] = projShape(d, t);
      if (names.has(name + BNB_QS_SUFFIX)) {
        // A bitsandbytes 4-bit checkpoint: used as stored, no re-quantization.
        const { host } = await readBnbWeight(bnbReader(r, names), name);
        if (host.rows !== outF || host.cols !== inF)
          throw new Error(`model.safetensors: bnb weight "${name}" is [${host.rows}, ${host.cols}], config.json implies [${outF}, ${inF}]`);
        proj[t] = { kind: 'nf4', w: nf4Upload(gpu, host, name) };
      } else if (opts.quant === 'w16') {
        proj[t] = { kind: 'w16', w: await read16(gpu, r, name, outF, inF) };
      } else {
        const w = await readF32(r, name, [outF, inF]);
        if (!staging || staging.shape[0] * staging.shape[1] < w.length) {
          if (staging) destroyTensor(gpu, staging);
          staging = createTensor(gpu, [outF, inF], 'f32', 'quant-staging');
        }
        writeTensor(gpu, staging, w);
        proj[t] = { kind: 'nf4', w: nf4Quantize(gpu, { ...staging, shape: [outF, inF] }, { doubleQuant: opts.doubleQuant ?? true }) };
        await gpu.sync(); // staging is reused: the quantize kernel must have read it
      }
      tick(name);
    }
    layers.push({ inputNorm, postNorm, proj });
  }
  if (staging) destroyTensor(gpu, staging);
  const finalNorm = tensorFrom(gpu, await readF32(r, need('model.norm.weight'), [d.C]), [d.C], 'model.norm'); tick('model.norm.weight');
  let lmHead = embed;
  if (!cfg.tieWordEmbeddings) { lmHead = await read16(gpu, r, need('lm_head.weight'), d.V, d.C); tick('lm_head.weight'); }
  const invFreq = ropeInvFreqTensor(gpu, cfg);
  await gpu.sync();
  for (const lw of layers) for (const t of TARGETS) {
    const [o, i] = projShape(d, t);
    if (linearOut(lw.proj[t]) !== o || linearIn(lw.proj[t]) !== i) throw new Error(`internal: ${t} shape mismatch`);
  }
  return { cfg, dims: d, embed, layers, finalNorm, lmHead, invFreq, quant: opts.quant };
}
