// Correctness + speed check of the tensor-core NF4 and 16-bit (lm_head) matmuls
// (src/gpu/ops/mma.ts, split-K included) on a GPU that
// has `chromium-experimental-subgroup-matrix` (the software adapter has not, so the unit tests
// can only emulate the builtins). Self-contained: bundle it like bench/run.ts (README.md) and run
//   node .gpu/mma.mjs [--out FILE] [--quick | --speed | --w16 [--w16-short]]
// --w16: only the 16-bit-weight (lm_head) kernels, bench/mma-w16.ts ('staged' vs 'v3' on the
// cross-entropy chunk shapes; --w16-short: M = 511 and 523 only).
// --dx: only the NF4 dX kernels, bench/mma-dx.ts ('v3' vs 'dx' variants on the training shapes).
// --speed: the correctness cases, then only the 8B training shapes (M = 512, 2048) timed for the
// f32 path and the automatic plan of the NF4 kernels ('staged', 'pipe', 'v3'), plus 'v3' tile
// variants (V3_VARIANTS, each checked against the f32 path) and the v3 split-K factor halved /
// doubled; no other plan sweep.
// Steps: adapter report; a probe of the WGSL syntax/uniformity rules; compilation of every kernel
// variant (messages printed); small odd shapes against the f64 reference (nf4MatmulRef /
// nf4MatmulBackwardRef, matmul16Ref / matmul16BackwardRef), with forced split-K; Llama shapes
// (and lm_head [128256, 4096] bf16) against the f32 GPU path, including a dy scaled by 1e-8; then
// the time of the f32 path, the previous tensor-core plan (pickMmaTile, no split), the automatic
// plan (pickMmaPlan) and a sweep of (tile, split) plans, each with its error against the f32 path.
// Letters: y [M, N] = x [M, K] · Wᵀ, dx [M, K] = dy [M, N] · W.

import { writeFileSync } from 'node:fs';
import { Gpu } from '../src/gpu/core/context';
import { nodeGpuApi } from '../src/gpu/core/node';
import { createTensor, destroyTensor, readF32, tensorFrom, type Tensor } from '../src/gpu/core/tensor';
import { nf4Matmul, nf4MatmulBackward, nf4Quantize, nf4Upload, type Nf4Weight } from '../src/gpu/ops/nf4';
import { nf4MatmulBackwardRef, nf4MatmulRef, nf4QuantizeRef } from '../src/gpu/ops/nf4.ref';
import {
  MMA_SPLIT, MMA_TILES, matmul16BackwardMma, matmul16Mma, mmaSettings, mmaSource, mmaUnsupportedReason, nf4MatmulBackwardMma,
  nf4MatmulMma, pickMmaPlan, pickMmaTile, useMma, V3_TILES, type MmaKernel, type MmaPlan,
} from '../src/gpu/ops/mma';
import { pickTile } from '../src/gpu/ops/nf4.matmul';
import { matmul16, matmul16Backward, weight16Upload, type Weight16 } from '../src/gpu/ops/w16';
import { f32ToW16, matmul16BackwardRef, matmul16Ref, type Format16 } from '../src/gpu/ops/w16.ref';
import { Rng } from '../src/util/rng';
import { gpuTimeMs } from './gputime';
import { checkW16, compileMessages, randomBf16, relErr } from './mma-w16';
import { checkDx } from './mma-dx';
import { fillUniform } from './fill';

