// Release every GPU tensor reachable from a value (model weights, LoRA state, activations, KV
// cache): their buffers are destroyed now instead of waiting for garbage collection, which for
// an 8B model would keep ~5 GB of old weights alive after loading another one.

import type { Gpu } from './context';
import type { Tensor } from './tensor';

function isTensor(v: unknown): v is Tensor {
  return typeof v === 'object' && v !== null && 'buffer' in v && 'shape' in v && 'dtype' in v;
}

export function releaseTensors(gpu: Gpu, root: unknown): void {
  const seen = new Set<unknown>();
  const buffers = new Set<GPUBuffer>();
  const walk = (v: unknown): void => {
    if (typeof v !== 'object' || v === null || seen.has(v) || ArrayBuffer.isView(v)) return;
    seen.add(v);
    if (isTensor(v)) { buffers.add(v.buffer); return; }
    for (const x of Array.isArray(v) ? v : Object.values(v)) walk(x);
  };
  walk(root);
  gpu.forgetBuffers(buffers);
  for (const b of buffers) {
    gpu.allocatedBytes -= b.size;
    b.destroy();
  }
}
