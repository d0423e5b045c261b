// What each optional WebGPU feature gives the engine, how to get it in Chrome, and which
// compute path the kernels take with the features present (see docs/CONVENTIONS.md: every
// kernel has a plain f32 path; f16 and subgroups are faster variants).
import type { GpuFeatures, GpuInfo } from '../gpu/core/acquire';

export interface FeatureRow {
  key: keyof GpuFeatures;
  name: string;
  gives: string;
  /** How to get it when missing. */
  howTo: string;
}

export const FEATURE_ROWS: FeatureRow[] = [
  {
    key: 'f16',
    name: 'shader-f16',
    gives: 'Half-precision variants of the kernels: half the memory traffic for weights and activations.',
    howTo:
      'Needs a hardware GPU driver that supports it: Chrome on Windows (D3D12) and macOS (Metal) offer it on most GPUs; ' +
      'on Linux enable Vulkan (chrome://flags/#enable-vulkan, or --enable-features=Vulkan). Software adapters such as SwiftShader never have it.',
  },
  {
    key: 'subgroups',
    name: 'subgroups',
    gives: 'Subgroup (warp) reductions in matmul, softmax and norms instead of workgroup memory round trips.',
    howTo:
      'Shipped in Chrome 134+. On older versions or drivers start Chrome with --enable-unsafe-webgpu or enable chrome://flags/#enable-unsafe-webgpu.',
  },
  {
    key: 'timestamps',
    name: 'timestamp-query',
    gives: 'GPU-side timing of individual kernels (profiling and benchmarks).',
    howTo:
      'Enable chrome://flags/#enable-webgpu-developer-features or start Chrome with --enable-unsafe-webgpu.',
  },
  {
    key: 'subgroupMatrix',
    name: 'chromium-experimental-subgroup-matrix',
    gives: 'Cooperative-matrix (tensor core) tiles for the matmuls: the fastest path.',
    howTo:
      'Experimental: start Chrome with --enable-unsafe-webgpu (or enable chrome://flags/#enable-unsafe-webgpu) ' +
      'on a GPU and driver with cooperative matrices (recent NVIDIA, AMD, Intel or Apple GPUs; Vulkan on Linux).',
  },
];

/** The compute path the features allow, fastest first. */
export function computePath(f: GpuFeatures): { name: string; detail: string; fastest: boolean } {
  if (f.subgroupMatrix && f.f16 && f.subgroups)
    return {
      name: 'subgroup-matrix + f16 + subgroups',
      detail: 'Tensor-core tiles where a kernel has them, f16 variants and subgroup reductions elsewhere.',
      fastest: true,
    };
  if (f.f16 && f.subgroups)
    return { name: 'f16 + subgroups', detail: 'Half-precision variants with subgroup reductions.', fastest: false };
  if (f.subgroups)
    return { name: 'f32 + subgroups', detail: 'f32 kernels with subgroup reductions; no f16 variants.', fastest: false };
  if (f.f16)
    return { name: 'f16, no subgroups', detail: 'Half-precision variants with workgroup-memory reductions.', fastest: false };
  return {
    name: 'portable f32',
    detail: 'Plain f32 kernels with workgroup-memory reductions: always correct, the slowest path.',
    fastest: false,
  };
}

const SOFTWARE = /swiftshader|llvmpipe|lavapipe|software|basic render/i;

/** True when the adapter is a CPU rasteriser rather than a GPU. */
export function isSoftwareAdapter(info: GpuInfo): boolean {
  return SOFTWARE.test(`${info.vendor} ${info.architecture} ${info.device} ${info.description}`);
}
