// Per-device scratch tensors shared by the ops (split-K partials, row scales, placeholders bound
// where a kernel variant ignores a binding): created on first use, grown when a call needs more
// (never shrunk), kept for the device's lifetime (persistent: allocation scopes do not free
// them). Callers bind only the part they use.

import type { Gpu } from './context';
import { createTensor, numel, type DType, type Tensor } from './tensor';

const tables = new WeakMap<Gpu, Map<string, Tensor>>();

export interface ScratchOpts {
  dtype?: DType; // default f32
  min?: number; // elements allocated at least
  double?: boolean; // grow to at least twice the old size (fewer regrowths)
  cap?: number; // elements allocated at most unless a call needs more (a binding limit)
}

/** The scratch tensor `name` of this device with at least n elements (its label is `name`). */
export function scratchTensor(gpu: Gpu, name: string, n: number, o: ScratchOpts = {}): Tensor {
  let m = tables.get(gpu);
  if (!m) tables.set(gpu, (m = new Map()));
  let t = m.get(name);
  if (!t || numel(t.shape) < n) {
    const old = t ? numel(t.shape) : 0;
    // Recorded work may still use the old buffer: forget its bind groups, do not destroy it.
    if (t) gpu.forgetBuffer(t.buffer);
    let size = Math.max(n, o.min ?? 1, o.double ? 2 * old : 0);
    if (o.cap !== undefined) size = Math.min(size, Math.max(n, o.cap));
    t = createTensor(gpu, [size], o.dtype ?? 'f32', name, true);
    m.set(name, t);
  }
  return t;
}

/**
 * Placeholder i: a small buffer of its own (four zeros), bound where a variant does not use a
 * binding. Distinct indices give distinct buffers (WebGPU refuses one buffer in two bindings when
 * either is writable); kernels never write a placeholder.
 */
export function placeholder(gpu: Gpu, i: number): Tensor {
  return scratchTensor(gpu, `placeholder${i}`, 4, { dtype: 'u32' });
}
