// Causal GQA flash attention: GPU vs the f64 reference (forward, backward, KV-cache decode), the
// reference backward vs central finite differences of the reference forward, tile choice under
// the 16 KiB workgroup-storage minimum, and shape errors. The default ('auto') path runs the
// tiled kernels wherever D % 4 == 0 (every size here, 16 KiB included); the simple kernels are
// covered by their own block (forced, and picked automatically at D = 6).
// Tolerances: GPU vs reference 1e-4 of the largest reference magnitude (f32 dot products over
// D <= 128 and softmax sums over T <= 130 give errors ~1e-6; 1e-4 leaves room for the driver's
// exp/log precision while catching any masking or indexing bug, which gives O(1e-1) errors).
// Finite differences run in f64 (h = 1e-5, central): truncation ~h², so 1e-6 is safe.

import { describe, expect, it } from 'vitest';
import {
  attentionBackward, attentionDecode, attentionForward, attentionTiles, ATTN_SMEM,
  kvCacheWrite, type AttnKernels, type AttnShape,
} from '../../../src/gpu/ops/attention';
import { ATTN_FWD_VARIANTS, attnFwdPfConfig, attnTiledSettings, pfSmem } from '../../../src/gpu/ops/attention.tiled';
import { ATTN_BWD_VARIANTS, attnBwdPfConfig, bwdPfSmem } from '../../../src/gpu/ops/attention.tiled.bwd';
import {
  attentionBackwardRef, attentionDecodeRef, attentionForwardRef, kvCacheWriteRef,
} from '../../../src/gpu/ops/attention.ref';
import { Gpu } from '../../../src/gpu/core/context';
import { createTensor, readF32, tensorFrom, writeTensor } from '../../../src/gpu/core/tensor';
import { Rng } from '../../../src/util/rng';
import { testGpu } from '../../helpers/gpu';
import { expectClose } from '../../helpers/compare';

const TOL = 1e-4;
const FD_TOL = 1e-6;

const PATHS: [string, () => Promise<Gpu>][] = [
  ['default features', () => testGpu()],
  ['no f16, no subgroups', () => testGpu({ subgroups: false, f16: false })],
];

/** The plain device with its workgroup storage limit lowered to the WebGPU minimum (16 KiB). */
let small: Promise<Gpu> | undefined;
function gpu16k(): Promise<Gpu> {
  small ??= testGpu({ subgroups: false, f16: false }).then(
    (g) => new Gpu(g.device, { ...g.info, limits: { ...g.info.limits, maxComputeWorkgroupStorageSize: 16384 } }),
  );
  return small;
}

function segments(lengths: number[]): Int32Array {
  const s = new Int32Array(lengths.reduce((a, b) => a + b, 0));
  let t = 0;
  lengths.forEach((n, i) => s.fill(i, t, (t += n)));
  return s;
}

interface Case { segs: number[]; shape: AttnShape }
const S41_8: AttnShape = { nHeads: 4, nKvHeads: 1, headDim: 8 };
const S82_16: AttnShape = { nHeads: 8, nKvHeads: 2, headDim: 16 };
const S41_128: AttnShape = { nHeads: 4, nKvHeads: 1, headDim: 128 };
const CASES: Case[] = [
  { segs: [1], shape: S41_8 },
  { segs: [7], shape: S82_16 },
  { segs: [3, 4], shape: S41_8 },
  { segs: [64], shape: S82_16 },
  { segs: [20, 30, 14], shape: S41_8 },
  { segs: [130], shape: S41_8 },
  { segs: [70, 60], shape: S82_16 },
  { segs: [1, 100, 29], shape: S41_8 },
  { segs: [9], shape: S41_128 },
  { segs: [5, 12, 3], shape: S41_128 },
];
const name = (c: Case) =>
  `T=${c.segs.reduce((a, b) => a + b)} segs=[${c.segs}] H=${c.shape.nHeads} Hkv=${c.shape.nKvHeads} D=${c.shape.headDim}`;

