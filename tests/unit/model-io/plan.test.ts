import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parseLlamaConfig } from '../../../src/model/config';
import { DEMO_CONFIG } from '../../../src/model/demo';
import { checkPlan, nf4Bytes, planMemory, type PlanOptions } from '../../../src/model/plan';

const cfg8b = parseLlamaConfig(readFileSync(new URL('../../fixtures/llama-3.1-8b/config.json', import.meta.url), 'utf8'));
const GiB = 1024 ** 3, MiB = 1024 ** 2;
const ALL = ['q', 'k', 'v', 'o', 'gate', 'up', 'down'];
const base: PlanOptions = { seq: 512, batch: 1, r: 16, targets: ALL, recompute: false, doubleQuant: true, lmHead: 'bf16' };
// A typical desktop adapter: Chrome exposes up to the device's limits when requested.
const limits = { maxBufferSize: 2 * GiB, maxStorageBufferBindingSize: 2 * GiB - 4 };

describe('memory plan', () => {
  it('Llama-3.1-8B, seq 512, batch 1, r 16, all seven targets fits 11 GiB without recompute', () => {
    const p = planMemory(cfg8b, base);
    expect(checkPlan(p, limits, 11 * GiB)).toBeNull();
    expect(p.totalBytes).toBeLessThan(11 * GiB);
    // the parts agree with the numbers in the design: NF4 ≈ 3.5 GiB (≈ 3.6 GB), lm_head ≈ 1 GB,
    // LoRA r16 all linear = 41.9M params × 16 B ≈ 0.67 GB, activations a few GB
    expect(p.loraParams).toBe(41_943_040);
    expect(p.parts['lora.params'] + p.parts['lora.grads'] + p.parts['lora.adam.m'] + p.parts['lora.adam.v']).toBe(41_943_040 * 16);
    expect(p.parts['weights.nf4.packed']).toBe((6_979_321_856 / 2));
    expect(p.parts['weights.lm_head']).toBe(128256 * 4096 * 2);
    expect(p.host['embedding.bf16']).toBe(128256 * 4096 * 2);
    expect(p.parts['activations.saved'] / GiB).toBeGreaterThan(1.5);
    expect(p.parts['activations.saved'] / GiB).toBeLessThan(5);
    expect(p.totalBytes).toBe(Object.values(p.parts).reduce((a, b) => a + b, 0));
    // per layer: x, attn, h1 [N, C]; q [N, H·D]; k, v [N, Hkv·D]; gate, up [N, F]; rstd1, rstd2 [N];
    // lse [H, N]; xa [N, r] per target — all f32; xn1, xn2 [N, C] and mlp_h [N, F] once for all layers
    const N = 512, C = 4096, F = 14336;
    const perLayer = (4 * N * C + 2 * N * 1024 + 2 * N * F + 2 * N + 32 * N + 7 * N * 16) * 4;
    expect(p.parts['activations.saved']).toBe(32 * perLayer);
    expect(p.parts['activations.module_inputs']).toBe((2 * N * C + N * F) * 4);
    expect(p.totalBytes).toBeLessThan(9.5 * GiB); // the 12 GB preset runs without recomputation
    expect(p.largestBindingName).toBe('cross_entropy.logits');
    expect(p.largestBinding).toBe(256 * 128256 * 4);
  });

  it('recompute keeps only layer inputs plus one layer', () => {
    const p = planMemory(cfg8b, { ...base, recompute: true });
    const q = planMemory(cfg8b, base);
    expect(p.parts['activations.layer_inputs']).toBe(32 * 512 * 4096 * 4);
    expect(p.parts['activations.recompute_layer']).toBe(q.parts['activations.saved'] / 32 - 512 * 4096 * 4); // x is already among the layer inputs
    expect(p.totalBytes).toBeLessThan(q.totalBytes - 2.5 * GiB);
    expect(checkPlan(p, limits, 11 * GiB)).toBeNull();
  });

  it('sizes NF4 with and without double quantization', () => {
    expect(nf4Bytes(4096, 4096, false)).toEqual({ packed: 8 * MiB, absmax: (4096 * 4096 / 64) * 4 });
    expect(nf4Bytes(4096, 4096, true)).toEqual({ packed: 8 * MiB, absmax: 262144 + 1024 * 4 + 1024 + 4 });
    expect(nf4Bytes(3, 3, true).packed).toBe(8); // 5 bytes rounded up to u32 words
    const dq = planMemory(cfg8b, base), plain = planMemory(cfg8b, { ...base, doubleQuant: false });
    expect(plain.parts['weights.nf4.absmax']).toBeGreaterThan(3.5 * dq.parts['weights.nf4.absmax']);
    const nf4Head = planMemory(cfg8b, { ...base, lmHead: 'nf4' });
    expect(nf4Head.parts['weights.lm_head']).toBeLessThan(0.3 * dq.parts['weights.lm_head']);
  });

  it('scales with seq, batch, r and targets', () => {
    const a = planMemory(cfg8b, base);
    const longer = planMemory(cfg8b, { ...base, seq: 1024 });
    const batch2 = planMemory(cfg8b, { ...base, batch: 2 });
    expect(batch2.totalBytes).toBe(longer.totalBytes);
    expect(longer.parts['activations.saved']).toBe(2 * a.parts['activations.saved']);
    const r8 = planMemory(cfg8b, { ...base, r: 8 });
    expect(r8.loraParams * 2).toBe(a.loraParams);
    const qv = planMemory(cfg8b, { ...base, targets: ['q_proj', 'v'] });
    expect(qv.opts.targets).toEqual(['q_proj', 'v_proj']);
    expect(qv.loraParams).toBe(32 * 16 * (8192 + 5120));
    expect(() => planMemory(cfg8b, { ...base, seq: 0 })).toThrow(/seq must be a positive integer/);
    expect(() => planMemory(cfg8b, { ...base, targets: ['lm_head'] })).toThrow(/unknown LoRA target/);
  });

  it('refuses with numbers and what to change', () => {
    const p = planMemory(cfg8b, { ...base, seq: 4096 });
    const msg = checkPlan(p, limits, 11 * GiB)!;
    expect(msg).toMatch(/training needs \d+\.\d\d GiB of GPU memory but the budget is 11\.00 GiB/);
    expect(msg).toMatch(/--recompute \(gradient checkpointing\): \d+\.\d\d GiB \(fits\)/);
    expect(msg).toMatch(/shorter sequences: --seq \d+ or less fits/);
    expect(msg).toMatch(/--r 8/);
    expect(msg).toMatch(/fewer targets \(q,k,v,o\)/);
    const seqFit = Number(/--seq (\d+) or less fits/.exec(msg)![1]);
    expect(planMemory(cfg8b, { ...base, seq: seqFit }).totalBytes).toBeLessThanOrEqual(11 * GiB);
    expect(planMemory(cfg8b, { ...base, seq: seqFit + 1 }).totalBytes).toBeGreaterThan(11 * GiB);

    const small = { maxBufferSize: 256 * MiB, maxStorageBufferBindingSize: 128 * MiB };
    const big = planMemory(cfg8b, { ...base, ceBlockRows: 512 });
    expect(checkPlan(big, small, 100 * GiB)).toMatch(/cross_entropy\.logits needs 250\.5 MiB but this GPU binds at most 128\.0 MiB.*lower ceBlockRows \(now 512; at most 261 rows fit\)/);
  });

  it('plans the demo model in a few MiB of activations', () => {
    const p = planMemory(DEMO_CONFIG, { ...base, seq: 128, r: 8 });
    expect(p.parts['activations.saved']).toBeLessThan(4 * MiB);
    expect(checkPlan(p, { maxBufferSize: 256 * MiB, maxStorageBufferBindingSize: 128 * MiB }, 1 * GiB)).toBeNull();
  });
});
