// Names of the seven LoRA-targetable projections, HF/PEFT spelling, and where they live.

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
