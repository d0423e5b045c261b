// Tensor-core (subgroup-matrix) NF4 (all kernels: staged, pipe, v3, dx) and 16-bit (bf16/f16) matmuls, src/gpu/ops/mma.ts. The software adapter has no
// subgroup matrices, so this file covers (1) the routing: without the feature (or with any
// requirement missing) nf4Matmul/nf4MatmulBackward take the f32 path; (2) the row-scale pass
// exactly; (3) the real WGSL of the kernels with the four subgroup-matrix builtins rewritten
// into a plain emulation (every lane holds a whole 16×16 matrix; f16 operands, f32 products),
// so tile staging, NF4→f16 dequantization, bounds, row scaling and the epilogue are checked at
// odd shapes against the f64 reference, also split along the reduction (split-K partials + the
// fixed-order reduce pass) and for 16-bit weights (power-of-two weight scale: bf16 values far
// beyond f16's range and tiny ones) (64×64 tiles only: lavapipe needs minutes to compile the
// emulated 128×128 variants, which differ only in constants and ran on the H200). The real
// builtins run in bench/mma-check.ts on a GPU.
// Tolerance 4e-3 of the largest reference magnitude: both operands are rounded to f16
// (relative 2^-11 each) before f32 accumulation; measured ~1e-3 (see bench/NOTES.md).

import { describe, expect, it } from 'vitest';
import type { Gpu } from '../../../src/gpu/core/context';
import { readF32, tensorFrom } from '../../../src/gpu/core/tensor';
import { nf4Matmul, nf4MatmulBackward, nf4Upload } from '../../../src/gpu/ops/nf4';
import { nf4MatmulBackwardRef, nf4MatmulRef, nf4QuantizeRef } from '../../../src/gpu/ops/nf4.ref';
import {
  MMA_MIN_M, matmul16BackwardMma, matmul16Mma, mmaSettings, mmaSource, mmaUnsupportedReason, nf4MatmulBackwardMma,
  nf4MatmulMma, pickMmaPlan, pickMmaTile, useMma, DX_TILES, V3_TILES, type DxTile, type MmaKernel, type MmaTileSize,
} from '../../../src/gpu/ops/mma';
import { matmul16, weight16Upload } from '../../../src/gpu/ops/w16';
import { f32ToW16, matmul16BackwardRef, matmul16Ref, type Format16 } from '../../../src/gpu/ops/w16.ref';
import { Rng } from '../../../src/util/rng';
import { testGpu } from '../../helpers/gpu';
import { emulate } from '../../helpers/mma-emulation';

const TOL = 4e-3;

/** Max |a − b| over max |b| (no floor: tiny-magnitude cases must be judged on their own scale). */
function relErr(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let scale = 0, worst = 0;
  for (let i = 0; i < b.length; i++) scale = Math.max(scale, Math.abs(b[i]));
  for (let i = 0; i < a.length; i++) {
    if (!Number.isFinite(a[i])) return Infinity;
    worst = Math.max(worst, Math.abs(a[i] - b[i]));
  }
  return scale > 0 ? worst / scale : worst;
}

// ---- routing ----------------------------------------------------------------------------

const GOOD_INFO = {
  subgroupMinSize: 32, subgroupMaxSize: 32,
  subgroupMatrixConfigs: [{ componentType: 'f16', resultComponentType: 'f32', M: 16, N: 16, K: 16 }],
};
function fakeGpu(features: Partial<Gpu['features']>, adapterInfo: object | undefined): Gpu {
  const f = { f16: true, subgroups: true, timestamps: false, subgroupMatrix: true, ...features };
  return { features: f, device: { adapterInfo }, info: { vendor: 'amd' } } as unknown as Gpu;
}

