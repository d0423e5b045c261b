// Soak: train the demo model (NF4, real 128,256-token vocabulary) for many optimizer steps with
// a checkpoint every 10 steps into a store that keeps the two newest (as the IndexedDB store
// does) and check that nothing accumulates: GPU bytes allocated through the tensor allocator
// are identical after step 10 and at the end, and the process heap (after a forced GC) grows by
// less than a small margin. Examples are tiny synthetic token sequences so the software GPU
// (lavapipe) finishes 2,000 steps in about two minutes; SOAK_STEPS overrides the step count.
// A browser soak with thousands of steps is too slow for CI on SwiftShader (docs/RELIABILITY.md).

import { describe, expect, it } from 'vitest';
import v8 from 'node:v8';
import vm from 'node:vm';
import { testGpu } from '../../helpers/gpu';
import { demoModelSource } from '../../../src/model/source';
import { DEMO_CONFIG_JSON, demoWeight } from '../../../src/model/demo';
import { llamaWeightShapes, parseLlamaConfig } from '../../../src/model/config';
import { bytesSource, f32ToBf16, SafetensorsFile, writeSafetensors } from '../../../src/model/safetensors';
import { loadWeights } from '../../../src/model/weights';
import { resolveTrainConfig } from '../../../src/train/config';
import { allocTraining } from '../../../src/train/session';
import { train } from '../../../src/train/loop';
import { loadLatestValid, type CheckpointStore } from '../../../src/train/checkpoint';
import type { TokenizedExample } from '../../../src/data/format';
import { Rng } from '../../../src/util/rng';

const STEPS = Number(process.env.SOAK_STEPS ?? 2000);
const VOCAB = 512;
const HEAP_MARGIN = 24 * 2 ** 20; // bytes the heap may grow between step 10 and the end

/** A real GC between measurements: --expose-gc enabled at run time (vitest's forks lack the flag). */
function gcFunction(): (() => void) | null {
  const g = (globalThis as { gc?: () => void }).gc;
  if (g) return g;
  try {
    v8.setFlagsFromString('--expose-gc');
    return vm.runInNewContext('gc') as () => void;
  } catch {
    return null;
  }
}

/** Keeps the `keep` newest checkpoints per run, like idbCheckpointStore (keep = 2). */
function pruningStore(keep = 2): CheckpointStore & { saves: number; steps: () => number[] } {
  const m = new Map<number, { bytes: Uint8Array; sha256: string }>();
  const s = {
    saves: 0,
    steps: () => [...m.keys()].sort((a, b) => b - a),
    async save(_run: string, step: number, bytes: Uint8Array, sha256: string) {
      m.set(step, { bytes: bytes.slice(), sha256 });
      s.saves++;
      for (const old of s.steps().slice(keep)) m.delete(old);
    },
    async list() {
      return s.steps().map((step) => ({ step, load: async () => m.get(step)! }));
    },
  };
  return s;
}

/**
 * The demo model's architecture and generator (C 64, F 172, L 2, H 4, Hkv 1, D 16, llama3 rope)
 * with a 512-token vocabulary: the lm_head and cross-entropy over 128,256 ids dominate a step on
 * the software GPU and have nothing to do with what accumulates from step to step.
 * SOAK_FULL_VOCAB=1 runs the real demo model instead.
 */
async function smallVocabDemo(V: number) {
  const json = { ...DEMO_CONFIG_JSON, vocab_size: V, bos_token_id: 0, eos_token_id: [1] };
  const config = parseLlamaConfig(json, 'soak config.json');
  const bytes = writeSafetensors(llamaWeightShapes(config).map(({ name, shape }) => ({
    name, dtype: 'BF16' as const, shape, data: f32ToBf16(demoWeight(name, shape, 0, config.initializerRange)),
  })));
  return { name: `demo architecture, vocab ${V}`, config, reader: await SafetensorsFile.open(bytesSource(bytes, 'model.safetensors')) };
}

/** Short examples: a 4-token "prompt" (no loss) and a 6..9-token "answer" drawn from 40 ids. */
function examples(n: number, seed: number): TokenizedExample[] {
  const rng = new Rng(seed);
  return Array.from({ length: n }, () => {
    const len = 10 + rng.int(4);
    const ids = Int32Array.from({ length: len }, (_, i) => (i < 4 ? 2 + i : 100 + rng.int(40)));
    const labels = Int32Array.from(ids, (v, i) => (i < 4 ? -100 : v));
    return { ids, labels };
  });
}

