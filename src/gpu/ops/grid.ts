// Workgroup grid helpers: spread a 1-D count over x and y so no dimension exceeds the limit.

import type { Gpu } from '../core/context';

/** Grid of workgroups covering `count` workgroups, folded into y above the per-dim limit. */
export function grid1d(gpu: Gpu, count: number): [number, number] {
  const max = gpu.info.limits.maxComputeWorkgroupsPerDimension ?? 65535;
  if (count <= max) return [count, 1];
  const y = Math.ceil(count / max);
  return [Math.ceil(count / y), y];
}
