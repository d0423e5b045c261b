// Fallback microbenchmarks of the GPU itself, used when bench/kernels.ts does not export its
// own: f32 FMA peak (independent fma chains, no memory traffic) and copy bandwidth
// (copyBufferToBuffer of a large buffer, counting bytes read + written, as PyTorch's
// device-to-device copy figure does). Times are wall clock around gpu.sync().

import type { Gpu } from '../src/gpu/core/context';
import { createTensor, destroyTensor, packUniform } from '../src/gpu/core/tensor';
import { grid1d } from '../src/gpu/ops/grid';

export interface PeakNumbers {
  fmaTflops: number; // measured f32 FMA throughput, TFLOP/s (1 FMA = 2 FLOP)
  copyGBs: number; // measured copy bandwidth, GB/s (read + write bytes)
  source: string; // which microbenchmark produced them
}

// out [n] f32: 16 independent fma chains per invocation (4 × vec4), ITERS steps each.
const FMA_WGSL = /* wgsl */ `
struct P { b: f32, c: f32, iters: u32, pad: u32 }
@group(0) @binding(0) var<storage, read_write> out: array<f32>; // [invocations]
@group(0) @binding(1) var<uniform> p: P;
override WG: u32 = 256;
@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = gid.x + gid.y * nwg.x * WG;
  let s = f32(i) * 1e-7;
  var a0 = vec4<f32>(s, s + 1e-3, s + 2e-3, s + 3e-3);
  var a1 = a0 + vec4<f32>(0.1);
  var a2 = a0 + vec4<f32>(0.2);
  var a3 = a0 + vec4<f32>(0.3);
  let b = vec4<f32>(p.b);
  let c = vec4<f32>(p.c);
  for (var k = 0u; k < p.iters; k++) {
    a0 = fma(a0, b, c); a1 = fma(a1, b, c); a2 = fma(a2, b, c); a3 = fma(a3, b, c);
    a0 = fma(a0, b, c); a1 = fma(a1, b, c); a2 = fma(a2, b, c); a3 = fma(a3, b, c);
  }
  let r = a0 + a1 + a2 + a3;
  out[i] = r.x + r.y + r.z + r.w;
}`;

async function timeMs(gpu: Gpu, fn: () => void, reps: number): Promise<number> {
  fn();
  await gpu.sync();
  const t0 = performance.now();
  for (let i = 0; i < reps; i++) fn();
  await gpu.sync();
  return (performance.now() - t0) / reps;
}

/** f32 FMA peak in TFLOP/s. `scale` < 1 shrinks the work for software adapters. */
export async function measureFmaPeak(gpu: Gpu, scale = 1): Promise<number> {
  const workgroups = Math.max(8, Math.round(8192 * scale));
  const iters = Math.max(16, Math.round(2048 * scale));
  const n = workgroups * 256;
  const out = createTensor(gpu, [n], 'f32', 'fma-out');
  const grid = grid1d(gpu, workgroups);
  const u = gpu.uniform(packUniform([{ f: 0.999 }, { f: 1e-6 }, iters, 0]));
  const ms = await timeMs(gpu, () => gpu.dispatch({ code: FMA_WGSL, constants: { WG: 256 } }, [out.buffer, u], grid), 5);
  destroyTensor(gpu, out);
  const flops = n * iters * 8 * 4 * 2; // 8 vec4 fma per iteration, 2 FLOP each lane
  return flops / (ms * 1e-3) / 1e12;
}

// dst = src as vec4 (16 bytes read + 16 written per element), grid-stride loop.
const COPY_WGSL = /* wgsl */ `
@group(0) @binding(0) var<storage, read_write> dst: array<vec4<f32>>; // [n4]
@group(0) @binding(1) var<storage, read> src: array<vec4<f32>>; // [n4]
@group(0) @binding(2) var<uniform> n4: vec4<u32>;
override WG: u32 = 256;
@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let total = nwg.x * nwg.y * WG;
  for (var i = gid.x + gid.y * nwg.x * WG; i < n4.x; i += total) { dst[i] = src[i]; }
}`;

/** Copy bandwidth in GB/s (bytes read + bytes written per second): the better of copyBufferToBuffer and a vec4 copy kernel. */
export async function measureCopyBandwidth(gpu: Gpu, bytes = 1 << 30): Promise<number> {
  const max = Math.min(gpu.info.limits.maxBufferSize ?? bytes, gpu.info.limits.maxStorageBufferBindingSize ?? bytes);
  const size = Math.min(bytes, Math.floor(max / 16) * 16);
  const a = createTensor(gpu, [size / 4], 'f32', 'copy-src');
  const b = createTensor(gpu, [size / 4], 'f32', 'copy-dst');
  const msCopy = await timeMs(gpu, () => gpu.commandEncoder().copyBufferToBuffer(a.buffer, 0, b.buffer, 0, size), 10);
  const n4 = size / 16;
  const u = gpu.uniform(packUniform([n4, 0, 0, 0]));
  const grid = grid1d(gpu, Math.min(Math.ceil(n4 / 256), 65535 * 4));
  const msKernel = await timeMs(gpu, () => gpu.dispatch({ code: COPY_WGSL, constants: { WG: 256 } }, [b.buffer, a.buffer, u], grid), 10);
  destroyTensor(gpu, a);
  destroyTensor(gpu, b);
  return (2 * size) / (Math.min(msCopy, msKernel) * 1e-3) / 1e9;
}

export async function measurePeaks(gpu: Gpu, tiny: boolean): Promise<PeakNumbers> {
  const fmaTflops = await measureFmaPeak(gpu, tiny ? 1 / 256 : 1);
  const copyGBs = await measureCopyBandwidth(gpu, tiny ? 16 << 20 : 1 << 30);
  return { fmaTflops, copyGBs, source: 'bench/micro.ts' };
}
