import { describe, expect, it } from 'vitest';
import { Gpu } from '../../../src/gpu/core/context';
import { createTensor, packUniform, readF32, tensorFrom } from '../../../src/gpu/core/tensor';
import { nf4Dequantize, nf4Download, nf4Quantize, nf4Upload, nf4WeightBytes } from '../../../src/gpu/ops/nf4';
import { placeholder } from '../../../src/gpu/core/scratch';
import {
  createDynamicMap, nf4DequantizeRef, nf4QuantizeRef, quantizeNf4Value, recipF32,
} from '../../../src/gpu/ops/nf4.ref';
import { NF4_CODE, type Nf4Host } from '../../../src/gpu/ops/nf4.types';
import quantCode from '../../../shaders/nf4_quant.wgsl';
import { Rng } from '../../../src/util/rng';
import { testGpu } from '../../helpers/gpu';
import { expectClose } from '../../helpers/compare';

/** Random weights with all-zero, tiny, huge and subnormal blocks and exact zeros mixed in. */
function nastyWeights(n: number, seed: number): Float32Array {
  const rng = new Rng(seed);
  const w = new Float32Array(n);
  for (let i = 0; i < n; i++) w[i] = rng.normal() * 0.02;
  for (let b = 0; b * 64 < n; b++) {
    const lo = b * 64, hi = Math.min(n, lo + 64);
    const kind = b % 7;
    for (let i = lo; i < hi; i++) {
      if (kind === 1) w[i] = 0; // all-zero block
      else if (kind === 2) w[i] *= 1e-28; // ~1e-30
      else if (kind === 3) w[i] *= 1e32; // ~1e30
      else if (kind === 4 && i % 5 === 0) w[i] = 0; // exact zeros inside a block
      else if (kind === 5 && i === lo + 3) w[i] = -3 * Math.abs(w[i]) - 1e-3; // negative absmax
      else if (kind === 6) w[i] = i % 2 ? 1e-40 : -3e-39; // subnormal: flushed to zero like bnb's CUDA build
    }
  }
  return w;
}

function sameHost(got: Nf4Host, want: Nf4Host): void {
  expect(got.packed.length).toBe(want.packed.length);
  const bad = got.packed.findIndex((v, i) => v !== want.packed[i]);
  if (bad >= 0) throw new Error(`packed byte ${bad}: ${got.packed[bad].toString(16)} vs ${want.packed[bad].toString(16)}; absmax ${(got.absmax as Float32Array)[bad >> 5]} vs ${(want.absmax as Float32Array)[bad >> 5]}`);
  expect(Buffer.from(got.packed).equals(Buffer.from(want.packed))).toBe(true);
  if (want.absmax instanceof Float32Array) {
    expect(got.absmax).toBeInstanceOf(Float32Array);
    expect(Buffer.from((got.absmax as Float32Array).buffer).equals(Buffer.from(want.absmax.buffer))).toBe(true);
  } else {
    const g = got.absmax as Exclude<Nf4Host['absmax'], Float32Array>;
    expect(Buffer.from(g.codes).equals(Buffer.from(want.absmax.codes))).toBe(true);
    expect(Buffer.from(g.nestedAbsmax.buffer).equals(Buffer.from(want.absmax.nestedAbsmax.buffer))).toBe(true);
    expect(Buffer.from(g.quantMap.buffer).equals(Buffer.from(want.absmax.quantMap.buffer))).toBe(true);
    expect(Object.is(g.offset, want.absmax.offset)).toBe(true);
  }
}

describe('nf4 reference', () => {
  it('codes each value to its nearest NF4 code (ties aside)', () => {
    const rng = new Rng(1);
    for (let i = 0; i < 2000; i++) {
      const x = rng.uniform(-1, 1);
      const q = quantizeNf4Value(x);
      let best = 0;
      for (let c = 1; c < 16; c++) if (Math.abs(NF4_CODE[c] - x) < Math.abs(NF4_CODE[best] - x)) best = c;
      expect(q).toBe(best);
    }
    expect(quantizeNf4Value(NaN)).toBe(0);
  });

  it('builds bnb\'s signed dynamic map', () => {
    const m = createDynamicMap();
    expect(m.length).toBe(256);
    expect(m[255]).toBe(1);
    expect(m[0]).toBeCloseTo(-0.99296875, 6);
    expect(Array.from(m).filter((v) => v === 0).length).toBe(1);
    for (let i = 1; i < 256; i++) expect(m[i]).toBeGreaterThan(m[i - 1]);
  });

  it('handles the tail block, all-zero blocks and odd n like bnb', () => {
    const w = Float32Array.from([0.5, -1, 0.25]); // n = 3: one partial block, odd
    const h = nf4QuantizeRef(w, 1, 3);
    expect(h.absmax).toEqual(Float32Array.from([1]));
    expect(h.packed.length).toBe(2);
    expect(h.packed[1] & 15).toBe(7); // the zero padding codes to 0.0 (code 7)
    const z = nf4QuantizeRef(new Float32Array(65), 1, 65);
    expect(Array.from(z.packed)).toEqual(new Array(33).fill(0)); // 0·inf = NaN → code 0
    expect(nf4DequantizeRef(z).every((v) => v === 0)).toBe(true);
  });

  it('dequantizes within half a code step of the input', () => {
    const w = new Rng(3).floats(64 * 5);
    const h = nf4QuantizeRef(w, 5, 64, { doubleQuant: true });
    const d = nf4DequantizeRef(h);
    for (let i = 0; i < w.length; i++) expect(Math.abs(d[i] - w[i])).toBeLessThan(0.17);
  });
});