describe('tensor-core routing', () => {
  it('needs every requirement', () => {
    expect(mmaUnsupportedReason(fakeGpu({}, GOOD_INFO))).toBeNull();
    expect(mmaUnsupportedReason(fakeGpu({ subgroupMatrix: false }, GOOD_INFO))).toMatch(/subgroup-matrix/);
    expect(mmaUnsupportedReason(fakeGpu({ f16: false }, GOOD_INFO))).toMatch(/f16/);
    expect(mmaUnsupportedReason(fakeGpu({ subgroups: false }, GOOD_INFO))).toMatch(/subgroups/);
    expect(mmaUnsupportedReason(fakeGpu({}, undefined))).toMatch(/unavailable/);
    expect(mmaUnsupportedReason(fakeGpu({}, { ...GOOD_INFO, subgroupMatrixConfigs: [{ componentType: 'f16', resultComponentType: 'f16', M: 16, N: 16, K: 16 }] })))
      .toMatch(/16×16×16/);
    expect(mmaUnsupportedReason(fakeGpu({}, { ...GOOD_INFO, subgroupMinSize: 16 }))).toMatch(/subgroup size/);
    // Dawn/Node reports no configurations on the device's adapterInfo: trusted on NVIDIA only
    const nv = { ...fakeGpu({}, { ...GOOD_INFO, subgroupMatrixConfigs: [] }), info: { vendor: 'nvidia' } } as unknown as Gpu;
    expect(mmaUnsupportedReason(nv)).toBeNull();
    expect(mmaUnsupportedReason(fakeGpu({}, { ...GOOD_INFO, subgroupMatrixConfigs: [] }))).toMatch(/16×16×16/);
  });

  it('routes M ≥ 16 with ≥ 256 64×64 output tiles, honours the switch and the per-call option', () => {
    const g = fakeGpu({}, GOOD_INFO);
    expect(useMma(g, 512, 4096)).toBe(true);
    expect(useMma(g, MMA_MIN_M, 64 * 256)).toBe(true);
    expect(useMma(g, MMA_MIN_M - 1, 64 * 256)).toBe(false);
    expect(useMma(g, 512, 1024)).toBe(false); // 128 tiles and no reduction length: the f32 path was faster
    expect(useMma(g, 512, 1024, undefined, 4096)).toBe(true); // split-K fills the GPU
    expect(useMma(g, 512, 1024, undefined, 512)).toBe(false); // too short to split
    expect(useMma(g, 37, 4096)).toBe(false);
    expect(useMma(g, 37, 4096, undefined, 4096)).toBe(true); // split 8: 9.6 vs 0.6–3.0 TFLOP/s (f32) on an H200
    expect(useMma(g, 20, 4096, undefined, 4096)).toBe(false); // below the split-K minimum M
    expect(useMma(g, MMA_MIN_M - 1, 8, true)).toBe(true);
    expect(useMma(g, 4096, 4096, false)).toBe(false);
    mmaSettings.enabled = false;
    try {
      expect(useMma(g, 4096, 4096)).toBe(false);
      expect(useMma(g, 4096, 4096, true)).toBe(true);
    } finally {
      mmaSettings.enabled = true;
    }
    expect(useMma(fakeGpu({ subgroupMatrix: false }, GOOD_INFO), 4096, 4096)).toBe(false);
    expect(() => useMma(fakeGpu({ f16: false }, GOOD_INFO), 4096, 4096, true)).toThrow(/unsupported/);
  });

  it('picks 128-tiles only when they fill the GPU', () => {
    expect(pickMmaTile(2048, 4096)).toBe(128);
    expect(pickMmaTile(2048, 1024)).toBe(64);
    expect(pickMmaTile(37, 14336)).toBe(64);
  });

  it('splits long reductions of small outputs (split-K plan)', () => {
    expect(pickMmaPlan(2048, 4096, 4096)).toEqual({ tile: 128, split: 1 }); // 512 tiles: no split
    expect(pickMmaPlan(512, 4096, 14336)).toEqual({ tile: 128, split: 2 }); // 128 tiles → 256 workgroups, one wave
    expect(pickMmaPlan(512, 4096, 128256)).toEqual({ tile: 128, split: 2 }); // lm_head dX
    expect(pickMmaPlan(523, 4096, 128256)).toEqual({ tile: 128, split: 8 }); // 160 tiles: 5 waves of 8 splits beat 2 of 2
    expect(pickMmaPlan(512, 14336, 4096)).toEqual({ tile: 128, split: 1 }); // 448 tiles ≥ a wave
    expect(pickMmaPlan(512, 1024, 4096)).toEqual({ tile: 128, split: 8 }); // each split ≥ 512 deep
    expect(pickMmaPlan(512, 1024, 600)).toEqual({ tile: 64, split: 1 });
    for (const [M, NO, R] of [[512, 4096, 14336], [37, 4096, 4096], [2048, 1024, 4096]]) {
      const p = pickMmaPlan(M, NO, R);
      expect(R / p.split).toBeGreaterThanOrEqual(512);
    }
  });

  it('the software adapter takes the f32 path (and refuses a forced tensor-core call)', async () => {
    const gpu = await testGpu();
    expect(gpu.features.subgroupMatrix).toBe(false);
    expect(useMma(gpu, 512, 4096)).toBe(false);
    const h = nf4QuantizeRef(new Rng(1).floats(24 * 40), 24, 40);
    const w = nf4Upload(gpu, h);
    const x = new Rng(2).floats(20 * 40);
    const y = tensorFrom(gpu, new Float32Array(20 * 24), [20, 24]);
    nf4Matmul(gpu, y, tensorFrom(gpu, x, [20, 40]), w);
    const want = new Float64Array(20 * 24);
    nf4MatmulRef(want, x, h, 20, false);
    expect(relErr(await readF32(gpu, y), want)).toBeLessThan(1e-5); // f32 accuracy: not the f16 path
    const dx = tensorFrom(gpu, new Float32Array(20 * 40), [20, 40]);
    expect(() => nf4MatmulBackward(gpu, dx, tensorFrom(gpu, new Float32Array(20 * 24), [20, 24]), w, { mma: true }))
      .toThrow(/unsupported/);
  });
});

