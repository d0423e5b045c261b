// Typed GPU errors. Every failure that crosses the engine boundary is one of these, so the UI
// (through comlink) and the CLI can show a precise message instead of a generic exception.

export type GpuErrorKind =
  | 'unavailable' // no WebGPU in this browser / runtime, or no adapter
  | 'validation' // a WebGPU validation error (a bug or a limit we did not respect)
  | 'out-of-memory' // allocation failed
  | 'device-lost' // driver reset, tab backgrounded too long, device.destroy()
  | 'shape' // a wrapper refused its inputs before dispatch
  | 'limit'; // the request exceeds an adapter limit (binding size, workgroups...)

export class GpuError extends Error {
  constructor(
    readonly kind: GpuErrorKind,
    message: string,
  ) {
    super(message);
    this.name = `GpuError(${kind})`;
  }
}

export function shapeError(op: string, message: string): GpuError {
  return new GpuError('shape', `${op}: ${message}`);
}

/** Throws a shape error unless `cond` holds. */
export function check(cond: boolean, op: string, message: string): asserts cond {
  if (!cond) throw shapeError(op, message);
}

/** Browsers and flags that give WebGPU; shown when none is available. */
export const WEBGPU_HELP =
  'WebGPU is required. Use Chrome or Edge 121+ on Windows, macOS or ChromeOS (Linux: ' +
  'chrome://flags/#enable-unsafe-webgpu and #enable-vulkan), or Safari 26+. Firefox 141+ has ' +
  'WebGPU on Windows. Make sure hardware acceleration is on (chrome://settings/system) and ' +
  'check chrome://gpu.';
