// Parity with PyTorch 2.11 / transformers 5.17 (fixtures/torch_parity.json, made by
// fixtures/make_torch_parity.py in float32 on CPU): the GPU ops and the f64 references against
// what torch itself computes for llama3 inv_freq, RoPE, LlamaRMSNorm, SwiGLU, cross-entropy and
// clip_grad_norm_ + AdamW. Tolerances (relative to the largest reference magnitude) allow for
// torch's own float32 rounding, since the fixture is f32 and our references are f64:
//   inv_freq bit-exact (ropeInvFreq replays transformers' float32 arithmetic step by step);
//   RoPE 2e-6 (f32 cos/sin of the same f32 angle); RMSNorm/SwiGLU/CE 2e-6; AdamW 1e-5 after
//   three steps (f32 moments; the update divides by sqrt(v) + eps).
import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { ropeForward, ropeInvFreq } from '../../../src/gpu/ops/rope';
import { ropeForwardRef } from '../../../src/gpu/ops/rope.ref';
import { rmsnormBackward, rmsnormForward } from '../../../src/gpu/ops/rmsnorm';
import { rmsnormBackwardRef, rmsnormForwardRef } from '../../../src/gpu/ops/rmsnorm.ref';
import { swigluBackward, swigluForward } from '../../../src/gpu/ops/swiglu';
import { swigluBackwardRef, swigluForwardRef } from '../../../src/gpu/ops/swiglu.ref';
import { crossEntropyForwardBackward } from '../../../src/gpu/ops/crossentropy';
import { crossEntropyForwardBackwardRef } from '../../../src/gpu/ops/crossentropy.ref';
import { adamwStep, gradNormSq } from '../../../src/gpu/ops/adamw';
import { adamwStepRef, gradNormSqRef } from '../../../src/gpu/ops/adamw.ref';
import { fill } from '../../../src/gpu/ops/elementwise';
import { createTensor, readF32, tensorFrom, writeTensor } from '../../../src/gpu/core/tensor';
import { testGpu } from '../../helpers/gpu';
import { expectClose } from '../../helpers/compare';

const fx = JSON.parse(readFileSync(new URL('./fixtures/torch_parity.json', import.meta.url), 'utf8'));
const F = (a: number[]) => Float32Array.from(a);
const LLAMA3 = { factor: 8, lowFreqFactor: 1, highFreqFactor: 4, originalMaxPositionEmbeddings: 8192 };

function ulpDistance(a: number, b: number): number {
  const f = new Float32Array([a, b]);
  const i = new Int32Array(f.buffer);
  return Math.abs(i[0] - i[1]);
}

// Run on the default device and on one without shader-f16 and subgroups (Chrome's SwiftShader
// has neither): no kernel here may depend on them.
const DEVICES: [string, Parameters<typeof testGpu>[0]][] = [['default device', {}], ['no f16, no subgroups', { f16: false, subgroups: false }]];

