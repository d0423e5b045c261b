// The shared workgroup reductions (src/gpu/ops/reduce.ts; shaders/reduce_sg.wgsl with subgroup
// operations, shaders/reduce_wg.wgsl a tree in workgroup memory): which variant a device gets,
// that only the subgroup variant enables the extension, that the subgroup path is bitwise
// repeatable, and that it is right at workgroup sizes where one subgroup's lanes outnumber the
// subgroups (32 invocations = 4 subgroups of 8 on lavapipe, like 256 = 8 of 32 on NVIDIA) and
// where the second level takes several rounds (1024 = 128 subgroups of 8). The per-op tests
// (rmsnorm, crossentropy, attention_decode) compare both variants with the references at odd sizes.
// Tolerances as rmsnorm.test.ts (1e-6 forward, 1e-5 backward) and crossentropy.test.ts (1e-5).
import { afterEach, describe, expect, it } from 'vitest';
import type { Gpu } from '../../../src/gpu/core/context';
import { createTensor, readF32, readI32, tensorFrom } from '../../../src/gpu/core/tensor';
import { reduceSettings, reduceVariant, reduceVariants, rowWorkgroup, useSubgroupReductions } from '../../../src/gpu/ops/reduce';
import { rmsnormBackward, rmsnormForward } from '../../../src/gpu/ops/rmsnorm';
import { rmsnormBackwardRef, rmsnormForwardRef } from '../../../src/gpu/ops/rmsnorm.ref';
import { crossEntropyForwardBackward, logsumexpArgmax } from '../../../src/gpu/ops/crossentropy';
import { crossEntropyForwardBackwardRef, logsumexpArgmaxRef } from '../../../src/gpu/ops/crossentropy.ref';
import { Rng } from '../../../src/util/rng';
import { testGpu } from '../../helpers/gpu';
import { expectClose } from '../../helpers/compare';
import { f64 } from './_finite-diff';

const keep = { ...reduceSettings };
afterEach(() => Object.assign(reduceSettings, keep));

const fake = (subgroups: boolean) => ({ features: { f16: false, subgroups, timestamps: false, subgroupMatrix: false } }) as unknown as Gpu;

