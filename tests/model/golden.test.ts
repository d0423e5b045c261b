// The whole model against transformers + peft (tests/golden/make_golden.py, float64):
// logits, loss, every LoRA gradient and the LoRA weights after 3 AdamW steps, on the exact
// 16-bit path (the golden weights are bf16-representable, so nothing is rounded).
// Tolerance 1e-4 relative to the largest reference magnitude: f32 accumulation over K ≤ 172
// and two layers keeps errors near 1e-6; 1e-4 leaves room for the software GPU's exp/rsqrt.

import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { testGpu } from '../helpers/gpu';
import { expectClose } from '../helpers/compare';
import { loadGolden, packGolden, goldenLoraHost } from '../helpers/golden';
import { allocActivations } from '../../src/model/activations';
import { allocLora, loraModules, readLoraWeights, setLoraWeights } from '../../src/model/lora';
import { loadWeights, modelDims } from '../../src/model/weights';
import { evalBatch, trainMicroStep, createOptimizerState, optimizerStep } from '../../src/model/step';
import { logitsOf } from '../../src/model/loss';
import { readF32 } from '../../src/gpu/core/tensor';
import { moduleKey, parseTargets } from '../../src/model/modules';

const DIR = 'tests/golden/tiny';
const golden = JSON.parse(readFileSync(`${DIR}/golden.json`, 'utf8'));

async function setup() {
  const gpu = await testGpu();
  const g = await loadGolden(DIR);
  const w = await loadWeights(gpu, g.cfg, g.model, { quant: 'w16' });
  const host = await goldenLoraHost(g, DIR);
  const lora = allocLora(gpu, modelDims(g.cfg), { r: host.r, alpha: host.alpha, dropout: 0, targets: parseTargets(host.targets) });
  setLoraWeights(gpu, lora, host);
  const batch = await packGolden(g);
  const acts = allocActivations(gpu, w.dims, 32, 32, host.r, lora.targets, false);
  return { gpu, g, w, lora, acts, batch };
}

describe('Llama + LoRA vs transformers/peft (unquantized path)', () => {
  it('logits and loss match', async () => {
    const { gpu, g, w, lora, acts, batch } = await setup();
    const r = await evalBatch(gpu, w, lora, acts, batch);
    expect(Math.abs(r.nllSum / r.count - golden.loss) / golden.loss).toBeLessThan(1e-4);
    let row = 0;
    for (let b = 0; b < golden.lengths.length; b++) {
      const n = golden.lengths[b];
      const got = await logitsOf(gpu, w, acts, row, n);
      expectClose(got, (await g.golden.readF32(`logits.${b}`)), 1e-4, `logits of sequence ${b}`);
      row += n;
    }
  });

  it('every LoRA gradient matches', async () => {
    const { gpu, g, w, lora, acts, batch } = await setup();
    const r = await trainMicroStep(gpu, w, lora, acts, batch, { seed: 1 });
    expect(Math.abs(r.nllSum / r.count - golden.loss) / golden.loss).toBeLessThan(1e-4);
    for (const [l, t, m] of loraModules(lora)) {
      const key = `base_model.model.${moduleKey(l, t)}`;
      expectClose(await readF32(gpu, m.dA), await g.golden.readF32(`grad.${key}.lora_A.weight`), 1e-4, `${key} dA`);
      expectClose(await readF32(gpu, m.dB), await g.golden.readF32(`grad.${key}.lora_B.weight`), 1e-4, `${key} dB`);
    }
  });

  it('three AdamW steps with clipping give the same LoRA weights', async () => {
    const { gpu, g, w, lora, acts, batch } = await setup();
    const a = golden.adamw;
    const opt = createOptimizerState(gpu);
    const losses: number[] = [];
    for (let s = 1; s <= a.steps; s++) {
      const r = await trainMicroStep(gpu, w, lora, acts, batch, { seed: s });
      losses.push(r.nllSum / r.count);
      const norm = await optimizerStep(gpu, lora, opt, {
        lr: a.lr, beta1: a.betas[0], beta2: a.betas[1], eps: a.eps, weightDecay: a.weight_decay, maxGradNorm: a.max_grad_norm,
      }, s)();
      expect(Math.abs(norm - golden.adamw_grad_norms[s - 1]) / golden.adamw_grad_norms[s - 1]).toBeLessThan(1e-4);
    }
    losses.forEach((x, i) => expect(Math.abs(x - golden.adamw_losses[i]) / golden.adamw_losses[i]).toBeLessThan(1e-4));
    const host = await readLoraWeights(gpu, lora);
    for (const [l, t] of loraModules(lora)) {
      const key = `base_model.model.${moduleKey(l, t)}`;
      expectClose(host.layers[l][t]!.A, await g.golden.readF32(`adamw.${key}.lora_A.weight`), 1e-4, `${key} A`);
      expectClose(host.layers[l][t]!.B, await g.golden.readF32(`adamw.${key}.lora_B.weight`), 1e-4, `${key} B`);
    }
  });
});
