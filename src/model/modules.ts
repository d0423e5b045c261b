// Names of the seven LoRA-targetable projections, HF/PEFT spelling, and where they live.

import type { ModelDims } from './activations';

export const TARGETS = ['q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj'] as const;
export type Target = (typeof TARGETS)[number];

/** HF parameter prefix of a projection inside layer i: `model.layers.{i}.self_attn.q_proj`. */
export function moduleKey(layer: number, t: Target): string {
  const group = t.endsWith('_proj') && ['gate_proj', 'up_proj', 'down_proj'].includes(t) ? 'mlp' : 'self_attn';
  return `model.layers.${layer}.${group}.${t}`;
}

export function parseTargets(list: readonly string[]): Target[] {
  const out: Target[] = [];
  for (const raw of list) {
    const t = raw.trim();
    const full = (t.endsWith('_proj') ? t : `${t}_proj`) as Target;
    if (!TARGETS.includes(full)) throw new Error(`unknown LoRA target "${raw}" (use ${TARGETS.join(', ')})`);
    if (!out.includes(full)) out.push(full);
  }
  return TARGETS.filter((t) => out.includes(t));
}

/** [out, in] of a projection's weight W (PyTorch layout, y = x·Wᵀ) for the model's dimensions. */
export function projShape(d: ModelDims, t: Target): [number, number] {
  switch (t) {
    case 'q_proj': return [d.H * d.D, d.C];
    case 'k_proj': case 'v_proj': return [d.Hkv * d.D, d.C];
    case 'o_proj': return [d.C, d.H * d.D];
    case 'gate_proj': case 'up_proj': return [d.I, d.C];
    case 'down_proj': return [d.C, d.I];
  }
}
