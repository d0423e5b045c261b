// The training loop on the demo model (real Llama 3.1 vocabulary, tiny dims):
// - exact resume: N steps straight and N/2 + checkpoint + resume + N/2 give bit-identical LoRA
//   weights and AdamW moments (same device, same data order, dropout seeds from the step);
// - a damaged newest checkpoint is detected by its checksum and the previous one is used;
// - validation loss falls after a few steps on a small repeated dataset;
// - one step in flight (the default loop) gives the same events and bits as reading every step
//   back first, and a pause between checkpoints stops after the step in flight, resumable exactly.
// Examples are short synthetic token sequences so the software GPU finishes in seconds.

import { describe, expect, it } from 'vitest';
import { testGpu } from '../helpers/gpu';
import { demoModelSource } from '../../src/model/source';
import { loadWeights, type ModelWeights } from '../../src/model/weights';
import { readF32 } from '../../src/gpu/core/tensor';
import { loraModules } from '../../src/model/lora';
import { resolveTrainConfig, type TrainConfig } from '../../src/train/config';
import { allocTraining } from '../../src/train/session';
import { loopSettings, START, train, validationLoss, type TrainEvent } from '../../src/train/loop';
import { loadLatestValid, restoreLora, type CheckpointStore } from '../../src/train/checkpoint';
import type { TokenizedExample } from '../../src/data/format';
import type { Gpu } from '../../src/gpu/core/context';
import { Rng } from '../../src/util/rng';
import { packBatches } from '../../src/data/pack';
import { evalBatch, evalBatches } from '../../src/model/step';

function memoryStore(): CheckpointStore & { entries: Map<number, { bytes: Uint8Array; sha256: string }> } {
  const entries = new Map<number, { bytes: Uint8Array; sha256: string }>();
  return {
    entries,
    async save(_run, step, bytes, sha256) { entries.set(step, { bytes: bytes.slice(), sha256 }); },
    async list() {
      return [...entries.keys()].sort((a, b) => b - a).map((step) => ({ step, load: async () => entries.get(step)! }));
    },
  };
}

/** Short examples: a 6-token "prompt" (no loss) and an 8..14-token "answer" drawn from 40 ids. */
function examples(n: number, seed: number): TokenizedExample[] {
  const rng = new Rng(seed);
  return Array.from({ length: n }, () => {
    const len = 14 + rng.int(7);
    const ids = Int32Array.from({ length: len }, (_, i) => (i < 6 ? 128000 + i : 1000 + rng.int(40)));
    const labels = Int32Array.from(ids, (v, i) => (i < 6 ? -100 : v));
    return { ids, labels };
  });
}

const CFG: Partial<TrainConfig> = {
  r: 4, alpha: 8, dropout: 0.1, lr: 5e-3, seqLen: 64, batchSize: 1, gradAccum: 2, maxSteps: 6,
  warmupSteps: 2, evalEvery: 0, checkpointEvery: 3, seed: 5, weightDecay: 0.01,
};

async function snapshot(gpu: Gpu, st: ReturnType<typeof allocTraining>): Promise<Float32Array[]> {
  const out: Float32Array[] = [];
  for (const [, , m] of loraModules(st.lora)) for (const t of [m.A, m.B, m.mA, m.vA, m.mB, m.vB]) out.push(await readF32(gpu, t));
  return out;
}

let weights: ModelWeights | null = null;
async function demo(gpu: Gpu) {
  if (!weights) { const s = await demoModelSource(0); weights = await loadWeights(gpu, s.config, s.reader, { quant: 'nf4' }); }
  return weights;
}

