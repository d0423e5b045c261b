// The PEFT round trip's Node half, shared by the fixture writer and the CI test that checks the
// committed adapter is exactly what the exporter writes today.

import { readFileSync } from 'node:fs';
import type { Gpu } from '../../src/gpu/core/context';
import { allocActivations } from '../../src/model/activations';
import { allocLora, readLoraWeights, setLoraWeights } from '../../src/model/lora';
import { loadWeights, modelDims } from '../../src/model/weights';
import { parseTargets } from '../../src/model/modules';
import { createOptimizerState, evalBatch, optimizerStep, trainMicroStep } from '../../src/model/step';
import { logitsOf } from '../../src/model/loss';
import { exportPeftFiles } from '../../src/export/peft';
import { writeSafetensors } from '../../src/model/safetensors';
import { goldenLoraHost, loadGolden, packGolden } from './golden';

const DIR = 'tests/golden/tiny';

export async function exportRoundtrip(gpu: Gpu): Promise<{ files: Record<string, Uint8Array>; logits: Uint8Array }> {
  const golden = JSON.parse(readFileSync(`${DIR}/golden.json`, 'utf8'));
  const g = await loadGolden(DIR);
  const w = await loadWeights(gpu, g.cfg, g.model, { quant: 'w16' });
  const host = await goldenLoraHost(g, DIR);
  const lora = allocLora(gpu, modelDims(g.cfg), { r: host.r, alpha: host.alpha, dropout: 0, targets: parseTargets(host.targets) });
  setLoraWeights(gpu, lora, host);
  const acts = allocActivations(gpu, w.dims, 32, 32, host.r, lora.targets, false);
  const batch = await packGolden(g);
  const opt = createOptimizerState(gpu);
  for (let s = 1; s <= 3; s++) {
    await trainMicroStep(gpu, w, lora, acts, batch, { seed: s });
    await optimizerStep(gpu, lora, opt, { lr: 1e-2, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.01, maxGradNorm: 1 }, s)();
  }
  const files = exportPeftFiles(await readLoraWeights(gpu, lora), { config: g.cfg, baseModelNameOrPath: 'tiny' });
  await evalBatch(gpu, w, lora, acts, batch);
  const tensors = [];
  let row = 0;
  for (let b = 0; b < golden.lengths.length; b++) {
    const n = golden.lengths[b];
    tensors.push({ name: `logits.${b}`, dtype: 'F32' as const, shape: [n, g.cfg.vocabSize], data: (await logitsOf(gpu, w, acts, row, n)).slice() });
    row += n;
  }
  return { files, logits: writeSafetensors(tensors) };
}
