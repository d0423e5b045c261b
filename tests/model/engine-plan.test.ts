// The engine refuses a training setting that does not fit, before allocating anything, with
// the plan's numbers and what to change.
import { describe, expect, it } from 'vitest';
import { nodeGpuApi } from '../../src/gpu/core/node';
import { Engine } from '../../src/engine';
import { openModel } from '../../src/model/source.node';
import { demoModelSource } from '../../src/model/source';

const CSV = 'Topics,Question-Title,Questions,Answers\nএকাকীত্ব,একা,আমি একা,আপনি একা নন।\nউদ্বেগ,ভয়,আমি ভয় পাই,ভয় স্বাভাবিক।';

describe('memory plan before allocation', () => {
  it('refuses a run over the budget with numbers and fixes, allocating nothing', async () => {
    const engine = await Engine.create(await nodeGpuApi());
    await engine.loadDemoModel();
    await engine.prepareData(CSV, { maxTokens: 512 });
    const plan = engine.memoryPlan({ seqLen: 256 });
    expect(plan.totalBytes).toBeGreaterThan(0);
    engine.setMemoryBudget(plan.totalBytes / 2);
    const before = engine.gpuMemoryBytes();
    await expect(engine.train({ seqLen: 256, maxSteps: 1 }, () => {})).rejects.toThrow(/GiB|MiB/);
    expect(engine.gpuMemoryBytes()).toBe(before);
  });

  it('refuses a model whose vocabulary is smaller than the tokenizer, naming both files', async () => {
    const engine = await Engine.create(await nodeGpuApi());
    const tiny = await openModel('tests/golden/tiny'); // vocab_size 512
    await expect(engine.loadModel(tiny, 'w16')).rejects.toThrow(/tokenizer\.json .*128256.*config\.json's vocab_size is 512/);
  });
});

describe('unloading', () => {
  it('loading a model twice does not double GPU memory (old buffers are destroyed)', async () => {
    const engine = await Engine.create(await nodeGpuApi());
    await engine.loadDemoModel();
    const once = engine.gpuMemoryBytes();
    await engine.loadDemoModel();
    expect(engine.gpuMemoryBytes()).toBe(once);
    const r = await engine.chat([{ role: 'user', content: 'হ্যালো' }], { maxNewTokens: 2, temperature: 0, topK: 0, topP: 1, repetitionPenalty: 1, seed: 0, useAdapter: false }, () => {});
    expect(r.tokens).toBeGreaterThan(0);
  });
});

describe('a load that fails half-way', () => {
  it('frees what it had allocated', async () => {
    const engine = await Engine.create(await nodeGpuApi());
    const before = engine.gpuMemoryBytes();
    const demo = await demoModelSource(0);
    let reads = 0;
    const broken = { ...demo, reader: { names: () => demo.reader.names(), read: async (n: string) => {
      if (++reads === 8) throw new Error('model.safetensors: short read (file truncated?)');
      return demo.reader.read(n);
    } } };
    await expect(engine.loadModel(broken, 'nf4')).rejects.toThrow(/truncated/);
    // Only the ops' device-lifetime scratch (a few bytes of placeholder buffers) may remain.
    expect(engine.gpuMemoryBytes() - before).toBeLessThan(1024);
  });
});
