// Tensor-core attention kernels (src/gpu/ops/attention.mma.ts) on the software adapter, which has
// no subgroup matrices: the kernels' own WGSL runs with the builtins rewritten into plain code
// (tests/helpers/mma-emulation.ts), against the f64 reference at odd sizes (T = 7, 37, 130; packed
// sequences; GQA; D = 16 and 32: lavapipe needs minutes to compile the emulated D = 128 variant,
// which differs only in constants and runs on the GPU in bench/attention.ts), plus the
// routing (the software adapter keeps the f32 kernels).
// Tolerance 4e-3 of the largest reference magnitude: q·scale, k, v and P are rounded to f16 (relative 2^-11 each) before f32 accumulation; measured
// errors are ~5e-4. A masking or indexing bug gives O(1e-1).

import { describe, expect, it } from 'vitest';
import { attentionBackward, attentionForward, type AttnShape } from '../../../src/gpu/ops/attention';
import { attentionBackwardRef, attentionForwardRef } from '../../../src/gpu/ops/attention.ref';
import {
  ATTN_MMA_DKV_TILES, ATTN_MMA_DQ_TILES, attnMmaBwdSettings, attnMmaBwdTiles, attnMmaDkvSmem, attnMmaDkvSource, dkvSplitFor, attnMmaDqSmem,
  attnMmaDqSource, type DkvTiles, type DqTiles,
} from '../../../src/gpu/ops/attention.mma.bwd';
import { ATTN_MMA_TILES, attnMmaFwdSmem, attnMmaFwdSource, attnMmaSettings, useAttnMma } from '../../../src/gpu/ops/attention.mma';
import type { Gpu } from '../../../src/gpu/core/context';
import { createTensor, readF32, tensorFrom } from '../../../src/gpu/core/tensor';
import { Rng } from '../../../src/util/rng';
import { testGpu } from '../../helpers/gpu';
import { expectClose, maxRelError } from '../../helpers/compare';
import { emulate } from '../../helpers/mma-emulation';

const TOL = 4e-3;

function segments(lengths: number[]): Int32Array {
  const s = new Int32Array(lengths.reduce((a, b) => a + b, 0));
  let t = 0;
  lengths.forEach((n, i) => s.fill(i, t, (t += n)));
  return s;
}

interface Case { segs: number[]; shape: AttnShape; qScale?: number }
const S82_16: AttnShape = { nHeads: 8, nKvHeads: 2, headDim: 16 };
const S41_16: AttnShape = { nHeads: 4, nKvHeads: 1, headDim: 16 };
const S41_32: AttnShape = { nHeads: 4, nKvHeads: 1, headDim: 32 };
const CASES: Case[] = [
  { segs: [7], shape: S82_16 },
  { segs: [20, 17], shape: S41_32 },
  { segs: [70, 60], shape: S41_16 },
  // large scores and TAU = 0 (below): every growth of a row's max rescales O
  { segs: [130], shape: S82_16, qScale: 12 },
];
const name = (c: Case) => `T=${c.segs.reduce((a, b) => a + b)} segs=[${c.segs}] H=${c.shape.nHeads} Hkv=${c.shape.nKvHeads} D=${c.shape.headDim}${c.qScale ? ` q×${c.qScale}` : ''}`;

function inputs(c: Case, seed: number) {
  const { nHeads: H, nKvHeads: Hkv, headDim: D } = c.shape;
  const segIds = segments(c.segs);
  const T = segIds.length;
  const rng = new Rng(seed);
  const s = c.qScale ?? 3;
  return { T, segIds, q: rng.floats(T * H * D, -s, s), k: rng.floats(T * Hkv * D), v: rng.floats(T * Hkv * D), dout: rng.floats(T * H * D) };
}

async function run(gpu: Gpu, c: Case, x: ReturnType<typeof inputs>) {
  const { nHeads: H, nKvHeads: Hkv, headDim: D } = c.shape;
  const T = x.T;
  const t = {
    q: tensorFrom(gpu, x.q, [T, H * D], 'q'), k: tensorFrom(gpu, x.k, [T, Hkv * D], 'k'),
    v: tensorFrom(gpu, x.v, [T, Hkv * D], 'v'), seg: tensorFrom(gpu, x.segIds, [T], 'segIds'),
    out: createTensor(gpu, [T, H * D], 'f32', 'out'), lse: createTensor(gpu, [H, T], 'f32', 'lse'),
  };
  await gpu.guarded('attention mma', () => {
    attentionForward(gpu, t.out, t.lse, t.q, t.k, t.v, t.seg, c.shape, 'mma', { source: emulate });
  });
  return t;
}

