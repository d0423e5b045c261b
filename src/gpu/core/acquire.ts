// Acquire a WebGPU adapter and device with the adapter's real limits and the optional
// features we can use. Runs unchanged in a browser worker (navigator.gpu) and in Node
// (npm `webgpu`, see node.ts).

import { GpuError, WEBGPU_HELP } from './errors';

export interface GpuFeatures {
  f16: boolean; // 'shader-f16'
  subgroups: boolean; // 'subgroups'
  timestamps: boolean; // 'timestamp-query'
  subgroupMatrix: boolean; // 'chromium-experimental-subgroup-matrix' (tensor cores)
}

export interface GpuInfo {
  vendor: string;
  architecture: string;
  device: string;
  description: string;
  features: GpuFeatures;
  limits: Record<string, number>;
}

/** Limits we ask for at their adapter maximum (the defaults are far too small for 8B). */
const WANTED_LIMITS = [
  'maxBufferSize',
  'maxStorageBufferBindingSize',
  'maxComputeWorkgroupStorageSize',
  'maxStorageBuffersPerShaderStage',
  'maxComputeInvocationsPerWorkgroup',
  'maxComputeWorkgroupSizeX',
  'maxComputeWorkgroupSizeY',
  'maxComputeWorkgroupsPerDimension',
  'maxUniformBufferBindingSize',
  'maxBindGroups',
] as const;

const OPTIONAL_FEATURES: Record<keyof GpuFeatures, string> = {
  f16: 'shader-f16',
  subgroups: 'subgroups',
  timestamps: 'timestamp-query',
  subgroupMatrix: 'chromium-experimental-subgroup-matrix',
};

export interface AcquireOptions {
  /** Disable features even when present (tests use this to cover the plain f32 path). */
  disable?: Partial<Record<keyof GpuFeatures, boolean>>;
  powerPreference?: GPUPowerPreference;
}

export async function acquireDevice(
  gpu: GPU | undefined,
  opts: AcquireOptions = {},
): Promise<{ device: GPUDevice; info: GpuInfo }> {
  if (!gpu) throw new GpuError('unavailable', `This runtime has no WebGPU. ${WEBGPU_HELP}`);
  const adapter = await gpu.requestAdapter({
    powerPreference: opts.powerPreference ?? 'high-performance',
  });
  if (!adapter) throw new GpuError('unavailable', `No WebGPU adapter was found. ${WEBGPU_HELP}`);

  const requiredLimits: Record<string, number> = {};
  const adapterLimits = adapter.limits as unknown as Record<string, number>;
  for (const name of WANTED_LIMITS) {
    if (typeof adapterLimits[name] === 'number') requiredLimits[name] = adapterLimits[name];
  }
  const features = {} as GpuFeatures;
  const requiredFeatures: GPUFeatureName[] = [];
  for (const [key, name] of Object.entries(OPTIONAL_FEATURES) as [keyof GpuFeatures, string][]) {
    features[key] = adapter.features.has(name) && !opts.disable?.[key];
    if (features[key]) requiredFeatures.push(name as GPUFeatureName);
  }
  let device: GPUDevice;
  try {
    device = await adapter.requestDevice({ requiredLimits, requiredFeatures });
  } catch (e) {
    throw new GpuError('unavailable', `The GPU refused to create a device: ${String(e)}`);
  }
  const limits: Record<string, number> = {};
  const deviceLimits = device.limits as unknown as Record<string, number>;
  for (const name of WANTED_LIMITS) limits[name] = deviceLimits[name];
  limits.minStorageBufferOffsetAlignment = deviceLimits.minStorageBufferOffsetAlignment;
  const ai = adapter.info;
  const info: GpuInfo = {
    vendor: ai?.vendor ?? '',
    architecture: ai?.architecture ?? '',
    device: ai?.device ?? '',
    description: ai?.description ?? '',
    features,
    limits,
  };
  return { device, info };
}
