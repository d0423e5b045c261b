// Splitting a weight W [rows, cols] by rows so that every bound piece fits the adapter's
// maxStorageBufferBindingSize, with chunk starts at element multiples that keep the storage
// buffer offsets aligned (minStorageBufferOffsetAlignment, 256 bytes everywhere today).
// Shared by the NF4 (packed nibbles) and 16-bit (packed halves) weight kernels; also an NF4
// weight's bindings for one row chunk.

import type { Gpu } from '../core/context';
import { GpuError } from '../core/errors';
import { placeholder } from '../core/scratch';
import type { Nf4Weight } from './nf4';

export interface RowChunk {
  row0: number; // first row
  rows: number; // rows in this chunk
}

const gcd = (a: number, b: number): number => (b ? gcd(b, a % b) : a);

/** The binding limit in bytes (tests may lower it through a Gpu with reduced info.limits). */
export function bindingLimit(gpu: Gpu): number {
  return gpu.info.limits.maxStorageBufferBindingSize ?? 134217728;
}

export function offsetAlignment(gpu: Gpu): number {
  return gpu.info.limits.minStorageBufferOffsetAlignment ?? 256;
}

/**
 * Row chunks of W [rows, cols] so that rows·cols·bytesPerElem ≤ limit per chunk and each chunk
 * starts at a flat element index that is a multiple of `alignElems`.
 */
export function rowChunks(
  rows: number,
  cols: number,
  bytesPerElem: number,
  limit: number,
  alignElems: number,
  what: string,
): RowChunk[] {
  const usable = limit - 16; // headroom for the 4-byte rounding of packed sizes
  if (rows * cols * bytesPerElem <= usable) return [{ row0: 0, rows }];
  const g = alignElems / gcd(cols, alignElems); // rows per aligned step
  const per = Math.floor(usable / (cols * bytesPerElem) / g) * g;
  if (per < 1)
    throw new GpuError('limit', `${what}: ${g} rows of ${cols} do not fit maxStorageBufferBindingSize ${limit}`);
  const out: RowChunk[] = [];
  for (let r = 0; r < rows; r += per) out.push({ row0: r, rows: Math.min(per, rows - r) });
  return out;
}

/** A binding of `bytes` bytes at `offset` in `buffer`, rounded up to 4 and clipped to the buffer. */
export function slice(buffer: GPUBuffer, offset: number, bytes: number): { buffer: GPUBuffer; offset: number; size: number } {
  const size = Math.min(Math.ceil(bytes / 4) * 4, buffer.size - offset);
  return { buffer, offset, size };
}


/** The bindings of a weight row chunk, in nf4_common.wgsl order (packed, absmax, codes, meta). */
export function nf4Bindings(gpu: Gpu, w: Nf4Weight, row0: number, rows: number) {
  return [
    slice(w.packed.buffer, (row0 * w.cols) / 2, Math.ceil((rows * w.cols) / 2)),
    w.absmax.buffer,
    (w.codes ?? placeholder(gpu, 0)).buffer,
    (w.meta ?? placeholder(gpu, 1)).buffer,
  ];
}
