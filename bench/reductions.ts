// Row-reduction kernels with subgroup operations vs the workgroup-memory tree (src/gpu/ops/reduce.ts)
// at Llama-3.1-8B shapes (C = 4096 hidden, V = 128256 vocabulary, H = 32 / Hkv = 8 / D = 128):
//   RMSNorm forward / backward   x, dout [T, C], T ∈ {1, 4, 512, 2048}, over workgroup sizes
//   cross-entropy fwd_bwd, forward  logits [T, V], T ∈ {512, 2048} (in chunks when [T, V] exceeds
//                                   the binding limit, as the model's loss does), and lse_argmax
//                                   at T = 1 (greedy decode)
//   decode attention step          one token over 512 / 4095 cached positions, 32 key splits
// Each time is the best of 3 runs of `reps` back-to-back calls (GPU timestamps, bench/gputime.ts)
// after ≥ 0.5 s of warm-up (the copy-bandwidth measurement). Checks on the device: the subgroup
// path against the tree (max |diff| / max |tree|) and the subgroup path bitwise repeatable.
// Run: `node scripts/run-ts.mjs bench/reductions.ts [--out FILE] [--reps 200] [--smoke]`.

import { writeFileSync } from 'node:fs';
import { Gpu } from '../src/gpu/core/context';
import { nodeGpuApi } from '../src/gpu/core/node';
import { createTensor, destroyTensor, readF32, readI32, tensorFrom, writeTensor, type Tensor } from '../src/gpu/core/tensor';
import { rmsnormBackward, rmsnormForward } from '../src/gpu/ops/rmsnorm';
import { crossEntropyForward, crossEntropyForwardBackward, logsumexpArgmax } from '../src/gpu/ops/crossentropy';
import { allocDecodePartials, attentionDecodeStep, decodeSplits } from '../src/gpu/ops/attention_decode';
import { reduceSettings } from '../src/gpu/ops/reduce';
import { Rng } from '../src/util/rng';
import { bestGpuMs, warmCopyBandwidth } from './gputime';

const argv = process.argv.slice(2);
const opt = (n: string, d: string) => { const i = argv.indexOf(`--${n}`); return i >= 0 ? argv[i + 1] : d; };
const outFile = opt('out', '');
const smoke = argv.includes('--smoke'); // tiny shapes: checks the script on a software GPU
const REPS = Number(opt('reps', smoke ? '2' : '200'));
const C = smoke ? 256 : 4096, V = smoke ? 3001 : 128256;
const H = smoke ? 4 : 32, HKV = smoke ? 2 : 8, D = 128;

const gpu = await Gpu.create(await nodeGpuApi());
const rng = new Rng(1);
const rows: Record<string, unknown>[] = [];
const checks: string[] = [];
const result = { device: gpu.info.description, features: gpu.features, reps: REPS, rows, checks } as Record<string, unknown>;
const save = () => { if (outFile) writeFileSync(outFile, JSON.stringify(result, null, 2)); };

const best = (record: () => void, reps = REPS) => bestGpuMs(gpu, record, reps);
type Path = 'tree' | 'subgroups';
/** Run `f` with the given path and workgroup size (0 = the op's own choice). */
async function withPath<T>(path: Path, wg: number, f: () => Promise<T>): Promise<T> {
  const keep = { ...reduceSettings };
  Object.assign(reduceSettings, { subgroups: path === 'subgroups', wg });
  try { return await f(); } finally { Object.assign(reduceSettings, keep); }
}
const PATHS: Path[] = gpu.features.subgroups ? ['tree', 'subgroups'] : ['tree'];
function maxRel(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let scale = 1e-30, d = 0;
  for (let i = 0; i < b.length; i++) { scale = Math.max(scale, Math.abs(b[i])); d = Math.max(d, Math.abs(a[i] - b[i])); }
  return d / scale;
}
const same = (a: ArrayLike<number>, b: ArrayLike<number>) => a.length === b.length && Array.prototype.every.call(a, (v: number, i: number) => Object.is(v, b[i]));
function check(name: string, tree: ArrayLike<number>, sg: ArrayLike<number>, sg2: ArrayLike<number>): void {
  const line = `${name}: subgroups vs tree max rel ${maxRel(sg, tree).toExponential(2)}, repeatable ${same(sg, sg2)}`;
  checks.push(line);
  console.log(line);
}
function row(r: Record<string, unknown>): void {
  rows.push(r);
  console.log(Object.entries(r).map(([k, v]) => `${k}=${typeof v === 'number' && !Number.isInteger(v) ? v.toFixed(2) : v}`).join(' '));
}

