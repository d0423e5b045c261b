// RMSNorm forward/backward vs the f64 reference and the reference backward vs finite
// differences, on the default device (subgroup reductions where the adapter has them: lavapipe
// does, size 8) and on one without subgroups (the workgroup-memory tree). GPU tolerance 1e-5
// relative: per row a sum of C ≤ 1001 squares in f32 (tree or subgroup reduction, error
// ~log2(C)·2^-24) then a handful of f32 ops; the backward subtracts two terms of similar size, so
// allow a decade more than the forward's ~1e-6. FD tolerance 1e-6 (h = 1e-5, smooth in x;
// truncation ~h²·|f'''|).
import { describe, expect, it } from 'vitest';
import { rmsnormBackward, rmsnormForward } from '../../../src/gpu/ops/rmsnorm';
import { rmsnormBackwardRef, rmsnormForwardRef } from '../../../src/gpu/ops/rmsnorm.ref';
import { createTensor, readF32, tensorFrom } from '../../../src/gpu/core/tensor';
import { Rng } from '../../../src/util/rng';
import { testGpu } from '../../helpers/gpu';
import { expectClose } from '../../helpers/compare';
import { centralDiff, dot, expectGradClose, f64 } from './_finite-diff';

const EPS = 1e-5;

const DEVICES: [string, Parameters<typeof testGpu>[0]][] = [['default device', {}], ['no f16, no subgroups', { f16: false, subgroups: false }]];
const SIZES = [[1, 1], [7, 37], [3, 1001], [2, 256], [5, 300], [6, 4099]];

describe('rmsnorm', () => {
  it.each(DEVICES.flatMap(([d, f]) => SIZES.map(([T, C]) => [d, T, C, f] as const)))('%s T=%i C=%i: GPU matches the reference', async (_d, T, C, feat) => {
    const gpu = await testGpu(feat);
    const rng = new Rng(T * 7 + C);
    const x = rng.floats(T * C, -3, 3), w = rng.floats(C, 0.5, 1.5), dout = rng.floats(T * C), dx0 = rng.floats(T * C);
    const tx = tensorFrom(gpu, x, [T, C]), tw = tensorFrom(gpu, w, [C]);
    const out = createTensor(gpu, [T, C]), rstd = createTensor(gpu, [T]);
    rmsnormForward(gpu, out, rstd, tx, tw, EPS);
    const wo = new Float64Array(T * C), wr = new Float64Array(T);
    rmsnormForwardRef(wo, wr, x, w, EPS);
    expectClose(await readF32(gpu, out), wo, 1e-6, 'out');
    expectClose(await readF32(gpu, rstd), wr, 1e-6, 'rstd');

    const tdout = tensorFrom(gpu, dout, [T, C]);
    const dx = createTensor(gpu, [T, C]);
    rmsnormBackward(gpu, dx, tdout, tx, tw, rstd);
    const wdx = new Float64Array(T * C);
    rmsnormBackwardRef(wdx, dout, x, w, wr);
    expectClose(await readF32(gpu, dx), wdx, 1e-5, 'dx');

    const dxAcc = tensorFrom(gpu, dx0, [T, C]);
    rmsnormBackward(gpu, dxAcc, tdout, tx, tw, rstd, { accumulate: true });
    const wacc = f64(dx0);
    rmsnormBackwardRef(wacc, dout, x, w, wr, { accumulate: true });
    expectClose(await readF32(gpu, dxAcc), wacc, 1e-5, 'dx accumulate');
  });

  it('rows of zeros give out = 0 and rstd = 1/sqrt(eps)', async () => {
    const gpu = await testGpu();
    const out = createTensor(gpu, [2, 5]), rstd = createTensor(gpu, [2]);
    rmsnormForward(gpu, out, rstd, createTensor(gpu, [2, 5]), tensorFrom(gpu, new Float32Array(5).fill(1), [5]), 1e-6);
    expect((await readF32(gpu, out)).every((v) => v === 0)).toBe(true);
    expectClose(await readF32(gpu, rstd), [1000, 1000], 1e-6);
  });

  it('reference backward = finite differences', () => {
    const T = 3, C = 11, rng = new Rng(5);
    const x = f64(rng.floats(T * C, -2, 2)), w = f64(rng.floats(C, 0.5, 1.5)), G = f64(rng.floats(T * C));
    const loss = () => {
      const o = new Float64Array(T * C);
      rmsnormForwardRef(o, new Float64Array(T), x, w, EPS);
      return dot(o, G);
    };
    const r = new Float64Array(T);
    rmsnormForwardRef(new Float64Array(T * C), r, x, w, EPS);
    const dx = new Float64Array(T * C);
    rmsnormBackwardRef(dx, G, x, w, r);
    expectGradClose(dx, centralDiff(loss, x), 1e-6, 'dx');
  });

  it('refuses bad shapes', async () => {
    const gpu = await testGpu();
    const x = createTensor(gpu, [3, 4]), w = createTensor(gpu, [4]);
    expect(() => rmsnormForward(gpu, createTensor(gpu, [3, 4]), createTensor(gpu, [2]), x, w, 1e-5)).toThrow(/rstd/);
    expect(() => rmsnormForward(gpu, createTensor(gpu, [3, 4]), createTensor(gpu, [3]), x, createTensor(gpu, [5]), 1e-5)).toThrow(/multiple/);
    expect(() => rmsnormBackward(gpu, x, x, x, w, createTensor(gpu, [3]))).toThrow(/different buffers/);
  });
});