describe('tensor-core attention (emulated builtins)', () => {
  it('emulation rewrites the kernel sources completely', () => {
    for (const d of [16, 64, 128]) for (const [br, bc] of ATTN_MMA_TILES) expect(emulate(attnMmaFwdSource(d, { br, bc }))).not.toMatch(/subgroup/);
    expect(attnMmaFwdSource(128, { br: 64, bc: 64 })).toBe(attnMmaFwdSource(128, { br: 64, bc: 64 })); // one string object per variant
    expect(attnMmaFwdSmem(128, 64, 64)).toBeLessThanOrEqual(48 * 1024);
  });

  it.each(CASES.map((c) => [name(c), c] as const))('forward matches the reference at %s', async (_n, c) => {
    const gpu = await testGpu();
    const x = inputs(c, 17 + c.segs[0]);
    const tau = attnMmaSettings.tau;
    if (c.qScale) attnMmaSettings.tau = 0;
    const t = await run(gpu, c, x).finally(() => { attnMmaSettings.tau = tau; });
    const out = new Float64Array(x.q.length), lse = new Float64Array(c.shape.nHeads * x.T);
    attentionForwardRef(out, lse, x.q, x.k, x.v, x.segIds, c.shape);
    expectClose(await readF32(gpu, t.out), out, TOL, 'out');
    expectClose(await readF32(gpu, t.lse), lse, TOL, 'lse');
  }, 600_000);
});

describe('tensor-core attention routing', () => {
  it('the software adapter keeps the f32 kernels and refuses forced tensor cores', async () => {
    const gpu = await testGpu();
    expect(gpu.features.subgroupMatrix).toBe(false);
    expect(useAttnMma(gpu, 128, 'auto')).toBe(false);
    expect(useAttnMma(gpu, 128, 'tiled')).toBe(false);
    expect(() => useAttnMma(gpu, 128, 'mma')).toThrow(/unsupported/);
    expect(useAttnMma(gpu, 128, 'mma', true)).toBe(true); // emulated
    expect(() => useAttnMma(gpu, 24, 'mma', true)).toThrow(/multiple of 16/);
    expect(attnMmaSettings.enabled).toBeTypeOf('boolean');
  });
});

// Backward: dq, dk, dv from the reference forward's out and lse (so only the backward's f16
// rounding is measured): q·scale, k, v, dout·2^e, P and dS are f16, sums f32.
// split: the dk/dv row split (default: dkvSplitFor, i.e. 4 at these short lengths).
interface BwdCase extends Case { doutScale?: number; dq?: DqTiles; dkv?: DkvTiles; split?: number }
const BWD_CASES: BwdCase[] = [
  { segs: [7], shape: S82_16 },
  { segs: [20, 17], shape: S41_32 },
  { segs: [70, 60], shape: S41_16 },
  { segs: [130], shape: S82_16, doutScale: 1e-6 }, // tiny gradients: the per-call power of two keeps them
  // other tile variants: K, V in registers with 2 subgroups; small dq tiles
  { segs: [5, 32], shape: S41_32, dq: { br: 32, bc: 16 }, dkv: { bk: 32, bq: 32, kreg: true } },
  { segs: [37], shape: S82_16, dkv: { bk: 64, bq: 32, kreg: true } },
  { segs: [70, 60], shape: S82_16, split: 1 }, // no row split
  { segs: [130], shape: S41_32, split: 3 }, // a split count that is not a power of two
];
const bwdName = (c: BwdCase) => `${name(c)}${c.doutScale ? ` dout×${c.doutScale}` : ''}${c.dq ? ` dq ${c.dq.br}×${c.dq.bc}` : ''}${c.dkv ? ` dkv ${c.dkv.bk}×${c.dkv.bq}${c.dkv.kreg ? ' kreg' : ''}` : ''}${c.split ? ` split ${c.split}` : ''}`;

