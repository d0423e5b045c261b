// The f32 (no tensor cores) NF4 GEMMs at Llama-3.1-8B training shapes: v2 (nf4_gemm_v2.wgsl) in
// its default configuration and the variants of `VARIANTS` (tile depth BK, tile width BN, forward
// block scales reused across steps RS), `mma: false` throughout. Called by bench/kernels.ts
// (`--only nf4MatmulF32`; `--tokens 512,2048`; `--f32-variants NAME,...` keeps only those
// variants). A ≥ 0.5 s spin first (GPU clocks ramp), every timing ≥ ~12 ms of work, best of 3.
// Device check at M ≤ 512: default vs v1 (max |diff| / max |v1|), default bitwise repeatable, and
// every variant bitwise equal to the default at split 1 (same fma chain in the same r order).
// Dimension letters: y [M, N] = x [M, K] · Wᵀ, dx [M, K] = dy [M, N] · W, W [N, K].

import type { Gpu } from '../src/gpu/core/context';
import { createTensor, destroyTensor, readF32, type Tensor } from '../src/gpu/core/tensor';
import { nf4Matmul, nf4MatmulBackward, nf4WeightBytes, type Nf4Weight } from '../src/gpu/ops/nf4';
import { gemmBytes, gemmSettings, pickGemmConfig, pickGemmSplit, type GemmConfig } from '../src/gpu/ops/nf4.gemm';

type Timing = { ms: number; timing: 'timestamp' | 'wall' };
export interface F32Ctx {
  gpu: Gpu;
  time: (record: () => void, iters: number) => Promise<Timing>;
  report: (name: string, shape: string, r: Timing, flops?: number, bytes?: number) => void;
  randomNf4: (N: number, K: number) => Nf4Weight;
  destroy: (w: Nf4Weight) => void;
  randomF32: (n: number) => Tensor;
  proj: [string, number, number][];
  tokens: number[];
  checks: string[];
  smoke: boolean; // slow GPU: one iteration per timing
}

async function withGemm<T>(s: Partial<typeof gemmSettings>, f: () => Promise<T>): Promise<T> {
  const keep = { kernel: gemmSettings.kernel, config: gemmSettings.config, split: gemmSettings.split };
  Object.assign(gemmSettings, s);
  try { return await f(); } finally { Object.assign(gemmSettings, keep); }
}

/** Variants timed beside the default: name, configuration, directions. */
const VARIANTS: [string, GemmConfig, ('fwd' | 'dX')[]][] = [
  ['BK=16 BN=128 (run 13 config)', { bk: 16, nbuf: 1 }, ['fwd', 'dX']],
  ['BN=128 RS', { bk: 16, nbuf: 1, rs: true }, ['fwd']],
  ['BN=64 RS', { bk: 16, nbuf: 1, bn: 64, rs: true }, ['fwd']],
  ['BN=64', { bk: 16, nbuf: 1, bn: 64 }, ['dX']],
  ['BK=32', { bk: 32, nbuf: 1 }, ['fwd', 'dX']],
];