// ---- copy bandwidth + warm-up -----------------------------------------------------------------
const copy = await warmCopyBandwidth(gpu, smoke ? 1 << 20 : 256 << 20, smoke ? 10 : 700);
const peakGbps = copy.kernelGbps;
result.copyGbps = peakGbps;
console.log(`copy ${copy.bytes >> 20} MiB: ${peakGbps.toFixed(0)} GB/s`);
const gbps = (bytes: number, ms: number) => ({ gbps: bytes / ms / 1e6, pctCopy: (100 * bytes) / ms / 1e6 / peakGbps });

// ---- RMSNorm ----------------------------------------------------------------------------------
{
  const Ts = smoke ? [1, 4, 9] : [1, 4, 512, 2048];
  const Tmax = Ts[Ts.length - 1];
  const x = tensorFrom(gpu, rng.floats(Tmax * C, -3, 3), [Tmax, C]), w = tensorFrom(gpu, rng.floats(C, 0.5, 1.5), [C]);
  const dout = tensorFrom(gpu, rng.floats(Tmax * C), [Tmax, C]);
  const out = createTensor(gpu, [Tmax, C]), rstd = createTensor(gpu, [Tmax]), dx = createTensor(gpu, [Tmax, C]);
  const view = (t: Tensor, T: number, cols: number): Tensor => ({ ...t, shape: cols ? [T, cols] : [T] });
  for (const T of Ts) {
    const xv = view(x, T, C), ov = view(out, T, C), rv = view(rstd, T, 0), dv = view(dout, T, C), dxv = view(dx, T, C);
    const fwd = () => rmsnormForward(gpu, ov, rv, xv, w, 1e-5);
    const bwd = () => rmsnormBackward(gpu, dxv, dv, xv, w, rv);
    for (const path of PATHS) {
      for (const wg of [0, 128, 256, 512, 1024]) {
        await withPath(path, wg, async () => {
          const f = await best(fwd);
          row({ op: 'rmsnorm.forward', T, C, path, wg: wg || 'auto', us: f * 1000, ...gbps(2 * T * C * 4 + C * 4, f) });
          if (T >= 512 || wg === 0) {
            const b = await best(bwd);
            row({ op: 'rmsnorm.backward', T, C, path, wg: wg || 'auto', us: b * 1000, ...gbps(3 * T * C * 4 + C * 4, b) });
          }
        });
      }
    }
    if (PATHS.length === 2) {
      const run = (path: Path) => withPath(path, 0, async () => {
        fwd(); bwd();
        return [...(await readF32(gpu, ov)).subarray(0, T * C), ...(await readF32(gpu, rv)).subarray(0, T), ...(await readF32(gpu, dxv)).subarray(0, T * C)];
      });
      check(`rmsnorm T=${T} (out, rstd, dx)`, await run('tree'), await run('subgroups'), await run('subgroups'));
    }
    save();
  }
  for (const t of [x, w, dout, out, rstd, dx]) destroyTensor(gpu, t);
}

