// The f32 tiled attention backward variants (attention.tiled.bwd.ts, attention_bwd_dq_tiled_pf.wgsl,
// attention_bwd_dkv_tiled_pf.wgsl) against the f64 reference at odd sizes (partial tiles, packed
// sequences, G = 4 heads per kv head, D = 16 / 128), on the default device and on one without f16
// and subgroups, plus the 16 KiB minimum (run for pf64; checked for fit for all). The variants share
// one summation order (that of the original kernels they replaced), so each is also compared bit
// for bit with the default variant, and a second run of the same variant must repeat its bits.
// Tolerance against the reference as attention.test.ts: 1e-4 of the largest reference magnitude.

import { afterEach, describe, expect, it } from 'vitest';
import { attentionBackward, type AttnShape } from '../../../src/gpu/ops/attention';
import { attentionBackwardRef, attentionForwardRef } from '../../../src/gpu/ops/attention.ref';
import { ATTN_BWD_DEFAULT, ATTN_BWD_VARIANTS, attnBwdPfConfig, attnBwdVariant, bwdPfSmem } from '../../../src/gpu/ops/attention.tiled.bwd';
import { attnTiledSettings } from '../../../src/gpu/ops/attention.tiled';
import { Gpu } from '../../../src/gpu/core/context';
import { createTensor, readF32, tensorFrom, writeTensor } from '../../../src/gpu/core/tensor';
import { Rng } from '../../../src/util/rng';
import { testGpu } from '../../helpers/gpu';
import { expectClose } from '../../helpers/compare';

const TOL = 1e-4;
const VARIANTS = Object.keys(ATTN_BWD_VARIANTS);
const PATHS: [string, () => Promise<Gpu>][] = [
  ['default features', () => testGpu()],
  ['no f16, no subgroups', () => testGpu({ subgroups: false, f16: false })],
];
const at16k = (g: Gpu) => new Gpu(g.device, { ...g.info, limits: { ...g.info.limits, maxComputeWorkgroupStorageSize: 16384 } });

const S82_16: AttnShape = { nHeads: 8, nKvHeads: 2, headDim: 16 };
const S41_128: AttnShape = { nHeads: 4, nKvHeads: 1, headDim: 128 };
const CASES: [number[], AttnShape][] = [[[1], S82_16], [[7], S82_16], [[20, 17], S82_16], [[20, 17], S41_128]];
const name = ([segs, s]: [number[], AttnShape]) => `segs=[${segs}] H=${s.nHeads} Hkv=${s.nKvHeads} D=${s.headDim}`;

afterEach(() => { attnTiledSettings.bwd = ATTN_BWD_DEFAULT; });

/**
 * Backward of `variant` from the reference forward's out and lse: close to the reference, the same
 * bits on a second run, and the same bits as variant `same` (when given).
 */
async function check(gpu: Gpu, variant: string, segs: number[], shape: AttnShape, seed: number, same?: string): Promise<void> {
  const { nHeads: H, nKvHeads: Hkv, headDim: D } = shape;
  const seg = new Int32Array(segs.reduce((a, b) => a + b));
  let t0 = 0;
  segs.forEach((n, i) => seg.fill(i, t0, (t0 += n)));
  const T = seg.length;
  const rng = new Rng(seed);
  const q = rng.floats(T * H * D, -3, 3), k = rng.floats(T * Hkv * D), v = rng.floats(T * Hkv * D), dout = rng.floats(T * H * D);
  const out = new Float64Array(T * H * D), lse = new Float64Array(H * T);
  attentionForwardRef(out, lse, q, k, v, seg, shape);
  const want = { dq: new Float64Array(T * H * D), dk: new Float64Array(T * Hkv * D), dv: new Float64Array(T * Hkv * D) };
  attentionBackwardRef(want.dq, want.dk, want.dv, dout, q, k, v, out, lse, seg, shape);
  const t = {
    q: tensorFrom(gpu, q, [T, H * D]), k: tensorFrom(gpu, k, [T, Hkv * D]), v: tensorFrom(gpu, v, [T, Hkv * D]),
    seg: tensorFrom(gpu, seg, [T]), out: tensorFrom(gpu, Float32Array.from(out), [T, H * D]),
    lse: tensorFrom(gpu, Float32Array.from(lse), [H, T]), dout: tensorFrom(gpu, dout, [T, H * D]),
    dq: createTensor(gpu, [T, H * D], 'f32'), dk: createTensor(gpu, [T, Hkv * D], 'f32'), dv: createTensor(gpu, [T, Hkv * D], 'f32'),
  };
  const run = async (name: string) => {
    attnTiledSettings.bwd = name;
    // Stale values must be overwritten (outputs are assigned, not accumulated).
    for (const x of [t.dq, t.dk, t.dv]) writeTensor(gpu, x, new Float32Array(x.shape[0] * x.shape[1]).fill(7));
    await gpu.guarded('attentionBackward', () =>
      attentionBackward(gpu, t.dq, t.dk, t.dv, t.dout, t.q, t.k, t.v, t.out, t.lse, t.seg, shape, 'tiled'));
    return [await readF32(gpu, t.dq), await readF32(gpu, t.dk), await readF32(gpu, t.dv)];
  };
  attnTiledSettings.bwd = variant;
  expect(attnBwdVariant(gpu, D)).toBeDefined(); // the tiled kernels run, not the simple fallback
  const got = await run(variant), again = await run(variant);
  const other = same && same !== variant ? await run(same) : null;
  (['dq', 'dk', 'dv'] as const).forEach((n, i) => {
    expectClose(got[i], want[n], TOL, n);
    expect(again[i], `${n} repeats bit for bit`).toEqual(got[i]);
    if (other) expect(got[i], `${n} equals ${same}'s bits`).toEqual(other[i]);
  });
}

