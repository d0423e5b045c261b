// Decode attention step (attention_decode.wgsl + its reduce; one token, KV append folded in) at
// Llama-3.1-8B shapes (H = 32 query heads, Hkv = 8, D = 128, f32 KV cache) over cached lengths and
// key-split counts: µs per layer and the K+V bytes read ÷ time against this run's copy bandwidth.
// Before the timings, each length's result is checked against attentionDecodeStepRef on the host.
// Each time is the best of 3 runs of `reps` back-to-back calls (GPU timestamps) after ≥ 0.5 s of
// warm-up. Run: `node scripts/run-ts.mjs bench/attention_decode.ts [--out FILE] [--reps 200] [--smoke]`.

import { writeFileSync } from 'node:fs';
import { Gpu } from '../src/gpu/core/context';
import { nodeGpuApi } from '../src/gpu/core/node';
import { createTensor, destroyTensor, readF32, tensorFrom } from '../src/gpu/core/tensor';
import { allocDecodePartials, attentionDecodeStep, decodeSplits } from '../src/gpu/ops/attention_decode';
import { attentionDecodeStepRef } from '../src/gpu/ops/attention_decode.ref';
import { Rng } from '../src/util/rng';
import { bestGpuMs, warmCopyBandwidth } from './gputime';

const argv = process.argv.slice(2);
const opt = (n: string, d: string) => { const i = argv.indexOf(`--${n}`); return i >= 0 ? argv[i + 1] : d; };
const outFile = opt('out', '');
const smoke = argv.includes('--smoke');
const REPS = Number(opt('reps', smoke ? '2' : '200'));
const H = smoke ? 8 : 32, HKV = smoke ? 2 : 8, D = 128;
const LENS = smoke ? [40] : [192, 512, 2048, 4096, 8192];
const SPLITS = smoke ? [4] : [8, 16, 32, 64];

const gpu = await Gpu.create(await nodeGpuApi());
const rng = new Rng(3);
const rows: Record<string, unknown>[] = [];
const result: Record<string, unknown> = { device: gpu.info.description, reps: REPS, rows, checks: [] as string[] };
const save = () => { if (outFile) writeFileSync(outFile, JSON.stringify(result, null, 2)); };
const best = (record: () => void) => bestGpuMs(gpu, record, REPS);

const copy = await warmCopyBandwidth(gpu, smoke ? 1 << 20 : 256 << 20, smoke ? 10 : 700); // and ≥ 0.5 s of warm-up
const peakGbps = copy.kernelGbps;
result.copyGbps = peakGbps;
console.log(`copy: ${peakGbps.toFixed(0)} GB/s`);

const shape = { nHeads: H, nKvHeads: HKV, headDim: D };
const C = HKV * D;
for (const len of LENS) {
  const kh = rng.floats(len * C), vh = rng.floats(len * C), qh = rng.floats(H * D), kn = rng.floats(C), vn = rng.floats(C);
  const kc = tensorFrom(gpu, kh, [len, C]), vc = tensorFrom(gpu, vh, [len, C]);
  const q = tensorFrom(gpu, qh, [1, H * D]), k = tensorFrom(gpu, kn, [1, C]), v = tensorFrom(gpu, vn, [1, C]);
  const out = createTensor(gpu, [1, H * D]);
  const pos = tensorFrom(gpu, Int32Array.of(len - 1), [1], 'positions');
  { // correctness at the default split count (the token at position len - 1 over the random cache)
    const part = allocDecodePartials(gpu, shape, len);
    attentionDecodeStep(gpu, out, part, kc, vc, q, k, v, pos, shape);
    const got = await readF32(gpu, out);
    const want = new Float64Array(H * D);
    attentionDecodeStepRef(want, Float64Array.from(kh), Float64Array.from(vh), qh, kn, vn, len - 1, shape);
    let err = 0, mx = 1e-30;
    for (let i = 0; i < want.length; i++) { err = Math.max(err, Math.abs(got[i] - want[i])); mx = Math.max(mx, Math.abs(want[i])); }
    const line = `len ${len}: max |gpu - ref| / max |ref| = ${(err / mx).toExponential(2)}`;
    (result.checks as string[]).push(line);
    console.log(line);
    destroyTensor(gpu, part);
  }
  for (const S of [...new Set([decodeSplits(len), ...SPLITS])]) {
    const part = allocDecodePartials(gpu, shape, len, S);
    const ms = await best(() => attentionDecodeStep(gpu, out, part, kc, vc, q, k, v, pos, shape));
    const gbps = (2 * len * C * 4) / ms / 1e6;
    rows.push({ len, S, default: S === decodeSplits(len), us: ms * 1000, gbps, pctCopy: (100 * gbps) / peakGbps });
    console.log(`len ${String(len).padStart(5)} S ${String(S).padStart(3)}${S === decodeSplits(len) ? '*' : ' '} ${(ms * 1000).toFixed(2).padStart(8)} µs ${gbps.toFixed(0).padStart(6)} GB/s ${((100 * gbps) / peakGbps).toFixed(1).padStart(5)} %`);
    destroyTensor(gpu, part);
  }
  for (const t of [kc, vc, q, k, v, out, pos]) destroyTensor(gpu, t);
  save();
}
save();
process.exit(0);
