// LoRA GEMMs at training shapes (r = 16, Llama-3.1-8B modules): the six products of
// loraForward/loraBackward timed one by one, old (generic tiled GEMM of matmul.wgsl, what
// `tiled: true` runs) vs new (lora.gemm.ts kernels), plus the whole forward and backward both
// ways, a split-target sweep, and an on-device check that new and old agree (and that the new
// path is bitwise repeatable). Dimension letters: T tokens, K in_features, N out_features, r rank.
// Run: `node scripts/run-ts.mjs bench/lora.ts [--smoke] [--tokens 256,512,2048] [--out FILE]` (--smoke: tiny shapes).

import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { Gpu } from '../src/gpu/core/context';
import { nodeGpuApi } from '../src/gpu/core/node';
import { createTensor, readF32, tensorFrom, type Tensor } from '../src/gpu/core/tensor';
import { loraBackward, loraForward, type LoraOpts } from '../src/gpu/ops/lora';
import { loraDown, loraGemmSettings, loraTred, loraUp, type LoraDrop } from '../src/gpu/ops/lora.gemm';
import { matmul, matmulDropout, matmulSettings, type GemmDropout, type MatmulOpts } from '../src/gpu/ops/matmul';
import { Rng } from '../src/util/rng';
import { gpuTimeMs, type GpuTime } from './gputime';

const argv = process.argv.slice(2);
const opt = (n: string) => { const i = argv.indexOf(`--${n}`); return i >= 0 ? argv[i + 1] : undefined; };
const smoke = argv.includes('--smoke');
const S = (d: number) => (smoke ? d / 64 : d);
const gpu = await Gpu.create(await nodeGpuApi());
const rng = new Rng(3);
console.log(`device: ${gpu.info.description ?? ''} ${JSON.stringify(gpu.features)}`);

const r = 16, scale = 2, p = 0.05, seed = 1234;
const TOKENS = smoke ? [8, 32] : (opt("tokens") ?? "256,512,2048").split(",").map(Number);
// [name, K in, N out, modules of this shape per layer]
const MODS: [string, number, number, number][] = [
  ['q_proj/o_proj', S(4096), S(4096), 2], ['k_proj/v_proj', S(4096), S(1024), 2],
  ['gate/up_proj', S(4096), S(14336), 2], ['down_proj', S(14336), S(4096), 1],
];
const LAYERS = 32;

function randomF32(n: number, amp = 1): Tensor {
  const base = rng.floats(1 << 16);
  const a = new Float32Array(n);
  for (let i = 0; i < n; i += base.length) a.set(base.subarray(0, Math.min(base.length, n - i)), i);
  if (amp !== 1) for (let i = 0; i < n; i++) a[i] *= amp;
  return tensorFrom(gpu, a, [n]);
}
const as2d = (t: Tensor, a: number, b: number): Tensor => ({ ...t, shape: [a, b] });
const seedBase = tensorFrom(gpu, Int32Array.of(777), [1]);

interface Row { name: string; T: number; K: number; N: number; old?: number; new?: number; speedup?: number; newGBps?: number; note?: string }
const rows: Row[] = [];
const checks: string[] = [];
const totals: Record<string, { old: number; new: number }> = {};
/** Best of 3 timings of ≥ ~10 ms of GPU work each (timestamps are coarse; clocks ramp up). */
async function time(f: () => void, reps0: number): Promise<GpuTime> {
  const first = await gpuTimeMs(gpu, f, reps0);
  const reps = smoke ? reps0 : Math.max(reps0, Math.min(2000, Math.ceil(10 / Math.max(first.ms, 1e-4))));
  let best = first;
  for (let i = 0; i < 3; i++) {
    const t = await gpuTimeMs(gpu, f, reps, false);
    if (t.ms < best.ms || best === first) best = t;
  }
  return best;
}
const f = (v: number | undefined, d = 4) => (v === undefined ? '' : v.toFixed(d));