async function runBackward(gpu: Gpu, c: BwdCase, x: ReturnType<typeof inputs>, out: Float64Array, lse: Float64Array) {
  const { nHeads: H, nKvHeads: Hkv, headDim: D } = c.shape;
  const T = x.T;
  const t = {
    q: tensorFrom(gpu, x.q, [T, H * D], 'q'), k: tensorFrom(gpu, x.k, [T, Hkv * D], 'k'),
    v: tensorFrom(gpu, x.v, [T, Hkv * D], 'v'), seg: tensorFrom(gpu, x.segIds, [T], 'segIds'),
    dout: tensorFrom(gpu, x.dout, [T, H * D], 'dout'),
    out: tensorFrom(gpu, Float32Array.from(out), [T, H * D], 'out'), lse: tensorFrom(gpu, Float32Array.from(lse), [H, T], 'lse'),
    dq: createTensor(gpu, [T, H * D], 'f32', 'dq'), dk: createTensor(gpu, [T, Hkv * D], 'f32', 'dk'), dv: createTensor(gpu, [T, Hkv * D], 'f32', 'dv'),
  };
  attnMmaBwdSettings.dq = c.dq;
  attnMmaBwdSettings.dkv = c.dkv;
  attnMmaBwdSettings.dkvSplit = c.split;
  try {
    await gpu.guarded('attention mma backward', () => {
      attentionBackward(gpu, t.dq, t.dk, t.dv, t.dout, t.q, t.k, t.v, t.out, t.lse, t.seg, c.shape, 'mma', { source: emulate });
    });
  } finally {
    attnMmaBwdSettings.dq = attnMmaBwdSettings.dkv = attnMmaBwdSettings.dkvSplit = undefined;
  }
  return [await readF32(gpu, t.dq), await readF32(gpu, t.dk), await readF32(gpu, t.dv)];
}

describe('tensor-core attention backward (emulated builtins)', () => {
  it('sources are rewritten completely; tiles fit the H200 (48 KiB) and lavapipe (32 KiB) at D = 32', () => {
    for (const d of [16, 128]) {
      for (const t of ATTN_MMA_DQ_TILES) expect(emulate(attnMmaDqSource(d, t))).not.toMatch(/subgroup/);
      for (const t of ATTN_MMA_DKV_TILES) expect(emulate(attnMmaDkvSource(d, t))).not.toMatch(/subgroup/);
    }
    expect(attnMmaDqSmem(128, ATTN_MMA_DQ_TILES[0])).toBeLessThanOrEqual(48 * 1024);
    expect(attnMmaDkvSmem(128, ATTN_MMA_DKV_TILES[0])).toBeLessThanOrEqual(48 * 1024);
    expect(attnMmaDkvSmem(128, ATTN_MMA_DKV_TILES[1])).toBeLessThanOrEqual(48 * 1024);
    expect(attnMmaDqSmem(32, ATTN_MMA_DQ_TILES[0])).toBeLessThanOrEqual(32 * 1024);
    expect(attnMmaDkvSmem(32, ATTN_MMA_DKV_TILES[1])).toBeLessThanOrEqual(32 * 1024);
  });

  it('splits the dk/dv row walk only while its workgroups fill less than half a wave', () => {
    const t = ATTN_MMA_DKV_TILES[0]; // 64 keys
    expect(dkvSplitFor(512, 8, t)).toBe(4); // 64 workgroups
    expect(dkvSplitFor(1024, 8, t)).toBe(2); // 128
    expect(dkvSplitFor(2048, 8, t)).toBe(1); // 256: a wave already
    expect(dkvSplitFor(100000, 8, t)).toBe(1);
  });

  it.each(BWD_CASES.map((c) => [bwdName(c), c] as const))('backward matches the reference at %s', async (_n, c) => {
    const gpu = await testGpu();
    const x = inputs(c, 29 + c.segs[0]);
    if (c.doutScale) x.dout = x.dout.map((v) => v * c.doutScale!);
    expect(attnMmaBwdTiles(gpu, c.shape.headDim)).toBeDefined();
    const { nHeads: H, nKvHeads: Hkv, headDim: D } = c.shape;
    const out = new Float64Array(x.q.length), lse = new Float64Array(H * x.T);
    attentionForwardRef(out, lse, x.q, x.k, x.v, x.segIds, c.shape);
    const dq = new Float64Array(x.q.length), dk = new Float64Array(x.T * Hkv * D), dv = new Float64Array(x.T * Hkv * D);
    attentionBackwardRef(dq, dk, dv, x.dout, x.q, x.k, x.v, out, lse, x.segIds, c.shape);
    const got = await runBackward(gpu, c, x, out, lse);
    // relative to the largest reference magnitude with no floor (the dout×1e-6 case is ~1e-7)
    const errs = ([[got[0], dq], [got[1], dk], [got[2], dv]] as const).map(([a, b]) => maxRelError(a, b, 1e-30));
    expect(errs.every((e) => e <= TOL), `dq, dk, dv errors ${errs.map((e) => e.toExponential(2))}`).toBe(true);
    if (c.segs[0] === 7) { // deterministic: a second run is bit-identical
      const again = await runBackward(gpu, c, x, out, lse);
      for (let i = 0; i < 3; i++) expect(again[i]).toEqual(got[i]);
    }
  }, 600_000);
});