// ---- emulated kernels -------------------------------------------------------------------

// The subgroup-matrix builtins are rewritten into plain WGSL by tests/helpers/mma-emulation.ts.

function weight(N: number, K: number, dq: boolean, seed: number) {
  return nf4QuantizeRef(new Rng(seed).floats(N * K), N, K, { doubleQuant: dq });
}

// Odd shapes: none a multiple of the tiles; K % 8 = 0 (word loader) and K % 8 ≠ 0 (element loader).
const SHAPES: [number, number, number][] = [[37, 70, 72], [130, 65, 96], [70, 129, 27]];

describe('tensor-core kernels (emulated builtins)', () => {
  it('emulation rewrites the kernel source completely', () => {
    for (const tile of [64, 128] as const) for (const bwd of [false, true]) for (const kind of ['nf4', 'w16'] as const) for (const k of ['staged', 'pipe', 'v3'] as const) emulate(mmaSource(tile, bwd, kind, k));
    expect(mmaSource(64, false, 'nf4', 'pipe')).not.toBe(mmaSource(64, false, 'nf4', 'staged'));
    expect(mmaSource(64, false, 'w16', 'pipe')).toBe(mmaSource(64, false, 'w16', 'staged')); // 16-bit weights: staged or v3
    expect(mmaSource(64, false, 'w16', 'v3')).toMatch(/struct Stage \{ a0: vec4<u32>, a1: vec4<u32>, w0: WStage, w1: WStage \}/);
    expect(mmaSource(64, false, 'w16', 'v3')).toMatch(/alias WStage = vec4<u32>/);
    expect(mmaSource(64, false, 'w16', 'v3')).not.toMatch(/lut2/);
    expect(mmaSource(64, false, 'nf4', 'v3')).toMatch(/struct Stage \{ a0: vec4<u32>, a1: vec4<u32>, w0: vec2<u32>, w1: vec2<u32> \}/); // 64-tile: PA = PB = 2
    expect(mmaSource(64, false)).toBe(mmaSource(64, false)); // one string object per variant (pipeline cache)
  });

  it.each(SHAPES)('forward matches the reference at M=%i N=%i K=%i', async (M, N, K) => {
    const gpu = await testGpu();
    // kernel 'pipe' falls back to 'staged' when K % 8 ≠ 0
    for (const [dq, tile, accumulate, kernel] of [[false, 64, false, 'pipe'], [true, 64, true, 'pipe'], [true, 64, true, 'staged'], [false, 64, false, 'v3'], [true, 64, true, 'v3']] as const) {
      const h = weight(N, K, dq, M + N + K);
      const rng = new Rng(M * 3 + K);
      const x = rng.floats(M * K), y0 = rng.floats(M * N);
      const y = tensorFrom(gpu, y0, [M, N]);
      nf4MatmulMma(gpu, y, tensorFrom(gpu, x, [M, K]), nf4Upload(gpu, h), { accumulate, tile: tile as MmaTileSize, kernel, source: emulate });
      const want = Float64Array.from(y0);
      nf4MatmulRef(want, x, h, M, accumulate);
      const err = relErr(await readF32(gpu, y), want);
      expect(err, `dq=${dq} tile=${tile} acc=${accumulate} ${kernel}`).toBeLessThan(TOL);
    }
  }, 900_000);

  it.each(SHAPES)('backward matches the reference at M=%i N=%i K=%i', async (M, N, K) => {
    const gpu = await testGpu();
    // kernel 'pipe' falls back to 'staged' when K % 8 ≠ 0
    for (const [dq, tile, accumulate, kernel] of [[false, 64, false, 'pipe'], [true, 64, true, 'pipe'], [true, 64, true, 'staged'], [false, 64, false, 'v3'], [true, 64, true, 'v3']] as const) {
      const h = weight(N, K, dq, M + 2 * N + K);
      const rng = new Rng(M * 5 + N);
      const dy = rng.floats(M * N), dx0 = rng.floats(M * K);
      const dx = tensorFrom(gpu, dx0, [M, K]);
      nf4MatmulBackwardMma(gpu, dx, tensorFrom(gpu, dy, [M, N]), nf4Upload(gpu, h), { accumulate, tile: tile as MmaTileSize, kernel, source: emulate });
      const want = Float64Array.from(dx0);
      nf4MatmulBackwardRef(want, dy, h, M, accumulate);
      const err = relErr(await readF32(gpu, dx), want);
      expect(err, `dq=${dq} tile=${tile} acc=${accumulate} ${kernel}`).toBeLessThan(TOL);
    }
  }, 900_000);

  it('keeps f16 precision for tiny and huge rows (power-of-two row scaling)', async () => {
    const gpu = await testGpu();
    const M = 24, N = 40, K = 64;
    const h = weight(N, K, true, 9);
    const w = nf4Upload(gpu, h);
    const dy = new Rng(10).floats(M * N);
    // rows at 1e-9 (f16 would flush them to zero), 1e-6, 1 and 1e6 (f16 would overflow)
    for (let m = 0; m < M; m++) for (let n = 0; n < N; n++) dy[m * N + n] *= [1e-9, 1e-6, 1, 1e6][m % 4];
    const dx = tensorFrom(gpu, new Float32Array(M * K), [M, K]);
    nf4MatmulBackwardMma(gpu, dx, tensorFrom(gpu, dy, [M, N]), w, { source: emulate });
    const got = await readF32(gpu, dx);
    const want = new Float64Array(M * K);
    nf4MatmulBackwardRef(want, dy, h, M, false);
    for (let m = 0; m < M; m++) {
      const err = relErr(got.subarray(m * K, (m + 1) * K), want.subarray(m * K, (m + 1) * K));
      expect(err, `row ${m}`).toBeLessThan(TOL);
    }
  }, 900_000);

  it('forward rows at 1e-20, zero, 3e30 and a negative peak stay within tolerance', async () => {
    const gpu = await testGpu();
    const M = 5, K = 300;
    const x = new Rng(3).floats(M * K);
    for (let i = 0; i < K; i++) { x[K + i] *= 1e-20; x[2 * K + i] = 0; x[3 * K + i] *= 3e30; }
    x[4 * K + 299] = -70000; // the peak in the last column, negative
    const y = tensorFrom(gpu, new Float32Array(M * 8), [M, 8]);
    const w = nf4Upload(gpu, weight(8, K, false, 4));
    nf4MatmulMma(gpu, y, tensorFrom(gpu, x, [M, K]), w, { source: emulate });
    const got = await readF32(gpu, y);
    const want = new Float64Array(M * 8);
    nf4MatmulRef(want, x, weight(8, K, false, 4), M, false);
    for (let m = 0; m < M; m++) {
      const err = relErr(got.subarray(m * 8, (m + 1) * 8), want.subarray(m * 8, (m + 1) * 8));
      expect(err, `row ${m}`).toBeLessThan(TOL);
    }
  }, 900_000);

  it('split-K (partials + fixed-order reduce) matches the reference, forward and backward', async () => {
    const gpu = await testGpu();
    const M = 40, N = 70, K = 200; // K = 200 in splits of 48/64 rows: a short last split
    const h = weight(N, K, true, 21);
    const w = nf4Upload(gpu, h);
    const rng = new Rng(22);
    const x = rng.floats(M * K), y0 = rng.floats(M * N), dy = rng.floats(M * N), dx0 = rng.floats(M * K);
    for (const [split, accumulate, kernel] of [[3, false, 'pipe'], [4, true, 'pipe'], [3, true, 'staged'], [3, false, 'v3'], [4, true, 'v3']] as const) {
      const y = tensorFrom(gpu, y0, [M, N]);
      nf4MatmulMma(gpu, y, tensorFrom(gpu, x, [M, K]), w, { accumulate, tile: 64, split, kernel, source: emulate });
      const wy = Float64Array.from(y0);
      nf4MatmulRef(wy, x, h, M, accumulate);
      expect(relErr(await readF32(gpu, y), wy), `fwd split=${split} ${kernel}`).toBeLessThan(TOL);
      const dx = tensorFrom(gpu, dx0, [M, K]);
      nf4MatmulBackwardMma(gpu, dx, tensorFrom(gpu, dy, [M, N]), w, { accumulate, tile: 64, split, kernel, source: emulate });
      const wdx = Float64Array.from(dx0);
      nf4MatmulBackwardRef(wdx, dy, h, M, accumulate);
      expect(relErr(await readF32(gpu, dx), wdx), `bwd split=${split} ${kernel}`).toBeLessThan(TOL);
    }
  }, 900_000);
});

