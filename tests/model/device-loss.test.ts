// GPU device loss during training (simulated by destroying the device mid-run): the engine
// acquires a new device, reloads the model and resumes from the newest checkpoint; the run
// ends with exactly the LoRA weights of an uninterrupted run.

import { describe, expect, it } from 'vitest';
import { nodeGpuApi } from '../../src/gpu/core/node';
import { Engine, type RecoveryEvent } from '../../src/engine';
import type { TrainEvent } from '../../src/train/loop';
import type { CheckpointStore } from '../../src/train/checkpoint';

const CSV = ['Topics,Question-Title,Questions,Answers',
  ...Array.from({ length: 14 }, (_, i) => `উদ্বেগ,প্রশ্ন ${i},আমি চিন্তিত ${i},আপনার কষ্ট বুঝতে পারছি। ধীরে শ্বাস নিন ${i}।`)].join('\n');

function memoryStore(): CheckpointStore {
  const m = new Map<string, { bytes: Uint8Array; sha256: string }>();
  return {
    async save(run, step, bytes, sha256) { m.set(`${run}:${step}`, { bytes: bytes.slice(), sha256 }); },
    async list(run) {
      return [...m.keys()].filter((k) => k.startsWith(`${run}:`)).map((k) => Number(k.split(':')[1])).sort((a, b) => b - a)
        .map((step) => ({ step, load: async () => m.get(`${run}:${step}`)! }));
    },
  };
}

const CFG = { r: 4, alpha: 8, dropout: 0, lr: 1e-2, seqLen: 256, gradAccum: 1, maxSteps: 5, warmupSteps: 1, evalEvery: 0, checkpointEvery: 2, seed: 3, targets: ['q_proj', 'v_proj'] };

async function engineWithData() {
  const engine = await Engine.create(await nodeGpuApi(), { store: memoryStore() });
  await engine.loadDemoModel();
  await engine.prepareData(CSV, { seed: 3, maxTokens: 256 });
  return engine;
}

describe('device loss during training', () => {
  it('recovers on a new device and resumes from the last checkpoint with identical results', async () => {
    const ref = await engineWithData();
    await ref.train(CFG, () => {}, 'r');
    const want = await ref.exportPeft();

    const engine = await engineWithData();
    const events: (TrainEvent | RecoveryEvent)[] = [];
    const first = engine.gpu;
    const pos = await engine.train(CFG, (e) => {
      events.push(e);
      if (e.type === 'step' && e.step === 3 && engine.gpu === first) first.device.destroy();
    }, 'r');
    expect(engine.gpu).not.toBe(first);
    const rec = events.find((e) => e.type === 'recovered') as RecoveryEvent;
    expect(rec.resumedAtStep).toBe(2);
    expect(rec.reason).toMatch(/lost/i);
    expect(pos.step).toBe(5);
    expect(Buffer.from(await engine.exportPeft()).equals(Buffer.from(want))).toBe(true);
  });

  it('during loading, evaluation and generation: recovers; load and evaluation retry, chat reports it', async () => {
    const engine = await Engine.create(await nodeGpuApi(), { store: memoryStore() });
    let first = engine.gpu;
    await engine.loadDemoModel((p) => { if (p.tensors === 3 && engine.gpu === first) first.device.destroy(); });
    expect(engine.gpu).not.toBe(first);
    await engine.prepareData(CSV, { seed: 3, maxTokens: 256 });

    first = engine.gpu;
    const r = await engine.evaluate({ split: 'test', useAdapter: false, samples: 1, maxNewTokens: 2 }, () => { if (engine.gpu === first) first.device.destroy(); });
    expect(engine.gpu).not.toBe(first);
    expect(Number.isFinite(r.perplexity.perplexity)).toBe(true);

    first = engine.gpu;
    const opts = { maxNewTokens: 4, temperature: 0, topK: 0, topP: 1, repetitionPenalty: 1, seed: 0, useAdapter: false };
    const msgs = [{ role: 'user' as const, content: 'আমি একা' }];
    await expect(engine.chat(msgs, opts, () => { if (engine.gpu === first) first.device.destroy(); })).rejects.toThrow(/GPU was reset during generation/);
    expect(engine.gpu).not.toBe(first);
    const again = await engine.chat(msgs, opts, () => {});
    expect(again.tokens).toBeGreaterThan(0);
  });
});
