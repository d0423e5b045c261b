// Workgroup-wide reductions shared by the kernels that reduce one row per workgroup (RMSNorm,
// cross-entropy, decode attention): each kernel's WGSL calls wg_sum / wg_max / wg_lse /
// wg_argmax and takes `ln: Lane` (its builtins) in its entry points; this module appends one of
// two implementations — subgroup operations (shaders/reduce_sg.wgsl, with `enable subgroups;`
// put first) where the device has `subgroups`, a workgroup-memory tree (shaders/reduce_wg.wgsl)
// elsewhere (Chrome's SwiftShader has no subgroups). Both are bitwise repeatable on a device;
// they differ from each other at rounding level (summation order). H200 (bench/NOTES.md v15,
// bench/reductions.ts): the subgroup variant was never slower and up to 17 % faster, so it runs
// wherever the device has the feature; the larger gains came from the workgroup sizes below.

import type { Gpu } from '../core/context';
import wgCode from '../../../shaders/reduce_wg.wgsl';
import sgCode from '../../../shaders/reduce_sg.wgsl';

/**
 * subgroups: use the subgroup variant where the device has the feature (false = always the
 * tree); wg: override the ops' workgroup size (0 = rowWorkgroup's choice; bench only).
 */
export const reduceSettings: { subgroups: boolean; wg: number } = { subgroups: true, wg: 0 };

/** The two compiled variants of a kernel body (built once per body: pipelines are cached by source). */
export interface ReduceVariants { sg: string; wg: string }

export function reduceVariants(body: string): ReduceVariants {
  // `enable` must precede every declaration; the body stays first otherwise so that its header
  // comment names the pipeline (Gpu.pipeline labels kernels by their first comment line).
  return { sg: `enable subgroups;\n${body}\n${sgCode}`, wg: `${body}\n${wgCode}` };
}

export function useSubgroupReductions(gpu: Gpu): boolean {
  return gpu.features.subgroups && reduceSettings.subgroups;
}

/** The variant of `v` that runs on this device. */
export function reduceVariant(gpu: Gpu, v: ReduceVariants): string {
  return useSubgroupReductions(gpu) ? v.sg : v.wg;
}

/**
 * Invocations per row (a power of two within the device's limits): `few` (up to 1024) for
 * ≤ 4 rows, where one workgroup per row is the whole dispatch and its time is the latency of the
 * strided loads; `many` otherwise (enough workgroups to fill the GPU, so the choice is about loads
 * in flight per SM). Values per op from bench/reductions.ts (bench/NOTES.md v15).
 */
export function rowWorkgroup(gpu: Gpu, rows: number, many: number, few = 1024): number {
  if (reduceSettings.wg) return reduceSettings.wg;
  const lim = Math.min(gpu.info.limits.maxComputeInvocationsPerWorkgroup ?? 256, gpu.info.limits.maxComputeWorkgroupSizeX ?? 256);
  const want = rows <= 4 ? few : many;
  let wg = 1;
  while (wg * 2 <= Math.min(want, lim)) wg *= 2;
  return wg;
}
