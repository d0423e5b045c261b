// Llama config.json → typed LlamaConfig. Every model dimension the engine uses is read from here;
// nothing else hard-codes 8B numbers. Refuses non-Llama models and inconsistent numbers with a
// message naming the file and the field.
// Letters: C = hidden_size, F = intermediate_size, L = layers, H = heads, Hkv = KV heads,
// D = head_dim, V = vocab_size.

export interface Llama3RopeScaling {
  ropeType: 'llama3';
  factor: number;
  lowFreqFactor: number;
  highFreqFactor: number;
  originalMaxPositionEmbeddings: number;
}

export interface LlamaConfig {
  hiddenSize: number; // C
  intermediateSize: number; // F
  numHiddenLayers: number; // L
  numAttentionHeads: number; // H
  numKeyValueHeads: number; // Hkv (H % Hkv == 0)
  headDim: number; // D (default C / H)
  vocabSize: number; // V
  rmsNormEps: number;
  ropeTheta: number;
  ropeScaling: Llama3RopeScaling | null;
  maxPositionEmbeddings: number;
  tieWordEmbeddings: boolean;
  bosTokenId: number | null;
  eosTokenId: number | number[] | null;
  torchDtype: string; // e.g. 'bfloat16'
  initializerRange: number;
  /** The parsed JSON as given (for re-export and fields we do not model). */
  raw: Record<string, unknown>;
}

export class ConfigError extends Error {
  constructor(file: string, field: string, what: string) {
    super(`${file}: "${field}" ${what}`);
    this.name = 'ConfigError';
  }
}

/** meta-llama/Llama-3.1-8B-Instruct config.json, verbatim field values. */
export const LLAMA_3_1_8B_CONFIG_JSON = {
  architectures: ['LlamaForCausalLM'],
  attention_bias: false,
  attention_dropout: 0.0,
  bos_token_id: 128000,
  eos_token_id: [128001, 128008, 128009],
  hidden_act: 'silu',
  hidden_size: 4096,
  initializer_range: 0.02,
  intermediate_size: 14336,
  max_position_embeddings: 131072,
  mlp_bias: false,
  model_type: 'llama',
  num_attention_heads: 32,
  num_hidden_layers: 32,
  num_key_value_heads: 8,
  pretraining_tp: 1,
  rms_norm_eps: 1e-5,
  rope_scaling: {
    factor: 8.0,
    low_freq_factor: 1.0,
    high_freq_factor: 4.0,
    original_max_position_embeddings: 8192,
    rope_type: 'llama3',
  },
  rope_theta: 500000.0,
  tie_word_embeddings: false,
  torch_dtype: 'bfloat16',
  transformers_version: '4.42.3',
  use_cache: true,
  vocab_size: 128256,
} as const;

const LLAMA_ARCHS = ['LlamaForCausalLM'];

