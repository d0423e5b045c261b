// Shared argument guards for op wrappers: dtype, element count and the adapter's binding-size
// limit, checked on the host before anything is recorded.

import type { Gpu } from '../core/context';
import { check, GpuError } from '../core/errors';
import { byteSize, numel, type DType, type Tensor } from '../core/tensor';

/** Throws unless `t` has dtype `dtype` and (when given) exactly `n` elements. */
export function checkTensor(op: string, name: string, t: Tensor, n: number | null, dtype: DType = 'f32'): void {
  check(t.dtype === dtype, op, `${name} must be ${dtype}, got ${t.dtype}`);
  if (n !== null)
    check(numel(t.shape) === n, op, `${name} has shape [${t.shape}] (${numel(t.shape)} elements), expected ${n}`);
}

/** Throws a 'limit' error when a tensor cannot be bound whole as one storage buffer. */
export function checkBindable(gpu: Gpu, op: string, ...ts: Tensor[]): void {
  const max = gpu.info.limits.maxStorageBufferBindingSize;
  for (const t of ts) {
    const bytes = byteSize(t.shape, t.dtype);
    if (max && bytes > max)
      throw new GpuError('limit', `${op}: ${t.label} is ${bytes} bytes, over maxStorageBufferBindingSize ${max}; split it`);
  }
}

/** Throws unless `n` is a non-negative integer. */
export function checkDim(op: string, name: string, n: number): void {
  check(Number.isInteger(n) && n >= 0, op, `${name} must be a non-negative integer, got ${n}`);
}

/** Throws unless two tensors are different buffers (WebGPU cannot bind one buffer writable twice). */
export function checkDistinct(op: string, a: Tensor, b: Tensor, what: string): void {
  check(a.buffer !== b.buffer, op, `${what} must be different buffers (use the in-place variant)`);
}