function inputs(c: Case, seed: number) {
  const { nHeads: H, nKvHeads: Hkv, headDim: D } = c.shape;
  const segIds = segments(c.segs);
  const T = segIds.length;
  const rng = new Rng(seed);
  // q spread over [-3, 3] so that some softmax rows are peaked, not just flat.
  return { T, segIds, q: rng.floats(T * H * D, -3, 3), k: rng.floats(T * Hkv * D), v: rng.floats(T * Hkv * D), dout: rng.floats(T * H * D) };
}

type Inputs = ReturnType<typeof inputs>;
type HostInputs = Omit<Inputs, 'q' | 'k' | 'v'> & { q: ArrayLike<number>; k: ArrayLike<number>; v: ArrayLike<number> };

function refForward(c: Case, x: HostInputs) {
  const { nHeads: H } = c.shape;
  const out = new Float64Array(x.q.length), lse = new Float64Array(H * x.T);
  attentionForwardRef(out, lse, x.q, x.k, x.v, x.segIds, c.shape);
  return { out, lse };
}

async function gpuForward(gpu: Gpu, c: Case, x: Inputs, kernels: AttnKernels = 'auto') {
  const { nHeads: H, nKvHeads: Hkv, headDim: D } = c.shape;
  const T = x.T;
  const t = {
    q: tensorFrom(gpu, x.q, [T, H * D], 'q'), k: tensorFrom(gpu, x.k, [T, Hkv * D], 'k'),
    v: tensorFrom(gpu, x.v, [T, Hkv * D], 'v'), seg: tensorFrom(gpu, x.segIds, [T], 'segIds'),
    out: createTensor(gpu, [T, H * D], 'f32', 'out'), lse: createTensor(gpu, [H, T], 'f32', 'lse'),
  };
  await gpu.guarded('attentionForward', () => attentionForward(gpu, t.out, t.lse, t.q, t.k, t.v, t.seg, c.shape, kernels));
  return t;
}

describe('attentionForward', () => {
  for (const [path, get] of PATHS)
    it.each(CASES.map((c) => [name(c), c] as const))(`matches the reference (${path}) at %s`, async (_n, c) => {
      const gpu = await get();
      const x = inputs(c, 1 + x0(c));
      const want = refForward(c, x);
      const t = await gpuForward(gpu, c, x);
      expectClose(await readF32(gpu, t.out), want.out, TOL, 'out');
      expectClose(await readF32(gpu, t.lse), want.lse, TOL, 'lse');
    });

  it.each(CASES.filter((c) => c.shape.headDim === 128).map((c) => [name(c), c] as const))(
    'matches the reference with 16 KiB of workgroup storage at %s', async (_n, c) => {
      const gpu = await gpu16k();
      const x = inputs(c, 5);
      const want = refForward(c, x);
      const t = await gpuForward(gpu, c, x);
      expectClose(await readF32(gpu, t.out), want.out, TOL, 'out');
      expectClose(await readF32(gpu, t.lse), want.lse, TOL, 'lse');
    });
});

function x0(c: Case): number {
  return c.segs.reduce((a, b) => a * 31 + b, c.shape.headDim);
}

describe('tile choice', () => {
  it('fits head_dim 128 in 16 KiB and uses bigger tiles when allowed', async () => {
    const base = await testGpu();
    const at = (limit: number) => new Gpu(base.device, { ...base.info, limits: { ...base.info.limits, maxComputeWorkgroupStorageSize: limit } });
    for (const kernel of ['fwd', 'dq', 'dkv'] as const) {
      const [a, b] = attentionTiles(at(16384), kernel, 128);
      expect(ATTN_SMEM[kernel](a, b, 128)).toBeLessThanOrEqual(16384);
      const [a2, b2] = attentionTiles(at(32768), kernel, 128);
      expect(ATTN_SMEM[kernel](a2, b2, 128)).toBeLessThanOrEqual(32768);
      expect(a2 * b2).toBeGreaterThan(a * b);
    }
    expect(() => attentionTiles(at(1024), 'dkv', 128)).toThrow(/workgroup storage/);
  });
});

