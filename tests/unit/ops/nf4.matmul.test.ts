import { describe, expect, it } from 'vitest';
import { Gpu } from '../../../src/gpu/core/context';
import { createTensor, readF32, tensorFrom } from '../../../src/gpu/core/tensor';
import { nf4Matmul, nf4MatmulBackward, nf4Upload } from '../../../src/gpu/ops/nf4';
import { pickTile } from '../../../src/gpu/ops/nf4.matmul';
import { gemmBytes, gemmSettings, pickGemmConfig, pickGemmSplit, type GemmConfig } from '../../../src/gpu/ops/nf4.gemm';
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
  for (const [accumulate, tile] of [[false, 64], [true, 64], [false, 128], [true, 128], [false, undefined], [true, undefined]] as const) {
    if (gemv && tile !== 64) continue;
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
  for (const [accumulate, tile] of [[false, 64], [true, 64], [false, 128], [true, 128], [false, undefined], [true, undefined]] as const) {
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

// The v2 GEMM (nf4_gemm_v2.wgsl, taken when K % 8 == 0 and no tile is given) in every tile
// configuration and with split-K, odd M/N (and odd N = backward reduction), accumulate, double-quant.
const V2_SHAPES: [number, number, number][] = [[5, 7, 8], [130, 129, 136], [67, 200, 64], [129, 33, 264], [3, 1, 16]];
// BN = 64 tiles and RS (forward block scales reused across steps) too; K = 136 and 264 put 64-blocks
// across W rows, split 3 starts splits inside a block. 16/2 and 32/1/128 need > 32 KiB: skipped on lavapipe.
const V2_CONFIGS: GemmConfig[] = [
  { bk: 16, nbuf: 1 }, { bk: 8, nbuf: 2 }, { bk: 8, nbuf: 1 }, { bk: 16, nbuf: 2 },
  { bk: 16, nbuf: 1, rs: true }, { bk: 8, nbuf: 2, rs: true }, { bk: 16, nbuf: 1, bn: 64 }, { bk: 32, nbuf: 1, bn: 64 },
  { bk: 32, nbuf: 1, bn: 64, rs: true }, { bk: 8, nbuf: 1, bn: 64, rs: true }, { bk: 32, nbuf: 1, rs: true },
];

async function withGemm(s: Partial<typeof gemmSettings>, f: () => Promise<void>) {
  const keep = { ...gemmSettings };
  Object.assign(gemmSettings, s);
  try { await f(); } finally { Object.assign(gemmSettings, keep); delete gemmSettings.config; delete gemmSettings.split; if (keep.config) gemmSettings.config = keep.config; if (keep.split) gemmSettings.split = keep.split; }
}

describe.each([
  ['default features', {}],
  ['no f16, no subgroups', { f16: false, subgroups: false }],
] as const)('nf4 GEMM v2 (%s)', (_name, disable) => {
  it.each(V2_CONFIGS.map((c) => [JSON.stringify(c), c] as const))('matches the reference with %s', async (_n, config) => {
    const gpu = await testGpu(disable);
    const { bk } = config;
    if (gemmBytes(config) > (gpu.info.limits.maxComputeWorkgroupStorageSize ?? 16384)) return;
    for (const split of [1, 3]) {
      await withGemm({ config, split, kernel: 'v2' }, async () => {
        for (const [M, N, K] of V2_SHAPES) {
          const dq = (M + N) % 2 === 1;
          const { h, x, dy, y0, dx0 } = setup(M, N, K, dq, M + N + K + bk);
          const w = nf4Upload(gpu, h);
          for (const accumulate of [false, true]) {
            const y = tensorFrom(gpu, y0, [M, N]);
            nf4Matmul(gpu, y, tensorFrom(gpu, x, [M, K]), w, { accumulate, gemv: false, mma: false });
            const want = Float64Array.from(y0);
            nf4MatmulRef(want, x, h, M, accumulate);
            expectClose(await readF32(gpu, y), want, TOL, `v2 forward ${M}x${N}x${K} ${JSON.stringify(config)} split=${split} dq=${dq} acc=${accumulate}`);
            const dx = tensorFrom(gpu, dx0, [M, K]);
            nf4MatmulBackward(gpu, dx, tensorFrom(gpu, dy, [M, N]), w, { accumulate, mma: false });
            const wantDx = Float64Array.from(dx0);
            nf4MatmulBackwardRef(wantDx, dy, h, M, accumulate);
            expectClose(await readF32(gpu, dx), wantDx, TOL, `v2 backward ${M}x${N}x${K} ${JSON.stringify(config)} split=${split} dq=${dq} acc=${accumulate}`);
          }
        }
      });
    }
  });

  it('is bitwise repeatable and agrees with v1', async () => {
    const gpu = await testGpu(disable);
    const M = 70, N = 130, K = 192;
    const { h, x } = setup(M, N, K, true, 11);
    const w = nf4Upload(gpu, h);
    const run = async (s: Partial<typeof gemmSettings>) => {
      let out: Float32Array = new Float32Array(0);
      await withGemm(s, async () => {
        const y = createTensor(gpu, [M, N]);
        nf4Matmul(gpu, y, tensorFrom(gpu, x, [M, K]), w, { mma: false, gemv: false });
        out = await readF32(gpu, y);
      });
      return out;
    };
    const a = await run({ kernel: 'v2', split: 2 }), b = await run({ kernel: 'v2', split: 2 }), old = await run({ kernel: 'v1' });
    expect(a.every((v, i) => Object.is(v, b[i]))).toBe(true);
    expectClose(a, old, TOL, 'v2 vs v1');
  });
});

// Every v2 configuration reduces in increasing r with the same fma chain: the same bits at the
// same split boundaries (split 1: all; split 2: rsplit rounds to BK, so per BK) (forward and backward, double-quant, K = 200 and 136 put 64-blocks across W rows), also
// with W bound in row chunks (ebase ≠ 0 for RS).
describe('nf4 GEMM v2 configurations', () => {
  it('give bitwise identical results at the same split', async () => {
    const base = await testGpu({ f16: false, subgroups: false });
    const chunked = new Gpu(base.device, { ...base.info, limits: { ...base.info.limits, maxStorageBufferBindingSize: 8192 } });
    for (const [gpu, M, N, K] of [[base, 70, 130, 200], [chunked, 6, 200, 136]] as const) {
      const { h, x, dy } = setup(M, N, K, true, 5);
      const w = nf4Upload(gpu, h);
      for (const split of [1, 2]) {
        const outs: Float32Array[] = [];
        const first = new Map<number, Float32Array>();
        for (const config of V2_CONFIGS) {
          if (gemmBytes(config) > (gpu.info.limits.maxComputeWorkgroupStorageSize ?? 16384)) continue;
          await withGemm({ config, split, kernel: 'v2' }, async () => {
            const y = createTensor(gpu, [M, N]);
            nf4Matmul(gpu, y, tensorFrom(gpu, x, [M, K]), w, { mma: false, gemv: false });
            const dx = createTensor(gpu, [M, K]);
            nf4MatmulBackward(gpu, dx, tensorFrom(gpu, dy, [M, N]), w, { mma: false });
            const o = Float32Array.from([...(await readF32(gpu, y)), ...(await readF32(gpu, dx))]);
            const ref = split === 1 ? outs[0] ?? o : first.get(config.bk) ?? o;
            if (!first.has(config.bk)) first.set(config.bk, o);
            expect(o.every((v, i) => v === ref[i]), `${JSON.stringify(config)} split=${split}`).toBe(true);
            outs.push(o);
          });
        }
        expect(outs.length).toBeGreaterThan(5);
        const want = new Float64Array(M * N);
        nf4MatmulRef(want, x, h, M, false);
        expectClose(outs[0].subarray(0, M * N), want, TOL, `configs split=${split}`);
      }
    }
  });
});

describe('nf4 matmul limits', () => {
  it('picks the v2 tile depth from the workgroup-memory limit and splits small outputs', async () => {
    const base = await testGpu();
    const at = (limit: number) => pickGemmConfig(new Gpu(base.device, { ...base.info, limits: { ...base.info.limits, maxComputeWorkgroupStorageSize: limit } }));
    expect(at(49152)).toEqual({ bk: 16, nbuf: 1 });
    expect(at(32768)).toEqual({ bk: 16, nbuf: 1 });
    expect(at(16384)).toEqual({ bk: 8, nbuf: 1 });
    expect(gemmBytes(at(16384))).toBeLessThanOrEqual(16384);
    expect(pickGemmSplit(512, 1024, 4096)).toBe(8);
    expect(pickGemmSplit(512, 4096, 4096)).toBe(2);
    expect(pickGemmSplit(2048, 14336, 4096)).toBe(1);
    expect(pickGemmSplit(512, 4096, 1024)).toBe(2);
  });

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