const args = process.argv.slice(2);
const outFile = args.includes('--out') ? args[args.indexOf('--out') + 1] : process.env.OUT ? `${process.env.OUT}/mma-check.json` : 'mma-check.json';
const quick = args.includes('--quick');
const speed = args.includes('--speed');
const w16Only = args.includes('--w16');
const KERNELS: MmaKernel[] = ['staged', 'pipe', 'v3'];
/** v3 configurations of the 128 plan tile timed in --speed (the first is V3_TILES[128] as committed). */
const V3_DEFAULT = { ...V3_TILES[128] };
const V3_VARIANTS: Record<string, typeof V3_DEFAULT> = {
  [`v3:${V3_DEFAULT.bm}x${V3_DEFAULT.bn}/w${V3_DEFAULT.wm}x${V3_DEFAULT.wn}/k${V3_DEFAULT.bk}`]: V3_DEFAULT,
  'v3:128x128/w64x64/k32': { bm: 128, bn: 128, bk: 32, wm: 64, wn: 64 }, // run 8: 46–54 fwd, 31–36 dX
  'v3:128x128/w32x64/k16': { bm: 128, bn: 128, bk: 16, wm: 32, wn: 64 }, // the pipe kernel's shape
};
const V3_DEFAULT_NAME = Object.keys(V3_VARIANTS)[0];
const TOL = 4e-3;
const report: Record<string, unknown> = { time: new Date().toISOString() };
const log = (...a: unknown[]) => console.log(...a);
const save = () => writeFileSync(outFile, JSON.stringify(report, null, 1));

const PROBE = (syntax: 'template' | 'bool', diag: boolean) => `enable f16;
enable subgroups;
enable chromium_experimental_subgroup_matrix;
${diag ? 'diagnostic(off, chromium_experimental.subgroup_matrix_uniformity);\n' : ''}
@group(0) @binding(0) var<storage, read_write> o: array<f32>;
var<workgroup> a: array<f16, 2048>;
@compute @workgroup_size(128)
fn main(@builtin(subgroup_id) sg: u32, @builtin(workgroup_id) wid: vec3<u32>) {
  let off = sg * 16u * 24u;
  ${syntax === 'template'
    ? `let l = subgroupMatrixLoad<subgroup_matrix_left<f16, 16, 16>, row_major>(&a, off, 24u);
  let r = subgroupMatrixLoad<subgroup_matrix_right<f16, 16, 16>, col_major>(&a, off, 24u);
  var c = subgroup_matrix_result<f32, 16, 16>();
  c = subgroupMatrixMultiplyAccumulate(l, r, c);
  subgroupMatrixStore<row_major>(&o, (wid.x * 4u + sg) * 256u, c, 16u);`
    : `let l = subgroupMatrixLoad<subgroup_matrix_left<f16, 16, 16>>(&a, off, false, 24u);
  let r = subgroupMatrixLoad<subgroup_matrix_right<f16, 16, 16>>(&a, off, true, 24u);
  var c = subgroup_matrix_result<f32, 16, 16>();
  c = subgroupMatrixMultiplyAccumulate(l, r, c);
  subgroupMatrixStore(&o, (wid.x * 4u + sg) * 256u, c, false, 16u);`}
}`;

type Dir = 'fwd' | 'bwd';
type W = { nf4: Nf4Weight } | { w16: Weight16 };
/** (tile, split) plans timed against the f32 path and the automatic plan. */
const PLANS: MmaPlan[] = [
  { tile: 128, split: 1 }, { tile: 128, split: 2 }, { tile: 128, split: 4 }, { tile: 128, split: 8 }, { tile: 128, split: 16 },
  { tile: 64, split: 1 }, { tile: 64, split: 2 }, { tile: 64, split: 4 },
];
/** out = x·Wᵀ (fwd) or dy·W (bwd): the f32 path (plan null) or the tensor-core path with a plan ('auto': pickMmaPlan). */
function record(gpu: Gpu, dir: Dir, out: Tensor, inp: Tensor, w: W, plan: MmaPlan | 'auto' | null, accumulate = false, kernel?: MmaKernel): void {
  const o = plan === 'auto' ? { accumulate, kernel } : { accumulate, kernel, ...plan };
  if ('nf4' in w) {
    if (plan === null) (dir === 'fwd' ? nf4Matmul : nf4MatmulBackward)(gpu, out, inp, w.nf4, { mma: false, accumulate });
    else (dir === 'fwd' ? nf4MatmulMma : nf4MatmulBackwardMma)(gpu, out, inp, w.nf4, o);
  } else {
    if (plan === null) (dir === 'fwd' ? matmul16 : matmul16Backward)(gpu, out, inp, w.w16, { mma: false, accumulate });
    else (dir === 'fwd' ? matmul16Mma : matmul16BackwardMma)(gpu, out, inp, w.w16, o);
  }
}