describe('training loop', () => {
  it('resumes exactly: 6 steps == 3 + checkpoint + resume + 3 (bit for bit)', async () => {
    const gpu = await testGpu();
    const w = await demo(gpu);
    const cfg = resolveTrainConfig(CFG);
    const data = { train: examples(20, 1), val: [] };
    const events: TrainEvent[] = [];

    const straight = allocTraining(gpu, w, cfg);
    await train({ gpu, weights: w, ...straight, store: null, runId: 'a' }, cfg, data, { pause: false, cancel: false }, () => {});
    const want = await snapshot(gpu, straight);

    const store = memoryStore();
    const first = allocTraining(gpu, w, cfg);
    const control = { pause: false, cancel: false };
    const pos = await train({ gpu, weights: w, ...first, store, runId: 'b' }, cfg, data, control, (e) => {
      events.push(e);
      if (e.type === 'step' && e.step === 3) control.pause = true;
    });
    expect(pos.step).toBe(3);
    expect(events.at(-1)).toEqual({ type: 'done', reason: 'paused', step: 3 });

    const ck = await loadLatestValid(store, 'b');
    expect(ck!.meta.position.step).toBe(3);
    const second = allocTraining(gpu, w, ck!.meta.config); // fresh state, as after a reload
    await restoreLora(gpu, second.lora, ck!.file);
    const end = await train({ gpu, weights: w, ...second, store, runId: 'b' }, ck!.meta.config, data, { pause: false, cancel: false }, () => {}, ck!.meta.position);
    expect(end.step).toBe(6);
    const got = await snapshot(gpu, second);
    got.forEach((t, i) => expect(Buffer.from(t.buffer).equals(Buffer.from(want[i].buffer))).toBe(true));
  });

  it('one step in flight: same losses, grad norms and bits as the read-back-every-step loop; a pause between checkpoints stops after the step in flight', async () => {
    const gpu = await testGpu();
    const w = await demo(gpu);
    const cfg = resolveTrainConfig({ ...CFG, maxSteps: 5, checkpointEvery: 100 });
    const data = { train: examples(20, 3), val: [] };
    const run = async (pipeline: boolean) => {
      const st = allocTraining(gpu, w, cfg);
      const steps: TrainEvent[] = [];
      loopSettings.pipeline = pipeline;
      try {
        await train({ gpu, weights: w, ...st, store: null, runId: `p${pipeline}` }, cfg, data, { pause: false, cancel: false }, (e) => { if (e.type === 'step') steps.push(e); });
      } finally { loopSettings.pipeline = true; }
      const norm = (e: TrainEvent) => (e.type === 'step' ? [e.step, e.epoch, e.loss, e.lr, e.gradNorm, e.tokensSeen] : []);
      return { steps: steps.map(norm), bits: await snapshot(gpu, st) };
    };
    const serial = await run(false), piped = await run(true);
    expect(serial.steps.map((s) => s[0])).toEqual([1, 2, 3, 4, 5]);
    expect(piped.steps).toEqual(serial.steps);
    piped.bits.forEach((t, i) => expect(Buffer.from(t.buffer).equals(Buffer.from(serial.bits[i].buffer))).toBe(true));

    // Pause asked while step 2 is reported: step 3 is already on the GPU, so the run stops after it.
    const store = memoryStore();
    const st = allocTraining(gpu, w, cfg);
    const control = { pause: false, cancel: false };
    const events: TrainEvent[] = [];
    await train({ gpu, weights: w, ...st, store, runId: 'q' }, cfg, data, control, (e) => {
      events.push(e);
      if (e.type === 'step' && e.step === 2) control.pause = true;
    });
    expect(events.filter((e) => e.type === 'step').map((e) => e.step)).toEqual([1, 2, 3]);
    expect(events.at(-1)).toEqual({ type: 'done', reason: 'paused', step: 3 });
    const ck = await loadLatestValid(store, 'q');
    expect(ck!.meta.position.step).toBe(3);
    const again = allocTraining(gpu, w, ck!.meta.config);
    await restoreLora(gpu, again.lora, ck!.file);
    const end = await train({ gpu, weights: w, ...again, store, runId: 'q' }, ck!.meta.config, data, { pause: false, cancel: false }, () => {}, ck!.meta.position);
    expect(end.step).toBe(5);
    const got = await snapshot(gpu, again);
    got.forEach((t, i) => expect(Buffer.from(t.buffer).equals(Buffer.from(serial.bits[i].buffer))).toBe(true));
  });

  it('evaluation with one batch in flight gives the same per-batch losses as awaiting each batch', async () => {
    const gpu = await testGpu();
    const w = await demo(gpu);
    const cfg = resolveTrainConfig({ ...CFG, seqLen: 32 });
    const st = allocTraining(gpu, w, cfg);
    const batches = packBatches(examples(9, 4), { maxTokens: 32, seed: 0 }).batches;
    expect(batches.length).toBeGreaterThanOrEqual(3);
    const awaited = [];
    for (const b of batches) awaited.push(await evalBatch(gpu, w, st.lora, st.acts, b));
    const inFlight = [];
    for await (const r of evalBatches(gpu, w, st.lora, st.acts, batches)) inFlight.push(r);
    expect(inFlight).toEqual(awaited);
    expect(awaited.every((r) => r.count > 0 && Number.isFinite(r.nllSum))).toBe(true);
  });

  it('recomputation on or off gives the same bits (the shared xn1/xn2/h are rebuilt exactly)', async () => {
    const gpu = await testGpu();
    const w = await demo(gpu);
    const data = { train: examples(8, 4), val: [] };
    const run = async (recompute: boolean) => {
      const cfg = resolveTrainConfig({ ...CFG, maxSteps: 2, recompute });
      const st = allocTraining(gpu, w, cfg);
      expect(st.acts.recompute).toBe(recompute);
      await train({ gpu, weights: w, ...st, store: null, runId: `r${recompute}` }, cfg, data, { pause: false, cancel: false }, () => {});
      return snapshot(gpu, st);
    };
    const lean = await run(false), recomputed = await run(true);
    expect(lean.some((t) => t.some((x) => x !== 0))).toBe(true);
    lean.forEach((t, i) => expect(Buffer.from(t.buffer).equals(Buffer.from(recomputed[i].buffer))).toBe(true));
  });

  it('skips a damaged checkpoint and loads the previous one', async () => {
    const gpu = await testGpu();
    const w = await demo(gpu);
    const cfg = resolveTrainConfig({ ...CFG, maxSteps: 4, checkpointEvery: 2 });
    const store = memoryStore();
    const st = allocTraining(gpu, w, cfg);
    await train({ gpu, weights: w, ...st, store, runId: 'c' }, cfg, { train: examples(10, 2), val: [] }, { pause: false, cancel: false }, () => {});
    expect([...store.entries.keys()].sort()).toEqual([2, 4]);
    store.entries.get(4)!.bytes[100] ^= 0xff; // flip bits in the newest checkpoint
    const skipped: number[] = [];
    const ck = await loadLatestValid(store, 'c', (s) => skipped.push(s));
    expect(skipped).toEqual([4]);
    expect(ck!.meta.position.step).toBe(2);
  });

  it('validation loss falls', async () => {
    const gpu = await testGpu();
    const w = await demo(gpu);
    const cfg = resolveTrainConfig({ ...CFG, dropout: 0, maxSteps: 8, gradAccum: 1, lr: 3e-2, r: 16, alpha: 32 });
    const data = { train: examples(12, 3), val: examples(4, 3) };
    const st = allocTraining(gpu, w, cfg);
    const ctx = { gpu, weights: w, ...st, store: null, runId: 'd' };
    const before = (await validationLoss(ctx, cfg, data.val))!;
    const losses: number[] = [];
    await train(ctx, cfg, data, { pause: false, cancel: false }, (e) => { if (e.type === 'step') losses.push(e.loss); }, START);
    const after = (await validationLoss(ctx, cfg, data.val))!;
    expect(losses).toHaveLength(8);
    console.log(`val loss ${before.toFixed(4)} -> ${after.toFixed(4)}; train losses ${losses.map((x) => x.toFixed(3)).join(" ")}`);
    expect(after).toBeLessThan(before - 0.1);
  });
});