function print(row: Row): void {
  rows.push(row);
  console.log(`${row.name.padEnd(28)} T=${String(row.T).padEnd(5)} K=${String(row.K).padEnd(6)} N=${String(row.N).padEnd(6)} old ${f(row.old).padStart(8)} ms  new ${f(row.new).padStart(8)} ms  ×${f(row.speedup, 1).padStart(6)}  ${f(row.newGBps, 0).padStart(6)} GB/s ${row.note ?? ''}`);
}

const maxT = Math.max(...TOKENS), maxC = S(14336);
{ // spin the GPU ~0.5 s so clocks are up before the first timing
  const a = randomF32(1 << 22), b = randomF32(1 << 22);
  const t0 = performance.now();
  while (performance.now() - t0 < 500) {
    for (let i = 0; i < 50; i++) gpu.commandEncoder().copyBufferToBuffer(a.buffer, 0, b.buffer, 0, 16 << 20);
    await gpu.sync();
  }
}
const X = randomF32(maxT * maxC), DY = randomF32(maxT * maxC), Y = randomF32(maxT * maxC), DX = randomF32(maxT * maxC);
const XA = randomF32(maxT * r), SC = randomF32(maxT * r, 0.1);

for (const T of TOKENS) {
  totals[T] = { old: 0, new: 0 };
  for (const [name, K, N, per] of MODS) {
    const x = as2d(X, T, K), dy = as2d(DY, T, N), y = as2d(Y, T, N), dx = as2d(DX, T, K);
    const xa = as2d(XA, T, r), sc = as2d(SC, T, r);
    const A = as2d(randomF32(r * K, 0.02), r, K), B = as2d(randomF32(N * r, 0.02), N, r);
    const dA = as2d(randomF32(r * K), r, K), dB = as2d(randomF32(N * r), N, r);
    const dOld = (on: GemmDropout['on']): GemmDropout => ({ p, seed, seedBase, on });
    const dNew: LoraDrop = { p, seed, seedBase };
    const mm = (c: Tensor, a: Tensor, b: Tensor, o: MatmulOpts, d?: GemmDropout) => () => (d ? matmulDropout(gpu, c, a, b, o, d) : matmul(gpu, c, a, b, o));
    // [product, old, new, bytes of the big operand / output moved once]
    const prods: [string, () => void, () => void, number][] = [
      ['xa = drop(x)·Aᵀ', mm(xa, x, A, { M: T, N: r, K, transB: true }, dOld('a')), () => loraDown(gpu, xa, x, A, T, K, r, false, 1, dNew), 4 * T * K],
      ['y += s·xa·Bᵀ', mm(y, xa, B, { M: T, N, K: r, transB: true, alpha: scale, accumulate: true }), () => loraUp(gpu, y, xa, B, T, N, r, true, scale, true, null), 8 * T * N],
      ['dB += s·dyᵀ·xa', mm(dB, dy, xa, { M: N, N: r, K: T, transA: true, alpha: scale, accumulate: true }), () => loraTred(gpu, dB, dy, xa, T, N, r, false, scale, true, null), 4 * T * N],
      ['dxa = s·dy·B', mm(sc, dy, B, { M: T, N: r, K: N, alpha: scale }), () => loraDown(gpu, sc, dy, B, T, N, r, true, scale, null), 4 * T * N],
      ['dA += dxaᵀ·drop(x)', mm(dA, sc, x, { M: r, N: K, K: T, transA: true, accumulate: true }, dOld('b')), () => loraTred(gpu, dA, x, sc, T, K, r, true, 1, true, dNew), 4 * T * K],
      ['dx += drop(dxa·A)', mm(dx, sc, A, { M: T, N: K, K: r, accumulate: true }, dOld('c')), () => loraUp(gpu, dx, sc, A, T, K, r, false, 1, true, dNew), 8 * T * K],
    ];
    const reps = smoke ? 3 : 20;
    for (const [pn, o, n, bytes] of prods) {
      const to = await time(o, reps), tn = await time(n, reps);
      const note: string = tn.timing;
      print({ name: `  ${pn}`, T, K, N, old: to.ms, new: tn.ms, speedup: to.ms / tn.ms, newGBps: bytes / tn.ms / 1e6, note });
    }
    const opts = (tiled: boolean): LoraOpts => ({ scale, dropout: p, seed, seedBase, tiled });
    const fwd = (tiled: boolean) => () => loraForward(gpu, y, xa, x, A, B, opts(tiled));
    const bwd = (tiled: boolean) => () => loraBackward(gpu, dA, dB, dx, dy, x, A, B, xa, sc, opts(tiled));
    const fo = await time(fwd(true), reps), fn = await time(fwd(false), reps);
    const bo = await time(bwd(true), reps), bn = await time(bwd(false), reps);
    print({ name: `loraForward ${name}`, T, K, N, old: fo.ms, new: fn.ms, speedup: fo.ms / fn.ms });
    print({ name: `loraBackward ${name}`, T, K, N, old: bo.ms, new: bn.ms, speedup: bo.ms / bn.ms });
    totals[T].old += LAYERS * per * (fo.ms + bo.ms);
    totals[T].new += LAYERS * per * (fn.ms + bn.ms);

    // agreement: both paths from the same inputs; new twice for bitwise repeatability
    const outs = async (tiled: boolean) => {
      const yy = createTensor(gpu, [T, N]), xx = createTensor(gpu, [T, r]), s2 = createTensor(gpu, [T, r]);
      const a2 = createTensor(gpu, [r, K]), b2 = createTensor(gpu, [N, r]), d2 = createTensor(gpu, [T, K]);
      loraForward(gpu, yy, xx, x, A, B, opts(tiled));
      loraBackward(gpu, a2, b2, d2, dy, x, A, B, xx, s2, opts(tiled));
      const res = { xa: await readF32(gpu, xx), y: await readF32(gpu, yy), dA: await readF32(gpu, a2), dB: await readF32(gpu, b2), dx: await readF32(gpu, d2) };
      for (const t of [yy, xx, s2, a2, b2, d2]) t.buffer.destroy();
      return res;
    };
    const ref = await outs(true), n1 = await outs(false), n2 = await outs(false);
    const parts = Object.keys(ref).map((k) => {
      const a = ref[k as keyof typeof ref], b = n1[k as keyof typeof n1], c = n2[k as keyof typeof n2];
      const mx = a.reduce((m, v) => Math.max(m, Math.abs(v)), 0) || 1;
      const err = a.reduce((m, v, i) => Math.max(m, Math.abs(v - b[i])), 0) / mx;
      const same = b.every((v, i) => Object.is(v, c[i]));
      return `${k} ${err.toExponential(1)}${same ? '' : ' NOT-REPEATABLE'}`;
    });
    const line = `check T=${T} ${name}: max|new-old|/max|old|: ${parts.join(', ')}`;
    console.log(line);
    checks.push(line);
    for (const t of [A, B, dA, dB]) t.buffer.destroy();
  }
}
for (const T of TOKENS)
  console.log(`LoRA total per step (224 modules, fwd+bwd, T=${T}): old ${totals[T].old.toFixed(1)} ms, new ${totals[T].new.toFixed(1)} ms (×${(totals[T].old / totals[T].new).toFixed(1)})`);

