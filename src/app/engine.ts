// The UI's handle on the engine: creates the engine worker, wraps it with comlink, calls
// `init()` and publishes the outcome as a Svelte store. Panels read `engineState` for status
// and call `getEngine()` for the comlink proxy of `Engine` (src/engine.ts); nothing else of the
// engine runs on the UI thread (only types are imported from it).
import * as Comlink from 'comlink';
import { writable, type Readable } from 'svelte/store';
import type { Engine, EngineError, GpuInfo } from '../engine';
import type { EngineWorkerApi } from '../../workers/engine.worker';
import { WEBGPU_HELP } from '../gpu/core/errors';

export type RemoteEngine = Comlink.Remote<Engine>;

export type EngineState =
  | { status: 'starting' }
  | { status: 'ready'; info: GpuInfo }
  /** `missing-api`: the page has no navigator.gpu; `unavailable`: no adapter or device. */
  | { status: 'no-webgpu'; reason: 'missing-api' | 'unavailable'; message: string }
  | { status: 'error'; kind: string; message: string };

export { WEBGPU_HELP };

const state = writable<EngineState>({ status: 'starting' });
/** The engine's status, for `$engineState` in components. */
export const engineState: Readable<EngineState> = { subscribe: state.subscribe };

let started: Promise<EngineState> | null = null;
let remote: RemoteEngine | null = null;
let worker: Worker | null = null;

/** Turns whatever crossed the worker boundary into { kind, message }. */
export function describeError(e: unknown): EngineError {
  if (e && typeof e === 'object') {
    const o = e as { kind?: unknown; message?: unknown; name?: unknown };
    if (typeof o.kind === 'string' && typeof o.message === 'string')
      return { kind: o.kind, message: o.message };
    if (typeof o.message === 'string') {
      // A GpuError or DataError rethrown by comlink arrives as an Error named `GpuError(<kind>)`.
      const m = typeof o.name === 'string' ? /^\w+Error\((.+)\)$/.exec(o.name) : null;
      return { kind: m ? m[1] : 'error', message: o.message };
    }
  }
  return { kind: 'error', message: String(e) };
}

/** The engine's message without the generic browser help (shown separately). */
export function withoutHelp(message: string): string {
  return message.replace(WEBGPU_HELP, '').trim();
}

function workerFailure(w: Worker): Promise<never> {
  return new Promise((_, reject) => {
    w.addEventListener('error', (ev) => {
      ev.preventDefault();
      reject({ kind: 'worker', message: `The engine worker failed to start: ${ev.message || 'script error'}` });
    });
    w.addEventListener('messageerror', () =>
      reject({ kind: 'worker', message: 'The engine worker sent a message that could not be read.' }),
    );
  });
}

async function start(): Promise<EngineState> {
  if (!('gpu' in navigator) || !navigator.gpu) {
    return {
      status: 'no-webgpu',
      reason: 'missing-api',
      message: 'This browser does not expose WebGPU (navigator.gpu is missing).',
    };
  }
  try {
    worker = new Worker(new URL('../../workers/engine.worker.ts', import.meta.url), {
      type: 'module',
      name: 'engine',
    });
    const api = Comlink.wrap<EngineWorkerApi>(worker);
    const failed = workerFailure(worker);
    const engine = (await Promise.race([api.init(), failed])) as unknown as RemoteEngine;
    const info = await Promise.race([engine.gpuInfo(), failed]);
    remote = engine;
    return { status: 'ready', info };
  } catch (e) {
    const err = describeError(e);
    if (err.kind === 'unavailable') {
      return { status: 'no-webgpu', reason: 'unavailable', message: withoutHelp(err.message) };
    }
    return { status: 'error', kind: err.kind, message: err.message };
  }
}

/** Starts the engine once; later calls return the same outcome. */
export function startEngine(): Promise<EngineState> {
  if (!started) {
    started = start().then((s) => {
      state.set(s);
      return s;
    });
  }
  return started;
}

/** The engine proxy once it is ready; rejects with a readable message otherwise. */
export async function getEngine(): Promise<RemoteEngine> {
  const s = await startEngine();
  if (s.status === 'ready' && remote) return remote;
  throw new Error('message' in s ? s.message : 'The engine is not ready.');
}