function isObj(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Parse and validate a Llama config.json (already JSON-parsed, or its text). */
export function parseLlamaConfig(json: unknown, file = 'config.json'): LlamaConfig {
  if (typeof json === 'string') {
    try {
      json = JSON.parse(json);
    } catch (e) {
      throw new Error(`${file}: not valid JSON (${(e as Error).message})`);
    }
  }
  if (!isObj(json)) throw new Error(`${file}: expected a JSON object, got ${Array.isArray(json) ? 'an array' : typeof json}`);
  // transformers ≥ 5 writes `rope_parameters` {rope_theta, rope_type, factor, ...} instead of
  // `rope_theta` + `rope_scaling`: read it as the older pair.
  const rp = json.rope_parameters;
  const j: Record<string, unknown> = isObj(rp) && json.rope_scaling === undefined
    ? { ...json, rope_theta: json.rope_theta ?? rp.rope_theta, rope_scaling: rp.rope_type === 'default' ? null : rp }
    : json;
  const err = (field: string, what: string) => new ConfigError(file, field, what);

  const modelType = j.model_type;
  if (modelType !== undefined && modelType !== 'llama')
    throw err('model_type', `is "${String(modelType)}"; only Llama models (model_type "llama") are supported`);
  const archs = j.architectures;
  if (archs !== undefined) {
    if (!Array.isArray(archs) || archs.length === 0) throw err('architectures', 'must be a non-empty list');
    const bad = archs.filter((a) => !LLAMA_ARCHS.includes(String(a)));
    if (bad.length) throw err('architectures', `is ${JSON.stringify(archs)}; only ${LLAMA_ARCHS.join(', ')} is supported`);
  }
  if (modelType === undefined && archs === undefined)
    throw err('model_type', 'is missing (and so is "architectures"): cannot tell that this is a Llama model');

  const int = (field: string, def?: number): number => {
    const v = j[field];
    if (v === undefined || v === null) {
      if (def !== undefined) return def;
      throw err(field, 'is missing');
    }
    if (typeof v !== 'number' || !Number.isInteger(v) || v <= 0) throw err(field, `must be a positive integer, got ${JSON.stringify(v)}`);
    return v;
  };
  const num = (field: string, def?: number): number => {
    const v = j[field];
    if (v === undefined || v === null) {
      if (def !== undefined) return def;
      throw err(field, 'is missing');
    }
    if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0) throw err(field, `must be a positive number, got ${JSON.stringify(v)}`);
    return v;
  };
  const optId = (field: string): number | null => {
    const v = j[field];
    if (v === undefined || v === null) return null;
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 0) throw err(field, `must be a token id, got ${JSON.stringify(v)}`);
    return v;
  };

  const hiddenSize = int('hidden_size');
  const intermediateSize = int('intermediate_size');
  const numHiddenLayers = int('num_hidden_layers');
  const numAttentionHeads = int('num_attention_heads');
  const numKeyValueHeads = int('num_key_value_heads', numAttentionHeads);
  const vocabSize = int('vocab_size');
  const rmsNormEps = num('rms_norm_eps', 1e-6);
  const ropeTheta = num('rope_theta', 10000);
  const maxPositionEmbeddings = int('max_position_embeddings', 2048);
  const initializerRange = num('initializer_range', 0.02);

  if (hiddenSize % numAttentionHeads !== 0 && j.head_dim == null)
    throw err('hidden_size', `(${hiddenSize}) is not divisible by num_attention_heads (${numAttentionHeads}) and no head_dim is given`);
  const headDim = int('head_dim', hiddenSize / numAttentionHeads);
  if (headDim % 2 !== 0) throw err('head_dim', `(${headDim}) must be even for rotary embeddings`);
  if (numKeyValueHeads > numAttentionHeads || numAttentionHeads % numKeyValueHeads !== 0)
    throw err('num_key_value_heads', `(${numKeyValueHeads}) must divide num_attention_heads (${numAttentionHeads})`);

  for (const [field, want] of [['attention_bias', false], ['mlp_bias', false]] as const) {
    if (j[field] !== undefined && j[field] !== want) throw err(field, `is ${JSON.stringify(j[field])}; only ${want} is supported`);
  }
  if (j.hidden_act !== undefined && j.hidden_act !== 'silu')
    throw err('hidden_act', `is ${JSON.stringify(j.hidden_act)}; only "silu" (SwiGLU) is supported`);
  if (j.pretraining_tp !== undefined && j.pretraining_tp !== 1)
    throw err('pretraining_tp', `is ${JSON.stringify(j.pretraining_tp)}; only 1 is supported`);

  let ropeScaling: Llama3RopeScaling | null = null;
  const rs = j.rope_scaling;
  if (rs !== undefined && rs !== null) {
    if (!isObj(rs)) throw err('rope_scaling', 'must be an object or null');
    const type = rs.rope_type ?? rs.type;
    if (type !== 'llama3') throw err('rope_scaling.rope_type', `is ${JSON.stringify(type)}; only "llama3" (or null) is supported`);
    const rnum = (k: string): number => {
      const v = rs[k];
      if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0) throw err(`rope_scaling.${k}`, `must be a positive number, got ${JSON.stringify(v)}`);
      return v;
    };
    ropeScaling = {
      ropeType: 'llama3',
      factor: rnum('factor'),
      lowFreqFactor: rnum('low_freq_factor'),
      highFreqFactor: rnum('high_freq_factor'),
      originalMaxPositionEmbeddings: rnum('original_max_position_embeddings'),
    };
    if (ropeScaling.highFreqFactor <= ropeScaling.lowFreqFactor)
      throw err('rope_scaling.high_freq_factor', `(${ropeScaling.highFreqFactor}) must exceed low_freq_factor (${ropeScaling.lowFreqFactor})`);
    if (!Number.isInteger(ropeScaling.originalMaxPositionEmbeddings))
      throw err('rope_scaling.original_max_position_embeddings', 'must be an integer');
  }

  const tie = j.tie_word_embeddings ?? false;
  if (typeof tie !== 'boolean') throw err('tie_word_embeddings', `must be true or false, got ${JSON.stringify(tie)}`);

  const bosTokenId = optId('bos_token_id');
  let eosTokenId: number | number[] | null;
  if (Array.isArray(j.eos_token_id)) {
    for (const v of j.eos_token_id)
      if (typeof v !== 'number' || !Number.isInteger(v) || v < 0) throw err('eos_token_id', `must hold token ids, got ${JSON.stringify(j.eos_token_id)}`);
    eosTokenId = j.eos_token_id.slice() as number[];
  } else eosTokenId = optId('eos_token_id');
  for (const id of [bosTokenId, ...(Array.isArray(eosTokenId) ? eosTokenId : [eosTokenId])]) {
    if (id !== null && id >= vocabSize) throw err(id === bosTokenId ? 'bos_token_id' : 'eos_token_id', `(${id}) is outside vocab_size (${vocabSize})`);
  }

  const torchDtype = j.torch_dtype ?? j.dtype ?? 'bfloat16';
  if (typeof torchDtype !== 'string') throw err('torch_dtype', `must be a string, got ${JSON.stringify(torchDtype)}`);

  return {
    hiddenSize, intermediateSize, numHiddenLayers, numAttentionHeads, numKeyValueHeads, headDim,
    vocabSize, rmsNormEps, ropeTheta, ropeScaling, maxPositionEmbeddings, tieWordEmbeddings: tie,
    bosTokenId, eosTokenId, torchDtype, initializerRange, raw: j,
  };
}