// split sweep: per-step LoRA total (224 modules, fwd+bwd, the dedicated kernels at every T) for
// each (targetWorkgroups, minLSplit, minTSplit); the generic GEMMs' total above is the baseline.
const sweep: { target: number; minL: number; minT: number; T: number; stepMs: number }[] = [];
const keep = { ...loraGemmSettings };
loraGemmSettings.minTokens = 1;
for (const target of smoke ? [512] : [512, 1024, 2048]) for (const minL of [64, 128, 256]) for (const minT of [64, 128]) {
  Object.assign(loraGemmSettings, { targetWorkgroups: target, minLSplit: minL, minTSplit: minT });
  for (const T of TOKENS) {
    let stepMs = 0;
    for (const [, K, N, per] of MODS) {
      const x = as2d(X, T, K), dy = as2d(DY, T, N), y = as2d(Y, T, N), dx = as2d(DX, T, K), xa = as2d(XA, T, r), sc = as2d(SC, T, r);
      const A = as2d(randomF32(r * K, 0.02), r, K), B = as2d(randomF32(N * r, 0.02), N, r), dA = createTensor(gpu, [r, K]), dB = createTensor(gpu, [N, r]);
      const o: LoraOpts = { scale, dropout: p, seed, seedBase };
      const t = await time(() => { loraForward(gpu, y, xa, x, A, B, o); loraBackward(gpu, dA, dB, dx, dy, x, A, B, xa, sc, o); }, smoke ? 3 : 20);
      stepMs += LAYERS * per * t.ms;
      for (const tt of [A, B, dA, dB]) tt.buffer.destroy();
    }
    sweep.push({ target, minL, minT, T, stepMs });
    console.log(`sweep targetWorkgroups=${target} minLSplit=${minL} minTSplit=${minT} T=${T}: LoRA per step ${stepMs.toFixed(1)} ms (generic GEMMs ${totals[T].old.toFixed(1)})`);
  }
}
Object.assign(loraGemmSettings, keep);