describe('tensor-core NF4 v3 with 64-row subgroup blocks (emulated builtins)', () => {
  // The 128-tile configuration (128×256, BK = 16, 8 subgroups of 64×64: 16 accumulators, PB = 2)
  // needs 48.6 KiB of workgroup memory (lavapipe allows 32) and minutes of lavapipe compilation
  // per variant (a 64×64-block variant took 5 min): this runs the same code at a smaller
  // configuration of the same kind through the 128 plan tile (64×32 per subgroup, BN = 2·BM,
  // 4 subgroups, PB = 2): an odd shape over several tiles, split-K with a short last split,
  // accumulate, double-quant, forward and backward. Two 16-accumulator variants ran on lavapipe
  // once (64×64 BK 32, 64×128 BK 16: both pass); all variants pass at odd shapes on an H200
  // (bench/mma-check.ts, run 8).
  it('M=37 N=150 K=232 split=3', async () => {
    const gpu = await testGpu();
    const saved = V3_TILES[128];
    V3_TILES[128] = { bm: 64, bn: 128, bk: 16, wm: 64, wn: 32 };
    try {
      const M = 37, N = 150, K = 232;
      const h = weight(N, K, true, M + N);
      const w = nf4Upload(gpu, h);
      const rng = new Rng(K);
      const x = rng.floats(M * K), y0 = rng.floats(M * N), dy = rng.floats(M * N), dx0 = rng.floats(M * K);
      const o = { accumulate: true, tile: 128 as const, split: 3, kernel: 'v3' as const, source: emulate };
      const y = tensorFrom(gpu, y0, [M, N]);
      nf4MatmulMma(gpu, y, tensorFrom(gpu, x, [M, K]), w, o);
      const wy = Float64Array.from(y0);
      nf4MatmulRef(wy, x, h, M, true);
      expect(relErr(await readF32(gpu, y), wy), 'forward').toBeLessThan(TOL);
      const dx = tensorFrom(gpu, dx0, [M, K]);
      nf4MatmulBackwardMma(gpu, dx, tensorFrom(gpu, dy, [M, N]), w, o);
      const wdx = Float64Array.from(dx0);
      nf4MatmulBackwardRef(wdx, dy, h, M, true);
      expect(relErr(await readF32(gpu, dx), wdx), 'backward').toBeLessThan(TOL);
    } finally {
      V3_TILES[128] = saved;
    }
  }, 900_000);
});

