// Attention kernel benchmark at Llama-3.1-8B shapes (H = 32, Hkv = 8, D = 128): forward, backward
// and KV-cache decode, the tiled kernels against the simple ones (same wrapper, `kernels` option),
// plus a check on this device that both families agree. Packed batches: T tokens in sequences of
// `seq` (segIds). FLOP count as bench/step.ts: only unmasked causal pairs, forward 4·H·pairs·D
// (QKᵀ, PV), backward 2.5 × forward (5 GEMMs; the recomputation of P and dP is not counted).
// Timing: GPU timestamps around `reps` recorded calls (bench/gputime.ts), wall clock without them.
// Run: `node scripts/run-ts.mjs bench/attention.ts [--smoke] [--out FILE]` (--smoke: tiny shapes
// for the software GPU). Writes JSON to --out, else $OUT/attention.json, else bench/results/.

import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { Gpu } from '../src/gpu/core/context';
import { nodeGpuApi } from '../src/gpu/core/node';
import { createTensor, destroyTensor, readF32, tensorFrom, type Tensor } from '../src/gpu/core/tensor';
import {
  attentionBackward, attentionDecode, attentionForward, attentionTiledConfig, type AttnKernels, type AttnShape,
} from '../src/gpu/ops/attention';
import { Rng } from '../src/util/rng';
import { gpuTimeMs } from './gputime';

const argv = process.argv.slice(2);
const opt = (n: string) => { const i = argv.indexOf(`--${n}`); return i >= 0 ? argv[i + 1] : undefined; };
const smoke = argv.includes('--smoke');
const shape: AttnShape = smoke ? { nHeads: 4, nKvHeads: 1, headDim: 128 } : { nHeads: 32, nKvHeads: 8, headDim: 128 };
// [T, seq]: T tokens packed from sequences of seq tokens.
const CASES: [number, number][] = smoke ? [[64, 32]] : [[512, 512], [2048, 512], [2048, 2048]];
const DECODE_LENS = smoke ? [40] : [128, 512, 2048];
const FAMILIES: AttnKernels[] = ['simple', 'tiled'];

const gpu = await Gpu.create(await nodeGpuApi());
const rng = new Rng(7);
const { nHeads: H, nKvHeads: Hkv, headDim: D } = shape;
console.log(`device: ${gpu.info.description} limits.maxComputeWorkgroupStorageSize=${gpu.info.limits.maxComputeWorkgroupStorageSize}`);
console.log(`tiled configs: fwd ${JSON.stringify(attentionTiledConfig(gpu, 'fwd', D))} dq ${JSON.stringify(attentionTiledConfig(gpu, 'dq', D))} dkv ${JSON.stringify(attentionTiledConfig(gpu, 'dkv', D))}`);

interface Row { op: string; kernels: AttnKernels; T: number; seq: number; ms: number; tflops?: number; gbps?: number; timing: string }
const rows: Row[] = [];
const checks: { what: string; maxRelDiff: number }[] = [];

function row(r: Row): void {
  rows.push(r);
  const f = (v: number | undefined, d = 2) => (v === undefined ? '' : v.toFixed(d));
  console.log(`${r.op.padEnd(8)} ${r.kernels.padEnd(7)} T=${String(r.T).padEnd(5)} seq=${String(r.seq).padEnd(5)} ${f(r.ms, 4).padStart(9)} ms ${f(r.tflops).padStart(7)} TF/s ${f(r.gbps, 0).padStart(6)} GB/s  ${r.timing}`);
}

const reps = (ms: number) => Math.max(2, Math.min(50, Math.round(200 / Math.max(ms, 0.01))));

async function timed(record: () => void): Promise<{ ms: number; timing: string }> {
  const probe = await gpuTimeMs(gpu, record, 2);
  return gpuTimeMs(gpu, record, smoke ? 2 : reps(probe.ms), false);
}

function maxRel(a: Float32Array, b: Float32Array): number {
  let m = 0, s = 0;
  for (let i = 0; i < a.length; i++) { m = Math.max(m, Math.abs(a[i] - b[i])); s = Math.max(s, Math.abs(b[i])); }
  return m / (s || 1);
}

const rand = (n: number, lo = -1, hi = 1) => rng.floats(n, lo, hi);

