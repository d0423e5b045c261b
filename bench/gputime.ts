// GPU time of recorded work: the work is recorded first (JS), then submitted between two
// timestamp-only compute passes in back-to-back submits, so the interval is GPU execution
// (plus the gaps between its dispatches), not JS recording. Without 'timestamp-query' it falls
// back to wall clock around submit + onSubmittedWorkDone.

import type { Gpu } from '../src/gpu/core/context';

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
