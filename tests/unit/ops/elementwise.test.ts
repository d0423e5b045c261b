// fill / scale / copy / addInPlace vs the reference. Tolerance 1e-7 relative: one f32 rounding
// per element (fill and copy are exact and compared for equality).
import { describe, expect, it } from 'vitest';
import { addInPlace, copy, fill, scale } from '../../../src/gpu/ops/elementwise';
import { addInPlaceRef, scaleRef } from '../../../src/gpu/ops/elementwise.ref';
import { createTensor, readF32, readI32, tensorFrom } from '../../../src/gpu/core/tensor';
import { Rng } from '../../../src/util/rng';
import { testGpu } from '../../helpers/gpu';
import { expectClose } from '../../helpers/compare';

describe('elementwise', () => {
  it.each([1, 7, 257, 4099])('n=%i', async (n) => {
    const gpu = await testGpu();
    const rng = new Rng(n);
    const a = rng.floats(n), b = rng.floats(n);
    const t = tensorFrom(gpu, a, [n]);
    scale(gpu, t, -0.37);
    const want = Float64Array.from(a);
    scaleRef(want, -0.37);
    expectClose(await readF32(gpu, t), want, 1e-7, 'scale');

    const s = tensorFrom(gpu, b, [n]);
    addInPlace(gpu, t, s, 2.5);
    addInPlaceRef(want, b, 2.5);
    expectClose(await readF32(gpu, t), want, 1e-7, 'addInPlace');
    addInPlace(gpu, t, s);
    addInPlaceRef(want, b);
    expectClose(await readF32(gpu, t), want, 1e-7, 'addInPlace alpha=1');

    const c = createTensor(gpu, [n]);
    copy(gpu, c, t);
    fill(gpu, t, 3.25);
    expectClose(await readF32(gpu, c), want, 1e-7, 'copy');
    expect((await readF32(gpu, t)).every((v) => v === 3.25)).toBe(true);
  });

  it('copy keeps i32 bits exactly and orders with dispatches', async () => {
    const gpu = await testGpu();
    const src = tensorFrom(gpu, Int32Array.from([1, -100, 7, 0, 2 ** 30]), [5]);
    const dst = createTensor(gpu, [5], 'i32');
    copy(gpu, dst, src);
    expect(Array.from(await readI32(gpu, dst))).toEqual([1, -100, 7, 0, 2 ** 30]);
    const f = createTensor(gpu, [3]), g = createTensor(gpu, [3]);
    fill(gpu, f, 1);
    copy(gpu, g, f);
    fill(gpu, f, 2);
    expect(Array.from(await readF32(gpu, g))).toEqual([1, 1, 1]);
  });

  it('refuses bad inputs', async () => {
    const gpu = await testGpu();
    const a = createTensor(gpu, [3]);
    expect(() => addInPlace(gpu, a, createTensor(gpu, [4]))).toThrow(/addInPlace/);
    expect(() => addInPlace(gpu, a, a)).toThrow(/different buffers/);
    expect(() => copy(gpu, a, createTensor(gpu, [3], 'i32'))).toThrow(/copy/);
    expect(() => fill(gpu, createTensor(gpu, [3], 'i32'), 1)).toThrow(/f32/);
  });
});
