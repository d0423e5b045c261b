// Greedy generation with a KV cache equals Hugging Face `generate` (greedy, float64) token for
// token: the golden tiny model with its LoRA, 3 prompts × 24 new tokens
// (tests/golden/make_golden.py). Also: adapter off gives different tokens (base model),
// sampling is reproducible from a seed, and cancel stops the stream.

import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { testGpu } from '../helpers/gpu';
import { loadGolden, goldenLoraHost } from '../helpers/golden';
import { allocActivations } from '../../src/model/activations';
import { allocLora, setLoraWeights } from '../../src/model/lora';
import { loadWeights, modelDims } from '../../src/model/weights';
import { parseTargets } from '../../src/model/modules';
import { allocKvCache, generate } from '../../src/chat/generate';
import { GREEDY } from '../../src/chat/sampling';

const DIR = 'tests/golden/tiny';
const golden = JSON.parse(readFileSync(`${DIR}/golden.json`, 'utf8'));

async function setup(maxT: number) {
  const gpu = await testGpu();
  const g = await loadGolden(DIR);
  const w = await loadWeights(gpu, g.cfg, g.model, { quant: 'w16' });
  const host = await goldenLoraHost(g, DIR);
  const targets = parseTargets(host.targets);
  const lora = allocLora(gpu, modelDims(g.cfg), { r: host.r, alpha: host.alpha, dropout: 0, targets });
  setLoraWeights(gpu, lora, host);
  const acts = allocActivations(gpu, w.dims, maxT, 4, host.r, targets, false);
  const kv = allocKvCache(gpu, w, 64);
  return { gpu, w, lora, acts, kv };
}

async function collect(it: AsyncGenerator<number>): Promise<number[]> {
  const out: number[] = [];
  for await (const t of it) out.push(t);
  return out;
}

describe('generation with a KV cache', () => {
  it('greedy output equals transformers generate for 3 prompts × 24 tokens', async () => {
    const { gpu, w, lora, acts, kv } = await setup(16);
    for (const g of golden.generate) {
      const out = await collect(generate(gpu, w, lora, acts, kv, g.prompt, { ...GREEDY, maxNewTokens: 24, stopIds: [], seed: 0 }));
      expect(out).toEqual(g.output);
    }
  });

  it('prefill in chunks smaller than the prompt gives the same tokens', async () => {
    const { gpu, w, lora, acts, kv } = await setup(4);
    const g = golden.generate[2]; // 9-token prompt: chunks of 4, 4, 1
    const out = await collect(generate(gpu, w, lora, acts, kv, g.prompt, { ...GREEDY, maxNewTokens: 24, stopIds: [], seed: 0 }));
    expect(out).toEqual(g.output);
  });

  it('adapter off, seeded sampling, stop ids and cancel', async () => {
    const { gpu, w, lora, acts, kv } = await setup(16);
    const g = golden.generate[0];
    const base = await collect(generate(gpu, w, null, acts, kv, g.prompt, { ...GREEDY, maxNewTokens: 24, stopIds: [], seed: 0 }));
    expect(base).not.toEqual(g.output);
    const opts = { temperature: 0.9, topK: 50, topP: 0.9, repetitionPenalty: 1.1, maxNewTokens: 12, stopIds: [], seed: 7 };
    const a = await collect(generate(gpu, w, lora, acts, kv, g.prompt, opts));
    const b = await collect(generate(gpu, w, lora, acts, kv, g.prompt, opts));
    expect(a).toEqual(b);
    const stopped = await collect(generate(gpu, w, lora, acts, kv, g.prompt, { ...GREEDY, maxNewTokens: 24, stopIds: [g.output[3]], seed: 0 }));
    expect(stopped).toEqual(g.output.slice(0, g.output.indexOf(g.output[3]) + 1));
    const control = { cancel: false };
    const got: number[] = [];
    for await (const t of generate(gpu, w, lora, acts, kv, g.prompt, { ...GREEDY, maxNewTokens: 24, stopIds: [], seed: 0, control })) {
      got.push(t);
      if (got.length === 5) control.cancel = true;
    }
    expect(got).toEqual(g.output.slice(0, 5));
  });
});
