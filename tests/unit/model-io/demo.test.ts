import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { llamaWeightShapes, parseLlamaConfig } from '../../../src/model/config';
import { buildDemoModel, DEMO_CONFIG } from '../../../src/model/demo';
import { bytesSource, SafetensorsFile } from '../../../src/model/safetensors';

const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

describe('demo model', () => {
  const m = buildDemoModel(1);

  it('has the real Llama 3.1 vocabulary and config fields at tiny dims', () => {
    const cfg = parseLlamaConfig(JSON.parse(new TextDecoder().decode(m.files['config.json'])));
    expect(cfg).toMatchObject({
      vocabSize: 128256, hiddenSize: 64, intermediateSize: 172, numHiddenLayers: 2, numAttentionHeads: 4,
      numKeyValueHeads: 1, headDim: 16, tieWordEmbeddings: false, ropeTheta: 500000, bosTokenId: 128000,
      ropeScaling: { ropeType: 'llama3', factor: 8, lowFreqFactor: 1, highFreqFactor: 4, originalMaxPositionEmbeddings: 8192 },
    });
    expect(cfg.numAttentionHeads / cfg.numKeyValueHeads).toBe(4);
    expect({ ...cfg, raw: null }).toEqual({ ...DEMO_CONFIG, raw: null });
  });

  it('writes every HF tensor in bf16 with HF init (normal std 0.02, norms 1)', async () => {
    const st = await SafetensorsFile.open(bytesSource(m.files['model.safetensors']), 'model.safetensors');
    const want = llamaWeightShapes(DEMO_CONFIG);
    expect(st.names().sort()).toEqual(want.map((w) => w.name).sort());
    expect(st.names()).toContain('model.layers.1.self_attn.k_proj.weight');
    expect(st.names()).toContain('model.layers.0.mlp.down_proj.weight');
    for (const w of want) {
      const info = st.info(w.name);
      expect(info.dtype).toBe('BF16');
      expect(info.shape).toEqual(w.shape);
    }
    expect(st.info('model.layers.0.self_attn.k_proj.weight').shape).toEqual([16, 64]);
    expect(st.info('lm_head.weight').shape).toEqual([128256, 64]);
    const norm = await st.readF32('model.layers.0.input_layernorm.weight');
    expect([...norm].every((v) => v === 1)).toBe(true);
    const emb = await st.readF32('model.embed_tokens.weight');
    let s = 0, s2 = 0;
    for (const v of emb) { s += v; s2 += v * v; }
    const mean = s / emb.length, std = Math.sqrt(s2 / emb.length - mean * mean);
    expect(Math.abs(mean)).toBeLessThan(1e-4);
    expect(std).toBeGreaterThan(0.0199);
    expect(std).toBeLessThan(0.0201);
    const head = await st.readF32('lm_head.weight');
    expect(head.subarray(0, 64)).not.toEqual(emb.subarray(0, 64)); // untied, independent
  });

  it('same seed ⇒ identical bytes; another seed ⇒ different weights', () => {
    const again = buildDemoModel(1);
    for (const f of Object.keys(m.files)) expect(sha(again.files[f])).toBe(sha(m.files[f]));
    const other = buildDemoModel(2);
    expect(sha(other.files['model.safetensors'])).not.toBe(sha(m.files['model.safetensors']));
    expect(sha(other.files['config.json'])).toBe(sha(m.files['config.json']));
    expect(() => buildDemoModel(-1)).toThrow(/seed must be an integer/);
  });
});