describe('tensor-core NF4 dX kernel (emulated builtins)', () => {
  // nf4_mma_dx.wgsl ('dx'): the backward with the B tile stored transposed (tb, col_major loads)
  // or v3's layout (tb false). The real 128 tile (128×256, 8 subgroups of 64×64) needs 40–48 KiB
  // of workgroup memory (lavapipe allows 32): the same code at 64×128 (4 subgroups of 64×32,
  // BK 16, PB = 2: two word columns per warp, so the rotated stores of both half-warps run) and
  // 128×64 (BM > BN, as 256×128), plus the 64 plan tile (BK 32); odd shapes over several tiles,
  // split-K with a short last split, accumulate, double-quant; and bit-identical to v3 at the same plan.
  const CFGS: [string, DxTile][] = [
    ['64x128 tb', { bm: 64, bn: 128, bk: 16, wm: 64, wn: 32, tb: true }],
    ['128x64 tb', { bm: 128, bn: 64, bk: 16, wm: 64, wn: 32, tb: true }],
    ['64x128 row-major B', { bm: 64, bn: 128, bk: 16, wm: 64, wn: 32, tb: false }],
  ];
  it.each(CFGS)('%s: M=37 N=150 K=232 split 1 / 3, accumulate, double-quant', async (_name, cfg) => {
    const gpu = await testGpu();
    const saved = DX_TILES[128];
    DX_TILES[128] = cfg;
    try {
      const M = 37, N = 150, K = 232;
      for (const [dq, split, accumulate] of [[true, 3, true], [false, 1, false]] as const) {
        const h = weight(N, K, dq, M + N + split);
        const w = nf4Upload(gpu, h);
        const rng = new Rng(K + split);
        const dy = rng.floats(M * N), dx0 = rng.floats(M * K);
        const dx = tensorFrom(gpu, dx0, [M, K]);
        nf4MatmulBackwardMma(gpu, dx, tensorFrom(gpu, dy, [M, N]), w, { accumulate, tile: 128, split, kernel: 'dx', source: emulate });
        const wdx = Float64Array.from(dx0);
        nf4MatmulBackwardRef(wdx, dy, h, M, accumulate);
        expect(relErr(await readF32(gpu, dx), wdx), `dq=${dq} split=${split}`).toBeLessThan(TOL);
      }
    } finally {
      DX_TILES[128] = saved;
    }
  }, 900_000);

  it('64 plan tile equals v3 bit for bit (auto plan, accumulate) and the forward ignores it', async () => {
    const gpu = await testGpu();
    const M = 70, N = 136, K = 96;
    const h = weight(N, K, true, 5);
    const w = nf4Upload(gpu, h);
    const rng = new Rng(6);
    const dy = rng.floats(M * N), dx0 = rng.floats(M * K);
    const out: Float32Array[] = [];
    for (const kernel of ['v3', 'dx'] as const) {
      const dx = tensorFrom(gpu, dx0, [M, K]);
      nf4MatmulBackwardMma(gpu, dx, tensorFrom(gpu, dy, [M, N]), w, { accumulate: true, tile: 64, kernel, source: emulate });
      out.push(await readF32(gpu, dx));
    }
    const wdx = Float64Array.from(dx0);
    nf4MatmulBackwardRef(wdx, dy, h, M, true);
    expect(relErr(out[1], wdx)).toBeLessThan(TOL);
    expect(Array.from(out[1])).toEqual(Array.from(out[0]));
    expect(mmaSource(64, false, 'nf4', 'dx')).toBe(mmaSource(64, false, 'nf4', 'v3'));
    expect(mmaSource(64, true, 'w16', 'dx')).toBe(mmaSource(64, true, 'w16', 'v3'));
    expect(mmaSource(64, true, 'nf4', 'dx')).toMatch(/const TB = true;/);
    expect(mmaSource(64, true, 'nf4', 'dx')).toMatch(/subgroup_matrix_right<f16, 16, 16>, col_major>/);
  }, 900_000);
});

