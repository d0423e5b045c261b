// matmul vs the f64 reference at odd sizes, all four transpose combinations, both tile
// families (skinny r-sized sides and 64-wide tiles), split-K (long K, few output tiles),
// accumulate, K = 0 and fused dropout.
// Tolerance 2e-6 (relative to the largest |C|): inputs are in [-1, 1]; the f32 fma chain's
// rounding error is about sqrt(K)·2^-24·max|C| (≈ 1e-6 at K = 1000, observed ≤ 3e-7).
import { describe, expect, it } from 'vitest';
import { matmul, matmulDropout, splitK } from '../../../src/gpu/ops/matmul';
import { matmulDropoutRef, matmulRef, dropoutFactorRef } from '../../../src/gpu/ops/matmul.ref';
import { createTensor, readF32, tensorFrom } from '../../../src/gpu/core/tensor';
import { Rng } from '../../../src/util/rng';
import { testGpu } from '../../helpers/gpu';
import { expectClose } from '../../helpers/compare';

const TOL = 2e-6;
const SHAPES: [number, number, number][] = [
  [7, 5, 3], [3, 8, 37], [67, 16, 70], [16, 67, 33], [70, 81, 150], [1, 1, 1], [5, 3, 17],
  [16, 5, 1000], [67, 16, 700], // split-K: 7 and 5 splits
];

describe('matmul', () => {
  for (const [M, N, K] of SHAPES) {
    for (const transA of [false, true]) {
      for (const transB of [false, true]) {
        it(`M=${M} N=${N} K=${K} transA=${transA} transB=${transB}`, async () => {
          const gpu = await testGpu();
          const rng = new Rng(M * 1000 + N * 10 + K + (transA ? 7 : 0) + (transB ? 13 : 0));
          const a = rng.floats(M * K), b = rng.floats(K * N), c0 = rng.floats(M * N);
          const opts = { M, N, K, transA, transB, alpha: 0.75 };
          const c = createTensor(gpu, [M, N]);
          const ta = tensorFrom(gpu, a, transA ? [K, M] : [M, K]);
          const tb = tensorFrom(gpu, b, transB ? [N, K] : [K, N]);
          matmul(gpu, c, ta, tb, opts);
          const want = new Float64Array(M * N);
          matmulRef(want, a, b, opts);
          expectClose(await readF32(gpu, c), want, TOL, 'overwrite');

          const cAcc = tensorFrom(gpu, c0, [M, N]);
          matmul(gpu, cAcc, ta, tb, { ...opts, accumulate: true });
          const wantAcc = Float64Array.from(c0);
          matmulRef(wantAcc, a, b, { ...opts, accumulate: true });
          expectClose(await readF32(gpu, cAcc), wantAcc, TOL, 'accumulate');
        });
      }
    }
  }

  it('K = 0 writes zeros, or leaves C unchanged with accumulate', async () => {
    const gpu = await testGpu();
    const c0 = new Rng(1).floats(3 * 5);
    const c = tensorFrom(gpu, c0, [3, 5]);
    const a = createTensor(gpu, [3, 0]), b = createTensor(gpu, [0, 5]);
    matmul(gpu, c, a, b, { M: 3, N: 5, K: 0, accumulate: true });
    expect(Array.from(await readF32(gpu, c))).toEqual(Array.from(c0));
    matmul(gpu, c, a, b, { M: 3, N: 5, K: 0 });
    expect(Array.from(await readF32(gpu, c))).toEqual(new Array(15).fill(0));
  });

  it.each(['a', 'b', 'c'] as const)('fused dropout on %s matches the reference mask', async (on) => {
    const gpu = await testGpu();
    const M = 9, N = 19, K = 300, p = 0.3, seed = 12345; // K = 300: split-K path (2 splits)
    const rng = new Rng(99);
    const a = rng.floats(M * K), b = rng.floats(K * N);
    const opts = { M, N, K, transA: on === 'b', alpha: 1.5 };
    const c = createTensor(gpu, [M, N]);
    matmulDropout(gpu, c, tensorFrom(gpu, a, [M * K]), tensorFrom(gpu, b, [K * N]), opts, { p, seed, on });
    const want = new Float64Array(M * N);
    matmulDropoutRef(want, a, b, opts, { p, seed, on });
    expectClose(await readF32(gpu, c), want, TOL);
  });

  it('splits K only for few output tiles and long K', () => {
    expect(splitK(1, 1000)).toEqual({ splits: 7, kSplit: 144 });
    expect(splitK(1, 100)).toEqual({ splits: 1, kSplit: 100 });
    expect(splitK(300, 4096).splits).toBe(1); // ≥ half the target (512) of tiles: no split
    expect(splitK(200, 4096)).toEqual({ splits: 3, kSplit: 1376 });
    expect(splitK(32, 4096)).toEqual({ splits: 16, kSplit: 256 });
    const { splits, kSplit } = splitK(3, 4099);
    expect(kSplit % 16).toBe(0);
    expect((splits - 1) * kSplit < 4099 && splits * kSplit >= 4099).toBe(true);
  });

  it('dropout mask keeps about 1-p of the elements and depends on the seed', () => {
    let kept = 0, same = 0;
    const n = 20000;
    for (let i = 0; i < n; i++) {
      const f = dropoutFactorRef(i, 0.25, 7);
      if (f > 0) kept++;
      if ((f > 0) === (dropoutFactorRef(i, 0.25, 8) > 0)) same++;
    }
    expect(Math.abs(kept / n - 0.75)).toBeLessThan(0.015);
    expect(same / n).toBeLessThan(0.7); // independent masks agree on 0.75² + 0.25² = 62.5%
    expect(dropoutFactorRef(5, 0.25, 7)).toBe(dropoutFactorRef(5, 0.25, 7));
  });

  it('refuses bad shapes and aliasing before dispatch', async () => {
    const gpu = await testGpu();
    const a = createTensor(gpu, [4, 3]), b = createTensor(gpu, [3, 5]), c = createTensor(gpu, [4, 5]);
    expect(() => matmul(gpu, c, a, b, { M: 4, N: 5, K: 4 })).toThrow(/matmul.*a/);
    expect(() => matmul(gpu, createTensor(gpu, [4, 4]), a, b, { M: 4, N: 5, K: 3 })).toThrow(/matmul.*c/);
    expect(() => matmul(gpu, a, a, createTensor(gpu, [3, 3]), { M: 4, N: 3, K: 3 })).toThrow(/different buffers/);
    expect(() => matmul(gpu, c, createTensor(gpu, [12], 'i32'), b, { M: 4, N: 5, K: 3 })).toThrow(/f32/);
    expect(() => matmul(gpu, c, a, b, { M: 4, N: 5, K: 2.5 })).toThrow(/integer/);
  });
});
