// WebGPU in Node through Dawn's binding (npm `webgpu`). The object returned by create() must
// stay referenced for the whole process or Dawn crashes on exit, so it is kept in a module
// global. Kept out of the browser bundle: only Node entry points (CLI, tests, bench) import it.

let nodeGpu: GPU | undefined;

/**
 * Dawn toggles that unlock f16 and subgroup matrices on NVIDIA/Vulkan (harmless elsewhere), and
 * full-precision GPU timestamps: Dawn rounds them to 65.536 µs by default (a browser's timer
 * defence), which made the bench's per-component timings of short kernels meaningless.
 */
export const DAWN_FAST_FLAGS = [
  'enable-dawn-features=allow_unsafe_apis,vulkan_enable_f16_on_nvidia',
  'disable-dawn-features=timestamp_quantization',
];

/**
 * With no hardware GPU (CI, sandboxes) and no Vulkan driver chosen by the environment, use the
 * lavapipe ICD that scripts/setup-lavapipe.sh fetched into .vendor/ (if it is there). The
 * Vulkan loader reads these variables when Dawn creates its instance, i.e. after this runs.
 */
async function preferSoftwareVulkanWithoutGpu(): Promise<void> {
  const { existsSync } = await import('node:fs');
  const env = process.env;
  if (env.VK_ICD_FILENAMES || env.VK_DRIVER_FILES) return;
  if (existsSync('/dev/dri/renderD128') || existsSync('/dev/nvidia0')) return;
  const icd = `${process.cwd()}/.vendor/mesa/lvp_icd.json`;
  if (existsSync(icd)) env.VK_ICD_FILENAMES = icd;
  env.XDG_RUNTIME_DIR ??= '/tmp';
}

export async function nodeGpuApi(flags: string[] = DAWN_FAST_FLAGS): Promise<GPU> {
  if (nodeGpu) return nodeGpu;
  await preferSoftwareVulkanWithoutGpu();
  const mod = await import('webgpu');
  Object.assign(globalThis, mod.globals);
  nodeGpu = mod.create(flags) as unknown as GPU;
  (globalThis as { __keepDawnAlive?: GPU }).__keepDawnAlive = nodeGpu;
  return nodeGpu;
}
