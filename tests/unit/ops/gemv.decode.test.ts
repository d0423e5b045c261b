// Decode kernels (T ≤ 4) against the f64 references, on the default device and on one without
// shader-f16 and subgroups: the vectorized NF4 GEMV (v2 nf4_gemv_v2.wgsl by default, its row /
// workgroup / table variants and v1 nf4_gemv_vec.wgsl; K % 32 == 0; v3 nf4_gemv_v3.wgsl and its
// plans, K % 64 == 0) with and without its fused LoRA epilogue, bitwise determinism, row-chunked
// weights, and LoRA's small-M forward
// (lora_xa.wgsl + lora_yb.wgsl). Tolerance 1e-5 relative to the largest reference value, as for
// the other NF4 matmuls: f32 accumulation over K ≤ 700 with dequantized weights exact in f32.
import { describe, expect, it } from 'vitest';
import { Gpu } from '../../../src/gpu/core/context';
import { createTensor, readF32, tensorFrom } from '../../../src/gpu/core/tensor';
import { loraForward } from '../../../src/gpu/ops/lora';
import { loraForwardRef, type LoraRefOpts } from '../../../src/gpu/ops/lora.ref';
import { nf4Matmul, nf4Upload } from '../../../src/gpu/ops/nf4';
import { gemvSettings, gemvV2Rows, gemvVecRows } from '../../../src/gpu/ops/nf4.matmul';
import { gemvV3Plan, type GemvV3Plan } from '../../../src/gpu/ops/nf4.gemv.v3';
import { nf4MatmulRef, nf4QuantizeRef } from '../../../src/gpu/ops/nf4.ref';
import { Rng } from '../../../src/util/rng';
import { testGpu } from '../../helpers/gpu';
import { expectClose } from '../../helpers/compare';

const TOL = 1e-5;

async function checkGemv(gpu: Gpu, M: number, N: number, K: number, dq: boolean, r: number) {
  const rng = new Rng(M * 101 + N * 7 + K + r + (dq ? 1 : 0));
  const h = nf4QuantizeRef(rng.floats(N * K), N, K, { doubleQuant: dq });
  const w = nf4Upload(gpu, h);
  const x = rng.floats(M * K), y0 = rng.floats(M * N), B = rng.floats(N * Math.max(r, 1)), xa = rng.floats(M * Math.max(r, 1));
  const scale = 1.75;
  for (const accumulate of [false, true]) {
    const y = tensorFrom(gpu, y0, [M, N]);
    const lora = r > 0 ? { B: tensorFrom(gpu, B, [N, r]), xa: tensorFrom(gpu, xa, [M, r]), scale } : undefined;
    nf4Matmul(gpu, y, tensorFrom(gpu, x, [M, K]), w, { accumulate, lora });
    const want = Float64Array.from(y0);
    nf4MatmulRef(want, x, h, M, accumulate);
    if (r > 0) for (let m = 0; m < M; m++) for (let n = 0; n < N; n++) {
      let d = 0;
      for (let j = 0; j < r; j++) d += B[n * r + j] * xa[m * r + j];
      want[m * N + n] += scale * d;
    }
    expectClose(await readF32(gpu, y), want, TOL, `gemv ${M}x${N}x${K} dq=${dq} acc=${accumulate} r=${r}`);
  }
}

