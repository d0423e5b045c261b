// Workgroup-wide reductions shared by the kernels that reduce one row per workgroup (RMSNorm,
// cross-entropy, decode attention): each kernel's WGSL calls wg_sum / wg_max / wg_lse /
// wg_argmax and takes `ln: Lane` (its builtins) in its entry points; this module appends one of
// two implementations — subgroup operations (shaders/reduce_sg.wgsl, with `enable subgroups;`
// put first) where the device has `subgroups`, a workgroup-memory tree (shaders/reduce_wg.wgsl)
// elsewhere (Chrome's SwiftShader has no subgroups). Both are bitwise repeatable on a device;
// they differ from each other at rounding level (summation order).

import type { Gpu } from '../core/context';
import wgCode from '../../../shaders/reduce_wg.wgsl';
import sgCode from '../../../shaders/reduce_sg.wgsl';

/**
 * Which path runs: 'auto' = subgroups where the device has them and where bench/reductions.ts
 * found them faster (see useSubgroupReductions), 'on' = subgroups wherever the device has them,
 * 'off' = always the tree. `wg` overrides the ops' workgroup size (0 = their own choice; bench).
 */
export const reduceSettings: { subgroups: 'auto' | 'on' | 'off'; wg: number } = { subgroups: 'auto', wg: 0 };

/** The two compiled variants of a kernel body (built once per body: pipelines are cached by source). */
export interface ReduceVariants { sg: string; wg: string }

export function reduceVariants(body: string): ReduceVariants {
  // `enable` must precede every declaration; the body stays first otherwise so that its header
  // comment names the pipeline (Gpu.pipeline labels kernels by their first comment line).
  return { sg: `enable subgroups;\n${body}\n${sgCode}`, wg: `${body}\n${wgCode}` };
}

/** Whether the subgroup variant runs for this device (and, under 'auto', this op's shape). */
export function useSubgroupReductions(gpu: Gpu, auto = true): boolean {
  if (!gpu.features.subgroups || reduceSettings.subgroups === 'off') return false;
  return reduceSettings.subgroups === 'on' || auto;
}

/** The variant of `v` that runs on this device (see useSubgroupReductions). */
export function reduceVariant(gpu: Gpu, v: ReduceVariants, auto = true): string {
  return useSubgroupReductions(gpu, auto) ? v.sg : v.wg;
}
