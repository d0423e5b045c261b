// The f32 tiled attention forward variants (attention.tiled.ts, attention_fwd_tiled_pf.wgsl)
// against the f64 reference at odd sizes (partial tiles, packed sequences, G = 4 heads per kv
// head, D = 8 / 16 / 128), on the default device (subgroup row reductions where it has them)
// and on one without f16 and subgroups (workgroup-memory reductions), plus the 16 KiB minimum;
// a second run of the same variant must repeat its bits (no atomics, fixed summation order).
// Tolerance as attention.test.ts: 1e-4 of the largest reference magnitude.

import { afterEach, describe, expect, it } from 'vitest';
import { attentionForward, type AttnShape } from '../../../src/gpu/ops/attention';
import { attentionForwardRef } from '../../../src/gpu/ops/attention.ref';
import { ATTN_FWD_VARIANTS, attnFwdPfConfig, attnFwdVariant, ATTN_FWD_DEFAULT, attnTiledSettings, pfSmem } from '../../../src/gpu/ops/attention.tiled';
import { Gpu } from '../../../src/gpu/core/context';
import { createTensor, readF32, tensorFrom, writeTensor } from '../../../src/gpu/core/tensor';
import { Rng } from '../../../src/util/rng';
import { testGpu } from '../../helpers/gpu';
import { expectClose } from '../../helpers/compare';

const TOL = 1e-4;
const VARIANTS = Object.keys(ATTN_FWD_VARIANTS);
const PATHS: [string, () => Promise<Gpu>][] = [
  ['default features', () => testGpu()],
  ['no f16, no subgroups', () => testGpu({ subgroups: false, f16: false })],
];
const at16k = (g: Gpu) => new Gpu(g.device, { ...g.info, limits: { ...g.info.limits, maxComputeWorkgroupStorageSize: 16384 } });

const S41_8: AttnShape = { nHeads: 4, nKvHeads: 1, headDim: 8 };
const S82_16: AttnShape = { nHeads: 8, nKvHeads: 2, headDim: 16 };
const S41_128: AttnShape = { nHeads: 4, nKvHeads: 1, headDim: 128 };
const CASES: [number[], AttnShape][] = [
  [[1], S41_8], [[7], S82_16], [[70, 60], S82_16], [[1, 100, 29], S41_8], [[5, 12, 3], S41_128],
];
const name = ([segs, s]: [number[], AttnShape]) => `segs=[${segs}] H=${s.nHeads} Hkv=${s.nKvHeads} D=${s.headDim}`;

afterEach(() => { attnTiledSettings.fwd = ATTN_FWD_DEFAULT; });

async function check(gpu: Gpu, variant: string, segs: number[], shape: AttnShape, seed: number): Promise<void> {
  const { nHeads: H, nKvHeads: Hkv, headDim: D } = shape;
  const seg = new Int32Array(segs.reduce((a, b) => a + b));
  let t0 = 0;
  segs.forEach((n, i) => seg.fill(i, t0, (t0 += n)));
  const T = seg.length;
  const rng = new Rng(seed);
  const q = rng.floats(T * H * D, -3, 3), k = rng.floats(T * Hkv * D), v = rng.floats(T * Hkv * D);
  const out = new Float64Array(T * H * D), lse = new Float64Array(H * T);
  attentionForwardRef(out, lse, q, k, v, seg, shape);
  const t = {
    q: tensorFrom(gpu, q, [T, H * D]), k: tensorFrom(gpu, k, [T, Hkv * D]), v: tensorFrom(gpu, v, [T, Hkv * D]),
    seg: tensorFrom(gpu, seg, [T]), out: createTensor(gpu, [T, H * D], 'f32'), lse: createTensor(gpu, [H, T], 'f32'),
  };
  attnTiledSettings.fwd = variant;
  expect(attnFwdVariant(gpu, D)).toBeDefined(); // the tiled kernel runs, not the simple fallback
  const run = async () => {
    // Stale values must be overwritten (out and lse are assigned, not accumulated).
    for (const x of [t.out, t.lse]) writeTensor(gpu, x, new Float32Array(x.shape[0] * x.shape[1]).fill(7));
    await gpu.guarded('attentionForward', () => attentionForward(gpu, t.out, t.lse, t.q, t.k, t.v, t.seg, shape, 'tiled'));
    return [await readF32(gpu, t.out), await readF32(gpu, t.lse)];
  };
  const [gotOut, gotLse] = await run();
  expectClose(gotOut, out, TOL, 'out');
  expectClose(gotLse, lse, TOL, 'lse');
  const [againOut, againLse] = await run(); // deterministic: a second run repeats every bit
  expect(againOut, 'out repeats bit for bit').toEqual(gotOut);
  expect(againLse, 'lse repeats bit for bit').toEqual(gotLse);
}

describe('tiled attention forward variants', () => {
  for (const variant of VARIANTS)
    for (const [path, get] of PATHS)
      it.each(CASES.map((c) => [name(c), c] as const))(`${variant} matches the reference (${path}) at %s`, async (_n, [segs, shape]) => {
        await check(await get(), variant, segs, shape, segs.length * 7 + shape.headDim);
      });

  for (const variant of VARIANTS)
    it(`${variant} fits 16 KiB at D = 128 and matches the reference`, async () => {
      const gpu = at16k(await testGpu({ subgroups: false, f16: false }));
      const c = attnFwdPfConfig(gpu, 128, ATTN_FWD_VARIANTS[variant])!;
      expect(pfSmem(c.br, c.bc, 128, c.ntc, c.sg)).toBeLessThanOrEqual(16384);
      await check(gpu, variant, [5, 12, 3], S41_128, 3);
    });

  it('uses subgroup reductions only where the device has subgroups; pf128-wg is the default', async () => {
    expect(attnTiledSettings.fwd).toBe('pf128-wg');
    expect(attnFwdVariant(await testGpu(), 128)).toMatchObject({ br: 32, tm: 2, ntc: 8, sg: false }); // bc from the storage limit
    expect(attnFwdVariant(await testGpu(), 6)).toBeUndefined(); // D % 4 != 0: the simple kernels
    const plain = await testGpu({ subgroups: false, f16: false });
    expect(attnFwdPfConfig(plain, 128, ATTN_FWD_VARIANTS.pf128)!.sg).toBe(false);
    const full = await testGpu();
    expect(attnFwdPfConfig(full, 128, ATTN_FWD_VARIANTS['pf128-wg'])!.sg).toBe(false);
    attnTiledSettings.fwd = 'nope';
    expect(() => attnFwdVariant(full, 128)).toThrow(/unknown tiled forward variant/);
  });
});
