// The 16-bit-weight (lm_head) part of bench/mma-check.ts, also shared helpers (relErr,
// compileMessages, randomBf16). `node .gpu/mma.mjs --w16` runs only this part: compilation of the
// w16 kernels ('staged', 'v3' and the V3 tile variants), small odd shapes against the f64
// reference (bf16/f16, |w| ~ 0.05, 1e6, 1e-7; automatic plan and forced split 3 with accumulate;
// v3 variants at the 128 plan tile), a few NF4 v3 cases (the v3 core is shared), then the lm_head
// shapes of the cross-entropy chunks — forward M × 128256 × 4096 and dX M × 4096 × 128256 for
// M = 511 (512 tokens: one chunk of 511 target rows) and 523 / 475 (2048 tokens: 4 × 511 rows in
// chunks of ceChunkRows = 523: 523, 523, 523, 475) — timed for the f32 path, 'staged' (the old
// default), 'v3' (automatic plan), v3 tile variants and v3 dX split factors, in two rounds in
// opposite orders after a warm-up (the best of the two is reported, both are kept), then each
// candidate's error against the f32 path, dy·1e-8 and accumulate.
// Letters: y [M, N] = x [M, K] · Wᵀ (N = 128256 vocabulary, K = 4096), dx [M, K] = dy [M, N] · W.

import type { Gpu } from '../src/gpu/core/context';
import { createTensor, destroyTensor, readF32, tensorFrom } from '../src/gpu/core/tensor';
import {
  matmul16BackwardMma, matmul16Mma, mmaSettings, mmaSource, nf4MatmulBackwardMma, nf4MatmulMma, pickMmaPlan,
  V3_TILES, type MmaKernel, type MmaOptions,
} from '../src/gpu/ops/mma';
import { nf4Upload } from '../src/gpu/ops/nf4';
import { nf4MatmulBackwardRef, nf4MatmulRef, nf4QuantizeRef } from '../src/gpu/ops/nf4.ref';
import { matmul16, matmul16Backward, weight16Upload, type Weight16 } from '../src/gpu/ops/w16';
import { f32ToW16, matmul16BackwardRef, matmul16Ref, type Format16 } from '../src/gpu/ops/w16.ref';
import { Rng } from '../src/util/rng';
import { gpuTimeMs } from './gputime';
import { fillUniform } from './fill';

export function relErr(a: ArrayLike<number>, b: ArrayLike<number>): { max: number; rms: number } {
  let scale = 0, worst = 0, se = 0, sr = 0;
  for (let i = 0; i < b.length; i++) scale = Math.max(scale, Math.abs(b[i]));
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs(a[i] - b[i]);
    worst = Number.isFinite(a[i]) ? Math.max(worst, d) : Infinity;
    se += d * d; sr += b[i] * b[i];
  }
  return { max: scale > 0 ? worst / scale : worst, rms: sr > 0 ? Math.sqrt(se / sr) : Math.sqrt(se) };
}

export async function compileMessages(gpu: Gpu, code: string, constants: Record<string, number>): Promise<string[]> {
  const dev = gpu.device;
  dev.pushErrorScope('validation');
  const m = dev.createShaderModule({ code });
  const info = await m.getCompilationInfo();
  const msgs = info.messages.filter((x) => x.type === 'error').map((x) => `${x.lineNum}:${x.linePos} ${x.message}`);
  try {
    await dev.createComputePipelineAsync({ layout: 'auto', compute: { module: m, entryPoint: 'main', constants } });
  } catch (e) {
    msgs.push(`pipeline: ${String((e as Error).message ?? e)}`);
  }
  const err = await dev.popErrorScope();
  if (err) msgs.push(`validation: ${err.message}`);
  return msgs;
}

/** Random bf16 weight [N, K] with |w| in [2^-7, 2^-4) (lm_head-like), generated as raw bits. */
export function randomBf16(gpu: Gpu, N: number, K: number, seed: number): Weight16 {
  const words = new Uint32Array((N * K) / 2);
  let s = seed >>> 0 || 1;
  for (let i = 0; i < words.length; i++) {
    s ^= s << 13; s >>>= 0; s ^= s >>> 17; s ^= s << 5; s >>>= 0;
    const lo = (s & 0x8000) | (0x3c00 + ((s >>> 4) & 0x1ff));
    const hi = ((s >>> 1) & 0x8000) | (0x3c00 + ((s >>> 18) & 0x1ff));
    words[i] = lo | (hi << 16);
  }
  return weight16Upload(gpu, new Uint16Array(words.buffer), N, K, 'bf16', 'lm_head');
}

