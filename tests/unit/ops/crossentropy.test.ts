// Cross-entropy vs the f64 reference, the reference gradient vs finite differences, ignored and
// invalid labels, rows with huge logits (needs the max subtraction), V = 128256; on the default
// device (subgroup reductions where the adapter has them) and on one without subgroups.
// Tolerances (relative to the largest reference magnitude): nll 1e-5 — an f32 sum of V exp terms
// in a tree (error ~log2(V)·2^-24 ≈ 1e-6) added to the row max, whose f32 ulp at |x| ≈ 100 is
// 8e-6 absolute against nll values ≥ 1; gradients 1e-5 — softmax = exp(x − lse) inherits lse's
// absolute error as a relative error (≤ 1e-5 for |x| ≤ 100). FD 1e-6 (h = 1e-5, smooth).
import { describe, expect, it } from 'vitest';
import { crossEntropyForward, crossEntropyForwardBackward, logsumexpArgmax } from '../../../src/gpu/ops/crossentropy';
import { crossEntropyForwardBackwardRef, crossEntropyForwardRef, logsumexpArgmaxRef } from '../../../src/gpu/ops/crossentropy.ref';
import { createTensor, readF32, readI32, tensorFrom } from '../../../src/gpu/core/tensor';
import { Rng } from '../../../src/util/rng';
import { testGpu } from '../../helpers/gpu';
import { expectClose } from '../../helpers/compare';
import { centralDiff, expectGradClose, f64 } from './_finite-diff';

function inputs(Tc: number, V: number, seed: number) {
  const rng = new Rng(seed);
  const logits = rng.floats(Tc * V, -4, 4);
  for (let c = 0; c < V; c++) logits[c] *= 25; // row 0 spans ±100: exp overflows without max subtraction
  const labels = Int32Array.from({ length: Tc }, () => rng.int(V));
  if (Tc > 2) labels[2] = -100;
  if (Tc > 4) labels[4] = V - 1;
  return { logits, labels };
}

const DEVICES: [string, Parameters<typeof testGpu>[0]][] = [['default device', {}], ['no f16, no subgroups', { f16: false, subgroups: false }]];
const SIZES = [[7, 1001], [3, 1], [5, 3], [4, 257], [2, 128256]];

describe.each(DEVICES)('crossentropy (%s)', (_d, feat) => {
  it.each(SIZES)('Tc=%i V=%i: GPU matches the reference', async (Tc, V) => {
    const gpu = await testGpu(feat);
    const { logits, labels } = inputs(Tc, V, Tc * 7 + V);
    const tl = tensorFrom(gpu, labels, [Tc]);
    const tlog = tensorFrom(gpu, logits, [Tc, V]);
    const nll = createTensor(gpu, [Tc]);
    crossEntropyForward(gpu, nll, tlog, tl);
    const want = new Float64Array(Tc);
    crossEntropyForwardRef(want, logits, labels);
    expectClose(await readF32(gpu, nll), want, 1e-5, 'forward nll');
    expect(Array.from(await readF32(gpu, tlog))).toEqual(Array.from(logits)); // untouched

    const lse = createTensor(gpu, [Tc]), am = createTensor(gpu, [Tc], 'i32');
    logsumexpArgmax(gpu, lse, am, tlog);
    const wl = new Float64Array(Tc), wa = new Int32Array(Tc);
    logsumexpArgmaxRef(wl, wa, logits);
    expectClose(await readF32(gpu, lse), wl, 1e-5, 'lse');
    expect(Array.from(await readI32(gpu, am))).toEqual(Array.from(wa));

    const gs = 1 / 5;
    crossEntropyForwardBackward(gpu, nll, tlog, tl, gs);
    const wn = new Float64Array(Tc), wg = f64(logits);
    crossEntropyForwardBackwardRef(wn, wg, labels, gs);
    expectClose(await readF32(gpu, nll), wn, 1e-5, 'fwd_bwd nll');
    const g = await readF32(gpu, tlog);
    expectClose(g, wg, 1e-5, 'dlogits');
    if (Tc > 2) expect(g.subarray(2 * V, 3 * V).every((v) => v === 0)).toBe(true);
  });

  it('argmax takes the first of equal maxima', async () => {
    const gpu = await testGpu(feat);
    const V = 600, logits = new Float32Array(3 * V).fill(-1);
    logits[17] = 3; logits[400] = 3; logits[V + 599] = 1; logits[V + 300] = 1;
    logits[2 * V + 513] = 2; logits[2 * V + 9] = 2; logits[2 * V + 265] = 2; // maxima in three subgroups
    const lse = createTensor(gpu, [3]), am = createTensor(gpu, [3], 'i32');
    logsumexpArgmax(gpu, lse, am, tensorFrom(gpu, logits, [3, V]));
    expect(Array.from(await readI32(gpu, am))).toEqual([17, 300, 9]);
  });

  it('a label outside [0, V) gives NaN nll and a zero gradient row', async () => {
    const gpu = await testGpu(feat);
    const V = 10, logits = new Rng(1).floats(2 * V);
    const tlog = tensorFrom(gpu, logits, [2, V]), nll = createTensor(gpu, [2]);
    crossEntropyForwardBackward(gpu, nll, tlog, tensorFrom(gpu, Int32Array.from([3, V]), [2]), 1);
    const n = await readF32(gpu, nll);
    expect(Number.isFinite(n[0]) && Number.isNaN(n[1])).toBe(true);
    expect((await readF32(gpu, tlog)).subarray(V).every((v) => v === 0)).toBe(true);
  });

});

describe('crossentropy', () => {
  it('reference gradient = finite differences of gradScale · Σ nll', () => {
    const Tc = 4, V = 9, gs = 0.37;
    const { logits, labels } = inputs(Tc, V, 3);
    const x = f64(logits);
    for (let i = 0; i < V; i++) x[i] /= 25;
    const loss = () => {
      const n = new Float64Array(Tc);
      crossEntropyForwardRef(n, x, labels);
      return gs * n.reduce((a, b) => a + b, 0);
    };
    const g = f64(x);
    crossEntropyForwardBackwardRef(new Float64Array(Tc), g, labels, gs);
    expectGradClose(g, centralDiff(loss, x), 1e-6, 'dlogits');
  });

  it('refuses bad shapes', async () => {
    const gpu = await testGpu();
    const labels = tensorFrom(gpu, Int32Array.from([1, 2, 3]), [3]);
    expect(() => crossEntropyForward(gpu, createTensor(gpu, [3]), createTensor(gpu, [3, 5]), createTensor(gpu, [3]))).toThrow(/i32/);
    expect(() => crossEntropyForward(gpu, createTensor(gpu, [3]), createTensor(gpu, [16]), labels)).toThrow(/rows/);
    expect(() => crossEntropyForward(gpu, createTensor(gpu, [2]), createTensor(gpu, [3, 5]), labels)).toThrow(/out/);
  });
});