describe('nf4 GPU quantize', () => {
  it('computes correctly rounded reciprocals (integer long division)', async () => {
    const gpu = await testGpu();
    const rng = new Rng(9);
    const n = 4096;
    const v = new Float32Array(n);
    for (let i = 0; i < n; i++) v[i] = Math.fround(Math.exp(rng.uniform(-87, 88)));
    const special = [1, 2, 0.5, 3, 1e-30, 1e30, 2 ** -126, 2 ** 126, 2 ** 127 * 1.5, 1.7e38, 2 ** 126 * 1.0000001, 2 ** 125 * 1.9999999];
    special.forEach((s, i) => (v[i] = s));
    const inp = tensorFrom(gpu, v, [n]);
    const out = createTensor(gpu, [n]);
    gpu.dispatch({ code: quantCode, entry: 'recip_check' },
      [placeholder(gpu, 0).buffer, out.buffer, inp.buffer, placeholder(gpu, 3).buffer, gpu.uniform(packUniform([n, { f: 0 }]))],
      [Math.ceil(n / 64)]);
    const got = await readF32(gpu, out);
    for (let i = 0; i < n; i++) if (!Object.is(got[i], Math.fround(recipF32(v[i])))) throw new Error(`1/${v[i]}: ${got[i]} vs ${recipF32(v[i])}`);
  });

  it.each([
    [1, 64], [3, 67], [5, 130], [7, 93], [17, 200], [33, 64 * 9 + 8],
  ])('is bit-identical to nf4QuantizeRef at [%i, %i] (plain and double-quantized)', async (N, K) => {
    const gpu = await testGpu();
    const w = nastyWeights(N * K, N * 1000 + K);
    const wt = tensorFrom(gpu, w, [N, K]);
    for (const doubleQuant of [false, true]) {
      const got = await nf4Download(gpu, nf4Quantize(gpu, wt, { doubleQuant }));
      sameHost(got, nf4QuantizeRef(w, N, K, { doubleQuant }));
    }
  });

  it('is bit-identical with several nested blocks (nb > 256) and a partial last one', async () => {
    const gpu = await testGpu();
    const N = 9, K = 64 * 61 + 13; // nb = 550
    const w = nastyWeights(N * K, 77);
    const got = await nf4Download(gpu, nf4Quantize(gpu, tensorFrom(gpu, w, [N, K]), { doubleQuant: true }));
    sameHost(got, nf4QuantizeRef(w, N, K, { doubleQuant: true }));
  });

  it('splits rows over the binding limit without changing a bit', async () => {
    const base = await testGpu();
    const small = new Gpu(base.device, { ...base.info, limits: { ...base.info.limits, maxStorageBufferBindingSize: 16384 * 4 + 64 } });
    const N = 40, K = 1024 + 512; // 160 KB of f32: 3 chunks of 16384 values
    const w = nastyWeights(N * K, 5);
    const got = await nf4Download(small, nf4Quantize(small, tensorFrom(small, w, [N, K]), { doubleQuant: true }));
    sameHost(got, nf4QuantizeRef(w, N, K, { doubleQuant: true }));
  });

  it('uploads, downloads and dequantizes host weights', async () => {
    const gpu = await testGpu();
    for (const [N, K, dq] of [[3, 67, false], [6, 250, true]] as const) {
      const h = nf4QuantizeRef(nastyWeights(N * K, K).map((v) => v * 1e-3), N, K, { doubleQuant: dq });
      const w = nf4Upload(gpu, h);
      sameHost(await nf4Download(gpu, w), h);
      const out = createTensor(gpu, [N, K]);
      nf4Dequantize(gpu, out, w);
      expectClose(await readF32(gpu, out), nf4DequantizeRef(h), 1e-6, `dequantize [${N}, ${K}]`);
    }
  });

  it('reports its GPU bytes and refuses bad input', async () => {
    const gpu = await testGpu();
    expect(nf4WeightBytes(4096, 4096, false)).toBe(4096 * 2048 + 4 * 262144);
    expect(nf4WeightBytes(4096, 4096, true)).toBe(4096 * 2048 + 262144 + 4 * 1024 + 4 * 257);
    expect(() => nf4Quantize(gpu, createTensor(gpu, [10], 'f32'))).toThrow(/nf4Quantize/);
    const h = nf4QuantizeRef(new Float32Array(128), 2, 64);
    expect(() => nf4Upload(gpu, { ...h, packed: h.packed.slice(1) })).toThrow(/packed/);
    expect(() => nf4Dequantize(gpu, createTensor(gpu, [2, 63]), nf4Upload(gpu, h))).toThrow(/nf4Dequantize/);
  });
});
