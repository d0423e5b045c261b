// NF4 dX kernel check (bench/mma-check.ts --dx): the 'dx' kernel (shaders/nf4_mma_dx.wgsl,
// DX_TILES variants) against the current 'v3' kernel on a GPU with subgroup matrices.
// Letters: dx [M, K] = dy [M, N] · W, W [N, K] NF4 (double-quant).
// Steps: compile every variant; small odd shapes against the f64 reference (split 1 / 3,
// accumulate, double-quant) and bit-compared with v3 at the same plan; the 8B training dX shapes
// (M = 512, 2048) against the f64 reference on sampled rows, the f32 path, and v3 (max |diff|);
// then the timing: a warm-up of ≥ 0.5 s of every candidate's work, three rounds in alternating
// candidate order, best of the three (GPU timestamps; times include the dy → f16 pass and the
// split-K reduce; TFLOP/s of 2·M·N·K).

import type { Gpu } from '../src/gpu/core/context';
import { createTensor, destroyTensor, readF32, tensorFrom } from '../src/gpu/core/tensor';
import { nf4MatmulBackward, nf4Upload } from '../src/gpu/ops/nf4';
import { nf4DequantizeRef, nf4MatmulBackwardRef, nf4QuantizeRef } from '../src/gpu/ops/nf4.ref';
import { DX_TILES, mmaSource, nf4MatmulBackwardMma, pickMmaPlan, type DxTile, type MmaKernel, type MmaPlan } from '../src/gpu/ops/mma';
import { Rng } from '../src/util/rng';
import { gpuTimeMs } from './gputime';
import { compileMessages, relErr } from './mma-w16';
import { fillUniform as fill } from './fill';

const TOL = 4e-3;
const DX_DEFAULT = { ...DX_TILES[128] };
/** DX_TILES[128] variants timed (the first is the committed one). */
const VARIANTS: Record<string, DxTile> = {
  'dx:128x256/tb': DX_DEFAULT,
  'dx:256x128/tb': { bm: 256, bn: 128, bk: 16, wm: 64, wn: 64, tb: true },
  'dx:256x128/rowB': { bm: 256, bn: 128, bk: 16, wm: 64, wn: 64, tb: false },
  'dx:128x256/rowB': { bm: 128, bn: 256, bk: 16, wm: 64, wn: 64, tb: false }, // control: v3's layout in this file
};

/** max |a − b| / max |b| */
function maxDiff(a: Float32Array, b: Float32Array): number {
  let d = 0, s = 0;
  for (let i = 0; i < a.length; i++) { d = Math.max(d, Math.abs(a[i] - b[i])); s = Math.max(s, Math.abs(b[i])); }
  return s > 0 ? d / s : d;
}

