// Decode NF4 GEMV benchmark: the old automatic choice (v2, v1 for M ≥ 2 below 4096 rows) vs v3
// (nf4_gemv_v3.wgsl) in its layouts (block / word, plain / pipelined) and probes, at the
// Llama-3.1-8B projection shapes, M ∈ {1, 4}.
//   y [M, N] = x [M, K] · Wᵀ, W [N, K] NF4 double-quantized (random codes).
// Cold weights only: a rotation over copies of the weight totalling > 100 MB, so every call
// streams from memory as in real decode.
// Each time is the best of 3 runs of `reps` back-to-back calls (GPU timestamps, bench/gputime.ts),
// after ≥ 0.5 s of warm-up; % are of this run's copy bandwidth (copy kernel or
// copyBufferToBuffer, the better). Also checks on the device: every variant against v1
// (max |diff| / max |v1|) and v3 bitwise repeatable.
// Run: `node scripts/run-ts.mjs bench/gemv.ts [--out FILE] [--reps 300]`.

import { writeFileSync } from 'node:fs';
import { Gpu } from '../src/gpu/core/context';
import { DAWN_FAST_FLAGS, nodeGpuApi } from '../src/gpu/core/node';
import { createTensor, destroyTensor, readF32, tensorFrom, type Tensor } from '../src/gpu/core/tensor';
import { nf4Destroy, nf4Matmul, nf4Upload, nf4WeightBytes, type Nf4Weight } from '../src/gpu/ops/nf4';
import { gemvSettings } from '../src/gpu/ops/nf4.matmul';
import { gemvV3Plan, type GemvV3Plan, type GemvV3Probe, type GemvV3Unit } from '../src/gpu/ops/nf4.gemv.v3';
import { createDynamicMap } from '../src/gpu/ops/nf4.ref';
import { Rng } from '../src/util/rng';
import { bestGpuMs, warmCopyBandwidth } from './gputime';

const argv = process.argv.slice(2);
const opt = (n: string, d: string) => { const i = argv.indexOf(`--${n}`); return i >= 0 ? argv[i + 1] : d; };
const outFile = opt('out', '');
const smoke = argv.includes('--smoke'); // tiny shapes, M = 1, 3 plans: checks the script on a software GPU
const REPS = Number(opt('reps', smoke ? '2' : '300'));

const gpu = await Gpu.create(await nodeGpuApi(argv.includes('--no-robustness') ? [`${DAWN_FAST_FLAGS[0]},disable_robustness`] : DAWN_FAST_FLAGS));
const rng = new Rng(1);
const result: Record<string, unknown> = { device: gpu.info.description, robustness: !argv.includes('--no-robustness'), reps: REPS, rows: [] as unknown[], checks: [] as string[] };
const save = () => { if (outFile) writeFileSync(outFile, JSON.stringify(result, null, 2)); };

const best = (record: () => void, reps = REPS) => bestGpuMs(gpu, record, reps);

// ---- copy bandwidth + warm-up -----------------------------------------------------------------
const copy = await warmCopyBandwidth(gpu, smoke ? 1 << 20 : 256 << 20, smoke ? 10 : 700);
const peakGbps = copy.peakGbps;
result.copy = copy;
console.log(`copy ${copy.bytes >> 20} MiB: kernel ${copy.kernelGbps.toFixed(0)} GB/s, copyBufferToBuffer ${copy.copyB2BGbps.toFixed(0)} GB/s`);

function randomNf4Host(N: number, K: number) {
  const n = N * K, nb = n / 64;
  const packed = new Uint8Array(n / 2);
  const w32 = new Uint32Array(packed.buffer);
  for (let i = 0; i < w32.length; i++) w32[i] = rng.nextU32();
  const codes = new Uint8Array(nb);
  for (let i = 0; i < nb; i++) codes[i] = rng.int(256);
  const nested = new Float32Array(Math.ceil(nb / 256)).fill(0.01);
  return { rows: N, cols: K, packed, absmax: { codes, nestedAbsmax: nested, quantMap: createDynamicMap(), offset: 0.03 } };
}

