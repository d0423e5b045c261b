// RTX 3060 projection (issue "Speed on a real GPU"): hours for one epoch of 15k samples of the
// corpus on a 12 GB RTX 3060 (12.7 TFLOP/s f32 spec, 360 GB/s), from H200 bench results.
// Data model: token lengths log-normal with median 144 and p95 840 (the corpus's figures),
// truncated at seq 512 and packed greedily into ≤ 512-token micro-batches by the app's own
// packBatches; each micro-batch's model FLOP from bench/step.ts's stepFlop with its real causal
// pairs. Assumption (the weakest link, as in NOTES v1–v19): the 3060 reaches the same fraction
// of its f32 spec peak as the H200 run reached of the H200's (66.9 TFLOP/s); a micro-batch takes
// at least the host recording of a step measured on the H200 machine (hidden behind the GPU
// otherwise: one step in flight, NOTES v29; before v29 it was added whole).
// Run: node scripts/run-ts.mjs bench/project3060.ts --tc RESULT.json --f32 RESULT.json
//      [--recompute-tc RESULT.json --recompute-f32 RESULT.json]   (bench/run.ts JSON, batch 1)

import { readFileSync } from 'node:fs';
import { packBatches } from '../src/data/pack';
import type { TokenizedExample } from '../src/data/format';
import { LINEAR_MODULES } from '../src/model/config';
import { modelDims } from '../src/model/weights';
import { Rng } from '../src/util/rng';
import { benchConfig } from './random-model';
import { stepFlop } from './step';
import type { StepResult } from './step';

/** The part of bench/run.ts's JSON read here. */
interface BenchReport { tensorCores: boolean; steps: StepResult[] }

const SAMPLES = 15000, MEDIAN = 144, P95 = 840, SEQ = 512, R = 16;
const H200_F32_SPEC = 66.9e12, RTX3060_F32_SPEC = 12.7e12, SEED_HOURS = 6;

const argv = process.argv.slice(2);
const opt = (n: string) => { const i = argv.indexOf(`--${n}`); return i >= 0 ? argv[i + 1] : undefined; };

/** Token lengths: log-normal (median, p95), at least 8 tokens, seeded. */
function corpus(): TokenizedExample[] {
  const rng = new Rng(2024);
  const sigma = Math.log(P95 / MEDIAN) / 1.6449;
  return Array.from({ length: SAMPLES }, () => {
    const len = Math.max(8, Math.round(MEDIAN * Math.exp(sigma * rng.normal())));
    const ids = new Int32Array(len);
    return { ids, labels: ids };
  });
}

/** batch-1 result of a bench JSON: achieved model FLOP/s (wall clock) and host recording ms. */
function readStep(file: string) {
  const rep = JSON.parse(readFileSync(file, 'utf8')) as BenchReport;
  const s = rep.steps.find((x) => x.batch === 1);
  if (!s) throw new Error(`${file}: no batch-1 step`);
  return { flops: s.achievedTflops * 1e12, recordS: s.recordMs / 1000, tensorCores: rep.tensorCores, recompute: s.recompute };
}

const dims = modelDims(benchConfig(false));
const packed = packBatches(corpus(), { maxTokens: SEQ, seed: 1 });
const flopOf = (ids: number, pairs: number) => {
  const f = stepFlop({ dims }, ids, SEQ, R, LINEAR_MODULES, pairs);
  return f.gemm + f.lora + f.attn + f.head;
};
const batchFlop = packed.batches.map((b) => {
  let pairs = 0, run = 0;
  for (let t = 0; t < b.ids.length; t++) { run = t > 0 && b.segIds[t] === b.segIds[t - 1] ? run + 1 : 1; pairs += run; }
  return flopOf(b.ids.length, pairs);
});
const totalFlop = batchFlop.reduce((a, b) => a + b, 0);
const nb = packed.batches.length;
console.log(`corpus: ${SAMPLES} samples, ${packed.tokens} tokens after truncation at ${SEQ} (${packed.truncated} truncated), ` +
  `${nb} micro-batches of ${(packed.tokens / nb).toFixed(0)} tokens on average, ${(totalFlop / 1e15).toFixed(1)} PFLOP per epoch`);

const rows: string[][] = [];
const row = (label: string, file: string | undefined) => {
  if (!file) return;
  const s = readStep(file);
  const frac = s.flops / H200_F32_SPEC;
  const eff = frac * RTX3060_F32_SPEC;
  // The loop keeps one step in flight (train/loop.ts, NOTES v29): the host records step n+1
  // while the GPU runs step n, so a micro-batch takes the longer of the two, not their sum.
  const secs = batchFlop.reduce((a, f) => a + Math.max(f / eff, s.recordS), 0);
  rows.push([label + (s.recompute ? ', recomputation' : ''), (s.flops / 1e12).toFixed(1), `${(100 * frac).toFixed(0)} %`, (eff / 1e12).toFixed(2),
    (secs / nb).toFixed(2), (secs / 3600).toFixed(1), (secs / 3600 / SEED_HOURS).toFixed(2)]);
};
row('tensor cores', opt('tc'));
row('f32 kernels', opt('f32'));
row('tensor cores', opt('recompute-tc'));
row('f32 kernels', opt('recompute-f32'));
console.log('| path on the 3060 | H200 achieved TFLOP/s (batch 1) | of the H200 f32 spec | 3060 effective TFLOP/s | s per micro-batch | **epoch, hours** | ÷ seed (6 h) |');
console.log('| --- | --- | --- | --- | --- | --- | --- |');
for (const r of rows) console.log(`| ${r.join(' | ')} |`);
