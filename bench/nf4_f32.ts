// The f32 (no tensor cores) NF4 GEMMs at Llama-3.1-8B training shapes, old (v1,
// nf4_gemm_core.wgsl) vs new (v2, nf4_gemm_v2.wgsl) and v2 variants, `mma: false` throughout.
// Called by bench/kernels.ts (`--only nf4MatmulF32`; `--tokens 512,2048`). A ≥ 0.5 s spin first
// (GPU clocks ramp), every timing ≥ ~10 ms of work, best of 3. Device check: v2 vs v1
// (max |diff| / max |v1|) and v2 bitwise repeatability, per shape and direction.
// Dimension letters: y [M, N] = x [M, K] · Wᵀ, dx [M, K] = dy [M, N] · W, W [N, K].

import type { Gpu } from '../src/gpu/core/context';
import { createTensor, destroyTensor, readF32, type Tensor } from '../src/gpu/core/tensor';
import { nf4Matmul, nf4MatmulBackward, nf4WeightBytes, type Nf4Weight } from '../src/gpu/ops/nf4';
import { gemmSettings, pickGemmConfig, pickGemmSplit, type GemmConfig } from '../src/gpu/ops/nf4.gemm';

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

export async function nf4F32Section(c: F32Ctx): Promise<void> {
  const { gpu } = c;
  const maxM = Math.max(...c.tokens);
  const a = c.randomF32(maxM * 14336), b = c.randomF32(maxM * 14336);
  const o1 = createTensor(gpu, [maxM * 14336], 'f32', 'f32.o1'), o2 = createTensor(gpu, [maxM * 14336], 'f32', 'f32.o2');
  const as2d = (t: Tensor, r: number, k: number): Tensor => ({ ...t, shape: [r, k] });
  const cfg = pickGemmConfig(gpu);
  console.log(`f32 NF4 GEMM v2 config on this device: BK=${cfg.bk} NBUF=${cfg.nbuf} (limit ${gpu.info.limits.maxComputeWorkgroupStorageSize})`);
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
        // agreement on the device: v2 vs v1, v2 twice bitwise
        const n = M * NO;
        const run = async (s: Partial<typeof gemmSettings>, out: Tensor) => withGemm(s, async () => { rec(out)(); return (await readF32(gpu, { ...out, shape: [n] })).slice(0, n); });
        const ref = await run({ kernel: 'v1' }, o1);
        const v2a = await run({ kernel: 'v2' }, o2);
        const v2b = await run({ kernel: 'v2' }, o2);
        const mx = ref.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
        const err = v2a.reduce((e, v, i) => Math.max(e, Math.abs(v - ref[i])), 0) / mx;
        const same = v2a.every((v, i) => Object.is(v, v2b[i]));
        const line = `f32 GEMM check ${label} ${sh}: v2 vs v1 ${err.toExponential(2)}, v2 bitwise repeatable: ${same}, split ${pickGemmSplit(M, NO, R)}`;
        console.log(line);
        c.checks.push(line);
        await withGemm({ kernel: 'v1' }, async () => c.report(`${label} old v1`, sh, await best(), flops, bytes));
        await withGemm({ kernel: 'v2' }, async () => c.report(`${label} NEW v2`, sh, await best(), flops, bytes));
        const variants: [string, Partial<typeof gemmSettings>][] = [];
        for (const v of [{ bk: 16, nbuf: 1 }, { bk: 8, nbuf: 2 }] as GemmConfig[])
          if (v.bk !== cfg.bk || v.nbuf !== cfg.nbuf) variants.push([`BK=${v.bk} NBUF=${v.nbuf}`, { kernel: 'v2', config: v }]);
        const auto = pickGemmSplit(M, NO, R);
        for (const s of [1, 2, 4, 8]) if (s !== auto && R / s >= 512 && (s <= 2 * auto || s === 1)) variants.push([`split ${s}`, { kernel: 'v2', split: s }]);
        for (const [vn, s] of variants)
          await withGemm(s, async () => c.report(`  ${label} v2 ${vn}`, sh, await best(), flops, bytes));
      }
    }
    c.destroy(w);
  }
  [a, b, o1, o2].forEach((t) => destroyTensor(gpu, t));
}