type Setting = Partial<typeof gemvSettings>;
async function with_<T>(s: Setting, f: () => Promise<T>): Promise<T> {
  const keep = { ...gemvSettings };
  Object.assign(gemvSettings, s);
  try { return await f(); } finally { Object.assign(gemvSettings, keep); }
}
// ---- v3 probes (WRONG results, timing only; GemvV3Probe) -----------------------------------------
// 'bytes' reads the codes and scales but neither x nor the table (the memory side alone); 'lut'
// decodes through the table but reads no x; 'alu' reads x but decodes a nibble c as 1 + c/16 by two
// integer ops (dot8a) instead of a table lookup.
const KEEP_X = ['  _ = x[0]; // a probe may read no x: keep the binding'];
const DOT8A = `fn dot8a(w: u32, lb: u32, x0: vec4<f32>, x1: vec4<f32>) -> f32 {
  let m = vec4<u32>(0x07800000u); let one = vec4<u32>(0x3f800000u);
  let a = bitcast<vec4<f32>>(((vec4<u32>(w) << vec4<u32>(19u, 23u, 11u, 15u)) & m) | one);
  let b = bitcast<vec4<f32>>(((vec4<u32>(w) << vec4<u32>(3u, 7u, 0u, 0u)) & m) | one);
  return dot(a, x0) + dot(b, x1);
}\n`;
/** v3's decode with x0, x1 opened by `open(m, xi)` (xi: WGSL x index) and words dotted by `fn`. */
const dots = (a: GemvV3Unit, open: (xi: string) => string, fn: string) => [...Array(a.words).keys()].flatMap((q) => a.toks.flatMap((m) => [
  `      { ${open(`${m}u * kx + 2u * (jc * ${a.words}u + ${q}u)`)}`,
  ...a.rows.map((r) => `        d${r}_${m} += ${fn}(${a.word(r, q)}, lb, x0, x1);`), '      }']));
const PROBES: Record<'bytes' | 'lut' | 'alu', GemvV3Probe> = {
  bytes: { name: 'bytes', wgsl: '', prologue: KEEP_X, unit: (a) => [...Array(a.words).keys()].flatMap((q) => a.rows.flatMap((r) => a.toks.map((m) =>
    `      d${r}_${m} += bitcast<f32>((${a.word(r, q)} & 0x7fffffu) | 0x3f800000u);`))) },
  lut: { name: 'lut', wgsl: '', prologue: KEEP_X, unit: (a) => dots(a, () => 'let x0 = vec4<f32>(1.0); let x1 = x0;', 'dot8') },
  alu: { name: 'alu', wgsl: DOT8A, prologue: KEEP_X, unit: (a) => dots(a, (xi) => `let xi = ${xi}; let x0 = x[xi]; let x1 = x[xi + 1u];`, 'dot8a') },
};

const old = (M: number, N: number): Setting => ({ kernel: M >= 2 && N < 4096 ? 'v1' : 'v2' }); // the automatic choice before v3
// run 22: many rows per slot in the word layout (x loads shared by R = 8–16 rows; a slot of P =
// 128–256 lanes covers a whole K = 4096 row per unit step, i.e. each lane owns fixed columns).
const ALL_PLANS: Partial<GemvV3Plan>[] = [
  {},
  { vec: 1, lanes: 256, rows: 16, unroll: 1 }, { vec: 1, lanes: 256, rows: 8, unroll: 2 }, { vec: 1, lanes: 256, rows: 8, unroll: 1, pipe: true },
  { vec: 2, lanes: 256, rows: 8, unroll: 1 }, { vec: 1, lanes: 128, rows: 8, unroll: 2 }, { vec: 1, lanes: 128, rows: 16, unroll: 1 },
  { vec: 2, lanes: 128, rows: 8, unroll: 1 }, { vec: 1, lanes: 64, rows: 8, unroll: 2 },
  { vec: 1, lanes: 256, rows: 16, unroll: 1, probe: PROBES.lut }, { vec: 1, lanes: 256, rows: 16, unroll: 1, probe: PROBES.bytes },
];
const PLANS = smoke ? ALL_PLANS.slice(0, 3) : ALL_PLANS;
const planName = (M: number, N: number, K: number, p: Partial<GemvV3Plan>) => {
  const q = gemvV3Plan(M, N, p);
  return `${q.vec ? `words V${q.vec}` : 'blocks'}${q.wg !== 256 ? ` WG${q.wg}` : ''} P${q.lanes} R${q.rows} U${q.unroll}${q.pipe ? ' pipe' : ''}${q.probe ? ` [${q.probe.name}]` : ''}`;
};

