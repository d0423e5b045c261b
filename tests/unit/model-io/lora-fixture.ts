// Seeded random LoRA weights for the export tests (A [r, in], B [out, r] per target per layer).
import { linearShapes, normalizeTargets, type LlamaConfig } from '../../../src/model/config';
import type { LoraHostWeights } from '../../../src/export/peft';
import { Rng } from '../../../src/util/rng';

export function randomLora(cfg: LlamaConfig, r: number, targets: string[], seed: number): LoraHostWeights {
  const rng = new Rng(seed);
  const shapes = linearShapes(cfg);
  const t = normalizeTargets(targets);
  return {
    r, alpha: 2 * r, dropout: 0.05, targets: t,
    layers: Array.from({ length: cfg.numHiddenLayers }, () =>
      Object.fromEntries(t.map((m) => {
        const [outF, inF] = shapes[m];
        return [m, { A: rng.floats(r * inF), B: rng.floats(outF * r), inF, outF }];
      }))),
  };
}