export async function checkDx(gpu: Gpu, report: Record<string, unknown>, save: () => void, log: (...a: unknown[]) => void): Promise<boolean> {
  let ok = true;
  // 1. compile
  const compile: Record<string, string[]> = {};
  for (const [name, cfg] of Object.entries(VARIANTS)) {
    DX_TILES[128] = cfg;
    compile[name] = await compileMessages(gpu, mmaSource(128, true, 'nf4', 'dx'), {});
    if (compile[name].length) { log(`dropping ${name}: ${compile[name].join(' | ')}`); if (cfg !== DX_DEFAULT) delete VARIANTS[name]; }
  }
  DX_TILES[128] = DX_DEFAULT;
  compile['dx:64'] = await compileMessages(gpu, mmaSource(64, true, 'nf4', 'dx'), {});
  compile['v3:128'] = await compileMessages(gpu, mmaSource(128, true, 'nf4', 'v3'), {});
  report.dxCompile = compile;
  log('compile:', JSON.stringify(compile));
  if (compile['dx:128x256/tb'].length || compile['dx:64'].length) { delete VARIANTS['dx:128x256/tb']; ok = false; }
  save();

  // 2. small odd shapes vs f64; bit-compare with v3 at the same plan
  const small: unknown[] = [];
  for (const [M, N, K] of [[37, 200, 264], [300, 520, 136], [130, 65, 96], [64, 96, 1000]]) {
    const rng = new Rng(M * 13 + N + K);
    const h = nf4QuantizeRef(rng.floats(N * K), N, K, { doubleQuant: true });
    const w = nf4Upload(gpu, h);
    const dy = rng.floats(M * N), dx0 = rng.floats(M * K);
    const wdx = Float64Array.from(dx0); nf4MatmulBackwardRef(wdx, dy, h, M, true);
    const dyT = tensorFrom(gpu, dy, [M, N]);
    for (const [tile, split] of [[128, 1], [128, 3], [64, 1]] as const) {
      const o = { accumulate: true, tile, split };
      const dv = tensorFrom(gpu, dx0, [M, K]);
      nf4MatmulBackwardMma(gpu, dv, dyT, w, { ...o, kernel: 'v3' });
      const v3 = await readF32(gpu, dv);
      for (const [name, cfg] of Object.entries(tile === 64 ? { 'dx:64': DX_DEFAULT } : VARIANTS)) {
        DX_TILES[128] = cfg;
        const dx = tensorFrom(gpu, dx0, [M, K]);
        nf4MatmulBackwardMma(gpu, dx, dyT, w, { ...o, kernel: 'dx' });
        const got = await readF32(gpu, dx);
        const e = relErr(got, wdx), vs = maxDiff(got, v3);
        const row = { name, M, N, K, tile, split, err: e.max, v3err: relErr(v3, wdx).max, vsV3: vs, ok: e.max < TOL };
        ok &&= row.ok;
        small.push(row);
        log('small', JSON.stringify(row));
        destroyTensor(gpu, dx);
      }
      DX_TILES[128] = DX_DEFAULT;
      destroyTensor(gpu, dv);
    }
  }
  report.dxSmall = small;
  save();

  // 3. training shapes: correctness, then timing
  const large: unknown[] = [];
  for (const [N, K] of [[4096, 4096], [1024, 4096], [14336, 4096], [4096, 14336]]) {
    const t0 = performance.now();
    const h = nf4QuantizeRef(fill(new Float32Array(N * K), 0.05, N + K), N, K, { doubleQuant: true });
    const w = nf4Upload(gpu, h);
    const wd = nf4DequantizeRef(h);
    log(`weight ${N}x${K} quantized in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
    for (const M of [512, 2048]) {
      const dyHost = fill(new Float32Array(M * N), 1, M + 2);
      const dy = tensorFrom(gpu, dyHost, [M, N]);
      const ref = createTensor(gpu, [M, K]), out = createTensor(gpu, [M, K]);
      const flop = 2 * M * N * K;
      const row: Record<string, unknown> = { M, N, K, plan: pickMmaPlan(M, K, N) };
      // f32 path and v3
      nf4MatmulBackward(gpu, ref, dy, w, { mma: false });
      const f32 = await readF32(gpu, ref);
      nf4MatmulBackwardMma(gpu, out, dy, w, { kernel: 'v3' });
      const v3 = await readF32(gpu, out);
      // f64 reference on sampled rows
      const rows = [0, 1, M >> 1, M - 1];
      const want = new Float64Array(rows.length * K);
      for (let i = 0; i < rows.length; i++) {
        const d = dyHost.subarray(rows[i] * N, (rows[i] + 1) * N);
        for (let n = 0; n < N; n++) { const a = d[n]; if (a === 0) continue; const wr = n * K; for (let k = 0; k < K; k++) want[i * K + k] += a * wd[wr + k]; }
      }
      const sampled = (a: Float32Array) => { const s = new Float32Array(rows.length * K); rows.forEach((r, i) => s.set(a.subarray(r * K, (r + 1) * K), i * K)); return s; };
      const err: Record<string, unknown> = { v3: relErr(sampled(v3), want).max, v3VsF32: relErr(v3, f32).max };
      type Cand = { name: string; kernel: MmaKernel; cfg?: DxTile; plan?: MmaPlan };
      const cands: Cand[] = [{ name: 'v3', kernel: 'v3' }, ...Object.entries(VARIANTS).map(([name, cfg]) => ({ name, kernel: 'dx' as MmaKernel, cfg }))];
      const ap = pickMmaPlan(M, K, N);
      if (VARIANTS['dx:128x256/tb'] && ap.tile === 128) {
        if (ap.split > 1) cands.push({ name: `dx:128x256/tb split ${ap.split / 2}`, kernel: 'dx', cfg: DX_DEFAULT, plan: { tile: 128, split: ap.split / 2 } });
        if (N / (2 * ap.split) >= 512) cands.push({ name: `dx:128x256/tb split ${2 * ap.split}`, kernel: 'dx', cfg: DX_DEFAULT, plan: { tile: 128, split: 2 * ap.split } });
        if (VARIANTS['dx:256x128/tb'] && N / (2 * ap.split) >= 512) cands.push({ name: `dx:256x128/tb split ${2 * ap.split}`, kernel: 'dx', cfg: VARIANTS['dx:256x128/tb'], plan: { tile: 128, split: 2 * ap.split } });
      }
      const rec = (c: Cand, acc = false) => { DX_TILES[128] = c.cfg ?? DX_DEFAULT; nf4MatmulBackwardMma(gpu, out, dy, w, { kernel: c.kernel, accumulate: acc, ...c.plan }); };
      const nan = new Float32Array(M * K).fill(NaN);
      for (const c of cands.slice(1)) {
        gpu.device.queue.writeBuffer(out.buffer, 0, nan);
        rec(c);
        const got = await readF32(gpu, out);
        const e = { f64: relErr(sampled(got), want).max, f32: relErr(got, f32).max, vsV3: maxDiff(got, v3) };
        rec(c); rec(c, true); // accumulate: 2·dx
        const acc = relErr(await readF32(gpu, out), f32.map((v) => 2 * v)).max;
        err[c.name] = { ...e, acc };
        const good = e.f64 < TOL && e.f32 < TOL && acc < TOL;
        ok &&= good;
        if (!good) log(`BAD ${c.name} ${M}x${N}x${K}`, JSON.stringify(err[c.name]));
      }
      // timing: warm-up ≥ 0.5 s of work, 3 rounds alternating the order, best of 3
      const reps = Math.max(4, Math.min(50, Math.round(2e12 / flop)));
      const warm = Math.max(1, Math.ceil(0.5 / (cands.length * flop / 50e12)));
      for (let i = 0; i < warm; i++) for (const c of cands) rec(c);
      await gpu.sync();
      const ms: Record<string, number[]> = {};
      for (let round = 0; round < 3; round++) {
        const order = round % 2 === 0 ? cands : [...cands].reverse();
        for (const c of order) (ms[c.name] ??= []).push((await gpuTimeMs(gpu, () => rec(c), reps)).ms);
      }
      DX_TILES[128] = DX_DEFAULT;
      const tf: Record<string, number> = {};
      for (const c of cands) tf[c.name] = flop / Math.min(...ms[c.name]) / 1e9;
      row.tflops = tf; row.ms = ms; row.err = err; row.reps = reps; row.warm = warm;
      large.push(row);
      log(`DX ${M}x${N}x${K} plan ${JSON.stringify(ap)}: ${cands.map((c) => `${c.name} ${tf[c.name].toFixed(1)}`).join(' | ')}`);
      log(`   err ${JSON.stringify(err)}`);
      report.dxLarge = large;
      save();
      for (const t of [dy, ref, out]) destroyTensor(gpu, t);
    }
    for (const t of [w.packed, w.absmax, ...(w.codes ? [w.codes] : []), ...(w.meta ? [w.meta] : [])]) destroyTensor(gpu, t);
  }
  report.dxVariants = VARIANTS;
  return ok;
}
