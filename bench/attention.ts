// Attention kernel benchmark at Llama-3.1-8B shapes (H = 32, Hkv = 8, D = 128): forward, backward
// and KV-cache decode, the tiled kernels against the simple ones (same wrapper, `kernels` option),
// plus a check on this device that both families agree. Packed batches: T tokens in sequences of
// `seq` (segIds). FLOP count as bench/step.ts: only unmasked causal pairs, forward 4·H·pairs·D
// (QKᵀ, PV), backward 2.5 × forward (5 GEMMs; the recomputation of P and dP is not counted).
// Timing: GPU timestamps around `reps` recorded calls (bench/gputime.ts), wall clock without them.
// Tensor cores (attention.mma.ts): where the device has subgroup matrices, the 'mma' forward is
// first checked against the f64 reference at small odd shapes (Llama heads, packed sequences, and
// large scores that exercise the lazy O rescale), then timed beside the tiled kernels and checked
// against them at every shape. The tensor-core backward (attention.mma.bwd.ts) is checked against
// the f64 reference at the same small shapes and against the tiled kernels at every shape, and
// timed with each dk/dv tile variant. One untimed pass of every kernel precedes the first timed shape.
// Run: `node scripts/run-ts.mjs bench/attention.ts [--smoke] [--simple] [--variants [a,b]] [--out FILE]`
// (--smoke: tiny shapes for the software GPU; --simple: also time the simple kernels; --variants:
// also time the f32 tiled forward variants of attention.tiled.ts and backward variants of
// attention.tiled.bwd.ts, all or the named ones (a name picks the forward and/or backward variant
// of that name), and print tables of TFLOP/s and agreement with the default variants). Writes JSON to --out, else
// $OUT/attention.json, else bench/results/.

import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { Gpu } from '../src/gpu/core/context';
import { nodeGpuApi } from '../src/gpu/core/node';
import { createTensor, destroyTensor, readF32, tensorFrom, writeTensor, type Tensor } from '../src/gpu/core/tensor';
import {
  attentionBackward, attentionDecode, attentionForward, type AttnKernels, type AttnShape,
} from '../src/gpu/ops/attention';
import { attentionBackwardRef, attentionForwardRef } from '../src/gpu/ops/attention.ref';
import { attnMmaFwdTiles, attnMmaUnsupportedReason } from '../src/gpu/ops/attention.mma';
import { ATTN_MMA_DKV_TILES, attnMmaBwdSettings, attnMmaBwdTiles, attnMmaDkvSmem, type DkvTiles } from '../src/gpu/ops/attention.mma.bwd';
import { ATTN_FWD_DEFAULT, ATTN_FWD_VARIANTS, attnFwdVariant, attnTiledSettings } from '../src/gpu/ops/attention.tiled';
import { ATTN_BWD_DEFAULT, ATTN_BWD_VARIANTS, attnBwdVariant } from '../src/gpu/ops/attention.tiled.bwd';
import { Rng } from '../src/util/rng';
import { gpuTimeMs } from './gputime';