// Generic GEMM (matmul.ts, what T < minTokens runs) split-K sweep: per-step LoRA total of the
// `tiled` path for each (targetWorkgroups, minKPerSplit) of --generic-sweep t:k,... (the default pair
// first and last: GPU clocks drift over a sweep).
const gsweep: { target: number; minK: number; T: number; stepMs: number }[] = [];
const keepM = { ...matmulSettings };
const gpairs: [number, number][] = smoke ? [[256, 128]] : (opt('generic-sweep') ?? '256:128,128:128,256:256,512:128,1024:128,256:128')
  .split(',').map((x) => x.split(':').map(Number) as [number, number]);
for (const [target, minK] of gpairs) {
  Object.assign(matmulSettings, { targetWorkgroups: target, minKPerSplit: minK });
  for (const T of TOKENS.filter((t) => t <= 1024)) {
    let stepMs = 0;
    for (const [, K, N, per] of MODS) {
      const x = as2d(X, T, K), dy = as2d(DY, T, N), y = as2d(Y, T, N), dx = as2d(DX, T, K), xa = as2d(XA, T, r), sc = as2d(SC, T, r);
      const A = as2d(randomF32(r * K, 0.02), r, K), B = as2d(randomF32(N * r, 0.02), N, r), dA = createTensor(gpu, [r, K]), dB = createTensor(gpu, [N, r]);
      const o: LoraOpts = { scale, dropout: p, seed, seedBase, tiled: true };
      const t = await time(() => { loraForward(gpu, y, xa, x, A, B, o); loraBackward(gpu, dA, dB, dx, dy, x, A, B, xa, sc, o); }, smoke ? 3 : 20);
      stepMs += LAYERS * per * t.ms;
      for (const tt of [A, B, dA, dB]) tt.buffer.destroy();
    }
    gsweep.push({ target, minK, T, stepMs });
    console.log(`generic sweep targetWorkgroups=${target} minKPerSplit=${minK} T=${T}: LoRA per step ${stepMs.toFixed(1)} ms`);
  }
}
Object.assign(matmulSettings, keepM);

const file = opt('out') ?? `bench/results/lora-${new Date().toISOString().replace(/[:.]/g, '-')}.json`;
mkdirSync(dirname(file), { recursive: true });
writeFileSync(file, JSON.stringify({ device: gpu.info, features: gpu.features, r, scale, dropout: p, rows, totals, checks, sweep, gsweep }, null, 2));
console.log(`wrote ${file}`);
process.exit(0);
