// WebGPU in Node through Dawn's binding (npm `webgpu`). The object returned by create() must
// stay referenced for the whole process or Dawn crashes on exit, so it is kept in a module
// global. Kept out of the browser bundle: only Node entry points (CLI, tests, bench) import it.

let nodeGpu: GPU | undefined;

/** Dawn toggles that unlock f16 and subgroup matrices on NVIDIA/Vulkan (harmless elsewhere). */
export const DAWN_FAST_FLAGS = [
  'enable-dawn-features=allow_unsafe_apis,vulkan_enable_f16_on_nvidia',
];

export async function nodeGpuApi(flags: string[] = DAWN_FAST_FLAGS): Promise<GPU> {
  if (nodeGpu) return nodeGpu;
  const mod = await import('webgpu');
  Object.assign(globalThis, mod.globals);
  nodeGpu = mod.create(flags) as unknown as GPU;
  (globalThis as { __keepDawnAlive?: GPU }).__keepDawnAlive = nodeGpu;
  return nodeGpu;
}