describe('tensor-core 16-bit v3 with 64-row subgroup blocks (emulated builtins)', () => {
  // As for NF4 above: the 128 plan tile at a smaller configuration of the same code (64×128,
  // BK 16, 4 subgroups of 64×32; the real 128×256 needs 45.5 KiB of workgroup memory), an odd
  // shape over several tiles, split-K with a short last split, accumulate, f16 and bf16.
  it('M=37 N=150 K=232 split=3', async () => {
    const gpu = await testGpu();
    const saved = V3_TILES[128];
    V3_TILES[128] = { bm: 64, bn: 128, bk: 16, wm: 64, wn: 32 };
    try {
      const M = 37, N = 150, K = 232;
      for (const format of ['bf16', 'f16'] as const) {
        const rng = new Rng(K + (format === 'f16' ? 1 : 0));
        const raw = f32ToW16(rng.floats(N * K).map((v) => v * 0.05), format);
        const w = weight16Upload(gpu, raw, N, K, format);
        const x = rng.floats(M * K), y0 = rng.floats(M * N), dy = rng.floats(M * N), dx0 = rng.floats(M * K);
        const o = { accumulate: true, tile: 128 as const, split: 3, kernel: 'v3' as const, source: emulate };
        const y = tensorFrom(gpu, y0, [M, N]);
        matmul16Mma(gpu, y, tensorFrom(gpu, x, [M, K]), w, o);
        const wy = Float64Array.from(y0);
        matmul16Ref(wy, x, raw, N, K, format, M, true);
        expect(relErr(await readF32(gpu, y), wy), `forward ${format}`).toBeLessThan(TOL);
        const dx = tensorFrom(gpu, dx0, [M, K]);
        matmul16BackwardMma(gpu, dx, tensorFrom(gpu, dy, [M, N]), w, o);
        const wdx = Float64Array.from(dx0);
        matmul16BackwardRef(wdx, dy, raw, N, K, format, M, true);
        expect(relErr(await readF32(gpu, dx), wdx), `backward ${format}`).toBeLessThan(TOL);
      }
    } finally {
      V3_TILES[128] = saved;
    }
  }, 900_000);
});

