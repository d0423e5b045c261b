// The demo model: a tiny Llama-architecture model with the REAL Llama 3.1 vocabulary (128256),
// rope (theta 500000, llama3 scaling), GQA 4:1 and untied embeddings, but tiny dims so it trains
// in seconds on a software GPU. Generated deterministically from a seed (same seed ⇒ identical
// bytes) in the Hugging Face layout: config.json + model.safetensors (bf16), initialised like HF
// (normal, std = initializer_range; RMSNorm weights = 1).
// Sizes: C = 64, F = 172, L = 2, H = 4, Hkv = 1, D = 16, V = 128256. The bf16 embedding and
// lm_head are 2 × V × C × 2 B ≈ 32.8 MB of the ≈ 33 MB file.

import { Rng } from '../util/rng';
import { LLAMA_3_1_8B_CONFIG_JSON, llamaWeightShapes, parseLlamaConfig, type LlamaConfig } from './config';
import { f32ToBf16, writeSafetensors, type TensorToWrite } from './safetensors';

/** The real Llama-3.1-8B-Instruct config.json with only the sizes made tiny. */
const { transformers_version: _unused, ...LLAMA_3_1_FIELDS } = LLAMA_3_1_8B_CONFIG_JSON;
export const DEMO_CONFIG_JSON = {
  ...LLAMA_3_1_FIELDS,
  head_dim: 16,
  hidden_size: 64,
  intermediate_size: 172,
  num_attention_heads: 4,
  num_hidden_layers: 2,
  num_key_value_heads: 1,
} as const;

export const DEMO_CONFIG: LlamaConfig = parseLlamaConfig(DEMO_CONFIG_JSON, 'demo config.json');

/** FNV-1a of a string: gives each tensor its own stream so the order of generation does not matter. */
function hash32(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193) >>> 0;
  return h >>> 0;
}

/** One demo weight as f32 (HF init: normal(0, initializer_range); norms = 1). */
export function demoWeight(name: string, shape: number[], seed: number, std: number): Float32Array {
  const n = shape.reduce((a, b) => a * b, 1);
  const out = new Float32Array(n);
  if (name.endsWith('norm.weight')) return out.fill(1);
  const rng = new Rng((hash32(name) ^ Math.imul(seed >>> 0, 0x9e3779b1)) >>> 0);
  for (let i = 0; i < n; i++) out[i] = std * rng.normal();
  return out;
}

export interface DemoModel {
  config: LlamaConfig;
  /** HF folder contents: config.json, generation_config.json, model.safetensors. */
  files: Record<string, Uint8Array>;
}

/** Build the demo model's files for a seed (pure, deterministic). */
export function buildDemoModel(seed = 0): DemoModel {
  if (!Number.isInteger(seed) || seed < 0 || seed > 0xffffffff) throw new Error(`demo model seed must be an integer in [0, 2^32), got ${seed}`);
  const cfg = DEMO_CONFIG;
  const tensors: TensorToWrite[] = llamaWeightShapes(cfg).map(({ name, shape }) => ({
    name,
    dtype: 'BF16',
    shape,
    data: f32ToBf16(demoWeight(name, shape, seed, cfg.initializerRange)),
  }));
  const enc = new TextEncoder();
  const generation = {
    bos_token_id: cfg.bosTokenId,
    do_sample: true,
    eos_token_id: cfg.eosTokenId,
    temperature: 0.6,
    top_p: 0.9,
  };
  return {
    config: cfg,
    files: {
      'config.json': enc.encode(JSON.stringify(DEMO_CONFIG_JSON, null, 2) + '\n'),
      'generation_config.json': enc.encode(JSON.stringify(generation, null, 2) + '\n'),
      'model.safetensors': writeSafetensors(tensors, { format: 'pt', demo_seed: String(seed) }),
    },
  };
}