describe('tiled tile choice', () => {
  it('fits every kernel in 16 KiB at head_dim 128, grows with the limit, and skips D % 4 != 0', async () => {
    const base = await testGpu();
    const at = (limit: number) => new Gpu(base.device, { ...base.info, limits: { ...base.info.limits, maxComputeWorkgroupStorageSize: limit } });
    const fv = ATTN_FWD_VARIANTS[attnTiledSettings.fwd], bv = ATTN_BWD_VARIANTS[attnTiledSettings.bwd];
    const f16k = attnFwdPfConfig(at(16384), 128, fv)!, f48k = attnFwdPfConfig(at(49152), 128, fv)!;
    expect(pfSmem(f16k.br, f16k.bc, 128, f16k.ntc, f16k.sg)).toBeLessThanOrEqual(16384);
    expect(pfSmem(f48k.br, f48k.bc, 128, f48k.ntc, f48k.sg)).toBeLessThanOrEqual(49152);
    expect(f48k.br * f48k.bc).toBeGreaterThan(f16k.br * f16k.bc);
    const b16k = attnBwdPfConfig(at(16384), 128, bv)!, b48k = attnBwdPfConfig(at(49152), 128, bv)!;
    expect(bwdPfSmem.dq(b16k.dq.br, b16k.dq.bc, 128)).toBeLessThanOrEqual(16384);
    expect(bwdPfSmem.dkv(b16k.dkv.bc, b16k.dkv.br, 128)).toBeLessThanOrEqual(16384);
    expect(bwdPfSmem.dkv(b48k.dkv.bc, b48k.dkv.br, 128)).toBeLessThanOrEqual(49152);
    expect(b48k.dq.br * b48k.dq.bc + b48k.dkv.bc * b48k.dkv.br).toBeGreaterThan(b16k.dq.br * b16k.dq.bc + b16k.dkv.bc * b16k.dkv.br);
    expect(attnFwdPfConfig(at(49152), 6, fv)).toBeUndefined();
    expect(attnBwdPfConfig(at(49152), 6, bv)).toBeUndefined();
  });
});

// The simple kernels are the fallback (D % 4 != 0, tiny workgroup storage): forced here, and
// picked automatically at D = 6.
describe('simple kernels (fallback)', () => {
  const S41_6: AttnShape = { nHeads: 4, nKvHeads: 1, headDim: 6 };
  const cases: [Case, AttnKernels][] = [
    [{ segs: [20, 30, 14], shape: S41_8 }, 'simple'],
    [{ segs: [5, 12, 3], shape: S41_128 }, 'simple'],
    [{ segs: [9, 8], shape: S41_6 }, 'auto'],
  ];
  it.each(cases.map(([c, k]) => [name(c), c, k] as const))('forward and backward match the reference at %s', async (_n, c, kernels) => {
    const gpu = await testGpu({ subgroups: false, f16: false });
    const { nHeads: H, nKvHeads: Hkv, headDim: D } = c.shape;
    const x = inputs(c, 11 + x0(c));
    const f = await gpuForward(gpu, c, x, kernels);
    const want = refForward(c, x);
    expectClose(await readF32(gpu, f.out), want.out, TOL, 'out');
    expectClose(await readF32(gpu, f.lse), want.lse, TOL, 'lse');
    const T = x.T;
    const dout = tensorFrom(gpu, x.dout, [T, H * D], 'dout');
    const dq = createTensor(gpu, [T, H * D], 'f32', 'dq');
    const dk = createTensor(gpu, [T, Hkv * D], 'f32', 'dk');
    const dv = createTensor(gpu, [T, Hkv * D], 'f32', 'dv');
    await gpu.guarded('attentionBackward', () =>
      attentionBackward(gpu, dq, dk, dv, dout, f.q, f.k, f.v, f.out, f.lse, f.seg, c.shape, kernels));
    const g = refBackward(c, x, want.out, want.lse);
    expectClose(await readF32(gpu, dq), g.dq, TOL, 'dq');
    expectClose(await readF32(gpu, dk), g.dk, TOL, 'dk');
    expectClose(await readF32(gpu, dv), g.dv, TOL, 'dv');
  });
});

function refBackward(c: Case, x: HostInputs, out: ArrayLike<number>, lse: ArrayLike<number>) {
  const dq = new Float64Array(x.q.length), dk = new Float64Array(x.k.length), dv = new Float64Array(x.v.length);
  attentionBackwardRef(dq, dk, dv, x.dout, x.q, x.k, x.v, out, lse, x.segIds, c.shape);
  return { dq, dk, dv };
}

