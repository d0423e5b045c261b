import { describe, expect, it } from 'vitest';
import { Gpu } from '../../../src/gpu/core/context';
import { createTensor, readF32, tensorFrom } from '../../../src/gpu/core/tensor';
import { embeddingGather, matmul16, matmul16Backward, weight16Upload } from '../../../src/gpu/ops/w16';
import {
  bf16ToF32, embeddingGatherRef, f16ToF32, f32ToBf16, f32ToF16, f32ToW16, matmul16BackwardRef, matmul16Ref,
  type Format16,
} from '../../../src/gpu/ops/w16.ref';
import { Rng } from '../../../src/util/rng';
import { testGpu } from '../../helpers/gpu';
import { expectClose } from '../../helpers/compare';

const TOL = 1e-5;
// K % 8 == 0 also takes the f32 GEMM v2 (no tile given): 40, 136, 264
const SHAPES: [number, number, number][] = [[5, 7, 9], [17, 33, 66], [65, 63, 130], [67, 129, 95], [3, 70, 1], [33, 1, 77], [131, 133, 40], [9, 37, 136], [130, 200, 264]];

function weights(N: number, K: number, format: Format16, seed: number): Uint16Array {
  const rng = new Rng(seed);
  const w = rng.floats(N * K);
  if (format === 'f16') w[0] = 3e-6; // an f16 subnormal
  return f32ToW16(w, format);
}

describe('16-bit conversions', () => {
  it('round-trip and round to nearest even', () => {
    expect(f32ToBf16(1)).toBe(0x3f80);
    expect(bf16ToF32(0x3f80)).toBe(1);
    expect(f32ToBf16(1 + 2 ** -8)).toBe(0x3f80); // tie → even
    expect(f32ToBf16(1 + 3 * 2 ** -8)).toBe(0x3f82); // tie → even (up)
    expect(f32ToF16(1)).toBe(0x3c00);
    expect(f32ToF16(65504)).toBe(0x7bff);
    expect(f32ToF16(1e6)).toBe(0x7c00);
    expect(f32ToF16(2 ** -24)).toBe(1);
    expect(f32ToF16(1 + 2 ** -11)).toBe(0x3c00);
    expect(f32ToF16(-2)).toBe(0xc000);
    expect(Number.isNaN(f16ToF32(f32ToF16(NaN)))).toBe(true);
    for (let h = 0; h < 0x7c00; h += 7) {
      expect(f32ToF16(f16ToF32(h))).toBe(h);
      expect(f32ToBf16(bf16ToF32(h))).toBe(h);
    }
  });
});

describe.each([
  ['default features', {}],
  ['no f16, no subgroups', { f16: false, subgroups: false }],
] as const)('matmul16 (%s)', (_name, disable) => {
  it.each(SHAPES)('forward and backward match the reference at M=%i N=%i K=%i', async (M, N, K) => {
    const gpu = await testGpu(disable);
    const rng = new Rng(M + N + K);
    for (const format of ['bf16', 'f16'] as const) {
      const raw = weights(N, K, format, N * K);
      const w = weight16Upload(gpu, raw, N, K, format);
      const x = rng.floats(M * K), dy = rng.floats(M * N), y0 = rng.floats(M * N), dx0 = rng.floats(M * K);
      // explicit tiles: the v1 kernel; no tile: the f32 GEMM v2 (16-bit format) where K % 8 == 0
      for (const [accumulate, tile] of [[false, 64], [true, 128], [true, undefined], [false, undefined]] as const) {
        const y = tensorFrom(gpu, y0, [M, N]);
        matmul16(gpu, y, tensorFrom(gpu, x, [M, K]), w, { accumulate, tile, mma: false, gemv: false });
        const want = Float64Array.from(y0);
        matmul16Ref(want, x, raw, N, K, format, M, accumulate);
        expectClose(await readF32(gpu, y), want, TOL, `forward ${format} tile=${tile}`);
        const dx = tensorFrom(gpu, dx0, [M, K]);
        matmul16Backward(gpu, dx, tensorFrom(gpu, dy, [M, N]), w, { accumulate, tile, mma: false });
        const wantDx = Float64Array.from(dx0);
        matmul16BackwardRef(wantDx, dy, raw, N, K, format, M, accumulate);
        expectClose(await readF32(gpu, dx), wantDx, TOL, `backward ${format} tile=${tile}`);
      }
    }
  });

  it.each([[1, 37, 72], [2, 130, 201], [4, 9, 1000], [1, 65, 4100]])('GEMV path matches at M=%i N=%i K=%i', async (M, N, K) => {
    const gpu = await testGpu(disable);
    const x = new Rng(K).floats(M * K);
    for (const format of ['bf16', 'f16'] as const) {
      const raw = weights(N, K, format, N + K);
      const w = weight16Upload(gpu, raw, N, K, format);
      for (const gemv of [true, false]) {
        const y = createTensor(gpu, [M, N]);
        matmul16(gpu, y, tensorFrom(gpu, x, [M, K]), w, { gemv });
        const want = new Float64Array(M * N);
        matmul16Ref(want, x, raw, N, K, format, M);
        expectClose(await readF32(gpu, y), want, TOL, `gemv=${gemv} ${format}`);
      }
    }
  });
});