type Tile = typeof V3_TILES[128];
const TOL = 4e-3;

/** The w16 check; returns whether every case passed. */
export async function checkW16(gpu: Gpu, report: Record<string, unknown>, save: () => void, log: (...a: unknown[]) => void, full: boolean): Promise<boolean> {
  const V3_DEFAULT: Tile = { ...V3_TILES[128] };
  const variants: Record<string, Tile> = {
    'v3:256x128/w64x64/k16': { bm: 256, bn: 128, bk: 16, wm: 64, wn: 64 }, // fits without NF4's tables (43.3 / 46.1 KiB)
    'v3:128x128/w32x64/k16': { bm: 128, bn: 128, bk: 16, wm: 32, wn: 64 }, // the pipe kernel's shape
  };
  // 1. compilation
  const compile: Record<string, string[]> = {};
  for (const tile of [64, 128] as const) for (const bwd of [false, true]) {
    for (const aligned of [1, 0]) compile[`w16staged${tile}${bwd ? 'bwd' : 'fwd'}${aligned ? '' : '-unaligned'}`] = await compileMessages(gpu, mmaSource(tile, bwd, 'w16', 'staged'), { ALIGNED: aligned });
    compile[`w16v3-${tile}${bwd ? 'bwd' : 'fwd'}`] = await compileMessages(gpu, mmaSource(tile, bwd, 'w16', 'v3'), {});
    compile[`nf4v3-${tile}${bwd ? 'bwd' : 'fwd'}`] = await compileMessages(gpu, mmaSource(tile, bwd, 'nf4', 'v3'), {});
  }
  for (const [name, cfg] of Object.entries(variants)) {
    V3_TILES[128] = cfg;
    for (const bwd of [false, true]) compile[`w16${name}${bwd ? 'bwd' : 'fwd'}`] = await compileMessages(gpu, mmaSource(128, bwd, 'w16', 'v3'), {});
    if (compile[`w16${name}fwd`].length || compile[`w16${name}bwd`].length) { log(`dropping ${name}: compilation failed`); delete variants[name]; }
  }
  V3_TILES[128] = V3_DEFAULT;
  report.w16Compile = compile;
  log('w16 compile:', JSON.stringify(compile));
  save();
  const v3ok = ['w16v3-64fwd', 'w16v3-64bwd', 'w16v3-128fwd', 'w16v3-128bwd'].every((k) => compile[k].length === 0);
  if (!v3ok) { log('w16 v3 compilation failed; stopping'); return false; }

  // 2. small odd shapes vs the f64 reference
  const small: { ok: boolean }[] = [];
  const SMALL: [number, number, number][] = [[37, 200, 264], [16, 33, 40], [130, 65, 96], [70, 129, 27], [300, 520, 136], [64, 96, 1000]];
  for (const [M, N, K] of SMALL) {
    for (const [format, mag] of [['bf16', 0.05], ['f16', 0.05], ['bf16', 1e6], ['bf16', 1e-7]] as [Format16, number][]) {
      const rng = new Rng(M * 11 + N + K);
      const raw = f32ToW16(rng.floats(N * K).map((v) => v * mag), format);
      const w = weight16Upload(gpu, raw, N, K, format);
      const x = rng.floats(M * K), dy = rng.floats(M * N), y0 = rng.floats(M * N), dx0 = rng.floats(M * K);
      const cases: [string, MmaOptions][] = [];
      for (const kernel of ['staged', 'v3'] as const) cases.push([kernel, { kernel }], [`${kernel} split 3 acc`, { kernel, accumulate: true, tile: 128, split: 3 }]);
      if (mag === 0.05) for (const name of Object.keys(variants)) cases.push([`${name} split 3 acc`, { kernel: 'v3', accumulate: true, tile: 128, split: 3 }]);
      for (const [name, o] of cases) {
        V3_TILES[128] = variants[name.split(' ')[0]] ?? V3_DEFAULT;
        const y = tensorFrom(gpu, y0, [M, N]);
        matmul16Mma(gpu, y, tensorFrom(gpu, x, [M, K]), w, o);
        const wy = Float64Array.from(y0); matmul16Ref(wy, x, raw, N, K, format, M, !!o.accumulate);
        const dx = tensorFrom(gpu, dx0, [M, K]);
        matmul16BackwardMma(gpu, dx, tensorFrom(gpu, dy, [M, N]), w, o);
        const wdx = Float64Array.from(dx0); matmul16BackwardRef(wdx, dy, raw, N, K, format, M, !!o.accumulate);
        const ef = relErr(await readF32(gpu, y), wy), eb = relErr(await readF32(gpu, dx), wdx);
        const row = { kind: 'w16', kernel: name, format, mag, M, N, K, fwd: ef, bwd: eb, ok: ef.max < TOL && eb.max < TOL };
        small.push(row);
        if (!row.ok || name === 'v3') log('small', JSON.stringify(row));
      }
      V3_TILES[128] = V3_DEFAULT;
    }
  }
  // NF4 through the shared v3 core (its loader moved to nf4_mma_v3_load.wgsl)
  for (const [M, N, K] of [[37, 200, 264], [300, 520, 136], [130, 65, 96]]) {
    const rng = new Rng(M * 13 + N + K);
    const h = nf4QuantizeRef(rng.floats(N * K), N, K, { doubleQuant: true });
    const w = nf4Upload(gpu, h);
    const x = rng.floats(M * K), dy = rng.floats(M * N), y0 = rng.floats(M * N), dx0 = rng.floats(M * K);
    for (const o of [{ kernel: 'v3' as const, accumulate: true }, { kernel: 'v3' as const, accumulate: true, tile: 128 as const, split: 3 }]) {
      const y = tensorFrom(gpu, y0, [M, N]);
      nf4MatmulMma(gpu, y, tensorFrom(gpu, x, [M, K]), w, o);
      const wy = Float64Array.from(y0); nf4MatmulRef(wy, x, h, M, true);
      const dx = tensorFrom(gpu, dx0, [M, K]);
      nf4MatmulBackwardMma(gpu, dx, tensorFrom(gpu, dy, [M, N]), w, o);
      const wdx = Float64Array.from(dx0); nf4MatmulBackwardRef(wdx, dy, h, M, true);
      const ef = relErr(await readF32(gpu, y), wy), eb = relErr(await readF32(gpu, dx), wdx);
      const row = { kind: 'nf4', kernel: 'v3', split: o.split ?? 'auto', M, N, K, fwd: ef, bwd: eb, ok: ef.max < TOL && eb.max < TOL };
      small.push(row);
      log('small', JSON.stringify(row));
    }
  }
  report.w16Small = small;
  const smallOk = small.every((r) => r.ok);
  log(`w16 small: ${small.length} cases, ok ${smallOk}`);
  save();

  // 3. lm_head shapes
  const N = 128256, K = 4096;
  const w = randomBf16(gpu, N, K, 77);
  const large: Record<string, unknown>[] = [];
  let ok = smallOk;
  for (const M of full ? [511, 523, 475] : [511, 523]) {
    const x = tensorFrom(gpu, fillUniform(new Float32Array(M * K), 1, M + 1), [M, K]);
    const dyHost = fillUniform(new Float32Array(M * N), 1, M + 2);
    const dy = tensorFrom(gpu, dyHost, [M, N]);
    const o32 = { fwd: createTensor(gpu, [M, N]), bwd: createTensor(gpu, [M, K]) };
    const o16 = { fwd: createTensor(gpu, [M, N]), bwd: createTensor(gpu, [M, K]) };
    const flop = 2 * M * N * K;
    const reps = Math.max(3, Math.min(50, Math.round(2e12 / flop)));
    const row: Record<string, unknown> = { M, N, K, reps, plans: { fwd: pickMmaPlan(M, N, K), bwd: pickMmaPlan(M, K, N) } };
    for (const dir of ['fwd', 'bwd'] as const) {
      const inp = dir === 'fwd' ? x : dy;
      const run = (o: MmaOptions | null, out = o16[dir]) => {
        if (o === null) (dir === 'fwd' ? matmul16 : matmul16Backward)(gpu, out, inp, w, { mma: false });
        else (dir === 'fwd' ? matmul16Mma : matmul16BackwardMma)(gpu, out, inp, w, o);
      };
      const cands: [string, MmaOptions | null, Tile?][] = [['f32', null], ['staged', { kernel: 'staged' }], ['v3', { kernel: 'v3' }]];
      for (const [name, cfg] of Object.entries(variants)) cands.push([name, { kernel: 'v3' }, cfg]);
      if (dir === 'bwd') for (const split of [1, 2, 4, 8, 16]) cands.push([`v3 split ${split}`, { kernel: 'v3', tile: 128, split }]);
      if (dir === 'bwd') for (const split of [4, 8]) for (const [name, cfg] of Object.entries(variants)) cands.push([`${name} split ${split}`, { kernel: 'v3', tile: 128, split }, cfg]);
      // warm-up: every candidate once
      for (const [, o, cfg] of cands) { V3_TILES[128] = cfg ?? V3_DEFAULT; run(o); }
      await gpu.sync();
      const rounds: Record<string, number>[] = [{}, {}];
      for (const r of [0, 1]) {
        for (const [name, o, cfg] of r === 0 ? cands : [...cands].reverse()) {
          V3_TILES[128] = cfg ?? V3_DEFAULT;
          const t = await gpuTimeMs(gpu, () => run(o), reps);
          rounds[r][name] = t.ms;
        }
      }
      V3_TILES[128] = V3_DEFAULT;
      const tf: Record<string, number> = {}, ms: Record<string, number> = {}, err: Record<string, number> = {};
      for (const [name] of cands) { ms[name] = Math.min(rounds[0][name], rounds[1][name]); tf[name] = flop / ms[name] / 1e9; }
      run(null, o32[dir]);
      const ref = await readF32(gpu, o32[dir]);
      const nan = new Float32Array(ref.length).fill(NaN);
      for (const [name, o, cfg] of cands) {
        if (o === null) continue;
        V3_TILES[128] = cfg ?? V3_DEFAULT;
        gpu.device.queue.writeBuffer(o16[dir].buffer, 0, nan); // a candidate that writes nothing fails its check
        run(o);
        err[name] = relErr(await readF32(gpu, o16[dir]), ref).max;
        ok &&= err[name] < TOL;
      }
      V3_TILES[128] = V3_DEFAULT;
      // accumulate through the automatic plan of v3: out = ref + ref
      run({ kernel: 'v3' }); run({ kernel: 'v3', accumulate: true });
      err.v3Accumulate = relErr(await readF32(gpu, o16[dir]), ref.map((v) => 2 * v)).max;
      ok &&= err.v3Accumulate < TOL;
      if (dir === 'bwd') {
        // dy · 1e-8 (tiny gradients): the row scale keeps f16 precision
        writeScaled(gpu, dy, dyHost, 1e-8);
        run(null, o32.bwd);
        const refT = await readF32(gpu, o32.bwd);
        for (const kernel of ['staged', 'v3'] as const) {
          run({ kernel });
          err[`${kernel}Tiny`] = relErr(await readF32(gpu, o16.bwd), refT).max;
          ok &&= err[`${kernel}Tiny`] < TOL;
        }
        writeScaled(gpu, dy, dyHost, 1);
      }
      row[`${dir}Ms`] = ms; row[`${dir}Tflops`] = tf; row[`${dir}Err`] = err; row[`${dir}Rounds`] = rounds;
      log(`SPEED ${dir} M=${M} ` + Object.keys(tf).map((k) => `${k} ${tf[k].toFixed(1)} (${ms[k].toFixed(2)} ms${err[k] !== undefined ? `, ${err[k].toExponential(1)}` : ''})`).join(' | '));
      log(`ERR ${dir} M=${M} ` + JSON.stringify(err));
    }
    large.push(row);
    report.w16Large = large;
    save();
    for (const t of [x, dy, o32.fwd, o32.bwd, o16.fwd, o16.bwd]) destroyTensor(gpu, t);
  }
  destroyTensor(gpu, w.data);
  report.w16Ok = ok;
  log('W16 OK:', ok, 'w16Kernel default:', mmaSettings.w16Kernel);
  save();
  return ok;
}

function writeScaled(gpu: Gpu, t: { buffer: GPUBuffer }, host: Float32Array, s: number): void {
  gpu.device.queue.writeBuffer(t.buffer, 0, s === 1 ? host : host.map((v) => v * s));
}

export type { MmaKernel };
