// The engine refuses a training setting that does not fit, before allocating anything, with
// the plan's numbers and what to change.
import { describe, expect, it } from 'vitest';
import { nodeGpuApi } from '../../src/gpu/core/node';
import { Engine } from '../../src/engine';

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
});