for (const [T, seq] of CASES) {
  const seg = new Int32Array(T);
  for (let t = 0; t < T; t++) seg[t] = Math.floor(t / seq);
  const x: Record<string, Tensor> = {
    q: tensorFrom(gpu, rand(T * H * D, -2, 2), [T, H * D], 'q'),
    k: tensorFrom(gpu, rand(T * Hkv * D), [T, Hkv * D], 'k'),
    v: tensorFrom(gpu, rand(T * Hkv * D), [T, Hkv * D], 'v'),
    dout: tensorFrom(gpu, rand(T * H * D), [T, H * D], 'dout'),
    seg: tensorFrom(gpu, seg, [T], 'segIds'),
    out: createTensor(gpu, [T, H * D], 'f32', 'out'),
    lse: createTensor(gpu, [H, T], 'f32', 'lse'),
    dq: createTensor(gpu, [T, H * D], 'f32', 'dq'),
    dk: createTensor(gpu, [T, Hkv * D], 'f32', 'dk'),
    dv: createTensor(gpu, [T, Hkv * D], 'f32', 'dv'),
  };
  const pairs = (T / seq) * (seq * (seq + 1)) / 2;
  const fwdFlop = 4 * H * pairs * D;
  const results: Record<string, Float32Array[]> = {};
  for (const kern of FAMILIES) {
    const fwd = () => attentionForward(gpu, x.out, x.lse, x.q, x.k, x.v, x.seg, shape, kern);
    const bwd = () => attentionBackward(gpu, x.dq, x.dk, x.dv, x.dout, x.q, x.k, x.v, x.out, x.lse, x.seg, shape, kern);
    const tf = await timed(fwd);
    row({ op: 'forward', kernels: kern, T, seq, ms: tf.ms, tflops: fwdFlop / tf.ms / 1e9, timing: tf.timing });
    fwd();
    const tb = await timed(bwd);
    row({ op: 'backward', kernels: kern, T, seq, ms: tb.ms, tflops: (2.5 * fwdFlop) / tb.ms / 1e9, timing: tb.timing });
    fwd();
    bwd();
    results[kern] = [];
    for (const t of [x.out, x.lse, x.dq, x.dk, x.dv]) results[kern].push(await readF32(gpu, t));
  }
  ['out', 'lse', 'dq', 'dk', 'dv'].forEach((n, i) => {
    const c = { what: `T=${T} seq=${seq} ${n} tiled vs simple`, maxRelDiff: maxRel(results.tiled[i], results.simple[i]) };
    checks.push(c);
    console.log(`check ${c.what}: max |diff| / max |simple| = ${c.maxRelDiff.toExponential(2)}`);
  });
  for (const t of Object.values(x)) destroyTensor(gpu, t);
}

// Decode: one new token (B = 1) over a cache of `len` rows; bytes = K and V rows read once.
for (const len of DECODE_LENS) {
  const kc = tensorFrom(gpu, rand(len * Hkv * D), [len, Hkv * D], 'kCache');
  const vc = tensorFrom(gpu, rand(len * Hkv * D), [len, Hkv * D], 'vCache');
  const q = tensorFrom(gpu, rand(H * D, -2, 2), [1, H * D], 'q');
  const out = createTensor(gpu, [1, H * D], 'f32', 'out');
  const got: Float32Array[] = [];
  for (const kern of FAMILIES) {
    const t = await timed(() => attentionDecode(gpu, out, q, kc, vc, len, shape, kern));
    row({ op: 'decode', kernels: kern, T: len, seq: len, ms: t.ms, gbps: (2 * len * Hkv * D * 4) / t.ms / 1e6, timing: t.timing });
    attentionDecode(gpu, out, q, kc, vc, len, shape, kern);
    got.push(await readF32(gpu, out));
  }
  const c = { what: `decode len=${len} tiled vs simple`, maxRelDiff: maxRel(got[1], got[0]) };
  checks.push(c);
  console.log(`check ${c.what}: ${c.maxRelDiff.toExponential(2)}`);
  for (const t of [kc, vc, q, out]) destroyTensor(gpu, t);
}

const file = opt('out') ?? (process.env.OUT ? `${process.env.OUT}/attention.json` : `bench/results/attention-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
mkdirSync(dirname(file), { recursive: true });
writeFileSync(file, JSON.stringify({ device: gpu.info, shape, smoke, rows, checks }, null, 1));
console.log(`wrote ${file}`);
process.exit(0);