/** The real Llama-3.1-8B-Instruct config, parsed. */
export const LLAMA_3_1_8B_CONFIG: LlamaConfig = parseLlamaConfig(LLAMA_3_1_8B_CONFIG_JSON, 'LLAMA_3_1_8B_CONFIG');

/** Shapes [out, in] of one layer's seven linear modules (PEFT names). */
export function linearShapes(cfg: LlamaConfig): Record<LinearModule, [number, number]> {
  const C = cfg.hiddenSize, D = cfg.headDim, F = cfg.intermediateSize;
  return {
    q_proj: [cfg.numAttentionHeads * D, C],
    k_proj: [cfg.numKeyValueHeads * D, C],
    v_proj: [cfg.numKeyValueHeads * D, C],
    o_proj: [C, cfg.numAttentionHeads * D],
    gate_proj: [F, C],
    up_proj: [F, C],
    down_proj: [C, F],
  };
}

export const LINEAR_MODULES = ['q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj'] as const;
export type LinearModule = (typeof LINEAR_MODULES)[number];

/** HF parent of a linear module: self_attn for q/k/v/o, mlp for gate/up/down. */
export function moduleParent(m: LinearModule): 'self_attn' | 'mlp' {
  return m === 'gate_proj' || m === 'up_proj' || m === 'down_proj' ? 'mlp' : 'self_attn';
}

/** Accept short names (q, k, gate…) or PEFT names (q_proj…); returns PEFT names, deduplicated, in canonical order. */
export function normalizeTargets(targets: string[]): LinearModule[] {
  const out = new Set<LinearModule>();
  for (const t0 of targets) {
    const t = t0.trim();
    if (!t) continue;
    if (t === 'all-linear' || t === 'all') {
      LINEAR_MODULES.forEach((m) => out.add(m));
      continue;
    }
    const name = (t.endsWith('_proj') ? t : `${t}_proj`) as LinearModule;
    if (!LINEAR_MODULES.includes(name))
      throw new Error(`unknown LoRA target "${t0}" (known: ${LINEAR_MODULES.join(', ')} or short q,k,v,o,gate,up,down)`);
    out.add(name);
  }
  return LINEAR_MODULES.filter((m) => out.has(m));
}

/** Every weight of an HF Llama checkpoint with its shape, in checkpoint order. */
export function llamaWeightShapes(cfg: LlamaConfig): { name: string; shape: number[] }[] {
  const out: { name: string; shape: number[] }[] = [{ name: 'model.embed_tokens.weight', shape: [cfg.vocabSize, cfg.hiddenSize] }];
  const lin = linearShapes(cfg);
  for (let i = 0; i < cfg.numHiddenLayers; i++) {
    const p = `model.layers.${i}`;
    out.push({ name: `${p}.input_layernorm.weight`, shape: [cfg.hiddenSize] });
    for (const m of LINEAR_MODULES) out.push({ name: `${p}.${moduleParent(m)}.${m}.weight`, shape: lin[m] });
    out.push({ name: `${p}.post_attention_layernorm.weight`, shape: [cfg.hiddenSize] });
  }
  out.push({ name: 'model.norm.weight', shape: [cfg.hiddenSize] });
  if (!cfg.tieWordEmbeddings) out.push({ name: 'lm_head.weight', shape: [cfg.vocabSize, cfg.hiddenSize] });
  return out;
}
