// The GPU-side cost of one dispatch through Dawn (what bounds decode, ~420–550 small dispatches
// per token): N back-to-back dispatches of a trivial kernel in one compute pass, timed with GPU
// timestamps (bench/gputime.ts), in three patterns:
//   dependent    every dispatch read-modify-writes the same buffer (Dawn must put a barrier
//                between each pair, like the chain of a decode step)
//   independent  each dispatch writes its own buffer (no hazard between them)
//   wide         dependent, with 64 workgroups instead of 1
// Run: `node scripts/run-ts.mjs bench/dispatch.ts [--n 1000] [--out FILE]` (bundled by gpu-bundle.sh).
import { writeFileSync } from 'node:fs';
import { Gpu } from '../src/gpu/core/context';
import { nodeGpuApi } from '../src/gpu/core/node';
import { createTensor, packUniform } from '../src/gpu/core/tensor';
import { gpuTimeMs } from './gputime';

const argv = process.argv.slice(2);
const opt = (n: string, d: string) => { const i = argv.indexOf(`--${n}`); return i >= 0 ? argv[i + 1] : d; };
const N = Number(opt('n', '1000'));

const ADD = /* wgsl */ `
@group(0) @binding(0) var<storage, read_write> y: array<f32>; // [64·256]
@group(0) @binding(1) var<uniform> n: vec4<u32>;
@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) g: vec3<u32>) { if (g.x < n.x) { y[g.x] = y[g.x] + 1.0; } }`;

const gpu = await Gpu.create(await nodeGpuApi());
const bufs = Array.from({ length: 64 }, (_, i) => createTensor(gpu, [64 * 256], 'f32', `b${i}`));
const u = gpu.uniform(packUniform([64 * 256, 0, 0, 0]));
const k = { code: ADD };
const cases: Record<string, () => void> = {
  dependent: () => { for (let i = 0; i < N; i++) gpu.dispatch(k, [bufs[0].buffer, u], [1]); },
  independent: () => { for (let i = 0; i < N; i++) gpu.dispatch(k, [bufs[i % 64].buffer, u], [1]); },
  wide: () => { for (let i = 0; i < N; i++) gpu.dispatch(k, [bufs[0].buffer, u], [64]); },
};
const out: Record<string, number> = {};
for (const [name, rec] of Object.entries(cases)) {
  const t = await gpuTimeMs(gpu, rec, 1);
  out[name] = (t.ms * 1000) / N;
  console.log(`${name.padEnd(12)} ${out[name].toFixed(2)} µs per dispatch (GPU, ${t.timing}, N=${N})`);
}
const file = opt('out', '');
if (file) writeFileSync(file, JSON.stringify({ device: gpu.info.description, N, usPerDispatch: out }, null, 2));
process.exit(0);