const argv = process.argv.slice(2);
const opt = (n: string) => { const i = argv.indexOf(`--${n}`); return i >= 0 ? argv[i + 1] : undefined; };
const smoke = argv.includes('--smoke');
const shape: AttnShape = smoke ? { nHeads: 4, nKvHeads: 1, headDim: 128 } : { nHeads: 32, nKvHeads: 8, headDim: 128 };
// [T, seq]: T tokens packed from sequences of seq tokens.
const CASES: [number, number][] = smoke ? [[64, 32]] : [[512, 512], [2048, 512], [2048, 2048]];
const DECODE_LENS = smoke ? [40] : [128, 512, 2048];
const gpu = await Gpu.create(await nodeGpuApi());
const vArg = argv.includes('--variants') ? (opt('variants') ?? '') : undefined;
const vNames = vArg === undefined ? undefined : (vArg && !vArg.startsWith('--') ? vArg.split(',') : null); // null: all
// A name times the forward variant and/or the backward variant of that name (attention.tiled.ts, attention.tiled.bwd.ts).
const VARIANTS = vNames === undefined ? [] : vNames ?? Object.keys(ATTN_FWD_VARIANTS);
const BWD_VARIANTS = vNames === undefined ? [] : vNames ?? Object.keys(ATTN_BWD_VARIANTS);
for (const v of vNames ?? []) if (!(v in ATTN_FWD_VARIANTS) && !(v in ATTN_BWD_VARIANTS)) throw new Error(`unknown variant ${v}; known: fwd ${Object.keys(ATTN_FWD_VARIANTS)}, bwd ${Object.keys(ATTN_BWD_VARIANTS)}`);
const mmaWhy = attnMmaUnsupportedReason(gpu, 128);
const FAMILIES: AttnKernels[] = [...(argv.includes('--simple') ? ['simple' as const] : []), 'tiled'];
const FWD_FAMILIES: AttnKernels[] = [...FAMILIES, ...(mmaWhy === null ? ['mma' as const] : [])];
const file = opt('out') ?? (process.env.OUT ? `${process.env.OUT}/attention.json` : `bench/results/attention-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
mkdirSync(dirname(file), { recursive: true });
const ai = (gpu.device as unknown as { adapterInfo?: Record<string, unknown> }).adapterInfo ?? {};
console.log(`tensor cores: ${mmaWhy ?? 'yes'} (features ${JSON.stringify(gpu.features)}, subgroup size ${ai.subgroupMinSize}..${ai.subgroupMaxSize}); mma fwd tiles ${JSON.stringify(attnMmaFwdTiles(gpu, 128))}`);
const rng = new Rng(7);
const { nHeads: H, nKvHeads: Hkv, headDim: D } = shape;
console.log(`mma bwd tiles ${JSON.stringify(attnMmaBwdTiles(gpu, 128))}`);
console.log(`device: ${gpu.info.description} limits.maxComputeWorkgroupStorageSize=${gpu.info.limits.maxComputeWorkgroupStorageSize}`);
console.log(`tiled configs: fwd ${JSON.stringify(attnFwdVariant(gpu, D))} bwd ${JSON.stringify(attnBwdVariant(gpu, D))}`);

interface Row { op: string; kernels: AttnKernels | string; T: number; seq: number; ms: number; tflops?: number; gbps?: number; timing: string }
const rows: Row[] = [];
const checks: { what: string; maxRelDiff: number }[] = [];
const errors: string[] = [];
const save = () => writeFileSync(file, JSON.stringify({ device: gpu.info, features: gpu.features, mma: mmaWhy ?? 'yes', shape, smoke, rows, checks, errors }, null, 1));

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

/** The tensor-core forward against the f64 reference at small odd shapes (this device's builtins). */
async function mmaReferenceChecks(): Promise<void> {
  const cases: [number[], number][] = smoke ? [[[7], 3]] : [[[7], 3], [[20, 17], 3], [[70, 60], 3], [[130], 3], [[1, 100, 29], 12], [[300], 12]];
  for (const [segs, qs] of cases) {
    const T = segs.reduce((a, b) => a + b);
    const seg = new Int32Array(T);
    let t0 = 0;
    segs.forEach((n, i) => seg.fill(i, t0, (t0 += n)));
    const hq = rand(T * H * D, -qs, qs), hk = rand(T * Hkv * D), hv = rand(T * Hkv * D), hdo = rand(T * H * D);
    const t = {
      q: tensorFrom(gpu, hq, [T, H * D]), k: tensorFrom(gpu, hk, [T, Hkv * D]), v: tensorFrom(gpu, hv, [T, Hkv * D]),
      seg: tensorFrom(gpu, seg, [T]), out: createTensor(gpu, [T, H * D], 'f32'), lse: createTensor(gpu, [H, T], 'f32'),
      dout: tensorFrom(gpu, hdo, [T, H * D]), dq: createTensor(gpu, [T, H * D], 'f32'),
      dk: createTensor(gpu, [T, Hkv * D], 'f32'), dv: createTensor(gpu, [T, Hkv * D], 'f32'),
    };
    const err = await gpu.guarded('mma check', () => attentionForward(gpu, t.out, t.lse, t.q, t.k, t.v, t.seg, shape, 'mma'))
      .then(() => null, (e: unknown) => String((e as Error).message ?? e));
    if (err) { errors.push(`mma forward T=${T}: ${err}`); console.log(`ERROR mma forward T=${T}: ${err}`); continue; }
    const out = new Float64Array(T * H * D), lse = new Float64Array(H * T);
    attentionForwardRef(out, lse, hq, hk, hv, seg, shape);
    const rel = (a: Float32Array, b: Float64Array) => maxRel(a, Float32Array.from(b));
    for (const [n, got, want] of [['out', await readF32(gpu, t.out), out], ['lse', await readF32(gpu, t.lse), lse]] as const) {
      const c = { what: `T=${T} segs=[${segs}] q±${qs} ${n} mma vs f64 reference`, maxRelDiff: rel(got, want) };
      checks.push(c);
      console.log(`check ${c.what}: ${c.maxRelDiff.toExponential(2)}`);
    }
    // backward from the reference forward's out and lse, each dk/dv tile variant that fits
    writeTensor(gpu, t.out, Float32Array.from(out));
    writeTensor(gpu, t.lse, Float32Array.from(lse));
    const dq = new Float64Array(T * H * D), dk = new Float64Array(T * Hkv * D), dv = new Float64Array(T * Hkv * D);
    attentionBackwardRef(dq, dk, dv, hdo, hq, hk, hv, out, lse, seg, shape);
    for (const dkvT of dkvVariants()) {
      attnMmaBwdSettings.dkv = dkvT;
      const e = await gpu.guarded('mma bwd check', () => attentionBackward(gpu, t.dq, t.dk, t.dv, t.dout, t.q, t.k, t.v, t.out, t.lse, t.seg, shape, 'mma'))
        .then(() => null, (er: unknown) => String((er as Error).message ?? er));
      attnMmaBwdSettings.dkv = undefined;
      if (e) { errors.push(`mma backward T=${T} ${vname(dkvT)}: ${e}`); console.log(`ERROR mma backward T=${T}: ${e}`); continue; }
      for (const [n, got, want] of [['dq', await readF32(gpu, t.dq), dq], ['dk', await readF32(gpu, t.dk), dk], ['dv', await readF32(gpu, t.dv), dv]] as const) {
        const c = { what: `T=${T} segs=[${segs}] q±${qs} ${n} mma bwd (dkv ${vname(dkvT)}) vs f64 reference`, maxRelDiff: rel(got, want) };
        checks.push(c);
        console.log(`check ${c.what}: ${c.maxRelDiff.toExponential(2)}`);
      }
    }
    for (const x of Object.values(t)) destroyTensor(gpu, x);
  }
  save();
}
const vname = (t: DkvTiles) => `${t.bk}x${t.bq}${t.kreg ? '-kreg' : ''}`;
/** dk/dv tile variants that fit this device (the first is the automatic choice). */
function dkvVariants(): DkvTiles[] {
  const lim = gpu.info.limits.maxComputeWorkgroupStorageSize ?? 16384;
  return ATTN_MMA_DKV_TILES.filter((t) => attnMmaDkvSmem(D, t) <= lim && (!t.kreg || t.bk <= 2 * t.bq)).slice(0, 3);
}
if (mmaWhy === null) await mmaReferenceChecks();

let warm = false;
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
  if (!warm) { // the GPU clocks up: one untimed round of every kernel at T = 2048 first (v8 lesson)
    warm = true;
    const W = smoke ? T : 2048;
    const w = {
      q: createTensor(gpu, [W, H * D], 'f32'), k: createTensor(gpu, [W, Hkv * D], 'f32'), v: createTensor(gpu, [W, Hkv * D], 'f32'),
      s: tensorFrom(gpu, new Int32Array(W), [W]), o: createTensor(gpu, [W, H * D], 'f32'), l: createTensor(gpu, [H, W], 'f32'),
      dq: createTensor(gpu, [W, H * D], 'f32'), dk: createTensor(gpu, [W, Hkv * D], 'f32'), dv: createTensor(gpu, [W, Hkv * D], 'f32'),
    };
    const t0 = performance.now();
    for (let rep = 0; rep < 3; rep++) {
      for (const kern of FWD_FAMILIES) {
        await gpu.guarded('warm-up', () => {
          attentionForward(gpu, w.o, w.l, w.q, w.k, w.v, w.s, shape, kern);
          attentionBackward(gpu, w.dq, w.dk, w.dv, w.q, w.q, w.k, w.v, w.o, w.l, w.s, shape, kern);
        }).catch((e: unknown) => console.log(`warm-up ${kern}: ${String((e as Error).message ?? e)}`));
      }
    }
    console.log(`warm-up ${(performance.now() - t0).toFixed(0)} ms`);
    for (const t of Object.values(w)) destroyTensor(gpu, t);
  }
  for (const kern of FWD_FAMILIES) {
    try {
      const fwd = () => attentionForward(gpu, x.out, x.lse, x.q, x.k, x.v, x.seg, shape, kern);
      const bwd = () => attentionBackward(gpu, x.dq, x.dk, x.dv, x.dout, x.q, x.k, x.v, x.out, x.lse, x.seg, shape, kern);
      const tf = await timed(fwd);
      row({ op: 'forward', kernels: kern, T, seq, ms: tf.ms, tflops: fwdFlop / tf.ms / 1e9, timing: tf.timing });
      await gpu.guarded('forward', fwd);
      results[kern] = [await readF32(gpu, x.out), await readF32(gpu, x.lse)];
      // mma: every dk/dv tile variant (the last timed one's results are compared; the automatic one runs last)
      const vars = kern === 'mma' ? [...dkvVariants().slice(1), undefined] : [undefined];
      for (const dkvT of vars) {
        attnMmaBwdSettings.dkv = dkvT;
        try {
          const tb = await timed(bwd);
          const label = kern === 'mma' ? `mma:${vname(dkvT ?? attnMmaBwdTiles(gpu, D)!.dkv)}` : kern;
          row({ op: 'backward', kernels: label, T, seq, ms: tb.ms, tflops: (2.5 * fwdFlop) / tb.ms / 1e9, timing: tb.timing });
        } finally { attnMmaBwdSettings.dkv = undefined; }
      }
      await gpu.guarded('backward', bwd);
      for (const t of [x.dq, x.dk, x.dv]) results[kern].push(await readF32(gpu, t));
    } catch (e) {
      errors.push(`${kern} T=${T} seq=${seq}: ${String((e as Error).message ?? e)}`);
      console.log(`ERROR ${errors[errors.length - 1]}`);
    }
    save();
  }
  if (VARIANTS.length) await timeVariants(x, T, seq, fwdFlop, results.tiled);
  if (BWD_VARIANTS.length) await timeBwdVariants(x, T, seq, fwdFlop, results.tiled?.slice(2));
  for (const [a, b] of [['tiled', 'simple'], ['mma', 'tiled']]) {
    if (!results[a] || !results[b]) continue;
    ['out', 'lse', 'dq', 'dk', 'dv'].slice(0, Math.min(results[a].length, results[b].length)).forEach((n, i) => {
      const c = { what: `T=${T} seq=${seq} ${n} ${a} vs ${b}`, maxRelDiff: maxRel(results[a][i], results[b][i]) };
      checks.push(c);
      console.log(`check ${c.what}: max |diff| / max |${b}| = ${c.maxRelDiff.toExponential(2)}`);
    });
  }
  for (const t of Object.values(x)) destroyTensor(gpu, t);
}

/**
 * The tiled forward variants (attention.tiled.ts) at this shape: one untimed call each (pipeline
 * compile), then timed; out and lse compared with the default variant's (`ref`: [out, lse]).
 */
async function timeVariants(x: Record<string, Tensor>, T: number, seq: number, fwdFlop: number, ref?: Float32Array[]): Promise<void> {
  const table: string[] = [];
  for (const v of VARIANTS.filter((n) => n in ATTN_FWD_VARIANTS)) {
    attnTiledSettings.fwd = v;
    try {
      const cfg = attnFwdVariant(gpu, D);
      const fwd = () => attentionForward(gpu, x.out, x.lse, x.q, x.k, x.v, x.seg, shape, 'tiled');
      await gpu.guarded(`variant ${v}`, fwd);
      const t = await timed(fwd);
      const tf = fwdFlop / t.ms / 1e9;
      row({ op: 'forward', kernels: `tiled:${v}`, T, seq, ms: t.ms, tflops: tf, timing: t.timing });
      const got = [await readF32(gpu, x.out), await readF32(gpu, x.lse)];
      const d = ref ? got.map((g, i) => maxRel(g, ref[i])) : [NaN, NaN];
      d.forEach((m, i) => checks.push({ what: `T=${T} seq=${seq} ${['out', 'lse'][i]} tiled:${v} vs tiled`, maxRelDiff: m }));
      const c = cfg ? `${cfg.br}x${cfg.bc} tm${cfg.tm} wg${(cfg.br / cfg.tm) * cfg.ntc}${cfg.sg ? ' sg' : ''}` : 'DOES NOT FIT: simple ran';
      table.push(`  ${v.padEnd(9)} ${c.padEnd(22)} ${t.ms.toFixed(4).padStart(9)} ms ${tf.toFixed(2).padStart(6)} TF/s  out ${d[0].toExponential(1)} lse ${d[1].toExponential(1)}`);
    } catch (e) {
      errors.push(`variant ${v} T=${T} seq=${seq}: ${String((e as Error).message ?? e)}`);
      console.log(`ERROR ${errors[errors.length - 1]}`);
    } finally { attnTiledSettings.fwd = ATTN_FWD_DEFAULT; }
  }
  console.log(`forward variants, T=${T} seq=${seq} (max |diff| / max |default| against the default variant):\n${table.join('\n')}`);
  save();
}

/**
 * The tiled backward variants (attention.tiled.bwd.ts: dq, dk/dv shares and their sum, as
 * attentionBackward runs them) from the default forward's out and lse: one untimed call each
 * (pipeline compile), then timed; dq, dk, dv compared with the default variant's (`ref`).
 */
async function timeBwdVariants(x: Record<string, Tensor>, T: number, seq: number, fwdFlop: number, ref?: Float32Array[]): Promise<void> {
  const table: string[] = [];
  await gpu.guarded('forward', () => attentionForward(gpu, x.out, x.lse, x.q, x.k, x.v, x.seg, shape, 'tiled'));
  for (const v of BWD_VARIANTS.filter((n) => n in ATTN_BWD_VARIANTS)) {
    attnTiledSettings.bwd = v;
    try {
      const cfg = attnBwdVariant(gpu, D);
      const bwd = () => attentionBackward(gpu, x.dq, x.dk, x.dv, x.dout, x.q, x.k, x.v, x.out, x.lse, x.seg, shape, 'tiled');
      await gpu.guarded(`bwd variant ${v}`, bwd);
      const t = await timed(bwd);
      const tf = (2.5 * fwdFlop) / t.ms / 1e9;
      row({ op: 'backward', kernels: `tiled:${v}`, T, seq, ms: t.ms, tflops: tf, timing: t.timing });
      const got = [await readF32(gpu, x.dq), await readF32(gpu, x.dk), await readF32(gpu, x.dv)];
      const d = ref ? got.map((g, i) => maxRel(g, ref[i])) : [NaN, NaN, NaN];
      d.forEach((m, i) => checks.push({ what: `T=${T} seq=${seq} ${['dq', 'dk', 'dv'][i]} tiled:${v} vs tiled`, maxRelDiff: m }));
      const c = cfg
        ? `dq ${cfg.dq.br}x${cfg.dq.bc} wg${(cfg.dq.br / cfg.dq.tm) * cfg.dq.ntc} dkv ${cfg.dkv.bc}x${cfg.dkv.br} wg${(cfg.dkv.bc / cfg.dkv.tmk) * cfg.dkv.ntc}`
        : 'DOES NOT FIT: simple ran';
      table.push(`  ${v.padEnd(9)} ${c.padEnd(30)} ${t.ms.toFixed(4).padStart(9)} ms ${tf.toFixed(2).padStart(6)} TF/s  dq ${d[0].toExponential(1)} dk ${d[1].toExponential(1)} dv ${d[2].toExponential(1)}`);
    } catch (e) {
      errors.push(`bwd variant ${v} T=${T} seq=${seq}: ${String((e as Error).message ?? e)}`);
      console.log(`ERROR ${errors[errors.length - 1]}`);
    } finally { attnTiledSettings.bwd = ATTN_BWD_DEFAULT; }
  }
  console.log(`backward variants, T=${T} seq=${seq} (max |diff| / max |default| against the default variant):\n${table.join('\n')}`);
  save();
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
  if (got.length > 1) {
    const c = { what: `decode len=${len} tiled vs simple`, maxRelDiff: maxRel(got[1], got[0]) };
    checks.push(c);
    console.log(`check ${c.what}: ${c.maxRelDiff.toExponential(2)}`);
  }
  for (const t of [kc, vc, q, out]) destroyTensor(gpu, t);
}

save();
console.log(`wrote ${file}`);
process.exit(0);
