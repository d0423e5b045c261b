// Gpu.capture / Gpu.replay: a captured program re-records the same dispatches, copies and
// flushes (results equal a fresh recording, on the buffers' current contents); host writes and
// readbacks are refused inside a capture; a program goes stale once any buffer is destroyed.
import { describe, expect, it } from 'vitest';
import { createTensor, readF32, tensorFrom, writeTensor } from '../../../src/gpu/core/tensor';
import { releaseTensors } from '../../../src/gpu/core/release';
import { copy } from '../../../src/gpu/ops/elementwise';
import { residualAdd } from '../../../src/gpu/ops/residual';
import { testGpu } from '../../helpers/gpu';

describe('Gpu.capture / replay', () => {
  it('replays dispatches, copies and flushes on the current buffer contents', async () => {
    const gpu = await testGpu();
    const a = tensorFrom(gpu, Float32Array.of(1, 2, 3, 4, 5), [5]);
    const b = tensorFrom(gpu, Float32Array.of(10, 20, 30, 40, 50), [5]);
    const c = createTensor(gpu, [5], 'f32', 'c'), d = createTensor(gpu, [5], 'f32', 'd');
    const prog = gpu.capture(() => {
      residualAdd(gpu, c, a, b, 2); // c = a + 2b
      gpu.flush();
      copy(gpu, d, c); // d = c
    });
    expect(prog.commands.map((x) => x.kind)).toEqual(['dispatch', 'flush', 'copy']);
    expect(Array.from(await readF32(gpu, d))).toEqual([21, 42, 63, 84, 105]);
    writeTensor(gpu, a, Float32Array.of(-1, -2, -3, -4, -5));
    gpu.replay(prog);
    expect(Array.from(await readF32(gpu, d))).toEqual([19, 38, 57, 76, 95]);
  });

  it('refuses host writes and readbacks inside a capture, and nested captures', async () => {
    const gpu = await testGpu();
    const a = tensorFrom(gpu, Float32Array.of(1, 2), [2]);
    expect(() => gpu.capture(() => writeTensor(gpu, a, Float32Array.of(3, 4)))).toThrow(/cannot be captured/);
    expect(() => gpu.capture(() => { gpu.commandEncoder(); })).toThrow(/not allowed inside Gpu.capture/);
    expect(() => gpu.capture(() => { gpu.capture(() => {}); })).toThrow(/do not nest/);
    expect(gpu.capturing).toBe(false);
    expect(Array.from(await readF32(gpu, a))).toEqual([1, 2]);
  });

  it('marks programs stale when a buffer is destroyed', async () => {
    const gpu = await testGpu();
    const a = tensorFrom(gpu, Float32Array.of(1), [1]);
    const b = tensorFrom(gpu, Float32Array.of(2), [1]);
    const c = createTensor(gpu, [1], 'f32', 'c');
    const prog = gpu.capture(() => residualAdd(gpu, c, a, b));
    expect(gpu.isCurrent(prog)).toBe(true);
    await gpu.sync();
    releaseTensors(gpu, [createTensor(gpu, [4], 'f32', 'other')]);
    expect(gpu.isCurrent(prog)).toBe(false);
    expect(() => gpu.replay(prog)).toThrow(/destroyed since/);
  });
});