describe.each([
  ['default features', {}],
  ['no f16, no subgroups', { f16: false, subgroups: false }],
] as const)('decode kernels (%s)', (_name, disable) => {
  it.each([[1, 37, 96], [2, 131, 160], [3, 3, 32], [4, 300, 64], [1, 1030, 32], [2, 9, 1024]])(
    'vectorized NF4 GEMV matches at M=%i N=%i K=%i (with and without LoRA epilogue)', async (M, N, K) => {
      const gpu = await testGpu(disable);
      if ('f16' in disable) expect([gpu.features.f16, gpu.features.subgroups]).toEqual([false, false]);
      for (const dq of [false, true]) for (const r of [0, 3, 16]) await checkGemv(gpu, M, N, K, dq, r);
    });

  it.each([
    ['v1 kernel', { kernel: 'v1' }], ['v2 only', { kernel: 'v2' }], ['v2 R=1', { rows: 1, kernel: 'v2' }], ['v2 R=2 WG=128', { rows: 2, wg: 128, kernel: 'v2' }],
    ['v2 R=4', { rows: 4, kernel: 'v2' }], ['v2 byte-pair table', { lut: 'pair', kernel: 'v2' }],
  ] as const)('decode GEMV variant %s matches', async (_v, s: Partial<typeof gemvSettings>) => {
    const gpu = await testGpu(disable);
    const keep = { ...gemvSettings };
    Object.assign(gemvSettings, s);
    try {
      await checkGemv(gpu, 2, 131, 160, true, 3);
      await checkGemv(gpu, 3, 9, 1024, false, 0);
    } finally {
      Object.assign(gemvSettings, keep);
    }
  });

  // v3 (K % 64 == 0; no subgroups, so both devices run the same code): plans with R rows per
  // slot, P lanes, U blocks per iteration and WG invocations; odd N, M = 1..4, dq on/off, LoRA,
  // accumulate; blocks per row below, equal to and not a multiple of P·U. (lavapipe compiles the
  // unrolled R·M·U accumulation slowly: the explicit large plans run at M = 1.)
  it.each([
    ['v3 default', {}, 4], ['v3 R=1 P=32 U=1', { rows: 1, lanes: 32, unroll: 1 }, 4], ['v3 R=2 P=128 U=2', { rows: 2, lanes: 128, unroll: 2 }, 2],
    ['v3 R=8 P=64 U=1', { rows: 8, lanes: 64, unroll: 1 }, 1], ['v3 R=2 P=32 U=3 WG=128', { rows: 2, lanes: 32, unroll: 3, wg: 128 }, 1],
    // word layout: vec words per lane, consecutive lanes on consecutive words
    ['v3 words V=1 R=4 P=32 U=2', { vec: 1, rows: 4, lanes: 32, unroll: 2 }, 2], ['v3 words V=2 R=2 P=64 U=1', { vec: 2, rows: 2, lanes: 64, unroll: 1 }, 4],
    ['v3 words V=4 R=1 P=16 U=3 WG=64', { vec: 4, rows: 1, lanes: 16, unroll: 3, wg: 64 }, 3],
    // pipe: the next iteration's loads in registers before this one's decode
    ['v3 pipe', { pipe: true }, 4], ['v3 pipe R=2 P=32 U=2', { pipe: true, rows: 2, lanes: 32, unroll: 2 }, 2],
    ['v3 words V=2 pipe R=2 P=32 U=2', { vec: 2, pipe: true, rows: 2, lanes: 32, unroll: 2 }, 2],
    ['v3 words V=1 pipe R=2 P=32 U=4 (M ≥ 2 default from 4096 rows)', { vec: 1, pipe: true, rows: 2, lanes: 32, unroll: 4 }, 4],
    ['v3 words V=2 R=8 P=128 U=1 (M = 1 default from 4096 rows)', { vec: 2, rows: 8, lanes: 128, unroll: 1 }, 1],
  ] as const)('decode GEMV %s matches', async (_v, plan: Partial<GemvV3Plan>, maxM: number) => {
    const gpu = await testGpu(disable);
    const keep = { ...gemvSettings };
    Object.assign(gemvSettings, { kernel: 'v3', v3: plan });
    try {
      await checkGemv(gpu, Math.min(maxM, 2), 131, 192, true, 3);
      await checkGemv(gpu, 1, 37, 64, true, 16);
      await checkGemv(gpu, maxM, 70, 448, false, 5);
      if (maxM >= 3) await checkGemv(gpu, 3, 9, 1024, false, 0);
    } finally {
      Object.assign(gemvSettings, keep);
    }
  });

  it('v3 gives the same bits run to run and agrees with v1', async () => {
    const gpu = await testGpu(disable);
    const [M, N, K] = [3, 300, 2048];
    const rng = new Rng(6);
    const w = nf4Upload(gpu, nf4QuantizeRef(rng.floats(N * K), N, K, { doubleQuant: true }));
    const x = tensorFrom(gpu, rng.floats(M * K), [M, K]);
    const run = async (kernel: 'v1' | 'v3') => {
      const keep = { ...gemvSettings };
      Object.assign(gemvSettings, { kernel, v3: {} });
      try {
        const y = createTensor(gpu, [M, N]);
        nf4Matmul(gpu, y, x, w);
        return await readF32(gpu, y);
      } finally {
        Object.assign(gemvSettings, keep);
      }
    };
    const a = await run('v3'), b = await run('v3'), ref = await run('v1');
    expect(Array.from(b)).toEqual(Array.from(a));
    expectClose(a, Float64Array.from(ref), TOL, 'v3 vs v1');
  });

  it('the GEMV gives the same bits run to run', async () => {
    const gpu = await testGpu(disable);
    const [M, N, K] = [2, 300, 2048];
    const rng = new Rng(5);
    const w = nf4Upload(gpu, nf4QuantizeRef(rng.floats(N * K), N, K, { doubleQuant: true }));
    const x = tensorFrom(gpu, rng.floats(M * K), [M, K]);
    const runs: Float32Array[] = [];
    for (let i = 0; i < 3; i++) {
      const y = createTensor(gpu, [M, N]);
      nf4Matmul(gpu, y, x, w);
      runs.push(await readF32(gpu, y));
    }
    expect(Array.from(runs[1])).toEqual(Array.from(runs[0]));
    expect(Array.from(runs[2])).toEqual(Array.from(runs[0]));
  });

  it('LoRA epilogue also on the element GEMV path (K % 32 != 0)', async () => {
    const gpu = await testGpu(disable);
    await checkGemv(gpu, 3, 45, 72, true, 5);
    await checkGemv(gpu, 1, 17, 67, false, 2);
  });

  it.each([[1, 37, 29, 3], [2, 700, 33, 16], [3, 19, 300, 8], [4, 64, 5, 1]])(
    'small-M LoRA forward matches at T=%i K=%i N=%i r=%i', async (T, K, N, r) => {
      const gpu = await testGpu(disable);
      const rng = new Rng(T + K * 3 + N * 5 + r);
      const o: LoraRefOpts = { T, K, N, r, scale: 16 / r, dropout: 0, seed: 1 };
      const x = rng.floats(T * K), A = rng.floats(r * K), B = rng.floats(N * r), y0 = rng.floats(T * N);
      const want = Float64Array.from(y0), wantXa = new Float64Array(T * r);
      loraForwardRef(want, wantXa, x, A, B, o);
      for (const tiled of [false, true]) {
        const ty = tensorFrom(gpu, y0, [T, N]), txa = createTensor(gpu, [T, r]);
        loraForward(gpu, ty, txa, tensorFrom(gpu, x, [T, K]), tensorFrom(gpu, A, [r, K]), tensorFrom(gpu, B, [N, r]), { ...o, tiled });
        expectClose(await readF32(gpu, txa), wantXa, TOL, `xa tiled=${tiled}`);
        expectClose(await readF32(gpu, ty), want, TOL, `y tiled=${tiled}`);
      }
    });
});

