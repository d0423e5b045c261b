// GPU self-test: quantize a random matrix to NF4 on this GPU, run nf4Matmul against the CPU
// reference (nf4MatmulRef on the downloaded weight) and time it. Used by the engine (UI) and
// `npm run cli -- selftest`. Dimension letters: y [M, N] = x [M, K] · Wᵀ, W [N, K].

import type { Gpu } from './core/context';
import { createTensor, destroyTensor, readF32, tensorFrom } from './core/tensor';
import { nf4Destroy, nf4Download, nf4Matmul, nf4Quantize } from './ops/nf4';
import { NF4_GEMV_MAX_M } from './ops/nf4.matmul';
import { nf4MatmulRef } from './ops/nf4.ref';
import { Rng } from '../util/rng';

export interface SelftestResult {
  ok: boolean;
  maxError: number; // max |gpu − ref| / max |ref|
  ms: number; // GPU time per nf4Matmul (mean over the timed iterations, incl. submit overhead)
  shape: [number, number, number]; // [M, N, K]
  path: string; // which kernel ran
}

export interface SelftestOptions {
  shape?: [number, number, number];
  iters?: number;
  tolerance?: number;
}

export async function runSelftest(gpu: Gpu, opts: SelftestOptions = {}): Promise<SelftestResult> {
  const [M, N, K] = opts.shape ?? [64, 256, 512];
  const iters = opts.iters ?? 20;
  const tolerance = opts.tolerance ?? 1e-5;
  const rng = new Rng(20240723);
  const wHost = new Float32Array(N * K);
  for (let i = 0; i < wHost.length; i++) wHost[i] = rng.normal() * 0.02;
  const x = rng.floats(M * K);

  return gpu.guarded('selftest', async () => {
    const wT = tensorFrom(gpu, wHost, [N, K], 'selftest.w');
    const xT = tensorFrom(gpu, x, [M, K], 'selftest.x');
    const yT = createTensor(gpu, [M, N], 'f32', 'selftest.y');
    const w = nf4Quantize(gpu, wT, { doubleQuant: true }, 'selftest.nf4');
    nf4Matmul(gpu, yT, xT, w);
    const got = await readF32(gpu, yT);
    const want = new Float64Array(M * N);
    nf4MatmulRef(want, x, await nf4Download(gpu, w), M);
    let scale = 0, err = 0;
    for (let i = 0; i < want.length; i++) scale = Math.max(scale, Math.abs(want[i]));
    for (let i = 0; i < want.length; i++) err = Math.max(err, Math.abs(got[i] - want[i]));
    const maxError = Number.isFinite(err) ? err / Math.max(scale, 1e-30) : Infinity;

    await gpu.sync();
    const t0 = performance.now();
    for (let i = 0; i < iters; i++) nf4Matmul(gpu, yT, xT, w);
    await gpu.sync();
    const ms = (performance.now() - t0) / iters;

    for (const t of [wT, xT, yT]) destroyTensor(gpu, t);
    nf4Destroy(gpu, w);
    const path = `${M <= NF4_GEMV_MAX_M ? 'nf4-gemv' : 'nf4-tiled-64x64'}-f32${w.doubleQuant ? '-dq' : ''}`;
    return { ok: maxError <= tolerance, maxError, ms, shape: [M, N, K], path };
  });
}
