// LoRA forward/backward vs the f64 reference (GPU), and the reference backward vs central
// finite differences of the reference forward (loss = Σ G ⊙ y).
// GPU tolerance 1e-5 relative to the largest value: two chained f32 GEMMs with K ≤ 70, plus xa
// rounded to f32 between them. FD tolerance 1e-7: y is linear in each of x, A, B separately, so
// central differences are exact up to f64 cancellation (h = 1e-5 → ~1e-10 relative).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loraBackward, loraDownSmallMulti, loraForward, type LoraOpts } from '../../../src/gpu/ops/lora';
import { loraGemmSettings } from '../../../src/gpu/ops/lora.gemm';
import { loraBackwardRef, loraForwardRef, type LoraRefOpts } from '../../../src/gpu/ops/lora.ref';
import { createTensor, readF32, tensorFrom } from '../../../src/gpu/core/tensor';
import { Rng } from '../../../src/util/rng';
import { testGpu } from '../../helpers/gpu';
import { expectClose } from '../../helpers/compare';
import { centralDiff, dot, expectGradClose, f64 } from './_finite-diff';

const CASES: [number, number, number, number, number][] = [
  // T, K, N, r, dropout
  [7, 37, 29, 3, 0],
  [7, 37, 29, 3, 0.25],
  [5, 19, 33, 16, 0.1],
  [9, 70, 8, 8, 0],
  [5, 700, 300, 16, 0.2], // long K: split-K in x·Aᵀ, dy·B (K=N=300) and dA
];

// Training-shape kernels (lora.gemm.ts) only (no finite differences: too slow at these sizes):
// 64-row / 256-column tiles with remainders, L and T splits, rank blocks (r > 16).
const LONG_CASES: [number, number, number, number, number][] = [
  [300, 700, 45, 16, 0.1], // T and K past one tile, several L splits (K) and T splits
  [70, 33, 150, 20, 0], // r = 20: two rank blocks, two rank chunks in lora_up
  [130, 1100, 70, 16, 0.05], // long K
  [67, 40, 520, 8, 0.3], // N past two 256-column tiles, long N for dy·B
];

interface Run { xa: Float32Array; y: Float32Array; dA: Float32Array; dB: Float32Array; dx: Float32Array }

/** Forward + backward on `gpu` from seeded inputs; returns every output (and the reference's). */
async function runBoth(gpu: Awaited<ReturnType<typeof testGpu>>, T: number, K: number, N: number, r: number, o: LoraOpts, seedBaseValue?: number, dx0Zero = false): Promise<{ gpu: Run; ref: Record<keyof Run, Float64Array> }> {
  const rng = new Rng(T * 131 + K * 17 + N * 3 + r);
  const x = rng.floats(T * K), A = rng.floats(r * K), B = rng.floats(N * r), y0 = rng.floats(T * N);
  const dy = rng.floats(T * N), dA0 = rng.floats(r * K), dB0 = rng.floats(N * r);
  const dx0 = dx0Zero ? new Float32Array(T * K) : rng.floats(T * K);
  const opts: LoraOpts = { ...o };
  if (seedBaseValue !== undefined) opts.seedBase = tensorFrom(gpu, Int32Array.of(seedBaseValue | 0), [1]);
  const tx = tensorFrom(gpu, x, [T, K]), tA = tensorFrom(gpu, A, [r, K]), tB = tensorFrom(gpu, B, [N, r]);
  const ty = tensorFrom(gpu, y0, [T, N]), txa = createTensor(gpu, [T, r]);
  loraForward(gpu, ty, txa, tx, tA, tB, opts);
  const tdA = tensorFrom(gpu, dA0, [r, K]), tdB = tensorFrom(gpu, dB0, [N, r]), tdx = tensorFrom(gpu, dx0, [T, K]);
  loraBackward(gpu, tdA, tdB, tdx, tensorFrom(gpu, dy, [T, N]), tx, tA, tB, txa, createTensor(gpu, [T, r]), opts);
  const run: Run = { xa: await readF32(gpu, txa), y: await readF32(gpu, ty), dA: await readF32(gpu, tdA), dB: await readF32(gpu, tdB), dx: await readF32(gpu, tdx) };
  const ro: LoraRefOpts = { T, K, N, r, scale: o.scale, dropout: o.dropout, seed: (o.seed + (seedBaseValue ?? 0)) >>> 0 };
  const ry = f64(y0), rxa = new Float64Array(T * r), rdA = f64(dA0), rdB = f64(dB0), rdx = f64(dx0);
  loraForwardRef(ry, rxa, x, A, B, ro);
  loraBackwardRef(rdA, rdB, rdx, dy, x, A, B, rxa, new Float64Array(T * r), ro);
  return { gpu: run, ref: { xa: rxa, y: ry, dA: rdA, dB: rdB, dx: rdx } };
}

