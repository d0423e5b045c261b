// RoPE: llama3 inv_freq against hand-derived values of transformers' formula; forward/backward
// vs the f64 reference (angle = f32 product as in transformers); backward vs finite differences.
// GPU tolerance 2e-6 relative: the f32 angle is reduced mod 2π with ~4e-7 absolute error, then
// cos/sin (~1e-7) and two f32 products — positions go up to 131071 to exercise the reduction.
// FD tolerance 1e-8: the rotation is linear in x, so central differences are exact up to
// rounding.
import { describe, expect, it } from 'vitest';
import { ropeBackward, ropeBackwardQK, ropeForward, ropeForwardQK, ropeInvFreq } from '../../../src/gpu/ops/rope';
import { ropeBackwardRef, ropeForwardRef } from '../../../src/gpu/ops/rope.ref';
import { readF32, tensorFrom, createTensor } from '../../../src/gpu/core/tensor';
import { Rng } from '../../../src/util/rng';
import { testGpu } from '../../helpers/gpu';
import { expectClose } from '../../helpers/compare';
import { centralDiff, dot, expectGradClose, f64 } from './_finite-diff';

const LLAMA31 = {
  headDim: 128,
  ropeTheta: 500000,
  scaling: { factor: 8, lowFreqFactor: 1, highFreqFactor: 4, originalMaxPositionEmbeddings: 8192 },
};

// The hand derivations below are in f64; ropeInvFreq reproduces transformers' float32 arithmetic
// (bit-exact vs transformers in torch-parity.test.ts), so they agree to within a few f32 ulp.
function ulps(a: number, b: number): number {
  const f = new Float32Array([a, b]);
  const i = new Int32Array(f.buffer);
  return Math.abs(i[0] - i[1]);
}
const near = (got: number, want: number) => expect(ulps(got, want), `${got} vs ${want}`).toBeLessThanOrEqual(3);

describe('ropeInvFreq (llama3)', () => {
  const inv = ropeInvFreq(LLAMA31);
  const base = (i: number) => 1 / 500000 ** ((2 * i) / 128);

  it('has D/2 entries', () => expect(inv.length).toBe(64));

  it('keeps high frequencies (wavelength < 8192/4 = 2048): i = 0, 20, 28', () => {
    expect(inv[0]).toBe(1);
    // 500000^(-40/128) = 0.016560440080994446; 2π/that = 379 < 2048 → unchanged
    near(inv[20], 0.016560440080994446);
    near(inv[28], 0.0032114459947525913); // wavelength 1956.5 < 2048
  });

  it('divides low frequencies (wavelength > 8192) by factor 8: i = 35, 63', () => {
    // 500000^(-70/128) = 7.644969883171747e-4, wavelength 8218.8 > 8192
    near(inv[35], 7.644969883171747e-4 / 8);
    near(inv[63], 2.455140791131609e-6 / 8);
  });

  it('interpolates the band 2048 ≤ wavelength ≤ 8192: i = 29, 30, 34', () => {
    // smooth = (8192/wavelen − 1)/(4 − 1); v = (1 − smooth)·inv/8 + smooth·inv
    for (const [i, want] of [[29, 0.002166570763503359], [30, 0.0013718935677611381], [34, 0.00017850781276799638]]) {
      const b = base(i), wl = (2 * Math.PI) / b, sm = (8192 / wl - 1) / 3;
      expect(Math.abs((1 - sm) * b / 8 + sm * b - want) / want).toBeLessThan(1e-14); // formula re-derived here
      near(inv[i], want);
    }
  });

  it('without scaling is plain 1/theta^(2i/D)', () => {
    const plain = ropeInvFreq({ headDim: 6, ropeTheta: 10000 });
    [1, 10000 ** (-2 / 6), 10000 ** (-4 / 6)].forEach((w, i) => near(plain[i], w));
  });
});