export async function nf4F32Section(c: F32Ctx): Promise<void> {
  const { gpu } = c;
  const argv = process.argv;
  const keepOnly = argv.includes('--f32-variants') ? argv[argv.indexOf('--f32-variants') + 1].split(',') : undefined;
  const limit = gpu.info.limits.maxComputeWorkgroupStorageSize ?? 16384;
  const variants = VARIANTS.filter(([n, v]) => gemmBytes(v) <= limit && (!keepOnly || keepOnly.includes(n)));
  const maxM = Math.max(...c.tokens);
  const a = c.randomF32(maxM * 14336), b = c.randomF32(maxM * 14336);
  const o1 = createTensor(gpu, [maxM * 14336], 'f32', 'f32.o1'), o2 = createTensor(gpu, [maxM * 14336], 'f32', 'f32.o2');
  const as2d = (t: Tensor, r: number, k: number): Tensor => ({ ...t, shape: [r, k] });
  const cfg = pickGemmConfig(gpu);
  console.log(`f32 NF4 GEMM v2 default on this device: ${JSON.stringify(cfg)} (limit ${limit}); variants ${variants.map((v) => v[0]).join(', ')}`);
  const table: string[] = [];
  { // warm-up spin: ≥ 0.5 s of GEMMs so the clocks are up before any timing
    const [, N, K] = c.proj[0];
    const w = c.randomNf4(N, K);
    const t0 = performance.now();
    while (performance.now() - t0 < 700) {
      nf4Matmul(gpu, as2d(o1, maxM, N), as2d(a, maxM, K), w, { mma: false });
      await gpu.sync();
    }
    c.destroy(w);
  }
  for (const [name, N, K] of c.proj) {
    const w = c.randomNf4(N, K);
    const wBytes = nf4WeightBytes(N, K, true);
    for (const M of c.tokens) {
      const flops = 2 * M * N * K;
      const iters = c.smoke ? 1 : Math.max(3, Math.ceil(0.012 / (flops / 25e12)));
      for (const bwd of [false, true]) {
        const sh = `M=${M} N=${N} K=${K}`;
        const [NO, R] = bwd ? [K, N] : [N, K];
        const rec = (out: Tensor) => bwd
          ? () => nf4MatmulBackward(gpu, as2d(out, M, K), as2d(b, M, N), w, { mma: false })
          : () => nf4Matmul(gpu, as2d(out, M, N), as2d(a, M, K), w, { mma: false });
        const best = async () => {
          let r: Timing | null = null;
          for (let i = 0; i < 3; i++) { const t = await c.time(rec(o1), iters); if (!r || t.ms < r.ms) r = t; }
          return r!;
        };
        const label = (bwd ? 'nf4MatmulBackward f32 ' : 'nf4Matmul f32 ') + name;
        const bytes = wBytes + 4 * (M * K + M * N);
        const mine = variants.filter((v) => v[2].includes(bwd ? 'dX' : 'fwd'));
        if (M <= 512) { // agreement on the device
          const n = M * NO;
          const run = async (s: Partial<typeof gemmSettings>, out: Tensor) => withGemm(s, async () => { rec(out)(); return (await readF32(gpu, { ...out, shape: [n] })).slice(0, n); });
          const ref = await run({ kernel: 'v1' }, o1);
          const v2a = await run({ kernel: 'v2' }, o2);
          const v2b = await run({ kernel: 'v2' }, o2);
          const mx = ref.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
          const err = v2a.reduce((e, v, i) => Math.max(e, Math.abs(v - ref[i])), 0) / mx;
          const same = v2a.every((v, i) => Object.is(v, v2b[i]));
          const one = await run({ kernel: 'v2', split: 1 }, o2);
          const diff: string[] = [];
          for (const [vn, v] of mine) {
            const o = await run({ kernel: 'v2', config: v, split: 1 }, o2);
            if (!o.every((x, i) => Object.is(x, one[i]))) diff.push(vn);
          }
          const line = `f32 GEMM check ${label} ${sh}: v2 vs v1 ${err.toExponential(2)}, v2 bitwise repeatable: ${same}, split ${pickGemmSplit(M, NO, R)}; ` +
            `variants bitwise equal to the default at split 1: ${diff.length ? 'NOT ' + diff.join(', ') : 'all'}`;
          console.log(line);
          c.checks.push(line);
        }
        { // the device check (CPU work) lets the clocks drop (run 16a): ≥ 0.25 s of this GEMM first
          const t0 = performance.now();
          while (performance.now() - t0 < 250) { rec(o1)(); await gpu.sync(); }
        }
        const rDef = await withGemm({ kernel: 'v2' }, best);
        c.report(`${label} NEW v2`, sh, rDef, flops, bytes);
        let bestName = 'default', bestMs = rDef.ms;
        const cells: string[] = [];
        for (const [vn, v] of mine) {
          const r = await withGemm({ kernel: 'v2', config: v }, best);
          c.report(`  ${label} v2 ${vn}`, sh, r, flops, bytes);
          cells.push(`${vn} ${(flops / r.ms / 1e9).toFixed(1)}`);
          if (r.ms < bestMs) { bestMs = r.ms; bestName = vn; }
        }
        table.push(`| ${name} ${sh} | ${bwd ? 'dX' : 'fwd'} | ${(flops / rDef.ms / 1e9).toFixed(1)} | ${cells.join(' · ')} | ${bestName} ${(flops / bestMs / 1e9).toFixed(1)} |`);
      }
    }
    c.destroy(w);
  }
  console.log('\n| shape | dir | default TF/s | variants TF/s | best |\n| --- | --- | --- | --- | --- |\n' + table.join('\n'));
  [a, b, o1, o2].forEach((t) => destroyTensor(gpu, t));
}