async function main() {
  const gpu = await Gpu.create(await nodeGpuApi());
  const ai = (gpu.device as unknown as { adapterInfo?: Record<string, unknown> }).adapterInfo ?? {};
  report.adapter = {
    vendor: gpu.info.vendor, architecture: gpu.info.architecture, description: gpu.info.description,
    features: gpu.features, subgroupMinSize: ai.subgroupMinSize, subgroupMaxSize: ai.subgroupMaxSize,
    subgroupMatrixConfigs: Array.from((ai.subgroupMatrixConfigs as Iterable<Record<string, unknown>>) ?? [])
      .map((c) => `${c.componentType}->${c.resultComponentType} ${c.M}x${c.N}x${c.K}`),
    maxComputeWorkgroupStorageSize: gpu.info.limits.maxComputeWorkgroupStorageSize,
  };
  const reason = mmaUnsupportedReason(gpu);
  report.unsupported = reason;
  log(JSON.stringify(report.adapter), '\nunsupported:', reason);
  save();
  if (!gpu.features.subgroupMatrix) return;

  // 1. syntax / uniformity probe
  const probe: Record<string, string[]> = {};
  for (const syntax of ['template', 'bool'] as const)
    for (const diag of [false, true]) probe[`${syntax}${diag ? '+diagOff' : ''}`] = await compileMessages(gpu, PROBE(syntax, diag), {});
  report.probe = probe;
  log('probe:', JSON.stringify(probe, null, 1));
  if (probe.template.length && !probe['template+diagOff'].length) {
    log('subgroup_id offsets fail the uniformity analysis: turning the diagnostic off');
    mmaSettings.diagnosticOff = true;
  }

  if (args.includes('--dx')) {
    if (reason) { log(`routing would not use mma here (${reason}); forcing it for the check`); mmaSettings.skipDeviceCheck = true; }
    report.allOk = await checkDx(gpu, report, save, log);
    log('ALL OK:', report.allOk);
    save();
    return;
  }
  if (w16Only) {
    if (reason) { log(`routing would not use mma here (${reason}); forcing it for the check`); mmaSettings.skipDeviceCheck = true; }
    report.allOk = await checkW16(gpu, report, save, log, !args.includes('--w16-short'));
    log('ALL OK:', report.allOk);
    save();
    return;
  }

  // 2. every kernel variant compiles
  const compile: Record<string, string[]> = {};
  for (const kind of ['nf4', 'w16'] as const)
    for (const tile of [64, 128] as const)
      for (const bwd of [false, true])
        for (const aligned of [1, 0]) compile[`${kind}${tile}${bwd ? 'bwd' : 'fwd'}${aligned ? '' : '-unaligned'}`] = await compileMessages(gpu, mmaSource(tile, bwd, kind, 'staged'), { ALIGNED: aligned });
  const pipeCompile: Record<string, string[]> = {};
  for (const tile of [64, 128] as const)
    for (const bwd of [false, true]) pipeCompile[`nf4pipe${tile}${bwd ? 'bwd' : 'fwd'}`] = await compileMessages(gpu, mmaSource(tile, bwd, 'nf4', 'pipe'), {});
  const v3Compile: Record<string, string[]> = {};
  for (const bwd of [false, true]) v3Compile[`nf4v3-64${bwd ? 'bwd' : 'fwd'}`] = await compileMessages(gpu, mmaSource(64, bwd, 'nf4', 'v3'), {});
  for (const [name, cfg] of Object.entries(V3_VARIANTS)) {
    V3_TILES[128] = cfg;
    for (const bwd of [false, true]) v3Compile[`${name}${bwd ? 'bwd' : 'fwd'}`] = await compileMessages(gpu, mmaSource(128, bwd, 'nf4', 'v3'), {});
  }
  V3_TILES[128] = V3_DEFAULT;
  for (const name of Object.keys(V3_VARIANTS)) {
    if (v3Compile[`${name}fwd`].length || v3Compile[`${name}bwd`].length) { log(`dropping ${name}: compilation failed`); delete V3_VARIANTS[name]; }
  }
  report.compile = { ...compile, ...pipeCompile, ...v3Compile };
  log('compile:', JSON.stringify(report.compile, null, 1));
  save();
  if (Object.values(compile).some((m) => m.length)) { log('kernel compilation failed; stopping'); return; }
  if (Object.values(pipeCompile).some((m) => m.length)) {
    log('pipe kernel compilation failed: checking the staged kernel only');
    mmaSettings.kernel = 'staged';
    KERNELS.splice(KERNELS.indexOf('pipe'), 1);
  }
  if (v3Compile['nf4v3-64fwd'].length || v3Compile['nf4v3-64bwd'].length || !V3_VARIANTS[V3_DEFAULT_NAME]) {
    log('v3 kernel compilation failed: not checking it');
    KERNELS.splice(KERNELS.indexOf('v3'), 1);
    for (const name of Object.keys(V3_VARIANTS)) delete V3_VARIANTS[name];
  }
  if (reason) {
    log(`routing would not use mma here (${reason}); forcing it for the check`);
    mmaSettings.skipDeviceCheck = true;
  }

  // 3. small odd shapes vs the f64 reference (forced mma path: automatic plan, and split-K 3)
  const small: unknown[] = [];
  const SMALL: [number, number, number][] = [[37, 200, 264], [16, 33, 40], [130, 65, 96], [70, 129, 27], [300, 520, 136], [64, 96, 1000]];
  for (const [M, N, K] of SMALL) {
    for (const dq of [false, true]) {
      const rng = new Rng(M * 7 + N + K);
      const h = nf4QuantizeRef(rng.floats(N * K), N, K, { doubleQuant: dq });
      const w = nf4Upload(gpu, h);
      const x = rng.floats(M * K), dy = rng.floats(M * N), y0 = rng.floats(M * N), dx0 = rng.floats(M * K);
      for (const kernel of KERNELS) for (const [accumulate, split] of [[false, undefined], [true, undefined], [true, 3]] as const) {
        mmaSettings.kernel = kernel;
        const y = tensorFrom(gpu, y0, [M, N]);
        if (split) nf4MatmulMma(gpu, y, tensorFrom(gpu, x, [M, K]), w, { accumulate, tile: 128, split });
        else nf4Matmul(gpu, y, tensorFrom(gpu, x, [M, K]), w, { mma: true, accumulate });
        const wy = Float64Array.from(y0); nf4MatmulRef(wy, x, h, M, accumulate);
        const dx = tensorFrom(gpu, dx0, [M, K]);
        if (split) nf4MatmulBackwardMma(gpu, dx, tensorFrom(gpu, dy, [M, N]), w, { accumulate, tile: 128, split });
        else nf4MatmulBackward(gpu, dx, tensorFrom(gpu, dy, [M, N]), w, { mma: true, accumulate });
        const wdx = Float64Array.from(dx0); nf4MatmulBackwardRef(wdx, dy, h, M, accumulate);
        const ef = relErr(await readF32(gpu, y), wy), eb = relErr(await readF32(gpu, dx), wdx);
        const row = { kind: 'nf4', kernel, M, N, K, dq, accumulate, split: split ?? 'auto', plans: [pickMmaPlan(M, N, K), pickMmaPlan(M, K, N)], fwd: ef, bwd: eb, ok: ef.max < TOL && eb.max < TOL };
        small.push(row);
        log('small', JSON.stringify(row));
      }
    }
  }
  // v3 variants of the 128 plan tile at odd shapes (tile 128 forced; split 1 and 3, accumulate)
  for (const [name, cfg] of Object.entries(V3_VARIANTS)) {
    V3_TILES[128] = cfg;
    for (const [M, N, K] of [[37, 200, 264], [300, 520, 136], [130, 65, 96]]) {
      const rng = new Rng(M * 13 + N + K);
      const h = nf4QuantizeRef(rng.floats(N * K), N, K, { doubleQuant: true });
      const w = nf4Upload(gpu, h);
      const x = rng.floats(M * K), dy = rng.floats(M * N), y0 = rng.floats(M * N), dx0 = rng.floats(M * K);
      for (const split of [1, 3]) {
        const o = { accumulate: true, tile: 128 as const, split, kernel: 'v3' as const };
        const y = tensorFrom(gpu, y0, [M, N]);
        nf4MatmulMma(gpu, y, tensorFrom(gpu, x, [M, K]), w, o);
        const wy = Float64Array.from(y0); nf4MatmulRef(wy, x, h, M, true);
        const dx = tensorFrom(gpu, dx0, [M, K]);
        nf4MatmulBackwardMma(gpu, dx, tensorFrom(gpu, dy, [M, N]), w, o);
        const wdx = Float64Array.from(dx0); nf4MatmulBackwardRef(wdx, dy, h, M, true);
        const ef = relErr(await readF32(gpu, y), wy), eb = relErr(await readF32(gpu, dx), wdx);
        const row = { kind: 'nf4', kernel: name, M, N, K, dq: true, accumulate: true, split, fwd: ef, bwd: eb, ok: ef.max < TOL && eb.max < TOL };
        small.push(row);
        log('small', JSON.stringify(row));
      }
    }
  }
  V3_TILES[128] = V3_DEFAULT;
  // 16-bit weights: bf16 and f16, |w| ~ 0.05; bf16 also at 1e6 (beyond f16) and 1e-7 (f16 subnormal)
  for (const [M, N, K] of SMALL) {
    for (const [format, mag] of [['bf16', 0.05], ['f16', 0.05], ['bf16', 1e6], ['bf16', 1e-7]] as [Format16, number][]) {
      const rng = new Rng(M * 11 + N + K);
      const raw = f32ToW16(rng.floats(N * K).map((v) => v * mag), format);
      const w = weight16Upload(gpu, raw, N, K, format);
      const x = rng.floats(M * K), dy = rng.floats(M * N), y0 = rng.floats(M * N), dx0 = rng.floats(M * K);
      for (const [accumulate, split] of [[false, undefined], [true, 3]] as const) {
        const o = split ? { accumulate, tile: 128 as const, split } : { accumulate };
        const y = tensorFrom(gpu, y0, [M, N]);
        matmul16Mma(gpu, y, tensorFrom(gpu, x, [M, K]), w, o);
        const wy = Float64Array.from(y0); matmul16Ref(wy, x, raw, N, K, format, M, accumulate);
        const dx = tensorFrom(gpu, dx0, [M, K]);
        matmul16BackwardMma(gpu, dx, tensorFrom(gpu, dy, [M, N]), w, o);
        const wdx = Float64Array.from(dx0); matmul16BackwardRef(wdx, dy, raw, N, K, format, M, accumulate);
        const ef = relErr(await readF32(gpu, y), wy), eb = relErr(await readF32(gpu, dx), wdx);
        const row = { kind: 'w16', format, mag, M, N, K, accumulate, split: split ?? 'auto', fwd: ef, bwd: eb, ok: ef.max < TOL && eb.max < TOL };
        small.push(row);
        log('small', JSON.stringify(row));
      }
    }
  }
  report.small = small;
  mmaSettings.kernel = KERNELS[KERNELS.length - 1]; // the committed default ('v3') unless it failed to compile
  save();

  // 4. Llama shapes (NF4) and lm_head (bf16 [128256, 4096]) vs the f32 GPU path, and timing
  const TRAIN: [string, number, number, number][] = [];
  for (const M of [512, 2048]) for (const [N, K] of [[4096, 4096], [1024, 4096], [14336, 4096], [4096, 14336]]) TRAIN.push(['nf4', M, N, K]);
  const LARGE: [string, number, number, number][] = speed ? TRAIN : quick
    ? [['nf4', 512, 1024, 4096], ['nf4', 512, 4096, 14336]]
    : [['nf4', 37, 4096, 4096], ['nf4', 512, 1024, 4096], ['nf4', 512, 4096, 4096], ['nf4', 512, 4096, 14336], ['nf4', 512, 14336, 4096],
      ['nf4', 2048, 1024, 4096], ['w16', 512, 128256, 4096], ['w16', 523, 128256, 4096]];
  const large: unknown[] = [];
  let lmHead: Weight16 | null = null;
  for (const [kind, M, N, K] of LARGE) {
    let w: W;
    if (kind === 'nf4') {
      const wf = createTensor(gpu, [N, K], 'f32', 'w.f32');
      gpu.device.queue.writeBuffer(wf.buffer, 0, fillUniform(new Float32Array(N * K), 0.05, N + K));
      w = { nf4: nf4Quantize(gpu, wf, { doubleQuant: true }) };
      await gpu.sync();
      destroyTensor(gpu, wf);
    } else {
      w = { w16: (lmHead ??= randomBf16(gpu, N, K, 77)) };
    }
    const x = tensorFrom(gpu, fillUniform(new Float32Array(M * K), 1, M + 1), [M, K]);
    const dyHost = fillUniform(new Float32Array(M * N), 1, M + 2);
    const dy = tensorFrom(gpu, dyHost, [M, N]);
    const dyTiny = tensorFrom(gpu, dyHost.map((v) => v * 1e-8), [M, N]);
    const y32 = createTensor(gpu, [M, N]), y16 = createTensor(gpu, [M, N]);
    const dx32 = createTensor(gpu, [M, K]), dx16 = createTensor(gpu, [M, K]);
    const row: Record<string, unknown> = {
      kind, M, N, K, auto: { fwd: useMma(gpu, M, N, undefined, K), bwd: useMma(gpu, M, K, undefined, N) },
      plans: { f32: [pickTile(M, N), pickTile(M, K)], old: [pickMmaTile(M, N), pickMmaTile(M, K)], auto: [pickMmaPlan(M, N, K), pickMmaPlan(M, K, N)] },
    };
    let ok0 = true;
    record(gpu, 'bwd', dx32, dyTiny, w, null); record(gpu, 'bwd', dx16, dyTiny, w, 'auto');
    row.bwdTinyErr = relErr(await readF32(gpu, dx16), await readF32(gpu, dx32));
    if (speed && 'nf4' in w) {
      record(gpu, 'bwd', dx16, dyTiny, w, 'auto', false, 'staged');
      row.bwdTinyErrStaged = relErr(await readF32(gpu, dx16), await readF32(gpu, dx32));
      if (KERNELS.includes('v3')) {
        record(gpu, 'bwd', dx16, dyTiny, w, 'auto', false, 'v3');
        row.bwdTinyErrV3 = relErr(await readF32(gpu, dx16), await readF32(gpu, dx32));
        ok0 &&= (row.bwdTinyErrV3 as { max: number }).max < TOL;
      }
    }
    const flop = 2 * M * N * K;
    const reps = Math.max(3, Math.min(50, Math.round(2e12 / flop)));
    let ok = ok0 && (row.bwdTinyErr as { max: number }).max < TOL;
    for (const [dir, out, o16, inp, NO, R] of [['fwd', y32, y16, x, N, K], ['bwd', dx32, dx16, dy, K, N]] as const) {
      const t32 = await gpuTimeMs(gpu, () => record(gpu, dir, out, inp, w, null), reps);
      const ref = await readF32(gpu, out);
      const tf: Record<string, number> = { f32: flop / t32.ms / 1e9 };
      const err: Record<string, number> = {};
      const old: MmaPlan = { tile: pickMmaTile(M, NO), split: 1 };
      const cands: [string, MmaPlan | 'auto', MmaKernel?, typeof V3_DEFAULT?][] = speed ? KERNELS.map((k) => [k, 'auto', k]) : [['auto', 'auto'], ['old', old],
        ...PLANS.filter((p) => R / p.split >= 256).map((p) => [`${p.tile}/${p.split}`, p] as [string, MmaPlan])];
      if (speed && 'nf4' in w) {
        for (const [name, cfg] of Object.entries(V3_VARIANTS)) if (cfg !== V3_DEFAULT) cands.push([name, 'auto', 'v3', cfg]);
        const ap = pickMmaPlan(M, NO, R);
        if (KERNELS.includes('v3') && ap.tile === 128) {
          if (ap.split > 1) cands.push([`v3 split ${ap.split / 2}`, { tile: 128, split: ap.split / 2 }, 'v3']);
          if (R / (2 * ap.split) >= 256) cands.push([`v3 split ${2 * ap.split}`, { tile: 128, split: 2 * ap.split }, 'v3']);
        }
      }
      const nan = new Float32Array(M * NO).fill(NaN);
      for (const [name, plan, kernel, cfg] of cands) {
        V3_TILES[128] = cfg ?? V3_DEFAULT;
        gpu.device.queue.writeBuffer(o16.buffer, 0, nan); // a candidate that writes nothing fails its check
        const tv = await gpuTimeMs(gpu, () => record(gpu, dir, o16, inp, w, plan, false, kernel), reps);
        tf[name] = flop / tv.ms / 1e9;
        err[name] = relErr(await readF32(gpu, o16), ref).max;
        ok &&= err[name] < TOL;
      }
      V3_TILES[128] = V3_DEFAULT;
      // accumulate through the automatic plan: out = ref + ref
      record(gpu, dir, o16, inp, w, 'auto'); record(gpu, dir, o16, inp, w, 'auto', true);
      err.autoAccumulate = relErr(await readF32(gpu, o16), ref.map((v) => 2 * v)).max;
      ok &&= err.autoAccumulate < TOL;
      if (speed && KERNELS.includes('v3')) {
        record(gpu, dir, o16, inp, w, 'auto', false, 'v3'); record(gpu, dir, o16, inp, w, 'auto', true, 'v3');
        err.v3Accumulate = relErr(await readF32(gpu, o16), ref.map((v) => 2 * v)).max;
        ok &&= err.v3Accumulate < TOL;
      }
      row[`${dir}Tflops`] = tf;
      row[`${dir}Err`] = err;
      row[`${dir}Timing`] = t32.timing;
    }
    row.ok = ok;
    large.push(row);
    log('large', JSON.stringify(row));
    if (speed) {
      const f = (d: Dir) => { const tf = row[`${d}Tflops`] as Record<string, number>, e = row[`${d}Err`] as Record<string, number>; return Object.keys(e).filter((k) => k in tf).map((k) => `${k} ${tf[k].toFixed(1)} (${e[k].toExponential(1)})`).join(' '); };
      log(`SPEED ${M}x${N}x${K} fwd f32 ${(row.fwdTflops as Record<string, number>).f32.toFixed(1)} ${f('fwd')}`);
      log(`SPEED ${M}x${N}x${K} bwd f32 ${(row.bwdTflops as Record<string, number>).f32.toFixed(1)} ${f('bwd')}`);
    }
    const wt = 'nf4' in w ? [w.nf4.packed, w.nf4.absmax, ...(w.nf4.codes ? [w.nf4.codes] : []), ...(w.nf4.meta ? [w.nf4.meta] : [])] : [];
    for (const t of [x, dy, dyTiny, y32, y16, dx32, dx16, ...wt]) destroyTensor(gpu, t);
    report.large = large;
    save();
  }
  const all = [...(small as { ok: boolean }[]), ...(large as { ok: boolean }[])];
  report.allOk = all.every((r) => r.ok);
  report.tiles = MMA_TILES;
  report.split = MMA_SPLIT;
  log('ALL OK:', report.allOk);
  save();
}

main().catch((e) => {
  report.error = String((e as Error).stack ?? e);
  console.error(e);
  save();
  process.exitCode = 1;
});