// ---- cross-entropy ----------------------------------------------------------------------------
{
  const limitRows = Math.floor((gpu.info.limits.maxStorageBufferBindingSize ?? 134217728) / (V * 4));
  const Tc = Math.min(smoke ? 16 : 512, limitRows); // rows per call: T = 2048 runs as 4 chunks, like the model's loss
  const logits = tensorFrom(gpu, rng.floats(Tc * V, -8, 8), [Tc, V]);
  const labels = tensorFrom(gpu, Int32Array.from({ length: Tc }, () => rng.int(V)), [Tc], 'labels');
  const nll = createTensor(gpu, [Tc]), am = createTensor(gpu, [Tc], 'i32');
  const view = (t: Tensor, n: number, cols: number): Tensor => ({ ...t, shape: cols ? [n, cols] : [n] });
  result.ceRowsPerCall = Tc;
  for (const T of smoke ? [8, 16] : [512, 2048]) {
    const n = Math.min(T, Tc), calls = Math.ceil(T / n);
    const lv = view(logits, n, V), nv = view(nll, n, 0), tv = view(labels, n, 0);
    // fwd_bwd rewrites the logits with gradients: later calls run on those (same work per element)
    const fb = () => { for (let i = 0; i < calls; i++) crossEntropyForwardBackward(gpu, nv, lv, tv, 1 / T); };
    const fo = () => { for (let i = 0; i < calls; i++) crossEntropyForward(gpu, nv, lv, tv); };
    for (const path of PATHS) {
      for (const wg of [0, 512, 1024]) {
        await withPath(path, wg, async () => {
          const a = await best(fb, Math.max(2, REPS >> 3));
          row({ op: 'crossentropy.fwd_bwd', T, V, calls, path, wg: wg || 'auto', us: a * 1000, ...gbps(2 * T * V * 4, a) });
          const b = await best(fo, Math.max(2, REPS >> 3));
          row({ op: 'crossentropy.forward', T, V, calls, path, wg: wg || 'auto', us: b * 1000, ...gbps(T * V * 4, b) });
        });
      }
    }
    save();
  }
  const one = view(logits, 1, V), lse1 = view(nll, 1, 0), am1 = view(am, 1, 0);
  for (const path of PATHS) {
    for (const wg of [0, 512, 1024]) {
      await withPath(path, wg, async () => {
        const a = await best(() => logsumexpArgmax(gpu, lse1, am1, one));
        row({ op: 'crossentropy.lse_argmax', T: 1, V, path, wg: wg || 'auto', us: a * 1000, ...gbps(V * 4, a) });
      });
    }
  }
  if (PATHS.length === 2) {
    const n = Math.min(64, Tc), host = rng.floats(n * V, -8, 8);
    host[V + 77] = 30; host[V + 100000 % V] = 30; // a tie in row 1: the first index wins
    const lv = view(logits, n, V), nv = view(nll, n, 0), tv = view(labels, n, 0), av = view(am, n, 0);
    const run = (path: Path) => withPath(path, 0, async () => {
      writeTensor(gpu, logits, host);
      logsumexpArgmax(gpu, nv, av, lv);
      const lse = (await readF32(gpu, nv)).slice(0, n), amax = (await readI32(gpu, av)).slice(0, n);
      crossEntropyForwardBackward(gpu, nv, lv, tv, 1 / n);
      return { lse, amax, nll: (await readF32(gpu, nv)).slice(0, n), grad: (await readF32(gpu, lv)).slice(0, n * V) };
    });
    const t = await run('tree'), s = await run('subgroups'), s2 = await run('subgroups');
    check(`crossentropy ${n}×${V} lse`, t.lse, s.lse, s2.lse);
    check(`crossentropy ${n}×${V} argmax (equal: ${same(t.amax, s.amax)})`, t.amax, s.amax, s2.amax);
    check(`crossentropy ${n}×${V} nll`, t.nll, s.nll, s2.nll);
    check(`crossentropy ${n}×${V} dlogits`, t.grad, s.grad, s2.grad);
  }
  for (const t of [logits, labels, nll, am]) destroyTensor(gpu, t);
  save();
}

// ---- decode attention -------------------------------------------------------------------------
{
  const shape = { nHeads: H, nKvHeads: HKV, headDim: D };
  for (const maxT of smoke ? [64] : [512, 4096]) {
    const S = decodeSplits(maxT);
    const kc = tensorFrom(gpu, rng.floats(maxT * HKV * D), [maxT, HKV * D]), vc = tensorFrom(gpu, rng.floats(maxT * HKV * D), [maxT, HKV * D]);
    const q = tensorFrom(gpu, rng.floats(H * D), [1, H * D]), k = tensorFrom(gpu, rng.floats(HKV * D), [1, HKV * D]), v = tensorFrom(gpu, rng.floats(HKV * D), [1, HKV * D]);
    const part = allocDecodePartials(gpu, shape, maxT, S), out = createTensor(gpu, [1, H * D]);
    const pos = tensorFrom(gpu, Int32Array.of(maxT - 1), [1], 'positions');
    const step = () => attentionDecodeStep(gpu, out, part, kc, vc, q, k, v, pos, shape);
    for (const path of PATHS) {
      await withPath(path, 0, async () => {
        const a = await best(step);
        row({ op: 'attention.decode', len: maxT, H, Hkv: HKV, D, S, path, us: a * 1000, ...gbps(2 * maxT * HKV * D * 4, a) });
      });
    }
    if (PATHS.length === 2) {
      const run = (path: Path) => withPath(path, 0, async () => { step(); return (await readF32(gpu, out)).slice(); });
      check(`attention.decode len=${maxT}`, await run('tree'), await run('subgroups'), await run('subgroups'));
    }
    for (const t of [kc, vc, q, k, v, part, out, pos]) destroyTensor(gpu, t);
    save();
  }
}
save();
console.log('done');
process.exit(0);