const D = (d: number) => (smoke ? d / 16 : d);
const SHAPES: [string, number, number][] = [['q_proj/o_proj', D(4096), D(4096)], ['down_proj', D(4096), D(14336)], ['gate/up_proj', D(14336), D(4096)], ['k_proj/v_proj', D(1024), D(4096)]];
const xBuf = tensorFrom(gpu, rng.floats(4 * 14336), [4 * 14336]);
const yBuf = createTensor(gpu, [4 * 14336], 'f32', 'y');
const as2d = (t: Tensor, r: number, c: number): Tensor => ({ ...t, shape: [r, c] });

for (const [name, N, K] of SHAPES) {
  const host = randomNf4Host(N, K);
  const w = nf4Upload(gpu, host);
  const wBytes = nf4WeightBytes(N, K, true);
  const cold: Nf4Weight[] = [w, ...Array.from({ length: Math.max(1, Math.ceil((smoke ? 2e6 : 110e6) / wBytes) - 1) }, () => nf4Upload(gpu, host))];
  const rot = (M: number, ws: Nf4Weight[]) => { let i = 0; return () => nf4Matmul(gpu, as2d(yBuf, M, N), as2d(xBuf, M, K), ws[i++ % ws.length]); };
  for (const M of smoke ? [1] : [1, 4]) {
    const by = wBytes + 4 * (M * K + M * N);
    const row = (variant: string, temp: 'hot' | 'cold', ms: number) => {
      const gbps = by / ms / 1e6, pct = (100 * gbps) / peakGbps;
      (result.rows as unknown[]).push({ shape: name, N, K, M, variant, temp, us: ms * 1000, gbps, pctCopy: pct });
      console.log(`${name.padEnd(14)} M=${M} ${temp.padEnd(4)} ${variant.padEnd(26)} ${(ms * 1000).toFixed(2).padStart(8)} µs ${gbps.toFixed(0).padStart(6)} GB/s ${pct.toFixed(1).padStart(5)} %`);
    };
    { // agreement with v1 on the device and determinism
      const yc = createTensor(gpu, [M, N], 'f32', 'ycheck');
      const out = (s: Setting) => with_(s, async () => { nf4Matmul(gpu, yc, as2d(xBuf, M, K), w); return (await readF32(gpu, yc)).slice(); });
      const ref = await out({ kernel: 'v1' });
      const mx = ref.reduce((a, v) => Math.max(a, Math.abs(v)), 0);
      const err = (a: Float32Array) => a.reduce((e, v, i) => Math.max(e, Math.abs(v - ref[i])), 0) / mx;
      const parts = [];
      let repeatable = true;
      for (const p of PLANS.filter((q) => !q.probe)) {
        const a1 = await out({ kernel: 'v3', v3: p }), a2 = await out({ kernel: 'v3', v3: p });
        repeatable &&= a1.every((v, i) => Object.is(v, a2[i]));
        parts.push(`${planName(M, N, K, p)} ${err(a1).toExponential(1)}`);
      }
      const line = `check ${name} M=${M} vs v1: ${parts.join(', ')}; bitwise repeatable: ${repeatable}`;
      console.log(line);
      (result.checks as string[]).push(line);
      destroyTensor(gpu, yc);
    }
    { const t0 = performance.now(); const f = rot(M, cold); while (performance.now() - t0 < (smoke ? 10 : 300)) { for (let i = 0; i < 50; i++) f(); await gpu.sync(); } } // warm with the kernel itself
    row('old (v2 auto)', 'cold', await with_(old(M, N), () => best(rot(M, cold))));
    for (const p of PLANS) {
      const ms = await with_({ kernel: 'v3', v3: p }, () => best(rot(M, cold)));
      row(planName(M, N, K, p) + (p === PLANS[0] ? ' (default)' : ''), 'cold', ms);
    }
    save();
  }
  cold.forEach((c) => nf4Destroy(gpu, c));
}
save();
process.exit(0);