describe('attentionBackward', () => {
  const run = async (gpu: Gpu, c: Case, seed: number) => {
    const { nHeads: H, nKvHeads: Hkv, headDim: D } = c.shape;
    const x = inputs(c, seed);
    const f = await gpuForward(gpu, c, x);
    const T = x.T;
    const dout = tensorFrom(gpu, x.dout, [T, H * D], 'dout');
    const dq = createTensor(gpu, [T, H * D], 'f32', 'dq');
    const dk = createTensor(gpu, [T, Hkv * D], 'f32', 'dk');
    const dv = createTensor(gpu, [T, Hkv * D], 'f32', 'dv');
    // Stale values must be overwritten (outputs are assigned, not accumulated).
    for (const t of [dq, dk, dv]) writeTensor(gpu, t, new Float32Array(t.shape[0] * t.shape[1]).fill(7));
    await gpu.guarded('attentionBackward', () =>
      attentionBackward(gpu, dq, dk, dv, dout, f.q, f.k, f.v, f.out, f.lse, f.seg, c.shape));
    const want = refForward(c, x);
    const g = refBackward(c, x, want.out, want.lse);
    expectClose(await readF32(gpu, dq), g.dq, TOL, 'dq');
    expectClose(await readF32(gpu, dk), g.dk, TOL, 'dk');
    expectClose(await readF32(gpu, dv), g.dv, TOL, 'dv');
  };

  for (const [path, get] of PATHS)
    it.each(CASES.map((c) => [name(c), c] as const))(`matches the reference (${path}) at %s`, async (_n, c) => {
      await run(await get(), c, 2 + x0(c));
    });

  it.each(CASES.filter((c) => c.shape.headDim === 128).map((c) => [name(c), c] as const))(
    'matches the reference with 16 KiB of workgroup storage at %s', async (_n, c) => {
      await run(await gpu16k(), c, 6);
    });
});

describe('attentionBackwardRef', () => {
  // Loss L = Σ dout ∘ out(q, k, v); check dL/dx by central differences on sampled elements.
  const fdCases = CASES.filter((c) => c.shape.headDim <= 16 && c.segs.reduce((a, b) => a + b) > 1);
  it.each(fdCases.map((c) => [name(c), c] as const))('matches central finite differences at %s', (_n, c) => {
    const x = inputs(c, 3 + x0(c));
    const q = Float64Array.from(x.q), k = Float64Array.from(x.k), v = Float64Array.from(x.v);
    const f = refForward(c, { ...x, q, k, v });
    const g = refBackward(c, { ...x, q, k, v }, f.out, f.lse);
    const out = new Float64Array(q.length), lse = new Float64Array(c.shape.nHeads * x.T);
    const loss = () => {
      attentionForwardRef(out, lse, q, k, v, x.segIds, c.shape);
      let s = 0;
      for (let i = 0; i < out.length; i++) s += x.dout[i] * out[i];
      return s;
    };
    const rng = new Rng(99);
    const h = 1e-5;
    for (const [xs, grad, what] of [[q, g.dq, 'dq'], [k, g.dk, 'dk'], [v, g.dv, 'dv']] as const) {
      const idx = xs.length <= 64 ? [...xs.keys()] : Array.from({ length: 24 }, () => rng.int(xs.length));
      const num = idx.map((i) => {
        const x0v = xs[i];
        xs[i] = x0v + h;
        const up = loss();
        xs[i] = x0v - h;
        const down = loss();
        xs[i] = x0v;
        return (up - down) / (2 * h);
      });
      expectClose(idx.map((i) => grad[i]), num, FD_TOL, what);
    }
  });
});

