// Kernel benchmark at Llama-3.1-8B shapes: nf4Matmul (tiled) / nf4MatmulBackward / NF4 GEMV /
// matmul16 (lm_head) / embedding gather, plus an f32 FMA-peak and a copy-bandwidth
// microbenchmark on the same device, so every kernel is reported as a fraction of what this GPU
// can do. Run: `node scripts/run-ts.mjs bench/kernels.ts [--quick] [--out FILE] [--only SUBSTR]`.
// Timing: GPU timestamps around many iterations when 'timestamp-query' is available, else the
// wall-clock slope between n and 2n iterations (both submit once and wait on
// onSubmittedWorkDone). Writes a JSON file (default bench/results/kernels-<time>.json).
// Dimension letters: y [M, N] = x [M, K] · Wᵀ, W [N, K]; M = tokens.

import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { Gpu } from '../src/gpu/core/context';
import { DAWN_FAST_FLAGS, nodeGpuApi } from '../src/gpu/core/node';
import { createTensor, destroyTensor, packUniform, readF32, tensorFrom, type Tensor } from '../src/gpu/core/tensor';
import { grid1d } from '../src/gpu/ops/grid';
import { nf4Destroy, nf4Matmul, nf4MatmulBackward, nf4Upload, nf4WeightBytes, type Nf4Weight } from '../src/gpu/ops/nf4';
import { gemvSettings } from '../src/gpu/ops/nf4.matmul';
import { loraForward } from '../src/gpu/ops/lora';
import { createDynamicMap } from '../src/gpu/ops/nf4.ref';
import { embeddingGather, matmul16, matmul16Backward, weight16Upload, type Weight16 } from '../src/gpu/ops/w16';
import { f32ToBf16 } from '../src/gpu/ops/w16.ref';
import { Rng } from '../src/util/rng';
import { nf4F32Section } from './nf4_f32';
import fmaCode from './fma_peak.wgsl';
import copyCode from './copy_bw.wgsl';

interface Row {
  name: string;
  shape: string;
  ms: number;
  tflops?: number;
  gbps?: number;
  pctPeakFlops?: number;
  pctPeakBw?: number;
  timing: 'timestamp' | 'wall';
}

const argv = process.argv.slice(2);
const flag = (n: string) => argv.includes(`--${n}`);
const opt = (n: string) => { const i = argv.indexOf(`--${n}`); return i >= 0 ? argv[i + 1] : undefined; };
const quick = flag('quick');
// --smoke: every dimension divided by 16 (vocabulary by 64) to check the script on a slow GPU.
const smoke = flag('smoke');
const S = (d: number, by = 16) => (smoke ? Math.max(64, d / by) : d);
const only = opt('only');

// --no-robustness: Dawn's disable_robustness toggle (no index clamps; not in browsers, a probe only)
const gpu = await Gpu.create(await nodeGpuApi(flag('no-robustness') ? [`${DAWN_FAST_FLAGS[0]},disable_robustness`] : DAWN_FAST_FLAGS));
const rng = new Rng(1);