describe.each(DEVICES)('parity with torch / transformers (%s)', (_name, features) => {
  it('device has the requested features off', async () => {
    const gpu = await testGpu(features);
    if (features?.f16 === false) expect(gpu.features.f16).toBe(false);
    if (features?.subgroups === false) expect(gpu.features.subgroups).toBe(false);
  });

  it('llama3 inv_freq equals transformers bit for bit (head_dim 128 and 8)', () => {
    for (const [D, want] of [[128, fx.rope_inv_freq_128], [8, fx.rope_inv_freq_8]] as [number, number[]][]) {
      const ours = ropeInvFreq({ headDim: D, ropeTheta: 500000, scaling: LLAMA3 });
      expect(ours.length).toBe(want.length);
      const worst = Math.max(...want.map((w, i) => ulpDistance(ours[i], w)));
      expect(worst, `head_dim ${D}: max ulp distance`).toBe(0);
    }
    expect(fx.rope_attention_scaling).toBe(1); // llama3 RoPE applies no extra cos/sin scale
  });

  it('RoPE (rotate_half) at positions up to 131071 matches apply_rotary_pos_emb', async () => {
    const gpu = await testGpu(features);
    const { T, H, D, positions, x, y } = fx.rope;
    const inv = F(fx.rope_inv_freq_128); // torch's own inv_freq, so only the rotation is compared
    const tx = tensorFrom(gpu, F(x), [T, H * D]);
    ropeForward(gpu, tx, tensorFrom(gpu, Int32Array.from(positions), [T]), tensorFrom(gpu, inv, [D / 2]), H, D);
    expectClose(await readF32(gpu, tx), y, 2e-6, 'GPU');
    const ref = Float64Array.from(x);
    ropeForwardRef(ref, positions, inv, H, D);
    expectClose(ref, y, 2e-6, 'reference');
  });

  it('RMSNorm forward and dx match LlamaRMSNorm + autograd', async () => {
    const gpu = await testGpu(features);
    const { T, C, eps, x, w, dout, out, dx } = fx.rmsnorm;
    const tx = tensorFrom(gpu, F(x), [T, C]), tw = tensorFrom(gpu, F(w), [C]);
    const to = createTensor(gpu, [T, C]), rs = createTensor(gpu, [T]), tdx = createTensor(gpu, [T, C]);
    rmsnormForward(gpu, to, rs, tx, tw, eps);
    rmsnormBackward(gpu, tdx, tensorFrom(gpu, F(dout), [T, C]), tx, tw, rs);
    expectClose(await readF32(gpu, to), out, 2e-6, 'GPU out');
    expectClose(await readF32(gpu, tdx), dx, 2e-6, 'GPU dx');
    const ro = new Float64Array(T * C), rr = new Float64Array(T), rdx = new Float64Array(T * C);
    rmsnormForwardRef(ro, rr, x, w, eps);
    rmsnormBackwardRef(rdx, dout, x, w, rr);
    expectClose(ro, out, 2e-6, 'ref out');
    expectClose(rdx, dx, 2e-6, 'ref dx');
  });

  it('SwiGLU matches silu(gate)·up + autograd', async () => {
    const gpu = await testGpu(features);
    const { gate, up, dh, h, dgate, dup } = fx.swiglu;
    const n = gate.length;
    const tg = tensorFrom(gpu, F(gate), [n]), tu = tensorFrom(gpu, F(up), [n]);
    const th = createTensor(gpu, [n]), tdg = createTensor(gpu, [n]), tdu = createTensor(gpu, [n]);
    swigluForward(gpu, th, tg, tu);
    swigluBackward(gpu, tdg, tdu, tensorFrom(gpu, F(dh), [n]), tg, tu);
    expectClose(await readF32(gpu, th), h, 2e-6, 'GPU h');
    expectClose(await readF32(gpu, tdg), dgate, 2e-6, 'GPU dgate');
    expectClose(await readF32(gpu, tdu), dup, 2e-6, 'GPU dup');
    const rh = new Float64Array(n), rdg = new Float64Array(n), rdu = new Float64Array(n);
    swigluForwardRef(rh, gate, up);
    swigluBackwardRef(rdg, rdu, dh, gate, up);
    expectClose(rh, h, 2e-6, 'ref h');
    expectClose(rdg, dgate, 2e-6, 'ref dgate');
    expectClose(rdu, dup, 2e-6, 'ref dup');
  });

  it('cross-entropy nll and dlogits match F.cross_entropy(ignore_index=-100)', async () => {
    const gpu = await testGpu(features);
    const { Tc, V, gradScale, logits, labels, nll, dlogits } = fx.crossentropy;
    const tl = tensorFrom(gpu, F(logits), [Tc, V]), tn = createTensor(gpu, [Tc]);
    crossEntropyForwardBackward(gpu, tn, tl, tensorFrom(gpu, Int32Array.from(labels), [Tc]), gradScale);
    expectClose(await readF32(gpu, tn), nll, 2e-6, 'GPU nll');
    expectClose(await readF32(gpu, tl), dlogits, 2e-6, 'GPU dlogits');
    const rn = new Float64Array(Tc), rg = Float64Array.from(logits);
    crossEntropyForwardBackwardRef(rn, rg, labels, gradScale);
    expectClose(rn, nll, 2e-6, 'ref nll');
    expectClose(rg, dlogits, 2e-6, 'ref dlogits');
  });

  it('clip_grad_norm_ + AdamW: three steps match torch', async () => {
    const gpu = await testGpu(features);
    const a = fx.adamw;
    const sizes: number[] = a.init.map((p: number[]) => p.length);
    const tp = a.init.map((p: number[]) => tensorFrom(gpu, F(p), [p.length]));
    const tm = sizes.map((n) => createTensor(gpu, [n])), tv = sizes.map((n) => createTensor(gpu, [n]));
    const tg = sizes.map((n) => createTensor(gpu, [n])), ns = createTensor(gpu, [1]);
    const rp = a.init.map((p: number[]) => Float64Array.from(p));
    const rm = sizes.map((n) => new Float64Array(n)), rv = sizes.map((n) => new Float64Array(n));
    for (let s = 0; s < a.steps.length; s++) {
      const st = a.steps[s];
      const opts = { lr: a.lr, beta1: a.beta1, beta2: a.beta2, eps: a.eps, weightDecay: a.weightDecay, step: s + 1, maxGradNorm: a.maxGradNorm };
      st.grads.forEach((g: number[], i: number) => writeTensor(gpu, tg[i], F(g)));
      fill(gpu, ns, 0);
      gradNormSq(gpu, ns, tg);
      const rns = new Float64Array(1);
      gradNormSqRef(rns, st.grads);
      expect(Math.abs(Math.sqrt(rns[0]) - st.norm) / st.norm).toBeLessThan(1e-6);
      expect(Math.abs(Math.sqrt((await readF32(gpu, ns))[0]) - st.norm) / st.norm).toBeLessThan(1e-6);
      for (let i = 0; i < sizes.length; i++) {
        adamwStep(gpu, tp[i], tg[i], tm[i], tv[i], ns, opts);
        adamwStepRef(rp[i], st.grads[i], rm[i], rv[i], rns, opts);
      }
      for (let i = 0; i < sizes.length; i++) {
        expectClose(await readF32(gpu, tp[i]), st.params[i], 1e-5, `GPU param ${i} step ${s + 1}`);
        expectClose(rp[i], st.params[i], 1e-5, `ref param ${i} step ${s + 1}`);
      }
    }
  });
});
