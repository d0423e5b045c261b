// Correctness + speed check of the tensor-core NF4 matmuls (src/gpu/ops/mma.ts) on a GPU that
// has `chromium-experimental-subgroup-matrix` (the software adapter has not, so the unit tests
// can only emulate the builtins). Self-contained: bundle it like bench/run.ts (README.md) and run
//   node .gpu/mma.mjs [--out FILE] [--quick]
// Steps: adapter report; a probe of the WGSL syntax/uniformity rules; compilation of every kernel
// variant (messages printed); small odd shapes against the f64 reference (nf4MatmulRef /
// nf4MatmulBackwardRef); Llama shapes against the f32 GPU path, including a dy scaled by 1e-8;
// then the time of both paths (TFLOP/s). Letters: y [M, N] = x [M, K] · Wᵀ, dx [M, K] = dy [M, N] · W.

import { writeFileSync } from 'node:fs';
import { Gpu } from '../src/gpu/core/context';
import { nodeGpuApi } from '../src/gpu/core/node';
import { createTensor, destroyTensor, readF32, tensorFrom, type Tensor } from '../src/gpu/core/tensor';
import { nf4Matmul, nf4MatmulBackward, nf4Quantize, nf4Upload, type Nf4Weight } from '../src/gpu/ops/nf4';
import { nf4MatmulBackwardRef, nf4MatmulRef, nf4QuantizeRef } from '../src/gpu/ops/nf4.ref';
import { MMA_TILES, mmaSettings, mmaSource, mmaUnsupportedReason, pickMmaTile, useMma } from '../src/gpu/ops/mma';
import { pickTile } from '../src/gpu/ops/nf4.matmul';
import { Rng } from '../src/util/rng';
import { gpuTimeMs } from './gputime';

const args = process.argv.slice(2);
const outFile = args.includes('--out') ? args[args.indexOf('--out') + 1] : process.env.OUT ? `${process.env.OUT}/mma-check.json` : 'mma-check.json';
const quick = args.includes('--quick');
const TOL = 4e-3;
const report: Record<string, unknown> = { time: new Date().toISOString() };
const log = (...a: unknown[]) => console.log(...a);
const save = () => writeFileSync(outFile, JSON.stringify(report, null, 1));

function relErr(a: ArrayLike<number>, b: ArrayLike<number>): { max: number; rms: number } {
  let scale = 0, worst = 0, se = 0, sr = 0;
  for (let i = 0; i < b.length; i++) scale = Math.max(scale, Math.abs(b[i]));
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs(a[i] - b[i]);
    worst = Number.isFinite(a[i]) ? Math.max(worst, d) : Infinity;
    se += d * d; sr += b[i] * b[i];
  }
  return { max: scale > 0 ? worst / scale : worst, rms: sr > 0 ? Math.sqrt(se / sr) : Math.sqrt(se) };
}

function fillUniform(out: Float32Array, a: number, seed: number): Float32Array {
  let s = seed >>> 0 || 1;
  const k = (2 * a) / 4294967296;
  for (let i = 0; i < out.length; i++) {
    s ^= s << 13; s >>>= 0; s ^= s >>> 17; s ^= s << 5; s >>>= 0;
    out[i] = s * k - a;
  }
  return out;
}