describe('tensor-core 16-bit weight kernels (emulated builtins)', () => {
  // [M, N, K, format, split, accumulate, kernel]: odd shapes; staged with even K (word loader) and
  // odd K (element loader); v3 (K % 8 == 0: vec4 loader; odd K falls back to staged)
  const CASES: [number, number, number, Format16, number, boolean, MmaKernel][] = [
    [37, 70, 72, 'bf16', 1, false, 'staged'], [33, 65, 96, 'f16', 2, true, 'staged'], [20, 129, 27, 'bf16', 3, false, 'staged'],
    [37, 70, 72, 'bf16', 1, false, 'v3'], [33, 65, 96, 'f16', 2, true, 'v3'], [70, 129, 40, 'bf16', 3, true, 'v3'], [20, 129, 27, 'f16', 1, false, 'v3'],
  ];
  it.each(CASES)('forward and backward match the reference at M=%i N=%i K=%i %s split=%i acc=%s %s', async (M, N, K, format, split, accumulate, kernel) => {
    const gpu = await testGpu();
    const rng = new Rng(M + N + K);
    const raw = f32ToW16(rng.floats(N * K).map((v) => v * 0.05), format);
    const w = weight16Upload(gpu, raw, N, K, format);
    const x = rng.floats(M * K), y0 = rng.floats(M * N), dy = rng.floats(M * N), dx0 = rng.floats(M * K);
    const y = tensorFrom(gpu, y0, [M, N]);
    matmul16Mma(gpu, y, tensorFrom(gpu, x, [M, K]), w, { accumulate, tile: 64, split, kernel, source: emulate });
    const wy = Float64Array.from(y0);
    matmul16Ref(wy, x, raw, N, K, format, M, accumulate);
    expect(relErr(await readF32(gpu, y), wy), 'forward').toBeLessThan(TOL);
    const dx = tensorFrom(gpu, dx0, [M, K]);
    matmul16BackwardMma(gpu, dx, tensorFrom(gpu, dy, [M, N]), w, { accumulate, tile: 64, split, kernel, source: emulate });
    const wdx = Float64Array.from(dx0);
    matmul16BackwardRef(wdx, dy, raw, N, K, format, M, accumulate);
    expect(relErr(await readF32(gpu, dx), wdx), 'backward').toBeLessThan(TOL);
  }, 900_000);

  it('bf16 weights beyond f16 range (1e6) or tiny (1e-7) stay exact after the power-of-two weight scale', async () => {
    const gpu = await testGpu();
    const M = 20, N = 24, K = 64;
    for (const [mag, kernel] of [[1e6, 'staged'], [1e-7, 'staged'], [1e6, 'v3'], [1e-7, 'v3']] as const) {
      const rng = new Rng(31);
      const raw = f32ToW16(rng.floats(N * K).map((v) => v * mag), 'bf16');
      const w = weight16Upload(gpu, raw, N, K, 'bf16');
      const x = rng.floats(M * K);
      const y = tensorFrom(gpu, new Float32Array(M * N), [M, N]);
      matmul16Mma(gpu, y, tensorFrom(gpu, x, [M, K]), w, { kernel, source: emulate });
      const got = await readF32(gpu, y);
      const want = new Float64Array(M * N);
      matmul16Ref(want, x, raw, N, K, 'bf16', M, false);
      expect(relErr(got, want), `|w| ~ ${mag} ${kernel}`).toBeLessThan(TOL);
    }
  }, 900_000);

  it('the software adapter routes matmul16 to the f32 path', async () => {
    const gpu = await testGpu();
    expect(useMma(gpu, 512, 128256, undefined, 4096)).toBe(false);
    const raw = f32ToW16(new Rng(5).floats(30 * 16), 'bf16');
    const w = weight16Upload(gpu, raw, 30, 16, 'bf16');
    const x = new Rng(6).floats(8 * 16);
    const y = tensorFrom(gpu, new Float32Array(8 * 30), [8, 30]);
    matmul16(gpu, y, tensorFrom(gpu, x, [8, 16]), w);
    const want = new Float64Array(8 * 30);
    matmul16Ref(want, x, raw, 30, 16, 'bf16', 8, false);
    expect(relErr(await readF32(gpu, y), want)).toBeLessThan(1e-5);
    expect(() => matmul16(gpu, y, tensorFrom(gpu, x, [8, 16]), w, { mma: true })).toThrow(/unsupported/);
  });
});
