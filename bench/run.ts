// One benchmark entry for a real GPU (Node + Dawn): GPU peaks (f32 FMA, copy bandwidth), a full
// QLoRA training step of Llama-3.1-8B with random NF4 weights at seq 512 × batch 1 and 4
// (packed micro-batches of 512 and 2048 tokens, r=16 on all seven modules) with a per-component
// breakdown, and KV-cache decode speed against the bandwidth bound. Prints one table and writes
// JSON to $OUT/bench.json (the GPU machine) or bench/results/bench-<time>.json.
//   node scripts/run-ts.mjs bench/run.ts [--tiny] [--steps N] [--warmup N] [--batches 1,4]
//        [--breakdown-reps N (0 = off)] [--new-tokens N] [--out FILE]
// bench/kernels.ts (per-kernel numbers) is a separate script; it runs beside this one.

import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { Gpu } from '../src/gpu/core/context';
import { nodeGpuApi } from '../src/gpu/core/node';
import { benchDecode, type DecodeResult } from './decode';
import { measurePeaks, type PeakNumbers } from './micro';
import { benchConfig, modelBytes, randomModel } from './random-model';
import { benchStep, type StepResult } from './step';
import { printReport } from './report';
import { mmaSettings } from '../src/gpu/ops/mma';
import { attnMmaSettings } from '../src/gpu/ops/attention.mma';
import { attnMmaBwdSettings } from '../src/gpu/ops/attention.mma.bwd';
import { loraGemmSettings } from '../src/gpu/ops/lora.gemm';
import { attnTiledSettings } from '../src/gpu/ops/attention.tiled';
import { decodeSettings } from '../src/chat/generate';
import { submitSettings } from '../src/model/forward';
import { matmulSettings } from '../src/gpu/ops/matmul';

const argv = process.argv.slice(2);
const flag = (n: string) => argv.includes(`--${n}`);
const opt = (n: string, dflt: string) => { const i = argv.indexOf(`--${n}`); return i >= 0 ? argv[i + 1] : dflt; };
const tiny = flag('tiny');
const seq = Number(opt('seq', tiny ? '16' : '512'));
const batches = opt('batches', '1,4').split(',').filter(Boolean).map(Number); // --batches '' : decode only
const steps = Number(opt('steps', '3'));
const warmup = Number(opt('warmup', '1'));
const breakdownReps = Number(opt('breakdown-reps', '3'));
const newTokens = Number(opt('new-tokens', tiny ? '6' : '64'));
const promptLen = Number(opt('prompt', tiny ? '8' : '128'));
const R = 16;
// --recompute: activation recomputation forced (as the 12 GB plan needs for long micro-batches), to measure its cost.
const recompute = flag('recompute');
// --no-mma: the f32 kernels only, as in Chrome without the experimental subgroup-matrix feature.
const noMma = flag('no-mma');
if (noMma) { mmaSettings.enabled = false; attnMmaSettings.enabled = false; }
// A/B knobs for one setting at a time: --dkv-split S (tensor-core attention backward's dk/dv row
// split, else automatic), --lora-min-tokens N (T from which LoRA runs its dedicated kernels).
if (argv.includes('--dkv-split')) attnMmaBwdSettings.dkvSplit = Number(opt('dkv-split', '1'));
if (argv.includes('--lora-min-tokens')) loraGemmSettings.minTokens = Number(opt('lora-min-tokens', '1024'));
// --layers-per-submit N: decode replays N layers per queue submit (generate.ts decodeSettings).
if (argv.includes('--layers-per-submit')) decodeSettings.layersPerSubmit = Number(opt('layers-per-submit', '1'));
// --matmul-target N: the generic GEMM's split-K workgroup target (matmul.ts; LoRA below minTokens).
if (argv.includes('--matmul-target')) matmulSettings.targetWorkgroups = Number(opt('matmul-target', '512'));
// --train-layers-per-submit N: the training step's forward and backward submit every N layers.
if (argv.includes('--train-layers-per-submit')) submitSettings.layersPerSubmit = Number(opt('train-layers-per-submit', '1'));
// --attn-fwd V: the f32 tiled attention forward variant (attention.tiled.ts; used with --no-mma).
if (argv.includes('--attn-fwd')) attnTiledSettings.fwd = opt('attn-fwd', attnTiledSettings.fwd);

export interface BenchReport {
  when: string; tiny: boolean; tensorCores: boolean;
  device: Gpu['info'];
  peaks: PeakNumbers | null;
  modelBytes: ReturnType<typeof modelBytes>;
  loadSeconds: number;
  steps: StepResult[];
  decode: DecodeResult | null;
  errors: string[];
}

const log = (s: string) => console.log(`[bench ${(performance.now() / 1000).toFixed(1)}s] ${s}`);
const gpu = await Gpu.create(await nodeGpuApi());
log(`device: ${JSON.stringify({ vendor: gpu.info.vendor, architecture: gpu.info.architecture, description: gpu.info.description, features: gpu.info.features })}`);
const cfg = benchConfig(tiny);
const report: BenchReport = {
  when: new Date().toISOString(), tiny, tensorCores: !noMma && gpu.info.features.subgroupMatrix, device: gpu.info, peaks: null, modelBytes: modelBytes(cfg),
  loadSeconds: 0, steps: [], decode: null, errors: [],
};
const attempt = async <T>(what: string, fn: () => Promise<T>): Promise<T | null> => {
  try { return await fn(); } catch (e) {
    const msg = `${what}: ${(e as Error).stack ?? e}`;
    console.error(msg);
    report.errors.push(msg);
    return null;
  }
};

report.peaks = await attempt('peaks', () => measurePeaks(gpu, tiny));
if (report.peaks) log(`f32 FMA ${report.peaks.fmaTflops.toFixed(2)} TFLOP/s, copy ${report.peaks.copyGBs.toFixed(0)} GB/s`);
const t0 = performance.now();
const w = await randomModel(gpu, cfg, (l) => { if (l % 8 === 7) log(`quantized layer ${l + 1}/${cfg.numHiddenLayers}`); });
report.loadSeconds = (performance.now() - t0) / 1000;
log(`random NF4 model ready in ${report.loadSeconds.toFixed(1)} s, ${(gpu.allocatedBytes / 2 ** 30).toFixed(2)} GiB on the GPU`);

for (const batch of batches) {
  const r = await attempt(`step batch ${batch}`, () => benchStep(gpu, w, { seq, batch, warmup, steps, r: R, recompute }, breakdownReps));
  if (r) {
    report.steps.push(r);
    log(`T=${r.tokens}: ${r.msPerStep.toFixed(0)} ms/step (each step awaited: ${r.awaitedMsPerStep.toFixed(0)}), ${r.tokensPerSecond.toFixed(0)} tok/s, loss ${r.loss.toFixed(3)}, peak ${(r.peakBytes / 2 ** 30).toFixed(2)} GiB`);
  }
}
report.decode = await attempt('decode', () => benchDecode(gpu, w, { prompt: promptLen, newTokens, r: R, copyGBs: report.peaks?.copyGBs ?? NaN }));

printReport(report);
const file = opt('out', process.env.OUT ? join(process.env.OUT, 'bench.json') : `bench/results/bench-${report.when.replace(/[:.]/g, '-')}.json`);
mkdirSync(dirname(file), { recursive: true });
writeFileSync(file, JSON.stringify(report, null, 2));
log(`wrote ${file}`);
process.exit(report.errors.length ? 1 : 0);