describe('rope', () => {
  it.each([[7, 3, 6], [5, 2, 38], [3, 1, 2], [11, 4, 128]])('T=%i H=%i D=%i: GPU matches the reference', async (T, H, D) => {
    const gpu = await testGpu();
    const rng = new Rng(T * 100 + H * 10 + D);
    const x = rng.floats(T * H * D);
    const pos = Int32Array.from({ length: T }, (_, t) => (t < 3 ? t : rng.int(131072)));
    const invFreq = ropeInvFreq({ ...LLAMA31, headDim: D });
    const tx = tensorFrom(gpu, x, [T, H * D]), tp = tensorFrom(gpu, pos, [T]), tf = tensorFrom(gpu, invFreq, [D / 2]);
    ropeForward(gpu, tx, tp, tf, H, D);
    const want = f64(x);
    ropeForwardRef(want, pos, invFreq, H, D);
    expectClose(await readF32(gpu, tx), want, 2e-6, 'forward');
    ropeBackward(gpu, tx, tp, tf, H, D);
    ropeBackwardRef(want, pos, invFreq, H, D);
    expectClose(want, x, 1e-12, 'reference round trip');
    expectClose(await readF32(gpu, tx), x, 4e-6, 'backward undoes forward');
    const d = rng.floats(T * H * D);
    const td = tensorFrom(gpu, d, [T, H * D]);
    ropeBackward(gpu, td, tp, tf, H, D);
    const wd = f64(d);
    ropeBackwardRef(wd, pos, invFreq, H, D);
    expectClose(await readF32(gpu, td), wd, 2e-6, 'backward');
  });

  it('reference backward = finite differences', () => {
    const T = 4, H = 2, D = 10, rng = new Rng(1);
    const pos = [0, 5, 999, 70000], inv = ropeInvFreq({ ...LLAMA31, headDim: D });
    const x = f64(rng.floats(T * H * D)), G = f64(rng.floats(T * H * D));
    const loss = () => { const y = f64(x); ropeForwardRef(y, pos, inv, H, D); return dot(y, G); };
    const dx = f64(G);
    ropeBackwardRef(dx, pos, inv, H, D);
    expectGradClose(dx, centralDiff(loss, x), 1e-8, 'dx');
  });

  it('refuses bad shapes', async () => {
    const gpu = await testGpu();
    const pos = tensorFrom(gpu, Int32Array.from([0, 1]), [2]);
    const f = tensorFrom(gpu, new Float32Array(2), [2]);
    expect(() => ropeForward(gpu, createTensor(gpu, [2, 7]), pos, f, 2, 4)).toThrow(/ropeForward.*x/);
    expect(() => ropeForward(gpu, createTensor(gpu, [2, 8]), createTensor(gpu, [2]), f, 2, 4)).toThrow(/i32/);
    expect(() => ropeForward(gpu, createTensor(gpu, [2, 6]), pos, f, 1, 3)).toThrow(/even/);
  });

  // q and k in one dispatch (the model's path): bit-identical to rotating each alone.
  it.each([[7, 4, 2, 6], [3, 8, 1, 128]])('ropeForwardQK / ropeBackwardQK T=%i H=%i Hkv=%i D=%i equal the single-tensor kernels bit for bit', async (T, H, Hkv, D) => {
    const gpu = await testGpu();
    const rng = new Rng(T + H + Hkv + D);
    const q = rng.floats(T * H * D), k = rng.floats(T * Hkv * D);
    const pos = Int32Array.from({ length: T }, () => rng.int(131072));
    const tp = tensorFrom(gpu, pos, [T]), tf = tensorFrom(gpu, ropeInvFreq({ ...LLAMA31, headDim: D }), [D / 2]);
    for (const [pair, single] of [[ropeForwardQK, ropeForward], [ropeBackwardQK, ropeBackward]] as const) {
      const q1 = tensorFrom(gpu, q, [T, H * D]), k1 = tensorFrom(gpu, k, [T, Hkv * D]);
      const q2 = tensorFrom(gpu, q, [T, H * D]), k2 = tensorFrom(gpu, k, [T, Hkv * D]);
      pair(gpu, q1, k1, tp, tf, H, Hkv, D);
      single(gpu, q2, tp, tf, H, D);
      single(gpu, k2, tp, tf, Hkv, D);
      expect(Array.from(await readF32(gpu, q1))).toEqual(Array.from(await readF32(gpu, q2)));
      expect(Array.from(await readF32(gpu, k1))).toEqual(Array.from(await readF32(gpu, k2)));
    }
    const t = tensorFrom(gpu, q, [T, H * D]);
    expect(() => ropeForwardQK(gpu, t, t, tp, tf, H, H, D)).toThrow(/q and k/);
    expect(() => ropeForwardQK(gpu, t, createTensor(gpu, [T, Hkv * D + 2]), tp, tf, H, Hkv, D)).toThrow(/ropeForwardQK.*k/);
  });
});
