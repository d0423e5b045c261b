import { describe, expect, it } from 'vitest';
import { Gpu } from '../../../src/gpu/core/context';
import { createTensor, readF32, tensorFrom } from '../../../src/gpu/core/tensor';
import { nf4Matmul, nf4MatmulBackward, nf4Upload } from '../../../src/gpu/ops/nf4';
import { pickTile } from '../../../src/gpu/ops/nf4.matmul';
import { nf4MatmulBackwardRef, nf4MatmulRef, nf4QuantizeRef } from '../../../src/gpu/ops/nf4.ref';
import { Rng } from '../../../src/util/rng';
import { runSelftest } from '../../../src/gpu/selftest';
import { testGpu } from '../../helpers/gpu';
import { expectClose } from '../../helpers/compare';

const TOL = 1e-5;

function setup(M: number, N: number, K: number, dq: boolean, seed: number) {
  const rng = new Rng(seed);
  const h = nf4QuantizeRef(rng.floats(N * K), N, K, { doubleQuant: dq });
  return { h, x: rng.floats(M * K), dy: rng.floats(M * N), y0: rng.floats(M * N), dx0: rng.floats(M * K) };
}

async function checkForward(gpu: Gpu, M: number, N: number, K: number, dq: boolean, gemv?: boolean) {
  const { h, x, y0 } = setup(M, N, K, dq, M * 7 + N * 13 + K);
  const w = nf4Upload(gpu, h);
  for (const [accumulate, tile] of [[false, 64], [true, 64], [false, 128], [true, 128]] as const) {
    if (gemv && tile === 128) continue;
    const y = tensorFrom(gpu, y0, [M, N]);
    nf4Matmul(gpu, y, tensorFrom(gpu, x, [M, K]), w, { accumulate, gemv, tile });
    const want = Float64Array.from(y0);
    nf4MatmulRef(want, x, h, M, accumulate);
    expectClose(await readF32(gpu, y), want, TOL, `forward ${M}x${N}x${K} dq=${dq} acc=${accumulate} tile=${tile}`);
  }
}

async function checkBackward(gpu: Gpu, M: number, N: number, K: number, dq: boolean) {
  const { h, dy, dx0 } = setup(M, N, K, dq, M * 5 + N * 3 + K);
  const w = nf4Upload(gpu, h);
  for (const [accumulate, tile] of [[false, 64], [true, 64], [false, 128], [true, 128]] as const) {
    const dx = tensorFrom(gpu, dx0, [M, K]);
    nf4MatmulBackward(gpu, dx, tensorFrom(gpu, dy, [M, N]), w, { accumulate, tile });
    const want = Float64Array.from(dx0);
    nf4MatmulBackwardRef(want, dy, h, M, accumulate);
    expectClose(await readF32(gpu, dx), want, TOL, `backward ${M}x${N}x${K} dq=${dq} acc=${accumulate} tile=${tile}`);
  }
}

// Odd shapes (not multiples of the 64×64×32 or 128×128×16 tiles), K both unaligned (element path) and % 8 = 0.
const SHAPES: [number, number, number][] = [
  [5, 7, 9], [17, 33, 65], [65, 63, 130], [67, 129, 96], [9, 70, 264], [70, 65, 1], [33, 1, 77], [131, 133, 40],
];

describe.each([
  ['default features', {}],
  ['no f16, no subgroups', { f16: false, subgroups: false }],
] as const)('nf4 matmul (%s)', (_name, disable) => {
  it('gets the device it asks for', async () => {
    const gpu = await testGpu(disable);
    if ('f16' in disable) expect([gpu.features.f16, gpu.features.subgroups]).toEqual([false, false]);
  });

  it.each(SHAPES)('forward matches the reference at M=%i N=%i K=%i', async (M, N, K) => {
    const gpu = await testGpu(disable);
    await checkForward(gpu, M, N, K, false);
    await checkForward(gpu, M, N, K, true);
  });

  it.each(SHAPES)('backward matches the reference at M=%i N=%i K=%i', async (M, N, K) => {
    const gpu = await testGpu(disable);
    await checkBackward(gpu, M, N, K, false);
    await checkBackward(gpu, M, N, K, true);
  });

  it.each([[1, 37, 72], [2, 130, 200], [3, 65, 67], [4, 9, 1000]])('GEMV path matches at M=%i N=%i K=%i', async (M, N, K) => {
    const gpu = await testGpu(disable);
    await checkForward(gpu, M, N, K, false, true);
    await checkForward(gpu, M, N, K, true, true);
    await checkForward(gpu, M, N, K, true, false); // the tiled path at small M too
  });
});

describe('nf4 matmul limits', () => {
  it('splits W by rows over the binding limit (forward, backward, GEMV)', async () => {
    const base = await testGpu();
    const gpu = new Gpu(base.device, { ...base.info, limits: { ...base.info.limits, maxStorageBufferBindingSize: 4096 } });
    const M = 6, N = 100, K = 128; // packed 6.4 KB: chunks of 60 rows (3.75 KB)
    await checkForward(gpu, M, N, K, true);
    await checkForward(gpu, 2, N, K, false, true);
    await checkBackward(gpu, M, N, K, true);
  });

  it('picks 128×128 tiles only when they fill a large GPU', () => {
    expect(pickTile(512, 1024)).toBe(64);
    expect(pickTile(512, 14336)).toBe(128);
    expect(pickTile(2048, 4096)).toBe(128);
    expect(pickTile(7, 100)).toBe(64);
  });

  it('refuses mismatched shapes before dispatch', async () => {
    const gpu = await testGpu();
    const w = nf4Upload(gpu, nf4QuantizeRef(new Float32Array(6 * 64), 6, 64));
    expect(() => nf4Matmul(gpu, createTensor(gpu, [3, 6]), createTensor(gpu, [3, 63]), w)).toThrow(/nf4Matmul: x/);
    expect(() => nf4Matmul(gpu, createTensor(gpu, [3, 5]), createTensor(gpu, [3, 64]), w)).toThrow(/nf4Matmul: y/);
    expect(() => nf4MatmulBackward(gpu, createTensor(gpu, [3, 64]), createTensor(gpu, [2, 6]), w)).toThrow(/nf4MatmulBackward/);
    expect(() => nf4Matmul(gpu, createTensor(gpu, [9, 6]), createTensor(gpu, [9, 64]), w, { gemv: true })).toThrow(/GEMV/);
  });
});

describe('runSelftest', () => {
  it.each([[[20, 70, 136]], [[2, 33, 64]]] as const)('passes on this GPU at %j', async (shape) => {
    const r = await runSelftest(await testGpu(), { shape: [...shape], iters: 2 });
    expect(r.ok).toBe(true);
    expect(r.maxError).toBeLessThan(1e-5);
    expect(r.ms).toBeGreaterThan(0);
    expect(r.path).toMatch(shape[0] <= 4 ? /gemv/ : /tiled/);
  });
});