describe('embeddingGather', () => {
  it.each([[5, 7, 9], [40, 33, 64]])('gathers T=%i rows of a [%i, %i] table', async (T, V, C) => {
    const gpu = await testGpu();
    const rng = new Rng(T);
    for (const format of ['bf16', 'f16'] as const) {
      const raw = weights(V, C, format, V * C);
      const table = weight16Upload(gpu, raw, V, C, format);
      const ids = Int32Array.from({ length: T }, (_, i) => (i === 2 ? -1 : i === 3 ? V : rng.int(V)));
      const out = tensorFrom(gpu, new Float32Array(T * C).fill(7), [T, C]);
      embeddingGather(gpu, out, tensorFrom(gpu, ids, [T]), table);
      const want = new Float32Array(T * C);
      embeddingGatherRef(want, ids, raw, V, C, format);
      expect(Array.from(await readF32(gpu, out))).toEqual(Array.from(want));
      expect(() => embeddingGather(gpu, out, tensorFrom(gpu, ids, [T]), table, ids)).toThrow(/outside the vocabulary/);
    }
  });

  it('splits a table larger than the binding limit (gather, forward, backward)', async () => {
    const base = await testGpu();
    const gpu = new Gpu(base.device, { ...base.info, limits: { ...base.info.limits, maxStorageBufferBindingSize: 4096 } });
    const V = 100, C = 64, M = 5; // 12.8 KB table: chunks of 30 rows
    const raw = weights(V, C, 'bf16', 1);
    const table = weight16Upload(gpu, raw, V, C, 'bf16');
    const ids = Int32Array.from([0, 99, 31, 64, -5, 30, 29]);
    const out = createTensor(gpu, [ids.length, C]);
    embeddingGather(gpu, out, tensorFrom(gpu, ids, [ids.length]), table);
    const want = new Float32Array(ids.length * C);
    embeddingGatherRef(want, ids, raw, V, C, 'bf16');
    expect(Array.from(await readF32(gpu, out))).toEqual(Array.from(want));
    const rng = new Rng(4);
    const x = rng.floats(M * C), dy = rng.floats(M * V);
    for (const gemv of [false, true]) {
      const m = gemv ? 2 : M;
      const y = createTensor(gpu, [m, V]);
      matmul16(gpu, y, tensorFrom(gpu, x.slice(0, m * C), [m, C]), table, { gemv });
      const wantY = new Float64Array(m * V);
      matmul16Ref(wantY, x, raw, V, C, 'bf16', m);
      expectClose(await readF32(gpu, y), wantY, TOL, `chunked forward gemv=${gemv}`);
    }
    const dx = createTensor(gpu, [M, C]);
    matmul16Backward(gpu, dx, tensorFrom(gpu, dy, [M, V]), table);
    const wantDx = new Float64Array(M * C);
    matmul16BackwardRef(wantDx, dy, raw, V, C, 'bf16', M);
    expectClose(await readF32(gpu, dx), wantDx, TOL, 'chunked backward');
  });

  it('refuses bad shapes before dispatch', async () => {
    const gpu = await testGpu();
    const w = weight16Upload(gpu, new Uint16Array(12), 3, 4, 'bf16');
    expect(() => weight16Upload(gpu, new Uint16Array(11), 3, 4, 'bf16')).toThrow(/weight16Upload/);
    expect(() => matmul16(gpu, createTensor(gpu, [2, 3]), createTensor(gpu, [2, 5]), w)).toThrow(/matmul16: x/);
    expect(() => matmul16Backward(gpu, createTensor(gpu, [2, 4]), createTensor(gpu, [2, 4]), w)).toThrow(/matmul16Backward/);
    expect(() => embeddingGather(gpu, createTensor(gpu, [2, 4]), createTensor(gpu, [2], 'f32'), w)).toThrow(/ids/);
  });
});
