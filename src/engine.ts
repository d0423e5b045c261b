// The one API the UI talks to. Runs in a Web Worker (workers/engine.worker.ts exposes it with
// comlink) and headless in Node (CLI, bench). It owns the GPU device; only scalars, tokens,
// reports and files cross this boundary. Each area lives in its own module; this file only
// wires them to one device.

import { Gpu } from './gpu/core/context';
import type { AcquireOptions, GpuInfo } from './gpu/core/acquire';
import { GpuError } from './gpu/core/errors';
import { runSelftest, type SelftestResult } from './gpu/selftest';

export type { GpuInfo, SelftestResult };

export interface EngineError {
  kind: string;
  message: string;
}

/** Errors cross comlink as plain objects with a kind; rethrow them typed on the other side. */
export function toEngineError(e: unknown): EngineError {
  if (e instanceof GpuError) return { kind: e.kind, message: e.message };
  return { kind: 'error', message: e instanceof Error ? e.message : String(e) };
}

export class Engine {
  private constructor(readonly gpu: Gpu) {}

  static async create(gpuApi: GPU | undefined, opts?: AcquireOptions): Promise<Engine> {
    return new Engine(await Gpu.create(gpuApi, opts));
  }

  /** Adapter, features and limits of the device in use. */
  gpuInfo(): GpuInfo {
    return this.gpu.info;
  }

  /** NF4 matmul on this GPU against the CPU reference: max error and time. */
  selftest(): Promise<SelftestResult> {
    return runSelftest(this.gpu);
  }
}