describe('soak: many optimizer steps with checkpoints', () => {
  it(`${STEPS} steps, checkpoint every 10: GPU bytes identical after step 10 and at the end, heap flat`, async () => {
    const gc = gcFunction();
    const gpu = await testGpu();
    const src = process.env.SOAK_FULL_VOCAB ? await demoModelSource(0) : await smallVocabDemo(VOCAB);
    const weights = await loadWeights(gpu, src.config, src.reader, { quant: 'nf4' });
    const cfg = resolveTrainConfig({
      r: 4, alpha: 8, dropout: 0.1, lr: 1e-3, seqLen: 16, batchSize: 1, gradAccum: 1, maxSteps: STEPS,
      warmupSteps: 5, evalEvery: 50, evalBatches: 1, earlyStoppingPatience: 0, checkpointEvery: 10, seed: 11,
      targets: ['q_proj', 'v_proj', 'down_proj'],
    });
    const st = allocTraining(gpu, weights, cfg);
    const store = pruningStore(2);
    const data = { train: examples(24, 1), val: examples(2, 2) };

    const at: Record<number, { gpu: number; heap: number; uniforms: number; bindGroups: number }> = {};
    // The context's content-keyed caches: values that change every step (lr, bias corrections,
    // dropout seeds) add entries until a cap, then the cache is cleared: bounded, not a leak.
    const caches = gpu as unknown as { uniforms: Map<string, unknown>; bindGroups: Map<string, unknown> };
    let steps = 0, evals = 0, lastLoss = NaN;
    const t0 = performance.now();
    await train({ gpu, weights, ...st, store, runId: 'soak' }, cfg, data, { pause: false, cancel: false }, (e) => {
      if (e.type === 'step') { steps++; lastLoss = e.loss; }
      if (e.type === 'eval') evals++;
      // Measured after the checkpoint of step 10 and of the last step has been written.
      if (e.type === 'checkpoint' && (e.step === 10 || e.step === STEPS)) {
        gc?.(); gc?.();
        at[e.step] = { gpu: gpu.allocatedBytes, heap: process.memoryUsage().heapUsed, uniforms: caches.uniforms.size, bindGroups: caches.bindGroups.size };
      }
    });
    const secs = (performance.now() - t0) / 1000;
    gc?.();
    console.log(
      `soak: ${STEPS} steps in ${secs.toFixed(1)} s (${((secs / STEPS) * 1000).toFixed(0)} ms/step); gc ${gc ? 'forced' : 'unavailable'}; ` +
        `GPU bytes ${at[10].gpu} → ${at[STEPS].gpu}; heap ${(at[10].heap / 2 ** 20).toFixed(1)} → ${(at[STEPS].heap / 2 ** 20).toFixed(1)} MiB; ` +
        `cached uniforms ${at[10].uniforms} → ${at[STEPS].uniforms}, bind groups ${at[10].bindGroups} → ${at[STEPS].bindGroups}`,
    );
    expect(steps).toBe(STEPS);
    expect(evals).toBe(1 + Math.floor(STEPS / 50) + (STEPS % 50 ? 1 : 0)); // baseline, every 50, the last step
    expect(Number.isFinite(lastLoss)).toBe(true);
    expect(store.saves).toBe(STEPS / 10);
    expect(store.steps()).toEqual([STEPS, STEPS - 10]);
    // GPU: the tensor allocator's count does not move once the run is set up.
    expect(at[STEPS].gpu).toBe(at[10].gpu);
    // Host: after a forced GC the heap grows by less than the margin (4× the margin without gc).
    expect(at[STEPS].heap - at[10].heap).toBeLessThan(gc ? HEAP_MARGIN : 4 * HEAP_MARGIN);
    expect(at[STEPS].uniforms).toBeLessThanOrEqual(8192);
    expect(at[STEPS].bindGroups).toBeLessThanOrEqual(20001);
    // The newest checkpoint is valid and resumable.
    const ck = await loadLatestValid(store, 'soak');
    expect(ck!.meta.position.step).toBe(STEPS);
  }, 600_000);
});