describe('decode kernel plans', () => {
  it('row chunks over the binding limit keep the LoRA rows aligned', async () => {
    const base = await testGpu();
    const gpu = new Gpu(base.device, { ...base.info, limits: { ...base.info.limits, maxStorageBufferBindingSize: 4096 } });
    await checkGemv(gpu, 2, 100, 128, true, 4); // packed 6.4 KB: chunks of 60 rows
    await checkGemv(gpu, 1, 100, 128, false, 0);
    const keep = { ...gemvSettings };
    Object.assign(gemvSettings, { kernel: 'v3', v3: {} });
    try {
      await checkGemv(gpu, 2, 100, 128, true, 4);
      await checkGemv(gpu, 3, 100, 192, false, 0);
    } finally {
      Object.assign(gemvSettings, keep);
    }
  });

  it('v3 plans: runs 13/17/22 choices, R halved for small N, explicit fields kept', () => {
    expect(gemvV3Plan(1, 4096)).toEqual({ wg: 256, lanes: 128, rows: 8, unroll: 1, vec: 2, pipe: false });
    expect(gemvV3Plan(1, 1024)).toEqual({ wg: 256, lanes: 64, rows: 2, unroll: 2, vec: 0, pipe: false });
    expect(gemvV3Plan(4, 14336)).toEqual({ wg: 256, lanes: 32, rows: 2, unroll: 4, vec: 1, pipe: true });
    expect(gemvV3Plan(4, 1024)).toEqual({ wg: 256, lanes: 128, rows: 4, unroll: 1, vec: 0, pipe: false });
    expect(gemvV3Plan(1, 1024).rows).toBe(2);
    expect(gemvV3Plan(3, 300).rows).toBe(2);
    expect(gemvV3Plan(3, 100).rows).toBe(1);
    expect(gemvV3Plan(1, 1024, { rows: 8, lanes: 32 })).toEqual({ wg: 256, lanes: 32, rows: 8, unroll: 2, vec: 0, pipe: false });
  });

  it('v2 picks R rows per group: ≥ 128 workgroups of 8 groups', () => {
    expect(gemvV2Rows(1, 4096)).toBe(4);
    expect(gemvV2Rows(1, 14336)).toBe(4);
    expect(gemvV2Rows(1, 1024)).toBe(1);
    expect(gemvV2Rows(4, 14336)).toBe(4);
    expect(gemvV2Rows(3, 37)).toBe(1);
  });

  it('v1 picks R rows per workgroup: ≥ 256 workgroups, R·M ≤ 16', () => {
    expect(gemvVecRows(1, 4096)).toBe(16);
    expect(gemvVecRows(1, 14336)).toBe(16);
    expect(gemvVecRows(1, 1024)).toBe(4);
    expect(gemvVecRows(4, 4096)).toBe(4);
    expect(gemvVecRows(3, 37)).toBe(1);
  });

  it('refuses a LoRA epilogue of the wrong shape', async () => {
    const gpu = await testGpu();
    const w = nf4Upload(gpu, nf4QuantizeRef(new Float32Array(6 * 64), 6, 64));
    const y = createTensor(gpu, [1, 6]), x = createTensor(gpu, [1, 64]);
    expect(() => nf4Matmul(gpu, y, x, w, { lora: { B: createTensor(gpu, [5, 2]), xa: createTensor(gpu, [1, 2]), scale: 1 } })).toThrow(/lora.B/);
    expect(() => nf4Matmul(gpu, y, x, w, { lora: { B: createTensor(gpu, [6, 2]), xa: createTensor(gpu, [1, 3]), scale: 1 } })).toThrow(/lora.xa/);
  });
});
