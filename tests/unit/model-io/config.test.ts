import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  LLAMA_3_1_8B_CONFIG, LLAMA_3_1_8B_CONFIG_JSON, linearShapes, llamaWeightShapes, normalizeTargets, parseLlamaConfig,
} from '../../../src/model/config';

const fixture = readFileSync(new URL('../../fixtures/llama-3.1-8b/config.json', import.meta.url), 'utf8');
const base = () => JSON.parse(fixture) as Record<string, unknown>;

describe('parseLlamaConfig', () => {
  it('reads the real Llama-3.1-8B-Instruct config.json', () => {
    const c = parseLlamaConfig(fixture);
    expect(c).toMatchObject({
      hiddenSize: 4096, intermediateSize: 14336, numHiddenLayers: 32, numAttentionHeads: 32, numKeyValueHeads: 8,
      headDim: 128, vocabSize: 128256, rmsNormEps: 1e-5, ropeTheta: 500000, maxPositionEmbeddings: 131072,
      tieWordEmbeddings: false, bosTokenId: 128000, eosTokenId: [128001, 128008, 128009], torchDtype: 'bfloat16',
      ropeScaling: { ropeType: 'llama3', factor: 8, lowFreqFactor: 1, highFreqFactor: 4, originalMaxPositionEmbeddings: 8192 },
    });
    expect(c.raw.transformers_version).toBe('4.42.3');
    // the built-in constant is the same file
    expect(JSON.parse(fixture)).toEqual(JSON.parse(JSON.stringify(LLAMA_3_1_8B_CONFIG_JSON)));
    expect({ ...LLAMA_3_1_8B_CONFIG, raw: null }).toEqual({ ...c, raw: null });
  });

  it('derives head_dim, defaults kv heads, accepts a scalar eos and null rope_scaling', () => {
    const j = base();
    delete j.num_key_value_heads;
    j.eos_token_id = 128009;
    j.rope_scaling = null;
    const c = parseLlamaConfig(j);
    expect(c.numKeyValueHeads).toBe(32);
    expect(c.headDim).toBe(128);
    expect(c.eosTokenId).toBe(128009);
    expect(c.ropeScaling).toBeNull();
  });

  it('refuses other architectures naming the file and field', () => {
    const j = base();
    j.model_type = 'mistral';
    expect(() => parseLlamaConfig(j, 'my/config.json')).toThrow(/my\/config\.json: "model_type" is "mistral"/);
    const k = base();
    k.architectures = ['Qwen2ForCausalLM'];
    expect(() => parseLlamaConfig(k)).toThrow(/config\.json: "architectures".*Qwen2ForCausalLM/);
    expect(() => parseLlamaConfig({ hidden_size: 8 })).toThrow(/cannot tell that this is a Llama model/);
  });

  it('refuses inconsistent or malformed numbers', () => {
    const cases: [Record<string, unknown>, RegExp][] = [
      [{ num_key_value_heads: 5 }, /"num_key_value_heads" \(5\) must divide num_attention_heads \(32\)/],
      [{ hidden_size: 4001 }, /"hidden_size" \(4001\) is not divisible by num_attention_heads/],
      [{ hidden_size: -1 }, /"hidden_size" must be a positive integer/],
      [{ vocab_size: '128256' }, /"vocab_size" must be a positive integer/],
      [{ intermediate_size: undefined }, /"intermediate_size" is missing/],
      [{ bos_token_id: 200000 }, /"bos_token_id" \(200000\) is outside vocab_size/],
      [{ rope_scaling: { rope_type: 'yarn', factor: 4 } }, /"rope_scaling.rope_type" is "yarn"/],
      [{ rope_scaling: { rope_type: 'llama3', factor: 8, low_freq_factor: 4, high_freq_factor: 1, original_max_position_embeddings: 8192 } }, /high_freq_factor/],
      [{ hidden_act: 'gelu' }, /"hidden_act"/],
      [{ attention_bias: true }, /"attention_bias"/],
      [{ head_dim: 15 }, /"head_dim" \(15\) must be even/],
    ];
    for (const [patch, re] of cases) expect(() => parseLlamaConfig({ ...base(), ...patch }), String(re)).toThrow(re);
    expect(() => parseLlamaConfig('{nope', 'x.json')).toThrow(/x\.json: not valid JSON/);
    expect(() => parseLlamaConfig([1])).toThrow(/expected a JSON object/);
  });

  it('gives linear shapes, the weight list and normalized targets', () => {
    const s = linearShapes(LLAMA_3_1_8B_CONFIG);
    expect(s.q_proj).toEqual([4096, 4096]);
    expect(s.k_proj).toEqual([1024, 4096]);
    expect(s.down_proj).toEqual([4096, 14336]);
    const w = llamaWeightShapes(LLAMA_3_1_8B_CONFIG);
    expect(w.length).toBe(1 + 32 * 9 + 2);
    const params = w.reduce((a, t) => a + t.shape.reduce((x, y) => x * y, 1), 0);
    expect(params).toBe(8030261248); // Llama-3.1-8B's parameter count
    expect(normalizeTargets(['up', 'q', 'q_proj', 'down'])).toEqual(['q_proj', 'up_proj', 'down_proj']);
    expect(() => normalizeTargets(['lm_head'])).toThrow(/unknown LoRA target "lm_head"/);
  });
});
