import { describe, expect, it } from 'vitest';
import { residualAdd } from '../../../src/gpu/ops/residual';
import { residualAddRef } from '../../../src/gpu/ops/residual.ref';
import { createTensor, readF32, tensorFrom } from '../../../src/gpu/core/tensor';
import { Rng } from '../../../src/util/rng';
import { testGpu } from '../../helpers/gpu';
import { expectClose } from '../../helpers/compare';

describe('residualAdd', () => {
  it.each([1, 7, 257, 4099])('matches the reference at n=%i', async (n) => {
    const gpu = await testGpu();
    const rng = new Rng(n);
    const a = rng.floats(n), b = rng.floats(n);
    const out = createTensor(gpu, [n]);
    residualAdd(gpu, out, tensorFrom(gpu, a, [n]), tensorFrom(gpu, b, [n]), 0.5);
    const want = new Float64Array(n);
    residualAddRef(want, a, b, 0.5);
    expectClose(await readF32(gpu, out), want, 1e-6);
  });

  it('refuses mismatched shapes before dispatch', async () => {
    const gpu = await testGpu();
    expect(() => residualAdd(gpu, createTensor(gpu, [3]), createTensor(gpu, [3]), createTensor(gpu, [4]))).toThrow(/residualAdd/);
  });
});
