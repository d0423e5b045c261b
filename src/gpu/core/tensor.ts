// GPU tensors: a buffer plus a shape and an element type. Tensors are created once (from the
// memory plan, or by tests) and reused; only scalars and small results are read back.

import type { Gpu } from './context';
import { GpuError } from './errors';

/** Element types as stored in buffers. 'u32' also holds packed data (NF4 nibbles, bf16 pairs). */
export type DType = 'f32' | 'u32' | 'i32' | 'u8';

export interface Tensor {
  readonly buffer: GPUBuffer;
  readonly shape: readonly number[];
  readonly dtype: DType;
  readonly label: string;
}

const BYTES: Record<DType, number> = { f32: 4, u32: 4, i32: 4, u8: 1 };

export const numel = (shape: readonly number[]) => shape.reduce((a, b) => a * b, 1);
export const byteSize = (shape: readonly number[], dtype: DType) =>
  numel(shape) * BYTES[dtype];

const STORAGE = () =>
  GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST;

/** Allocate a zero-initialised tensor. Sizes round up to 4 bytes (WebGPU's granularity). */
export function createTensor(
  gpu: Gpu,
  shape: readonly number[],
  dtype: DType = 'f32',
  label = 'tensor',
  /** Scratch cached for the device's lifetime: never freed by an allocation scope. */
  persistent = false,
): Tensor {
  const bytes = Math.max(4, Math.ceil(byteSize(shape, dtype) / 4) * 4);
  const max = gpu.info.limits.maxBufferSize;
  if (max && bytes > max)
    throw new GpuError('limit', `${label}: ${bytes} bytes exceeds maxBufferSize ${max}; split it`);
  const buffer = gpu.device.createBuffer({ size: bytes, usage: STORAGE(), label });
  gpu.allocatedBytes += bytes;
  if (!persistent) gpu.scope?.push(buffer);
  return { buffer, shape: [...shape], dtype, label };
}

/**
 * A host-readable tensor (MAP_READ | COPY_DST) for a readback repeated every step (decode
 * logits): filled by gpu.copyBuffer (capturable), read by readMapped without a new buffer each time.
 */
export function createReadback(gpu: Gpu, shape: readonly number[], dtype: DType = 'f32', label = 'readback'): Tensor {
  const bytes = Math.max(4, Math.ceil(byteSize(shape, dtype) / 4) * 4);
  const buffer = gpu.device.createBuffer({ size: bytes, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST, label });
  gpu.allocatedBytes += bytes;
  gpu.scope?.push(buffer);
  return { buffer, shape: [...shape], dtype, label };
}

/** Submit pending work and copy a readback tensor's contents to the host. */
export async function readMapped(gpu: Gpu, t: Tensor): Promise<Uint8Array> {
  gpu.flush();
  await t.buffer.mapAsync(GPUMapMode.READ);
  if (gpu.lost) throw gpu.lost;
  const out = new Uint8Array(t.buffer.getMappedRange().slice(0));
  t.buffer.unmap();
  return out;
}

type TypedData = Float32Array | Uint32Array | Int32Array | Uint8Array;

/** Allocate and fill a tensor from host data (length must match the shape). */
export function tensorFrom(
  gpu: Gpu,
  data: TypedData,
  shape: readonly number[],
  label = 'tensor',
): Tensor {
  const dtype: DType =
    data instanceof Float32Array ? 'f32' : data instanceof Uint32Array ? 'u32'
      : data instanceof Int32Array ? 'i32' : 'u8';
  if (data.length !== numel(shape))
    throw new GpuError('shape', `${label}: ${data.length} values for shape [${shape}]`);
  const t = createTensor(gpu, shape, dtype, label);
  writeTensor(gpu, t, data);
  return t;
}

/** Copy host data into an existing tensor (queued; ordered before later submits). */
export function writeTensor(gpu: Gpu, t: Tensor, data: TypedData, elementOffset = 0): void {
  if (gpu.capturing) throw new GpuError('validation', `writeTensor(${t.label}): host writes cannot be captured (write before Gpu.capture)`);
  gpu.flush(); // keep queue order: work recorded before this write runs before it
  const bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  const padded = bytes.byteLength % 4 ? new Uint8Array(Math.ceil(bytes.byteLength / 4) * 4) : bytes;
  if (padded !== bytes) padded.set(bytes);
  gpu.device.queue.writeBuffer(t.buffer, elementOffset * BYTES[t.dtype], padded);
}

/** Read back raw bytes of a buffer region (waits for all recorded work). */
export async function readBytes(gpu: Gpu, buffer: GPUBuffer, offset = 0, size?: number) {
  const n = Math.ceil((size ?? buffer.size - offset) / 4) * 4;
  const staging = gpu.device.createBuffer({
    size: n,
    usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST,
  });
  gpu.commandEncoder().copyBufferToBuffer(buffer, offset, staging, 0, n);
  gpu.flush();
  await staging.mapAsync(GPUMapMode.READ);
  if (gpu.lost) throw gpu.lost;
  const out = new Uint8Array(staging.getMappedRange().slice(0));
  staging.unmap();
  staging.destroy();
  return out;
}

export async function readF32(gpu: Gpu, t: Tensor): Promise<Float32Array> {
  const b = await readBytes(gpu, t.buffer, 0, byteSize(t.shape, t.dtype));
  return new Float32Array(b.buffer, 0, numel(t.shape));
}

export async function readU32(gpu: Gpu, t: Tensor): Promise<Uint32Array> {
  const b = await readBytes(gpu, t.buffer, 0, Math.ceil(byteSize(t.shape, t.dtype) / 4) * 4);
  return new Uint32Array(b.buffer, 0, b.byteLength / 4);
}

export async function readI32(gpu: Gpu, t: Tensor): Promise<Int32Array> {
  const b = await readBytes(gpu, t.buffer, 0, byteSize(t.shape, t.dtype));
  return new Int32Array(b.buffer, 0, numel(t.shape));
}

export function destroyTensor(gpu: Gpu, t: Tensor): void {
  gpu.forgetBuffer(t.buffer);
  const i = gpu.scope?.indexOf(t.buffer) ?? -1;
  if (i >= 0) gpu.scope!.splice(i, 1); // already freed: the scope must not free it again
  gpu.allocatedBytes -= t.buffer.size;
  t.buffer.destroy();
}

/** Pack uniform fields (u32 by default; `f` marks f32) into words for Gpu.uniform. */
export function packUniform(fields: (number | { f: number } | { i: number })[]): Uint32Array {
  const words = new Uint32Array(fields.length);
  const f32 = new Float32Array(words.buffer);
  const i32 = new Int32Array(words.buffer);
  fields.forEach((v, i) => {
    if (typeof v === 'number') words[i] = v >>> 0;
    else if ('f' in v) f32[i] = v.f;
    else i32[i] = v.i;
  });
  return words;
}