describe('kvCacheWrite + attentionDecode', () => {
  // One sequence fed in chunks (prefill, then single tokens and small batches); every chunk's
  // output must equal the forward's rows for the same tokens, and the decode reference.
  const decodeCases: [string, AttnShape, number[]][] = [
    ['H=8 Hkv=2 D=16', S82_16, [5, 1, 3, 8, 1, 2]],
    ['H=4 Hkv=1 D=8, len > 64', S41_8, [60, 1, 8, 1, 3]],
    ['H=4 Hkv=1 D=128', S41_128, [4, 1, 2]],
  ];
  for (const [path, get] of PATHS)
    it.each(decodeCases)(`matches the forward (${path}) at %s`, async (_n, shape, chunks) => {
      const gpu = await get();
      const { nHeads: H, nKvHeads: Hkv, headDim: D } = shape;
      const T = chunks.reduce((a, b) => a + b);
      const c: Case = { segs: [T], shape };
      const x = inputs(c, 4 + T);
      const full = await readF32(gpu, (await gpuForward(gpu, c, x)).out);
      const C = Hkv * D, maxT = T + 3;
      const kCache = createTensor(gpu, [maxT, C], 'f32', 'kCache');
      const vCache = createTensor(gpu, [maxT, C], 'f32', 'vCache');
      const kRef = new Float64Array(maxT * C), vRef = new Float64Array(maxT * C);
      let pos = 0;
      for (const B of chunks) {
        const rows = (a: Float32Array, w: number) => a.slice(pos * w, (pos + B) * w);
        const qB = rows(x.q, H * D), kB = rows(x.k, C), vB = rows(x.v, C);
        const out = createTensor(gpu, [B, H * D], 'f32', 'out');
        await gpu.guarded('decode', () => {
          kvCacheWrite(gpu, kCache, vCache, tensorFrom(gpu, kB, [B, C], 'k'), tensorFrom(gpu, vB, [B, C], 'v'), pos);
          attentionDecode(gpu, out, tensorFrom(gpu, qB, [B, H * D], 'q'), kCache, vCache, pos + B, shape);
        });
        kvCacheWriteRef(kRef, vRef, kB, vB, pos, C);
        const want = new Float64Array(B * H * D);
        attentionDecodeRef(want, qB, kRef, vRef, pos + B, shape);
        const got = await readF32(gpu, out);
        expectClose(got, want, TOL, `decode ref at pos ${pos}`);
        expectClose(got, rows(full, H * D), TOL, `forward rows at pos ${pos}`);
        pos += B;
      }
      expectClose((await readF32(gpu, kCache)).subarray(0, T * C), x.k, 0, 'kCache');
      expectClose((await readF32(gpu, vCache)).subarray(0, T * C), x.v, 0, 'vCache');
    });
});

describe('attention shape errors', () => {
  it('refuses bad inputs before dispatch', async () => {
    const gpu = await testGpu();
    const s = S41_8;
    const T = 5;
    const t = (shape: number[], dtype: 'f32' | 'i32' = 'f32') => createTensor(gpu, shape, dtype);
    const q = t([T, 32]), k = t([T, 8]), v = t([T, 8]), seg = t([T], 'i32');
    expect(() => attentionForward(gpu, t([T, 32]), t([4, T]), q, k, v, t([T], 'f32'), s)).toThrow(/attentionForward: segIds must be i32/);
    expect(() => attentionForward(gpu, t([T, 32]), t([4, T]), q, t([T, 16]), v, seg, s)).toThrow(/attentionForward: k has shape/);
    expect(() => attentionForward(gpu, t([T, 32]), t([4, T]), q, k, v, seg, { ...s, nKvHeads: 3 })).toThrow(/multiple of nKvHeads/);
    expect(() => attentionForward(gpu, q, t([4, T]), q, k, v, seg, s)).toThrow(/must not share a buffer/);
    expect(() => attentionBackward(gpu, t([T, 32]), t([T, 8]), t([T, 8]), t([T, 32]), q, k, v, t([T, 32]), t([T, 4]), seg, s))
      .toThrow(/attentionBackward: lse has shape/);
    expect(() => kvCacheWrite(gpu, t([8, 8]), t([8, 8]), t([2, 8]), t([2, 8]), 7)).toThrow(/do not fit a cache of 8 rows/);
    expect(() => attentionDecode(gpu, t([2, 32]), t([2, 32]), t([8, 8]), t([8, 8]), 1, s)).toThrow(/len 1 must be in/);
    expect(() => attentionDecode(gpu, t([2, 32]), t([2, 32]), t([8, 8]), t([8, 8]), 9, s)).toThrow(/len 9 must be in/);
  });
});