async function compileMessages(gpu: Gpu, code: string, constants: Record<string, number>): Promise<string[]> {
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
const DEFAULT_TILES = JSON.parse(JSON.stringify(MMA_TILES));
/** Tile variants timed against the default (fields of MMA_TILES[128] / [64] overridden). */
const VARIANTS: Record<string, Record<64 | 128, object>> = {
  bk32: { 128: { bk: 32 }, 64: { bk: 32 } },
  '128:32x64': { 128: { wm: 32, wn: 64 }, 64: {} },
  all64: { 128: { bm: 64, bn: 64, wm: 32, wn: 32 }, 64: {} },
};
/** out = x·Wᵀ (fwd) or dy·W (bwd) through the chosen path. */
function record(gpu: Gpu, dir: Dir, out: Tensor, inp: Tensor, w: Nf4Weight, mma: boolean, accumulate = false): void {
  if (dir === 'fwd') nf4Matmul(gpu, out, inp, w, { mma, accumulate });
  else nf4MatmulBackward(gpu, out, inp, w, { mma, accumulate });
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

  // 2. every kernel variant compiles
  const compile: Record<string, string[]> = {};
  for (const tile of [64, 128] as const)
    for (const bwd of [false, true])
      for (const aligned of [1, 0]) compile[`${tile}${bwd ? 'bwd' : 'fwd'}${aligned ? '' : '-unaligned'}`] = await compileMessages(gpu, mmaSource(tile, bwd), { ALIGNED: aligned });
  report.compile = compile;
  log('compile:', JSON.stringify(compile, null, 1));
  save();
  if (Object.values(compile).some((m) => m.length)) { log('kernel compilation failed; stopping'); return; }
  if (reason) {
    log(`routing would not use mma here (${reason}); forcing it for the check`);
    mmaSettings.skipDeviceCheck = true;
  }

  // 3. small odd shapes vs the f64 reference (forced mma path, both tiles via shape choice)
  const small: unknown[] = [];
  const SMALL: [number, number, number][] = [[37, 200, 264], [16, 33, 40], [130, 65, 96], [70, 129, 27], [300, 520, 136]];
  for (const [M, N, K] of SMALL) {
    for (const dq of [false, true]) {
      const rng = new Rng(M * 7 + N + K);
      const h = nf4QuantizeRef(rng.floats(N * K), N, K, { doubleQuant: dq });
      const w = nf4Upload(gpu, h);
      const x = rng.floats(M * K), dy = rng.floats(M * N), y0 = rng.floats(M * N), dx0 = rng.floats(M * K);
      for (const accumulate of [false, true]) {
        const y = tensorFrom(gpu, y0, [M, N]);
        nf4Matmul(gpu, y, tensorFrom(gpu, x, [M, K]), w, { mma: true, accumulate });
        const wy = Float64Array.from(y0); nf4MatmulRef(wy, x, h, M, accumulate);
        const dx = tensorFrom(gpu, dx0, [M, K]);
        nf4MatmulBackward(gpu, dx, tensorFrom(gpu, dy, [M, N]), w, { mma: true, accumulate });
        const wdx = Float64Array.from(dx0); nf4MatmulBackwardRef(wdx, dy, h, M, accumulate);
        const ef = relErr(await readF32(gpu, y), wy), eb = relErr(await readF32(gpu, dx), wdx);
        const row = { M, N, K, dq, accumulate, tiles: [pickMmaTile(M, N), pickMmaTile(M, K)], fwd: ef, bwd: eb, ok: ef.max < TOL && eb.max < TOL };
        small.push(row);
        log('small', JSON.stringify(row));
      }
    }
  }
  report.small = small;
  save();

  // 4. Llama shapes vs the f32 GPU path, and timing of both
  const LARGE: [number, number, number][] = quick
    ? [[37, 4096, 4096], [512, 1024, 4096]]
    : [[37, 4096, 4096], [512, 1024, 4096], [512, 4096, 4096], [2048, 4096, 4096], [2048, 1024, 4096], [2048, 14336, 4096], [2048, 4096, 14336]];
  const large: unknown[] = [];
  for (const [M, N, K] of LARGE) {
    const wf = createTensor(gpu, [N, K], 'f32', 'w.f32');
    gpu.device.queue.writeBuffer(wf.buffer, 0, fillUniform(new Float32Array(N * K), 0.05, N + K));
    const w = nf4Quantize(gpu, wf, { doubleQuant: true });
    await gpu.sync();
    destroyTensor(gpu, wf);
    const x = tensorFrom(gpu, fillUniform(new Float32Array(M * K), 1, M + 1), [M, K]);
    const dyHost = fillUniform(new Float32Array(M * N), 1, M + 2);
    const dy = tensorFrom(gpu, dyHost, [M, N]);
    const dyTiny = tensorFrom(gpu, dyHost.map((v) => v * 1e-8), [M, N]);
    const y32 = createTensor(gpu, [M, N]), y16 = createTensor(gpu, [M, N]);
    const dx32 = createTensor(gpu, [M, K]), dx16 = createTensor(gpu, [M, K]);
    const row: Record<string, unknown> = { M, N, K, auto: { fwd: useMma(gpu, M, N), bwd: useMma(gpu, M, K) }, tiles: { f32: [pickTile(M, N), pickTile(M, K)], mma: [pickMmaTile(M, N), pickMmaTile(M, K)] } };
    record(gpu, 'fwd', y32, x, w, false); record(gpu, 'fwd', y16, x, w, true);
    record(gpu, 'bwd', dx32, dy, w, false); record(gpu, 'bwd', dx16, dy, w, true);
    row.fwdErr = relErr(await readF32(gpu, y16), await readF32(gpu, y32));
    row.bwdErr = relErr(await readF32(gpu, dx16), await readF32(gpu, dx32));
    record(gpu, 'bwd', dx32, dyTiny, w, false); record(gpu, 'bwd', dx16, dyTiny, w, true);
    row.bwdTinyErr = relErr(await readF32(gpu, dx16), await readF32(gpu, dx32));
    const flop = 2 * M * N * K;
    const reps = Math.max(3, Math.min(50, Math.round(2e12 / flop)));
    for (const [dir, out, inp] of [['fwd', y32, x], ['bwd', dx32, dy]] as const) {
      const o16 = dir === 'fwd' ? y16 : dx16;
      const t32 = await gpuTimeMs(gpu, () => record(gpu, dir, out, inp, w, false), reps);
      const ref = await readF32(gpu, out);
      const t16 = await gpuTimeMs(gpu, () => record(gpu, dir, o16, inp, w, true), reps);
      row[`${dir}Ms`] = { f32: t32.ms, mma: t16.ms, timing: t16.timing };
      row[`${dir}Tflops`] = { f32: flop / t32.ms / 1e9, mma: flop / t16.ms / 1e9 };
      // tile-shape variants (timing + their own error against the f32 path)
      const variants: Record<string, unknown> = {};
      for (const [name, v] of Object.entries(VARIANTS)) {
        Object.assign(MMA_TILES[128], v[128]); Object.assign(MMA_TILES[64], v[64]);
        const tv = await gpuTimeMs(gpu, () => record(gpu, dir, o16, inp, w, true), reps);
        variants[name] = { tflops: flop / tv.ms / 1e9, err: relErr(await readF32(gpu, o16), ref).max };
        Object.assign(MMA_TILES[128], DEFAULT_TILES[128]); Object.assign(MMA_TILES[64], DEFAULT_TILES[64]);
      }
      row[`${dir}Variants`] = variants;
    }
    const e = (k: string) => (row[k] as { max: number }).max;
    row.ok = e('fwdErr') < TOL && e('bwdErr') < TOL && e('bwdTinyErr') < TOL;
    large.push(row);
    log('large', JSON.stringify(row));
    for (const t of [x, dy, dyTiny, y32, y16, dx32, dx16, w.packed, w.absmax, ...(w.codes ? [w.codes] : []), ...(w.meta ? [w.meta] : [])]) destroyTensor(gpu, t);
    report.large = large;
    save();
  }
  const all = [...(small as { ok: boolean }[]), ...(large as { ok: boolean }[])];
  report.allOk = all.every((r) => r.ok);
  report.tiles = MMA_TILES;
  log('ALL OK:', report.allOk);
  save();
}

main().catch((e) => {
  report.error = String((e as Error).stack ?? e);
  console.error(e);
  save();
  process.exitCode = 1;
});
