// SwiGLU forward/backward vs the f64 reference, and the reference backward vs central finite
// differences. GPU tolerance 1e-5 relative: a few f32 ops plus exp (WGSL allows exp a few ulp
// of error; software/GPU exp is ~1e-7 relative). Gates span [-20, 20] to hit both sigmoid tails.
// FD tolerance 1e-7 (h = 1e-5, smooth function: truncation error ~h² ≈ 1e-10).
import { describe, expect, it } from 'vitest';
import { swigluBackward, swigluForward } from '../../../src/gpu/ops/swiglu';
import { swigluBackwardRef, swigluForwardRef } from '../../../src/gpu/ops/swiglu.ref';
import { createTensor, readF32, tensorFrom } from '../../../src/gpu/core/tensor';
import { Rng } from '../../../src/util/rng';
import { testGpu } from '../../helpers/gpu';
import { expectClose } from '../../helpers/compare';
import { centralDiff, dot, expectGradClose, f64 } from './_finite-diff';

describe('swiglu', () => {
  it.each([[1, 1], [7, 37], [3, 1001]])('T=%i I=%i: GPU matches the reference', async (T, I) => {
    const gpu = await testGpu();
    const n = T * I, rng = new Rng(n);
    const gate = rng.floats(n, -20, 20), up = rng.floats(n), dh = rng.floats(n);
    for (let i = 0; i < n; i += 5) gate[i] = rng.uniform(-3, 3); // plenty of values in the bend
    const tg = tensorFrom(gpu, gate, [T, I]), tu = tensorFrom(gpu, up, [T, I]);
    const h = createTensor(gpu, [T, I]);
    swigluForward(gpu, h, tg, tu);
    const wh = new Float64Array(n);
    swigluForwardRef(wh, gate, up);
    expectClose(await readF32(gpu, h), wh, 1e-5, 'h');
    const dg = createTensor(gpu, [T, I]), du = createTensor(gpu, [T, I]);
    swigluBackward(gpu, dg, du, tensorFrom(gpu, dh, [T, I]), tg, tu);
    const wdg = new Float64Array(n), wdu = new Float64Array(n);
    swigluBackwardRef(wdg, wdu, dh, gate, up);
    expectClose(await readF32(gpu, dg), wdg, 1e-5, 'dgate');
    expectClose(await readF32(gpu, du), wdu, 1e-5, 'dup');
  });

  it('reference backward = finite differences', () => {
    const n = 41, rng = new Rng(3);
    const gate = f64(rng.floats(n, -6, 6)), up = f64(rng.floats(n)), G = f64(rng.floats(n));
    const loss = () => { const h = new Float64Array(n); swigluForwardRef(h, gate, up); return dot(h, G); };
    const dg = new Float64Array(n), du = new Float64Array(n);
    swigluBackwardRef(dg, du, G, gate, up);
    expectGradClose(dg, centralDiff(loss, gate), 1e-7, 'dgate');
    expectGradClose(du, centralDiff(loss, up), 1e-7, 'dup');
  });

  it('refuses bad shapes and aliasing', async () => {
    const gpu = await testGpu();
    const a = createTensor(gpu, [2, 3]), b = createTensor(gpu, [2, 3]);
    expect(() => swigluForward(gpu, a, b, createTensor(gpu, [5]))).toThrow(/swigluForward.*up/);
    expect(() => swigluForward(gpu, a, a, b)).toThrow(/different buffers/);
    expect(() => swigluBackward(gpu, a, a, b, b, b)).toThrow(/different buffers/);
  });
});
