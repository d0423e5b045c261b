// attentionDecodeStep (one decode token, KV append folded in, key splits combined by a reduce)
// against attentionDecodeStepRef, token by token from an empty cache: every output, then the
// whole cache. Split counts 1 (long chunks: several 128-key blocks with the online softmax),
// a few, and more splits than keys (empty splits). The same dispatches serve every position
// (it is read from `positions` on the GPU), so a step captured once and replayed must give the
// same results as recording it anew; that is checked too. Every case runs on the default device
// (block max / sum with subgroup operations where the adapter has them) and on one without
// subgroups (the workgroup-memory tree). Tolerance as attention.test.ts.
import { describe, expect, it } from 'vitest';
import type { AttnShape } from '../../../src/gpu/ops/attention';
import { allocDecodePartials, attentionDecodeStep, decodeSplits, decodeStepSupported } from '../../../src/gpu/ops/attention_decode';
import { attentionDecodeStepRef } from '../../../src/gpu/ops/attention_decode.ref';
import type { Program } from '../../../src/gpu/core/context';
import { createTensor, readF32, tensorFrom, writeTensor } from '../../../src/gpu/core/tensor';
import { Rng } from '../../../src/util/rng';
import { testGpu } from '../../helpers/gpu';
import { expectClose } from '../../helpers/compare';

const TOL = 1e-4;

interface Case { name: string; shape: AttnShape; maxT: number; tokens: number; splits: number; replay: boolean }
const CASES: Case[] = [
  { name: 'H=8 Hkv=2 D=16, 3 splits', shape: { nHeads: 8, nKvHeads: 2, headDim: 16 }, maxT: 23, tokens: 21, splits: 3, replay: false },
  { name: 'H=4 Hkv=1 D=8, 1 split over 2 key blocks', shape: { nHeads: 4, nKvHeads: 1, headDim: 8 }, maxT: 140, tokens: 140, splits: 1, replay: true },
  { name: 'H=4 Hkv=1 D=128, 16 splits (empty ones)', shape: { nHeads: 4, nKvHeads: 1, headDim: 128 }, maxT: 12, tokens: 9, splits: 16, replay: true },
  { name: 'H=6 Hkv=3 D=12, automatic splits', shape: { nHeads: 6, nKvHeads: 3, headDim: 12 }, maxT: 70, tokens: 70, splits: decodeSplits(70), replay: true },
];

const DEVICES: [string, Parameters<typeof testGpu>[0]][] = [['default device', {}], ['no f16, no subgroups', { f16: false, subgroups: false }]];

describe('attentionDecodeStep', () => {
  it.each(DEVICES.flatMap(([d, f]) => CASES.map((c) => ({ ...c, device: d, feat: f }))))('matches the reference token by token ($device): $name', async (c) => {
    const gpu = await testGpu(c.feat);
    const { nHeads: H, nKvHeads: Hkv, headDim: D } = c.shape;
    const C = Hkv * D;
    const rng = new Rng(11 + c.maxT);
    const q = rng.floats(c.tokens * H * D, -3, 3), k = rng.floats(c.tokens * C), v = rng.floats(c.tokens * C);
    const kCache = createTensor(gpu, [c.maxT, C], 'f32', 'kCache');
    const vCache = createTensor(gpu, [c.maxT, C], 'f32', 'vCache');
    const part = allocDecodePartials(gpu, c.shape, c.maxT, c.splits);
    const qT = createTensor(gpu, [1, H * D], 'f32', 'q'), kT = createTensor(gpu, [1, C], 'f32', 'k'), vT = createTensor(gpu, [1, C], 'f32', 'v');
    const out = createTensor(gpu, [1, H * D], 'f32', 'out');
    const positions = createTensor(gpu, [1], 'i32', 'positions');
    const kRef = new Float64Array(c.maxT * C), vRef = new Float64Array(c.maxT * C), want = new Float64Array(H * D);
    const record = () => attentionDecodeStep(gpu, out, part, kCache, vCache, qT, kT, vT, positions, c.shape);
    let prog: Program | null = null;
    for (let p = 0; p < c.tokens; p++) {
      writeTensor(gpu, qT, q.subarray(p * H * D, (p + 1) * H * D));
      writeTensor(gpu, kT, k.subarray(p * C, (p + 1) * C));
      writeTensor(gpu, vT, v.subarray(p * C, (p + 1) * C));
      writeTensor(gpu, positions, Int32Array.of(p));
      if (c.replay && prog) gpu.replay(prog);
      else if (c.replay) prog = gpu.capture(record);
      else record();
      attentionDecodeStepRef(want, kRef, vRef, q.subarray(p * H * D, (p + 1) * H * D), k.subarray(p * C, (p + 1) * C), v.subarray(p * C, (p + 1) * C), p, c.shape);
      expectClose(await readF32(gpu, out), want, TOL, `token ${p}`);
    }
    expectClose((await readF32(gpu, kCache)).subarray(0, c.tokens * C), k, 0, 'kCache');
    expectClose((await readF32(gpu, vCache)).subarray(0, c.tokens * C), v, 0, 'vCache');
  });

  it('refuses unsupported shapes and mismatched buffers before dispatch', async () => {
    const gpu = await testGpu();
    const s: AttnShape = { nHeads: 4, nKvHeads: 2, headDim: 8 };
    expect(decodeStepSupported({ nHeads: 4, nKvHeads: 2, headDim: 6 })).toBe(false);
    // G = H / Hkv query heads share a workgroup: Llama-3.1-8B (G 4, D 128) fits 16 KiB, multi-query 32 × 128 does not
    expect(decodeStepSupported({ nHeads: 32, nKvHeads: 8, headDim: 128 })).toBe(true);
    expect(decodeStepSupported({ nHeads: 32, nKvHeads: 1, headDim: 128 })).toBe(false);
    const t = (shape: number[], dtype: 'f32' | 'i32' = 'f32') => tensorFrom(gpu, dtype === 'f32' ? new Float32Array(shape.reduce((a, b) => a * b)) : new Int32Array(shape.reduce((a, b) => a * b)), shape);
    const ok = { out: t([1, 32]), part: t([4, 2, 10]), kc: t([8, 16]), vc: t([8, 16]), q: t([1, 32]), k: t([1, 16]), v: t([1, 16]), pos: t([1], 'i32') };
    const call = (o: Partial<typeof ok>, shape = s) => {
      const a = { ...ok, ...o };
      attentionDecodeStep(gpu, a.out, a.part, a.kc, a.vc, a.q, a.k, a.v, a.pos, shape);
    };
    expect(() => call({}, { nHeads: 4, nKvHeads: 2, headDim: 6 })).toThrow(/unsupported/);
    expect(() => call({ part: t([4, 2, 9]) })).toThrow(/part must be/);
    expect(() => call({ kc: t([8, 12]) })).toThrow(/kCache must be/);
    expect(() => call({ q: t([1, 30]) })).toThrow(/q has shape/);
    expect(() => call({ pos: t([1]) })).toThrow(/positions must be i32/);
    expect(() => call({ vc: ok.kc })).toThrow(/kCache and vCache/);
    await gpu.sync();
  });
});
