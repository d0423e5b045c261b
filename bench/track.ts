// Bench-only instrumentation of a Gpu instance (the engine is not changed):
//   memoryTracker  high-water mark of gpu.allocatedBytes (bytes held by createTensor tensors),
//                  by turning the field into an accessor on this one instance;
//   dispatchCounter  number of dispatches recorded and the JS time spent inside gpu.dispatch
//                    (and gpu.replay, counting the program's dispatches).

import type { Gpu } from '../src/gpu/core/context';

export interface MemoryTracker { reset(): void; peak(): number; stop(): void }

export function memoryTracker(gpu: Gpu): MemoryTracker {
  let value = gpu.allocatedBytes;
  let peak = value;
  Object.defineProperty(gpu, 'allocatedBytes', {
    configurable: true, enumerable: true,
    get: () => value,
    set: (v: number) => { value = v; if (v > peak) peak = v; },
  });
  return {
    reset: () => { peak = value; },
    peak: () => peak,
    stop: () => { Object.defineProperty(gpu, 'allocatedBytes', { configurable: true, enumerable: true, writable: true, value }); },
  };
}

export interface DispatchCounter { stop(): number; count(): number; jsMs(): number; submitMs(): number }

export function dispatchCounter(gpu: Gpu): DispatchCounter {
  const orig = gpu.dispatch;
  let n = 0, ms = 0;
  gpu.dispatch = function (this: Gpu, ...args: Parameters<Gpu['dispatch']>) {
    n++;
    const t0 = performance.now();
    try { return orig.apply(this, args); } finally { ms += performance.now() - t0; }
  };
  // Submits (gpu.flush): queue.submit's host time, separate from recording.
  let submitMs = 0;
  const origFlush = gpu.flush;
  gpu.flush = function (this: Gpu) {
    const t0 = performance.now();
    try { return origFlush.apply(this); } finally { submitMs += performance.now() - t0; }
  };
  // Replayed programs (Gpu.replay, decode) encode their dispatches without gpu.dispatch.
  const origReplay = gpu.replay;
  gpu.replay = function (this: Gpu, ...args: Parameters<Gpu['replay']>) {
    n += args[0].commands.filter((c) => c.kind === 'dispatch').length;
    const t0 = performance.now();
    try { return origReplay.apply(this, args); } finally { ms += performance.now() - t0; }
  };
  return {
    stop: () => {
      for (const k of ['dispatch', 'replay', 'flush'] as const) delete (gpu as Partial<Record<typeof k, unknown>>)[k];
      return n;
    },
    submitMs: () => submitMs,
    count: () => n,
    jsMs: () => ms,
  };
}