describe('reduction variants', () => {
  it('enables subgroups only in the subgroup variant, first in the module', () => {
    const v = reduceVariants('// kernel\noverride WG: u32 = 256;\n');
    expect(v.sg.startsWith('enable subgroups;\n// kernel')).toBe(true);
    expect(v.sg).toMatch(/subgroupAdd/);
    expect(v.wg).not.toMatch(/enable subgroups|subgroup[A-Z]|builtin\(subgroup/);
    expect(v.wg.startsWith('// kernel')).toBe(true);
  });

  it('picks the subgroup variant only where the device has the feature, and honours the switch', () => {
    const v = reduceVariants('');
    expect(reduceVariant(fake(false), v)).toBe(v.wg);
    expect(reduceVariant(fake(true), v)).toBe(v.sg);
    reduceSettings.subgroups = false;
    expect(useSubgroupReductions(fake(true))).toBe(false);
    expect(reduceVariant(fake(true), v)).toBe(v.wg);
  });

  it('sizes row workgroups within the device limits', () => {
    const g = (lim: number) => ({ info: { limits: { maxComputeInvocationsPerWorkgroup: lim, maxComputeWorkgroupSizeX: lim } } }) as unknown as Gpu;
    expect(rowWorkgroup(g(1024), 1, 512)).toBe(1024);
    expect(rowWorkgroup(g(1024), 4, 512, 256)).toBe(256);
    expect(rowWorkgroup(g(1024), 5, 512)).toBe(512);
    expect(rowWorkgroup(g(256), 1, 512)).toBe(256); // WebGPU's default limit
    expect(rowWorkgroup(g(768), 1, 512)).toBe(512); // a power of two
    reduceSettings.wg = 128;
    expect(rowWorkgroup(g(1024), 1, 512)).toBe(128);
  });
});

describe('subgroup reductions on the device', () => {
  it('the test device has subgroups (else this file tests only the tree)', async () => {
    const gpu = await testGpu();
    expect(gpu.features.subgroups).toBe(true);
  });

  it.each([32, 128, 1024])('WG=%i: RMSNorm and cross-entropy match the references', async (wg) => {
    const gpu = await testGpu();
    reduceSettings.wg = wg;
    const T = 3, C = 1003, V = 2311, rng = new Rng(wg);
    const x = rng.floats(T * C, -3, 3), w = rng.floats(C, 0.5, 1.5), dout = rng.floats(T * C);
    const tx = tensorFrom(gpu, x, [T, C]), tw = tensorFrom(gpu, w, [C]);
    const out = createTensor(gpu, [T, C]), rstd = createTensor(gpu, [T]), dx = createTensor(gpu, [T, C]);
    rmsnormForward(gpu, out, rstd, tx, tw, 1e-5);
    rmsnormBackward(gpu, dx, tensorFrom(gpu, dout, [T, C]), tx, tw, rstd);
    const wo = new Float64Array(T * C), wr = new Float64Array(T), wdx = new Float64Array(T * C);
    rmsnormForwardRef(wo, wr, x, w, 1e-5);
    rmsnormBackwardRef(wdx, dout, x, w, wr);
    expectClose(await readF32(gpu, out), wo, 1e-6, 'out');
    expectClose(await readF32(gpu, rstd), wr, 1e-6, 'rstd');
    expectClose(await readF32(gpu, dx), wdx, 1e-5, 'dx');

    const logits = rng.floats(T * V, -4, 4);
    logits[V + 1500] = 9; logits[V + 7] = 9; // tie across subgroups: the first index wins
    const labels = Int32Array.of(5, -100, V - 1);
    const tl = tensorFrom(gpu, logits, [T, V]);
    const lse = createTensor(gpu, [T]), am = createTensor(gpu, [T], 'i32'), nll = createTensor(gpu, [T]);
    logsumexpArgmax(gpu, lse, am, tl);
    const wl = new Float64Array(T), wa = new Int32Array(T);
    logsumexpArgmaxRef(wl, wa, logits);
    expectClose(await readF32(gpu, lse), wl, 1e-5, 'lse');
    expect(Array.from(await readI32(gpu, am))).toEqual(Array.from(wa));
    expect(wa[1]).toBe(7);
    crossEntropyForwardBackward(gpu, nll, tl, tensorFrom(gpu, labels, [T]), 0.5);
    const wn = new Float64Array(T), wgrad = f64(logits);
    crossEntropyForwardBackwardRef(wn, wgrad, labels, 0.5);
    expectClose(await readF32(gpu, nll), wn, 1e-5, 'nll');
    expectClose(await readF32(gpu, tl), wgrad, 1e-5, 'dlogits');
  });

  it('is bitwise repeatable run to run', async () => {
    const gpu = await testGpu();
    const T = 5, C = 4097, V = 30011, rng = new Rng(9);
    const x = tensorFrom(gpu, rng.floats(T * C, -3, 3), [T, C]), w = tensorFrom(gpu, rng.floats(C, 0.5, 1.5), [C]);
    const logits = tensorFrom(gpu, rng.floats(T * V, -8, 8), [T, V]);
    const run = async () => {
      const out = createTensor(gpu, [T, C]), rstd = createTensor(gpu, [T]), lse = createTensor(gpu, [T]), am = createTensor(gpu, [T], 'i32');
      rmsnormForward(gpu, out, rstd, x, w, 1e-5);
      logsumexpArgmax(gpu, lse, am, logits);
      return [...(await readF32(gpu, out)), ...(await readF32(gpu, rstd)), ...(await readF32(gpu, lse)), ...(await readI32(gpu, am))];
    };
    const a = await run();
    for (let i = 0; i < 3; i++) expect(await run()).toEqual(a);
  });
});
