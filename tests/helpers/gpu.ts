// One Dawn-backed Gpu per test process (software Vulkan: lavapipe; see scripts/test.sh).
// `testGpu({ f16: false })` gives a device with shader-f16 disabled to cover the f32 path;
// `testGpu({ subgroups: false })` one without subgroups. A feature set to false is disabled;
// features not named (or true) are used when the adapter has them.

import { Gpu } from '../../src/gpu/core/context';
import type { GpuFeatures } from '../../src/gpu/core/acquire';
import { nodeGpuApi } from '../../src/gpu/core/node';

const cache = new Map<string, Promise<Gpu>>();

export function testGpu(features: Partial<Record<keyof GpuFeatures, boolean>> = {}): Promise<Gpu> {
  const disable: Partial<Record<keyof GpuFeatures, boolean>> = {};
  for (const [k, v] of Object.entries(features)) if (v === false) disable[k as keyof GpuFeatures] = true;
  const key = JSON.stringify(disable);
  let g = cache.get(key);
  if (!g) {
    g = nodeGpuApi().then((api) => Gpu.create(api, { disable }));
    cache.set(key, g);
  }
  return g;
}
