// GPU time of recorded work: the work is recorded first (JS), then submitted between two
// timestamp-only compute passes in back-to-back submits, so the interval is GPU execution
// (plus the gaps between its dispatches), not JS recording. Without 'timestamp-query' it falls
// back to wall clock around submit + onSubmittedWorkDone.

import type { Gpu } from '../src/gpu/core/context';
import { createTensor, destroyTensor } from '../src/gpu/core/tensor';
import { grid1d } from '../src/gpu/ops/grid';
import copyCode from './copy_bw.wgsl';

export interface GpuTime { ms: number; timing: 'timestamp' | 'wall' }

/**
 * GPU ms of one call of `record` (averaged over `reps` calls recorded together; one warm-up call
 * first). `submits`: `record` submits on its own (gpu.flush, e.g. the per-layer submits of a
 * training step) — then the begin mark is submitted BEFORE recording, so that every submit falls
 * between the marks; the interval then also holds any time the GPU waits for the host.
 */
export async function gpuTimeMs(gpu: Gpu, record: () => void, reps: number, warm = true, submits = false): Promise<GpuTime> {
  if (warm) { record(); await gpu.sync(); }
  await gpu.sync();
  if (!gpu.features.timestamps) {
    const t0 = performance.now();
    for (let i = 0; i < reps; i++) record();
    await gpu.sync();
    return { ms: (performance.now() - t0) / reps, timing: 'wall' };
  }
  const dev = gpu.device;
  const qs = dev.createQuerySet({ type: 'timestamp', count: 2 });
  const resolve = dev.createBuffer({ size: 16, usage: GPUBufferUsage.QUERY_RESOLVE | GPUBufferUsage.COPY_SRC });
  const read = dev.createBuffer({ size: 16, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
  const mark = (end: boolean): GPUCommandBuffer => {
    const enc = dev.createCommandEncoder();
    const tw: GPUComputePassTimestampWrites = end ? { querySet: qs, endOfPassWriteIndex: 1 } : { querySet: qs, beginningOfPassWriteIndex: 0 };
    enc.beginComputePass({ timestampWrites: tw }).end();
    if (end) { enc.resolveQuerySet(qs, 0, 2, resolve, 0); enc.copyBufferToBuffer(resolve, 0, read, 0, 16); }
    return enc.finish();
  };
  const begin = mark(false), end = mark(true);
  gpu.flush();
  if (submits) dev.queue.submit([begin]);
  for (let i = 0; i < reps; i++) record();
  if (!submits) dev.queue.submit([begin]);
  gpu.flush();
  dev.queue.submit([end]);
  await read.mapAsync(GPUMapMode.READ);
  const t = new BigUint64Array(read.getMappedRange().slice(0));
  read.unmap();
  qs.destroy(); resolve.destroy(); read.destroy();
  const ns = Number(t[1] - t[0]);
  return { ms: ns / 1e6 / reps, timing: 'timestamp' };
}

/** Best (lowest) of 3 gpuTimeMs runs of `reps` calls: GPU clocks and other work add noise, never remove it. */
export async function bestGpuMs(gpu: Gpu, record: () => void, reps: number): Promise<number> {
  let ms = Infinity;
  for (let i = 0; i < 3; i++) ms = Math.min(ms, (await gpuTimeMs(gpu, record, reps)).ms);
  return ms;
}

export interface CopyBandwidth { bytes: number; kernelGbps: number; copyB2BGbps: number; peakGbps: number }

/**
 * The copy kernel (bench/copy_bw.wgsl) spun for ≥ `warmMs` (GPU clocks up, the warm-up every kernel
 * script needs), then the copy bandwidth (read + write GB/s) of the kernel and of
 * copyBufferToBuffer over `bytes` (capped by the binding limit), best of 3 × 10 calls each.
 */
export async function warmCopyBandwidth(gpu: Gpu, bytes: number, warmMs: number): Promise<CopyBandwidth> {
  bytes = Math.min(bytes, Math.floor((gpu.info.limits.maxStorageBufferBindingSize ?? 134217728) / 16) * 16);
  const n4 = bytes / 16;
  const a = createTensor(gpu, [n4 * 4], 'f32', 'copy.a'), b = createTensor(gpu, [n4 * 4], 'f32', 'copy.b');
  const u = gpu.uniform(Uint32Array.of(n4));
  const kern = () => gpu.dispatch({ code: copyCode, constants: { WG: 256 } }, [b.buffer, a.buffer, u], grid1d(gpu, Math.min(Math.ceil(n4 / 256), 65535 * 4)));
  const t0 = performance.now();
  while (performance.now() - t0 < warmMs) { for (let i = 0; i < 20; i++) kern(); await gpu.sync(); }
  const k = await bestGpuMs(gpu, kern, 10);
  const c = await bestGpuMs(gpu, () => gpu.commandEncoder().copyBufferToBuffer(a.buffer, 0, b.buffer, 0, bytes), 10);
  destroyTensor(gpu, a); destroyTensor(gpu, b);
  const kernelGbps = (2 * bytes) / k / 1e6, copyB2BGbps = (2 * bytes) / c / 1e6;
  return { bytes, kernelGbps, copyB2BGbps, peakGbps: Math.max(kernelGbps, copyB2BGbps) };
}