/** GPU ms per call of `record` (which records one iteration into gpu). */
async function time(record: () => void, iters: number): Promise<{ ms: number; timing: 'timestamp' | 'wall' }> {
  record(); // warm-up: compiles pipelines, builds bind groups
  await gpu.sync();
  if (gpu.features.timestamps) {
    const qs = gpu.device.createQuerySet({ type: 'timestamp', count: 2 });
    const resolve = gpu.device.createBuffer({ size: 16, usage: GPUBufferUsage.QUERY_RESOLVE | GPUBufferUsage.COPY_SRC });
    const read = gpu.device.createBuffer({ size: 16, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
    const mark = (index: number, last: boolean) => {
      const enc = gpu.device.createCommandEncoder();
      const pass = enc.beginComputePass({ timestampWrites: { querySet: qs, [index ? 'endOfPassWriteIndex' : 'beginningOfPassWriteIndex']: index } });
      pass.end();
      if (last) {
        enc.resolveQuerySet(qs, 0, 2, resolve, 0);
        enc.copyBufferToBuffer(resolve, 0, read, 0, 16);
      }
      gpu.device.queue.submit([enc.finish()]);
    };
    for (let i = 0; i < iters; i++) record(); // recorded before the first mark: JS time is not timed
    mark(0, false);
    gpu.flush();
    mark(1, true);
    await read.mapAsync(GPUMapMode.READ);
    const t = new BigUint64Array(read.getMappedRange().slice(0));
    read.unmap();
    qs.destroy(); resolve.destroy(); read.destroy();
    const ns = Number(t[1] - t[0]);
    if (ns > 0) return { ms: ns / 1e6 / iters, timing: 'timestamp' };
  }
  const run = async (n: number) => {
    const t0 = performance.now();
    for (let i = 0; i < n; i++) record();
    await gpu.sync();
    return performance.now() - t0;
  };
  const t1 = await run(iters);
  const t2 = await run(2 * iters);
  return { ms: Math.max(t2 - t1, 1e-6) / iters, timing: 'wall' };
}

const rows: Row[] = [];
const checks: string[] = []; // GEMV variant agreement lines
let peakTflops = 0;
let peakGbps = 0;

function report(name: string, shape: string, r: { ms: number; timing: 'timestamp' | 'wall' }, flops?: number, bytes?: number): void {
  const row: Row = { name, shape, ms: r.ms, timing: r.timing };
  if (flops) row.tflops = flops / r.ms / 1e9;
  if (bytes) row.gbps = bytes / r.ms / 1e6;
  if (row.tflops && peakTflops) row.pctPeakFlops = (100 * row.tflops) / peakTflops;
  if (row.gbps && peakGbps) row.pctPeakBw = (100 * row.gbps) / peakGbps;
  rows.push(row);
  const f = (v: number | undefined, d = 2) => (v === undefined ? '' : v.toFixed(d));
  console.log(
    `${name.padEnd(34)} ${shape.padEnd(24)} ${f(row.ms, 4).padStart(10)} ms ${f(row.tflops).padStart(8)} TF/s ${f(row.gbps, 1).padStart(9)} GB/s ` +
      `${f(row.pctPeakFlops, 1).padStart(6)}%F ${f(row.pctPeakBw, 1).padStart(6)}%B  ${row.timing}`,
  );
}

const want = (name: string) => !only || name.includes(only);

// ---- microbenchmarks ---------------------------------------------------------------------------
{
  const wgs = smoke ? 256 : 65535, WG = 256, iters = quick || smoke ? 256 : 2048;
  const out = createTensor(gpu, [wgs * WG], 'f32', 'fma.out');
  const u = gpu.uniform(packUniform([iters, { f: 1e-3 }]));
  const r = await time(() => gpu.dispatch({ code: fmaCode, constants: { WG } }, [out.buffer, u], [wgs]), 5);
  const flops = wgs * WG * iters * 64;
  peakTflops = flops / r.ms / 1e9;
  report('f32 FMA peak', `${wgs}x${WG}x${iters}`, r, flops);
  destroyTensor(gpu, out);
}
{
  const bytes = Math.min(smoke ? 4 << 20 : quick ? 64 << 20 : 1 << 30, Math.floor((gpu.info.limits.maxStorageBufferBindingSize ?? 134217728) / 16) * 16);
  const n4 = bytes / 16;
  const a = createTensor(gpu, [n4 * 4], 'f32', 'copy.a');
  const b = createTensor(gpu, [n4 * 4], 'f32', 'copy.b');
  const u = gpu.uniform(Uint32Array.of(n4));
  const r = await time(() => gpu.dispatch({ code: copyCode, constants: { WG: 256 } }, [b.buffer, a.buffer, u], grid1d(gpu, Math.min(Math.ceil(n4 / 256), 65535 * 4))), 10);
  const r2 = await time(() => gpu.commandEncoder().copyBufferToBuffer(a.buffer, 0, b.buffer, 0, bytes), 10);
  peakGbps = (2 * bytes) / Math.min(r.ms, r2.ms) / 1e6; // the better of the two is the reference
  report('copy kernel (vec4)', `${(bytes / 2 ** 20).toFixed(0)} MiB`, r, undefined, 2 * bytes);
  report('copyBufferToBuffer', `${(bytes / 2 ** 20).toFixed(0)} MiB`, r2, undefined, 2 * bytes);
  destroyTensor(gpu, a);
  destroyTensor(gpu, b);
}
console.log(`measured peaks: ${peakTflops.toFixed(2)} TFLOP/s f32 FMA, ${peakGbps.toFixed(0)} GB/s copy`);

// ---- weights ---------------------------------------------------------------------------------
/** A random double-quantized NF4 weight (random codes; realistic absmax). */
function randomNf4(N: number, K: number): Nf4Weight {
  return nf4Upload(gpu, randomNf4Host(N, K));
}
function randomNf4Host(N: number, K: number) {
  const n = N * K, nb = n / 64;
  const packed = new Uint8Array(n / 2);
  for (let i = 0; i < packed.length; i += 4) {
    const v = rng.nextU32();
    packed[i] = v; packed[i + 1] = v >>> 8; packed[i + 2] = v >>> 16; packed[i + 3] = v >>> 24;
  }
  const codes = new Uint8Array(nb);
  for (let i = 0; i < nb; i++) codes[i] = rng.int(256);
  const nested = new Float32Array(Math.ceil(nb / 256)).fill(0.01);
  return { rows: N, cols: K, packed, absmax: { codes, nestedAbsmax: nested, quantMap: createDynamicMap(), offset: 0.03 } };
}

function randomF32(n: number): Tensor {
  const base = rng.floats(1 << 16);
  const a = new Float32Array(n);
  for (let i = 0; i < n; i += base.length) a.set(base.subarray(0, Math.min(base.length, n - i)), i);
  return tensorFrom(gpu, a, [n]);
}
const as2d = (t: Tensor, r: number, c: number): Tensor => ({ ...t, shape: [r, c] });

// ---- NF4 matmuls at Llama-3.1-8B shapes -----------------------------------------------------------
const PROJ: [string, number, number][] = [
  ['q_proj/o_proj', S(4096), S(4096)],
  ['k_proj/v_proj', S(1024), S(4096)],
  ['gate/up_proj', S(14336), S(4096)],
  ['down_proj', S(4096), S(14336)],
];
const TOKENS = smoke ? [64] : quick ? [512] : [512, 2048];
// f32 (no tensor cores) NF4 GEMMs, old v1 vs new v2 (bench/nf4_f32.ts); --tokens 512,2048 overrides --quick
if (want('nf4MatmulF32'))
  await nf4F32Section({ gpu, time, report, randomNf4, destroy: (w) => nf4Destroy(gpu, w), randomF32, proj: PROJ, checks, smoke,
    tokens: opt('tokens') ? opt('tokens')!.split(',').map(Number) : TOKENS });
const maxM = Math.max(...TOKENS);
const xBuf = randomF32(maxM * S(14336));
const yBuf = createTensor(gpu, [maxM * S(14336)], 'f32', 'y');
const stepMs: Record<number, number> = {};
for (const [name, N, K] of PROJ) {
  const w = randomNf4(N, K);
  const wBytes = nf4WeightBytes(N, K, true);
  for (const M of TOKENS) {
    const flops = 2 * M * N * K;
    const it = smoke ? 2 : Math.max(3, Math.min(50, Math.round(2e11 / flops)));
    const bytes = wBytes + 4 * (M * K + M * N);
    if (want('nf4Matmul')) {
      const r = await time(() => nf4Matmul(gpu, as2d(yBuf, M, N), as2d(xBuf, M, K), w), it);
      report(`nf4Matmul ${name}`, `M=${M} N=${N} K=${K}`, r, flops, bytes);
      stepMs[M] = (stepMs[M] ?? 0) + r.ms * (name.includes('/') ? 2 : 1);
      // both tile shapes, to tune pickTile (auto picks ${pickTile(M, N)})
      for (const tile of [64, 128] as const)
        report(`  nf4Matmul tile ${tile}`, `M=${M} N=${N} K=${K}`, await time(() => nf4Matmul(gpu, as2d(yBuf, M, N), as2d(xBuf, M, K), w, { tile }), it), flops, bytes);
    }
    if (want('nf4MatmulBackward')) {
      const r = await time(() => nf4MatmulBackward(gpu, as2d(xBuf, M, K), as2d(yBuf, M, N), w), it);
      report(`nf4MatmulBackward ${name}`, `M=${M} N=${N} K=${K}`, r, flops, bytes);
      stepMs[M] = (stepMs[M] ?? 0) + r.ms * (name.includes('/') ? 2 : 1);
      for (const tile of [64, 128] as const)
        report(`  nf4MatmulBackward tile ${tile}`, `M=${M} N=${N} K=${K}`, await time(() => nf4MatmulBackward(gpu, as2d(xBuf, M, K), as2d(yBuf, M, N), w, { tile }), it), flops, bytes);
    }
  }
  if (want('GEMV')) {
    // hot: the same weight every iteration (4096² and 14336×4096 fit the H200's L2); cold: a
    // rotation over copies totalling > 100 MB, so every call streams its weight from memory.
    const host = randomNf4Host(N, K);
    const cold = [w, ...Array.from({ length: Math.min(63, Math.max(1, Math.ceil(100e6 / wBytes) - 1)) }, () => nf4Upload(gpu, host))];
    const rot = (M: number, ws: Nf4Weight[], o: { vec?: boolean } = {}) => { let i = 0; return () => nf4Matmul(gpu, as2d(yBuf, M, N), as2d(xBuf, M, K), ws[i++ % ws.length], o); };
    const with_ = async (s: Partial<typeof gemvSettings>, f: () => Promise<void>) => {
      const keep = { ...gemvSettings };
      Object.assign(gemvSettings, s);
      try { await f(); } finally { Object.assign(gemvSettings, keep); }
    };
    for (const M of [1, 4]) {
      const sh = `M=${M} N=${N} K=${K}`, fl = 2 * M * N * K, by = wBytes + 4 * (M * K + M * N);
      { // agreement of the variants on this device (max |diff| / max |v1|) and v2's determinism
        const yc = createTensor(gpu, [M, N], 'f32', 'ycheck');
        const out = async (s: Partial<typeof gemvSettings>) => {
          let r = new Float32Array(0);
          await with_(s, async () => { nf4Matmul(gpu, yc, as2d(xBuf, M, K), w); r = (await readF32(gpu, yc)).slice(); });
          return r;
        };
        const ref = await out({ kernel: 'v1' });
        const mx = ref.reduce((a, v) => Math.max(a, Math.abs(v)), 0);
        const err = (a: Float32Array) => a.reduce((e, v, i) => Math.max(e, Math.abs(v - ref[i])), 0) / mx;
        const v2a = await out({ kernel: 'v2' }), v2b = await out({ kernel: 'v2' });
        const same = v2a.every((v, i) => Object.is(v, v2b[i]));
        const errs = [['v2', v2a], ['v2 no subgroups', await out({ subgroups: false, kernel: 'v2' })], ['v2 byte-pair', await out({ lut: 'pair', kernel: 'v2' })],
          ['v2 R=4', await out({ rows: 4, kernel: 'v2' })], ['v2 R=8', await out({ rows: 8, kernel: 'v2' })], ['v2 R=1 WG=128', await out({ rows: 1, wg: 128, kernel: 'v2' })]] as const;
        const line = `GEMV check ${name} M=${M}: ` + errs.map(([n, a]) => `${n} ${err(a).toExponential(1)}`).join(', ') + `; v2 bitwise repeatable: ${same}`;
        console.log(line);
        checks.push(line);
        destroyTensor(gpu, yc);
      }
      report(`nf4 GEMV ${name}`, sh, await time(rot(M, [w]), 50), fl, by);
      await with_({ kernel: 'v1' }, async () => report(`  nf4 GEMV v1 (v5 kernel) ${name}`, sh, await time(rot(M, [w]), 50), fl, by));
      report(`  nf4 GEMV cold ${name}`, sh, await time(rot(M, cold), 50), fl, by);
      await with_({ kernel: 'v1' }, async () => report(`  nf4 GEMV v1 cold ${name}`, sh, await time(rot(M, cold), 50), fl, by));
      report(`  nf4 GEMV (old, scalar) ${name}`, sh, await time(rot(M, [w], { vec: false }), 50), fl, by);
      await with_({ subgroups: false, kernel: 'v2' }, async () => report(`  nf4 GEMV v2 no subgroups ${name}`, sh, await time(rot(M, [w]), 50), fl, by));
      await with_({ lut: 'pair', kernel: 'v2' }, async () => report(`  nf4 GEMV v2 byte-pair table ${name}`, sh, await time(rot(M, [w]), 50), fl, by));
      for (const wg of [256, 128]) for (const R of wg === 256 ? [1, 2, 4, 8] : [1, 2, 4])
        await with_({ rows: R, wg, kernel: 'v2' }, async () => report(`  nf4 GEMV v2 R=${R} WG=${wg} ${name}`, sh, await time(rot(M, [w]), 50), fl, by));
    }
    cold.slice(1).forEach((c) => nf4Destroy(gpu, c));
  }
  if (want('LoRA GEMV')) { // decode LoRA r = 16 at T = 1: small-M GEMV kernels vs the tiled GEMMs
    const rr = 16, A = randomF32(rr * K), B = randomF32(N * rr), xa = createTensor(gpu, [rr], 'f32', 'xa');
    for (const tiled of [false, true]) {
      const r = await time(() => loraForward(gpu, as2d(yBuf, 1, N), as2d(xa, 1, rr), as2d(xBuf, 1, K), as2d(A, rr, K), as2d(B, N, rr), { scale: 2, dropout: 0, seed: 0, tiled }), 50);
      report(`LoRA fwd T=1 ${tiled ? '(tiled, old)' : '(GEMV)'} ${name}`, `r=${rr} N=${N} K=${K}`, r, 4 * rr * (N + K), 4 * rr * (N + K));
    }
    [A, B, xa].forEach((t) => destroyTensor(gpu, t));
  }
  nf4Destroy(gpu, w);
}
for (const M of Object.keys(stepMs).map(Number))
  console.log(`NF4 projections of one layer, forward + backward (dX only), M=${M}: ${stepMs[M].toFixed(3)} ms; ×32 layers = ${(32 * stepMs[M]).toFixed(1)} ms`);

// ---- lm_head / embedding (16-bit) -------------------------------------------------------------------
if (want('matmul16') || want('embedding')) {
  const V = S(128256, 64), C = S(4096);
  const base = f32ToBf16Array(rng.floats(1 << 16).map((v) => v * 0.02));
  const raw = new Uint16Array(V * C);
  for (let i = 0; i < raw.length; i += base.length) raw.set(base.subarray(0, Math.min(base.length, raw.length - i)), i);
  let lm: Weight16 | null = null;
  try {
    lm = weight16Upload(gpu, raw, V, C, 'bf16', 'lm_head');
  } catch (e) {
    console.log(`lm_head skipped: ${(e as Error).message}`);
  }
  if (lm) {
    const wBytes = V * C * 2;
    const M = smoke ? 64 : 512; // logits [512, 128256] f32 = 263 MB; the loss computes them in token chunks
    const logits = createTensor(gpu, [M, V], 'f32', 'logits');
    const flops = 2 * M * V * C;
    if (want('matmul16')) {
      report('matmul16 lm_head', `M=${M} N=${V} K=${C}`, await time(() => matmul16(gpu, logits, as2d(xBuf, M, C), lm!), 5), flops, wBytes + 4 * (M * C + M * V));
      report('matmul16Backward lm_head', `M=${M} N=${V} K=${C}`, await time(() => matmul16Backward(gpu, as2d(xBuf, M, C), logits, lm!), 5), flops, wBytes + 4 * (M * C + M * V));
      for (const m of [1, 4])
        report('matmul16 GEMV lm_head', `M=${m} N=${V} K=${C}`, await time(() => matmul16(gpu, as2d(logits, m, V), as2d(xBuf, m, C), lm!), 20), 2 * m * V * C, wBytes + 4 * (m * C + m * V));
    }
    if (want('embedding')) {
      const T = smoke ? 64 : 2048;
      const ids = tensorFrom(gpu, Int32Array.from({ length: T }, () => rng.int(V)), [T]);
      report('embeddingGather', `T=${T} C=${C}`, await time(() => embeddingGather(gpu, as2d(yBuf, T, C), ids, lm!), 20), undefined, T * C * 6);
    }
    destroyTensor(gpu, logits);
  }
}

function f32ToBf16Array(x: Float32Array): Uint16Array {
  const out = new Uint16Array(x.length);
  for (let i = 0; i < x.length; i++) out[i] = f32ToBf16(x[i]);
  return out;
}

const file = opt('out') ?? `bench/results/kernels-${new Date().toISOString().replace(/[:.]/g, '-')}.json`;
mkdirSync(dirname(file), { recursive: true });
writeFileSync(file, JSON.stringify({ device: gpu.info, peakTflops, peakGbps, layerStepMs: stepMs, rows, checks }, null, 2));
console.log(`wrote ${file}`);
process.exit(0);