describe('tiled attention backward variants', () => {
  for (const variant of VARIANTS)
    for (const [path, get] of PATHS)
      // The kernels use neither f16 nor subgroups: the plain device runs D = 16 only (lavapipe compiles slowly).
      it.each(CASES.filter((c) => path === PATHS[0][0] || c[1].headDim === 16).map((c) => [name(c), c] as const))(`${variant} matches the reference and ${ATTN_BWD_DEFAULT}'s bits (${path}) at %s`, async (_n, [segs, shape]) => {
        await check(await get(), variant, segs, shape, segs.length * 7 + shape.headDim, ATTN_BWD_DEFAULT);
      });

  // pf64 only: the 128-thread configs at 16 KiB take lavapipe minutes to compile (their
  // fit is checked in the config test below).
  for (const variant of ['pf64'])
    it(`${variant} fits 16 KiB at D = 128, matches the reference and repeats its bits`, async () => {
      const gpu = at16k(await testGpu({ subgroups: false, f16: false }));
      const c = attnBwdPfConfig(gpu, 128, ATTN_BWD_VARIANTS[variant])!;
      expect(bwdPfSmem.dq(c.dq.br, c.dq.bc, 128)).toBeLessThanOrEqual(16384);
      expect(bwdPfSmem.dkv(c.dkv.bc, c.dkv.br, 128)).toBeLessThanOrEqual(16384);
      await check(gpu, variant, [5, 12, 3], S41_128, 3);
    });

  it('picks 128 threads and 48 KiB tiles as named; pf128-k32 is the default; unknown names throw', async () => {
    expect(attnTiledSettings.bwd).toBe('pf128-k32');
    const gpu = await testGpu();
    expect(attnBwdVariant(gpu, 128)).toBeDefined();
    expect(attnBwdVariant(gpu, 6)).toBeUndefined(); // D % 4 != 0: the simple kernels
    const h200 = new Gpu(gpu.device, { ...gpu.info, limits: { ...gpu.info.limits, maxComputeWorkgroupStorageSize: 49152 } });
    expect(attnBwdPfConfig(h200, 128, ATTN_BWD_VARIANTS.pf128!)).toEqual({
      dq: { br: 32, bc: 16, tm: 2, ntc: 8 }, dkv: { bc: 16, br: 16, tmk: 1, ntc: 8 },
    });
    expect(attnBwdPfConfig(h200, 128, ATTN_BWD_VARIANTS['pf128-k32']!)!.dkv).toEqual({ bc: 32, br: 8, tmk: 2, ntc: 8 });
    for (const v of VARIANTS) {
      const c = attnBwdPfConfig(at16k(gpu), 128, ATTN_BWD_VARIANTS[v])!;
      expect(bwdPfSmem.dq(c.dq.br, c.dq.bc, 128)).toBeLessThanOrEqual(16384);
      expect(bwdPfSmem.dkv(c.dkv.bc, c.dkv.br, 128)).toBeLessThanOrEqual(16384);
    }
    attnTiledSettings.bwd = 'nope';
    expect(() => attnBwdVariant(gpu, 128)).toThrow(/unknown tiled backward variant/);
  });
});