function expectRunClose(r: { gpu: Run; ref: Record<keyof Run, Float64Array> }, tol = 1e-5): void {
  for (const k of ['xa', 'y', 'dA', 'dB', 'dx'] as const) expectClose(r.gpu[k], r.ref[k], tol, k);
}

describe('lora', () => {
  // the training kernels at every T here (by default they start at minTokens = 1024)
  const minTokens = loraGemmSettings.minTokens;
  beforeAll(() => { loraGemmSettings.minTokens = 0; });
  afterAll(() => { loraGemmSettings.minTokens = minTokens; });
  // The plain device (no shader-f16, no subgroups) runs the same GEMM kernels: every variant
  // (tiles, split-K, dropout on a/b/c) must work without those features.
  it.each(CASES.flatMap((c) => [[...c, 'default'], [...c, 'plain']] as const))('T=%i K=%i N=%i r=%i p=%f (%s device): GPU matches the reference', async (T, K, N, r, p, dev) => {
    const gpu = await testGpu(dev === 'plain' ? { f16: false, subgroups: false } : {});
    if (dev === 'plain') expect(gpu.features.subgroups || gpu.features.f16).toBe(false);
    const rng = new Rng(T * 31 + K * 7 + N + r + Math.round(p * 100));
    const o: LoraRefOpts = { T, K, N, r, scale: 16 / r, dropout: p, seed: 4242 };
    const x = rng.floats(T * K), A = rng.floats(r * K), B = rng.floats(N * r), y0 = rng.floats(T * N);
    const dy = rng.floats(T * N), dA0 = rng.floats(r * K), dB0 = rng.floats(N * r), dx0 = rng.floats(T * K);

    const tx = tensorFrom(gpu, x, [T, K]), tA = tensorFrom(gpu, A, [r, K]), tB = tensorFrom(gpu, B, [N, r]);
    const ty = tensorFrom(gpu, y0, [T, N]), txa = createTensor(gpu, [T, r]);
    loraForward(gpu, ty, txa, tx, tA, tB, o);
    const y = f64(y0), xa = new Float64Array(T * r);
    loraForwardRef(y, xa, x, A, B, o);
    expectClose(await readF32(gpu, txa), xa, 1e-5, 'xa');
    expectClose(await readF32(gpu, ty), y, 1e-5, 'y');

    const tdA = tensorFrom(gpu, dA0, [r, K]), tdB = tensorFrom(gpu, dB0, [N, r]), tdx = tensorFrom(gpu, dx0, [T, K]);
    const scratch = createTensor(gpu, [T, r]);
    loraBackward(gpu, tdA, tdB, tdx, tensorFrom(gpu, dy, [T, N]), tx, tA, tB, txa, scratch, o);
    const dA = f64(dA0), dB = f64(dB0), dx = f64(dx0), s = new Float64Array(T * r);
    loraBackwardRef(dA, dB, dx, dy, x, A, B, xa, s, o);
    expectClose(await readF32(gpu, tdA), dA, 1e-5, 'dA');
    expectClose(await readF32(gpu, tdB), dB, 1e-5, 'dB');
    expectClose(await readF32(gpu, tdx), dx, 1e-5, 'dx');
  });

  it.each(LONG_CASES.flatMap((c) => [[...c, 'default'], [...c, 'plain']] as const))('training kernels T=%i K=%i N=%i r=%i p=%f (%s device) match the reference', async (T, K, N, r, p, dev) => {
    const gpu = await testGpu(dev === 'plain' ? { f16: false, subgroups: false } : {});
    expectRunClose(await runBoth(gpu, T, K, N, r, { scale: 16 / r, dropout: p, seed: 4242 }));
  });

  it('seedBase: the mask uses seed + seedBase[0] (mod 2^32), bit-identical to the tiled GEMM path, on both devices', async () => {
    for (const dev of [{}, { f16: false, subgroups: false }]) {
      const gpu = await testGpu(dev);
      const T = 75, K = 260, N = 33, r = 16;
      const o = { scale: 2, dropout: 0.3, seed: 0xfffffff0 };
      // seed + base wraps past 2^32; dx starts at 0 so dropped entries stay exactly 0
      const fast = await runBoth(gpu, T, K, N, r, o, 0x7fffff00, true);
      expectRunClose(fast);
      const tiled = await runBoth(gpu, T, K, N, r, { ...o, tiled: true }, 0x7fffff00, true);
      const zeros = (a: Float32Array) => Array.from(a, (v) => (v === 0 ? 1 : 0));
      expect(zeros(fast.gpu.dx)).toEqual(zeros(tiled.gpu.dx));
      expect(zeros(fast.gpu.dx).some((z) => z === 1)).toBe(true);
      for (const k of ['xa', 'y', 'dA', 'dB', 'dx'] as const) expectClose(fast.gpu[k], tiled.gpu[k], 1e-5, `${k} fast vs tiled`);
    }
  });

  it('training kernels are deterministic; split sums agree with the reference on both devices', async () => {
    const gpu = await testGpu();
    const T = 200, K = 600, N = 300, r = 16, o = { scale: 2, dropout: 0.1, seed: 7 };
    const a = await runBoth(gpu, T, K, N, r, o, 5), b = await runBoth(gpu, T, K, N, r, o, 5);
    for (const k of ['xa', 'y', 'dA', 'dB', 'dx'] as const) expect(Array.from(a.gpu[k])).toEqual(Array.from(b.gpu[k]));
    const keep = { ...loraGemmSettings };
    try {
      Object.assign(loraGemmSettings, { targetWorkgroups: 1 }); // no splits
      expectRunClose(await runBoth(gpu, T, K, N, r, o, 5));
      Object.assign(loraGemmSettings, { targetWorkgroups: 1 << 16, minLSplit: 128, minTSplit: 64 }); // most splits
      expectRunClose(await runBoth(gpu, T, K, N, r, o, 5));
      for (const dev of [{}, { f16: false, subgroups: false }]) {
        Object.assign(loraGemmSettings, keep);
        expectRunClose(await runBoth(await testGpu(dev), T, K, N, r, o, 5));
        expectRunClose(await runBoth(await testGpu(dev), 70, 260, 36, 20, { ...o, dropout: 0 }));
      }
    } finally {
      Object.assign(loraGemmSettings, keep);
    }
  });

  it.each(CASES)('T=%i K=%i N=%i r=%i p=%f: reference backward = finite differences', (T, K, N, r, p) => {
    const rng = new Rng(7 + T + K + r);
    const o: LoraRefOpts = { T, K, N, r, scale: 2, dropout: p, seed: 99 };
    const x = f64(rng.floats(T * K)), A = f64(rng.floats(r * K)), B = f64(rng.floats(N * r)), G = f64(rng.floats(T * N));
    const loss = () => {
      const y = new Float64Array(T * N);
      loraForwardRef(y, new Float64Array(T * r), x, A, B, o);
      return dot(y, G);
    };
    const xa = new Float64Array(T * r);
    loraForwardRef(new Float64Array(T * N), xa, x, A, B, o);
    const dA = new Float64Array(r * K), dB = new Float64Array(N * r), dx = new Float64Array(T * K);
    loraBackwardRef(dA, dB, dx, G, x, A, B, xa, new Float64Array(T * r), o);
    // every element of small tensors, a seeded sample of 150 of large ones (keeps the test fast)
    const pick = (n: number) => (n <= 400 ? undefined : Array.from({ length: 150 }, () => rng.int(n)));
    for (const [name, g, v] of [['dA', dA, A], ['dB', dB, B], ['dx', dx, x]] as const) {
      const idx = pick(v.length);
      expectGradClose(g, centralDiff(loss, v, 1e-5, idx), 1e-7, name, idx);
    }
    if (p > 0) expect(dx.some((v) => v === 0)).toBe(true); // dropped inputs get no gradient
  });

  it('dropout changes xa and p = 0 equals no mask', async () => {
    const gpu = await testGpu();
    const T = 6, K = 41, N = 5, r = 4;
    const rng = new Rng(5);
    const x = tensorFrom(gpu, rng.floats(T * K), [T, K]), A = tensorFrom(gpu, rng.floats(r * K), [r, K]);
    const B = tensorFrom(gpu, rng.floats(N * r), [N, r]);
    const run = async (p: number, seed: number) => {
      const xa = createTensor(gpu, [T, r]);
      loraForward(gpu, createTensor(gpu, [T, N]), xa, x, A, B, { scale: 1, dropout: p, seed });
      return readF32(gpu, xa);
    };
    const plain = await run(0, 1);
    expect(Array.from(await run(0, 2))).toEqual(Array.from(plain));
    const d1 = await run(0.5, 1), d2 = await run(0.5, 2);
    expect(Array.from(d1)).not.toEqual(Array.from(plain));
    expect(Array.from(d1)).not.toEqual(Array.from(d2));
    expect(Array.from(await run(0.5, 1))).toEqual(Array.from(d1));
  });

  it('refuses bad shapes before dispatch', async () => {
    const gpu = await testGpu();
    const x = createTensor(gpu, [4, 6]), A = createTensor(gpu, [2, 6]), B = createTensor(gpu, [5, 2]);
    const o = { scale: 1, dropout: 0, seed: 0 };
    expect(() => loraForward(gpu, createTensor(gpu, [4, 4]), createTensor(gpu, [4, 2]), x, A, B, o)).toThrow(/loraForward.*y/);
    expect(() => loraForward(gpu, createTensor(gpu, [4, 5]), createTensor(gpu, [4, 2]), x, A, createTensor(gpu, [5, 3]), o)).toThrow(/rank/);
    expect(() => loraForward(gpu, createTensor(gpu, [4, 5]), createTensor(gpu, [4, 2]), x, A, B, { ...o, dropout: 1 })).toThrow(/dropout/);
  });

  // Decode (T ≤ 4): xa of up to three modules that share x in one dispatch (q/k/v, gate/up),
  // each equal to the reference's xa; K = 4 (one vec4) to 700 (several per invocation).
  it.each([[1, 4, 16, 3], [2, 36, 3, 2], [3, 700, 8, 1], [4, 128, 16, 3], [1, 4100, 4, 2], [2, 8192, 3, 3]] as const)('loraDownSmallMulti T=%i K=%i r=%i modules=%i on both devices', async (T, K, r, n) => {
    for (const dev of [{}, { f16: false, subgroups: false }]) {
      const gpu = await testGpu(dev);
      const rng = new Rng(T * 100 + K + r + n);
      const x = rng.floats(T * K);
      const As = Array.from({ length: n }, () => rng.floats(r * K));
      const xas = As.map(() => createTensor(gpu, [T, r]));
      loraDownSmallMulti(gpu, xas, tensorFrom(gpu, x, [T, K]), As.map((A) => tensorFrom(gpu, A, [r, K])));
      for (let i = 0; i < n; i++) {
        const want = new Float64Array(T * r);
        loraForwardRef(new Float64Array(T), want, x, As[i], new Float64Array(r), { T, K, N: 1, r, scale: 1, dropout: 0, seed: 0 });
        expectClose(await readF32(gpu, xas[i]), want, 1e-5, `xa[${i}]`);
      }
    }
  });

  it('loraDownSmallMulti refuses mismatched modules before dispatch', async () => {
    const gpu = await testGpu();
    const t = (shape: number[]) => createTensor(gpu, shape);
    const x = t([1, 8]);
    expect(() => loraDownSmallMulti(gpu, [t([1, 2])], x, [t([2, 8]), t([2, 8])])).toThrow(/1..3 modules/);
    expect(() => loraDownSmallMulti(gpu, [t([1, 2]), t([1, 2])], x, [t([2, 8]), t([3, 8])])).toThrow(/A\[1\]/);
    expect(() => loraDownSmallMulti(gpu, [t([1, 2])], t([1, 6]), [t([2, 6])])).toThrow(/multiple of 4/);
    const xa = t([1, 2]);
    expect(() => loraDownSmallMulti(gpu, [xa, xa], x, [t([2, 8]), t([2, 8])])).toThrow(/must not alias/);
    await gpu.sync();
  });
});
