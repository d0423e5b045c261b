// LoRA parameters on the GPU: for each layer and target module, A [r, in] and B [out, r]
// (PEFT names and shapes) as f32 master weights, their gradients and AdamW moments.
// Initialisation as PEFT's default: A Kaiming-uniform (a=√5 ⇒ U(±1/√in)), B zero.

import type { Gpu } from '../gpu/core/context';
import { createTensor, readF32, writeTensor, type Tensor } from '../gpu/core/tensor';
import { fill } from '../gpu/ops/elementwise';
import { Rng } from '../util/rng';
import type { ModelDims } from './activations';
import { projShape, type Target } from './modules';
import type { LoraHostWeights } from '../export/peft';

export interface LoraModule {
  inF: number;
  outF: number;
  A: Tensor; // [r, in]
  B: Tensor; // [out, r]
  dA: Tensor; // [r, in] accumulated over micro-batches
  dB: Tensor; // [out, r]
  mA: Tensor; vA: Tensor; // AdamW moments of A, [r, in]
  mB: Tensor; vB: Tensor; // AdamW moments of B, [out, r]
}

export interface LoraSettings {
  r: number;
  alpha: number;
  dropout: number;
  targets: Target[];
}

export interface LoraState extends LoraSettings {
  scale: number; // alpha / r
  layers: Partial<Record<Target, LoraModule>>[]; // [L]
}

/** Host copy of the adapter (export, checkpoints, import): PEFT's layout, see export/peft.ts. */
export type LoraHost = LoraHostWeights;

/** in/out features of a module's LoRA (A [r, in], B [out, r]). */
export function moduleShape(d: ModelDims, t: Target): { inF: number; outF: number } {
  const [outF, inF] = projShape(d, t);
  return { inF, outF };
}

export function allocLora(gpu: Gpu, d: ModelDims, s: LoraSettings): LoraState {
  const layers: LoraState['layers'] = [];
  for (let l = 0; l < d.L; l++) {
    const mods: Partial<Record<Target, LoraModule>> = {};
    for (const t of s.targets) {
      const { inF, outF } = moduleShape(d, t);
      const ten = (shape: number[], what: string) => createTensor(gpu, shape, 'f32', `L${l}.${t}.${what}`);
      mods[t] = {
        inF, outF,
        A: ten([s.r, inF], 'A'), B: ten([outF, s.r], 'B'),
        dA: ten([s.r, inF], 'dA'), dB: ten([outF, s.r], 'dB'),
        mA: ten([s.r, inF], 'mA'), vA: ten([s.r, inF], 'vA'),
        mB: ten([outF, s.r], 'mB'), vB: ten([outF, s.r], 'vB'),
      };
    }
    layers.push(mods);
  }
  return { ...s, scale: s.alpha / s.r, layers };
}

export function* loraModules(st: LoraState): Generator<[number, Target, LoraModule]> {
  for (let l = 0; l < st.layers.length; l++)
    for (const t of st.targets) yield [l, t, st.layers[l][t]!];
}

/** PEFT default init from a seed: A ~ U(±1/√in), B = 0; moments zeroed. */
export function initLora(gpu: Gpu, st: LoraState, seed: number): void {
  const rng = new Rng(seed);
  for (const [, , m] of loraModules(st)) {
    const bound = 1 / Math.sqrt(m.inF);
    writeTensor(gpu, m.A, rng.floats(st.r * m.inF, -bound, bound));
    for (const t of [m.B, m.mA, m.vA, m.mB, m.vB, m.dA, m.dB]) fill(gpu, t, 0);
  }
}

export function zeroLoraGrads(gpu: Gpu, st: LoraState): void {
  for (const [, , m] of loraModules(st)) { fill(gpu, m.dA, 0); fill(gpu, m.dB, 0); }
}

export function loraGrads(st: LoraState): Tensor[] {
  return [...loraModules(st)].flatMap(([, , m]) => [m.dA, m.dB]);
}

/** Load host weights (adapter import or checkpoint); shapes must match the allocation. */
export function setLoraWeights(gpu: Gpu, st: LoraState, host: LoraHost): void {
  for (const [l, t, m] of loraModules(st)) {
    const h = host.layers[l]?.[t];
    if (!h) throw new Error(`adapter has no weights for layer ${l} ${t}`);
    if (h.A.length !== st.r * m.inF || h.B.length !== m.outF * st.r)
      throw new Error(`adapter layer ${l} ${t}: A/B have ${h.A.length}/${h.B.length} values, expected ${st.r * m.inF}/${m.outF * st.r}`);
    writeTensor(gpu, m.A, h.A);
    writeTensor(gpu, m.B, h.B);
  }
}

export async function readLoraWeights(gpu: Gpu, st: LoraState): Promise<LoraHost> {
  const layers: LoraHost['layers'] = st.layers.map(() => ({}));
  for (const [l, t, m] of loraModules(st))
    layers[l][t] = { A: await readF32(gpu, m.A), B: await readF32(gpu, m.B), inF: m.inF, outF: m.outF };
  return { r: st.r, alpha: st.alpha, dropout: st.dropout, targets: [...st.targets], layers };
}
