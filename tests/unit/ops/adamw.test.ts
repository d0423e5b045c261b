// Grad norm and AdamW vs the f64 reference (no backward here, so no finite differences).
// gradNormSq tolerance 1e-5 relative: f32 sums of up to 3e5 squares, sequential per thread
// (≤ ~5 terms with 256 workgroups striding) then tree reductions — error ~log2(n)·2^-24.
// AdamW tolerance 2e-6 relative to the largest |value| over 3 steps: each step is a few f32
// ops per element; m/(sqrt(v)+eps) is well conditioned here because |g| ≫ eps.
import { describe, expect, it } from 'vitest';
import { adamwStep, gradNormSq, type AdamwOpts } from '../../../src/gpu/ops/adamw';
import { adamwStepRef, gradNormSqRef } from '../../../src/gpu/ops/adamw.ref';
import { createTensor, readF32, tensorFrom, writeTensor } from '../../../src/gpu/core/tensor';
import { fill } from '../../../src/gpu/ops/elementwise';
import { Rng } from '../../../src/util/rng';
import { testGpu } from '../../helpers/gpu';
import { expectClose, maxRelError } from '../../helpers/compare';

describe('gradNormSq', () => {
  it('sums squares over tensors of odd sizes, accumulating into normSq', async () => {
    const gpu = await testGpu();
    const rng = new Rng(1);
    const sizes = [1, 7, 1001, 300_001, 37];
    const hosts = sizes.map((n) => rng.floats(n));
    const grads = hosts.map((h, i) => tensorFrom(gpu, h, [h.length], `g${i}`));
    const normSq = tensorFrom(gpu, Float32Array.of(2.5), [1]);
    gradNormSq(gpu, normSq, grads);
    const want = Float64Array.of(2.5);
    gradNormSqRef(want, hosts);
    expectClose(await readF32(gpu, normSq), want, 1e-5);
    // second call (scratch reuse within one submission) accumulates again
    gradNormSq(gpu, normSq, grads.slice(0, 2));
    gradNormSqRef(want, hosts.slice(0, 2));
    expectClose(await readF32(gpu, normSq), want, 1e-5);
  });

  it('no grads leaves normSq as it was', async () => {
    const gpu = await testGpu();
    const normSq = tensorFrom(gpu, Float32Array.of(3), [1]);
    gradNormSq(gpu, normSq, []);
    expect((await readF32(gpu, normSq))[0]).toBe(3);
  });
});

describe('adamwStep', () => {
  const base: AdamwOpts = { lr: 1e-2, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.01, step: 1, maxGradNorm: 0 };

  it.each([
    ['no clipping', { ...base }],
    ['clipping active', { ...base, maxGradNorm: 0.5 }],
    ['clipping inactive', { ...base, maxGradNorm: 1e6 }],
    ['gradScale 1/4 with clipping, no decay', { ...base, maxGradNorm: 1, gradScale: 0.25, weightDecay: 0 }],
  ] as [string, AdamwOpts][])('%s: three steps match the reference', async (_name, opts) => {
    const gpu = await testGpu();
    const rng = new Rng(11);
    const sizes = [37, 1001];
    const params = sizes.map((n) => Float64Array.from(rng.floats(n)));
    const ms = sizes.map((n) => new Float64Array(n)), vs = sizes.map((n) => new Float64Array(n));
    const tp = params.map((p) => tensorFrom(gpu, Float32Array.from(p), [p.length]));
    const tm = sizes.map((n) => createTensor(gpu, [n])), tv = sizes.map((n) => createTensor(gpu, [n]));
    const tg = sizes.map((n) => createTensor(gpu, [n]));
    const normSq = createTensor(gpu, [1]);
    for (let step = 1; step <= 3; step++) {
      const grads = sizes.map((n) => rng.floats(n, -2, 2));
      grads.forEach((g, i) => writeTensor(gpu, tg[i], g));
      fill(gpu, normSq, 0);
      gradNormSq(gpu, normSq, tg);
      const ns = new Float64Array(1);
      gradNormSqRef(ns, grads);
      const o = { ...opts, step };
      sizes.forEach((_, i) => {
        adamwStep(gpu, tp[i], tg[i], tm[i], tv[i], normSq, o);
        adamwStepRef(params[i], grads[i], ms[i], vs[i], ns, o);
      });
      for (let i = 0; i < sizes.length; i++) {
        // floor 1e-30: m and v are tiny when clipping is strong; compare at their own scale
        expect(maxRelError(await readF32(gpu, tp[i]), params[i], 1e-30), `param ${i} step ${step}`).toBeLessThan(2e-6);
        expect(maxRelError(await readF32(gpu, tm[i]), ms[i], 1e-30), `m ${i} step ${step}`).toBeLessThan(2e-6);
        expect(maxRelError(await readF32(gpu, tv[i]), vs[i], 1e-30), `v ${i} step ${step}`).toBeLessThan(2e-6);
      }
    }
  });

  it('step 1 equals the hand-derived update p(1 − lr·wd) − lr·g/(|g| + eps)', async () => {
    const gpu = await testGpu();
    const p = Float32Array.of(0.5, -1, 2), g = Float32Array.of(0.3, -4, 1e-3);
    const tp = tensorFrom(gpu, p, [3]);
    adamwStep(gpu, tp, tensorFrom(gpu, g, [3]), createTensor(gpu, [3]), createTensor(gpu, [3]), createTensor(gpu, [1]),
      { ...base, lr: 0.1, weightDecay: 0.1, eps: 1e-3 });
    const want = Array.from(p, (x, i) => x * (1 - 0.01) - (0.1 * g[i]) / (Math.abs(g[i]) + 1e-3));
    expectClose(await readF32(gpu, tp), want, 1e-6);
  });

  it('clip factor follows clip_grad_norm_: min(1, max / (norm + 1e-6))', () => {
    // With beta1 = beta2 = 0 and eps large, the update is −lr·g'/(|g'| + eps) for the clipped g'.
    const grad = [3, 4], normSq = [25]; // norm 5 → clip 1 / (5 + 1e-6)
    const p = new Float64Array(2), m = new Float64Array(2), v = new Float64Array(2);
    adamwStepRef(p, grad, m, v, normSq, { ...base, beta1: 0, beta2: 0, eps: 1, lr: 1, weightDecay: 0, maxGradNorm: 1 });
    const c = 1 / (5 + 1e-6);
    expectClose(p, [-(3 * c) / (3 * c + 1), -(4 * c) / (4 * c + 1)], 1e-12);
    expectClose(m, [3 * c, 4 * c], 1e-12);
  });

  it('refuses bad inputs', async () => {
    const gpu = await testGpu();
    const a = createTensor(gpu, [4]), b = createTensor(gpu, [4]), c = createTensor(gpu, [4]), n = createTensor(gpu, [1]);
    expect(() => adamwStep(gpu, a, b, c, createTensor(gpu, [5]), n, base)).toThrow(/adamwStep.*v/);
    expect(() => adamwStep(gpu, a, b, c, c, n, base)).toThrow(/different buffers/);
    expect(() => adamwStep(gpu, a, b, c, createTensor(gpu, [4]), n, { ...base, step: 0 })).toThrow(/step/);
    expect(() => gradNormSq(gpu, createTensor(gpu, [2]), [a])).toThrow(/normSq/);
  });
});
