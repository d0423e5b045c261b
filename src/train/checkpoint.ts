// Checkpoints: everything needed to continue a run bit for bit — LoRA weights and AdamW
// moments (f32, read back exactly), the loop position (step, epoch, batch index in the
// epoch's seeded order), early-stopping state and the config. Serialized as one safetensors
// buffer (tensors + JSON metadata) and verified with a SHA-256 checksum on load. Storage
// backends (IndexedDB in the browser, files in Node) keep the previous checkpoint until the
// new one is completely written.

import type { Gpu } from '../gpu/core/context';
import { readF32, writeTensor } from '../gpu/core/tensor';
import { loraModules, type LoraState } from '../model/lora';
import { bytesSource, SafetensorsFile, writeSafetensors, type TensorToWrite } from '../model/safetensors';
import type { TrainConfig } from './config';

export interface LoopPosition {
  step: number; // optimizer steps done
  epoch: number; // current epoch (0-based)
  batchInEpoch: number; // micro-batches of this epoch already consumed
  bestValLoss: number | null;
  evalsWithoutImprovement: number;
  tokensSeen: number;
}

export interface CheckpointMeta {
  runId: string;
  position: LoopPosition;
  config: TrainConfig;
  savedAt: string;
}

const MOMENTS = ['A', 'B', 'mA', 'vA', 'mB', 'vB'] as const;

export async function sha256Hex(bytes: Uint8Array): Promise<string> {
  const d = await crypto.subtle.digest('SHA-256', bytes as unknown as ArrayBuffer);
  return [...new Uint8Array(d)].map((b) => b.toString(16).padStart(2, '0')).join('');
}

/** Read LoRA weights + moments back from the GPU and serialize them with the metadata. */
export async function serializeCheckpoint(gpu: Gpu, lora: LoraState, meta: CheckpointMeta): Promise<{ bytes: Uint8Array; sha256: string }> {
  const tensors: TensorToWrite[] = [];
  for (const [l, t, m] of loraModules(lora))
    for (const k of MOMENTS)
      tensors.push({ name: `${l}.${t}.${k}`, dtype: 'F32', shape: [...m[k].shape], data: await readF32(gpu, m[k]) });
  const bytes = writeSafetensors(tensors, { checkpoint: JSON.stringify(meta) });
  return { bytes, sha256: await sha256Hex(bytes) };
}

export class CheckpointError extends Error {}

/** Verify the checksum and parse; throws CheckpointError when the bytes are damaged. */
export async function parseCheckpoint(bytes: Uint8Array, sha256: string): Promise<{ meta: CheckpointMeta; file: SafetensorsFile }> {
  const got = await sha256Hex(bytes);
  if (got !== sha256) throw new CheckpointError(`checkpoint checksum mismatch (stored ${sha256.slice(0, 12)}…, computed ${got.slice(0, 12)}…): the file is damaged`);
  const file = await SafetensorsFile.open(bytesSource(bytes, 'checkpoint'));
  const raw = file.metadata?.checkpoint;
  if (!raw) throw new CheckpointError('checkpoint has no metadata');
  return { meta: JSON.parse(raw) as CheckpointMeta, file };
}

/** Upload a parsed checkpoint's weights and moments into an allocated LoraState. */
export async function restoreLora(gpu: Gpu, lora: LoraState, file: SafetensorsFile): Promise<void> {
  for (const [l, t, m] of loraModules(lora))
    for (const k of MOMENTS) {
      const name = `${l}.${t}.${k}`;
      if (!file.has(name)) throw new CheckpointError(`checkpoint lacks ${name}: it belongs to a different LoRA configuration`);
      const data = await file.readF32(name);
      if (data.length !== m[k].shape.reduce((a, b) => a * b, 1)) throw new CheckpointError(`checkpoint tensor ${name} has the wrong size`);
      writeTensor(gpu, m[k], data);
    }
}

/** Where checkpoints live. `save` must leave the previous checkpoint readable until it succeeds. */
export interface CheckpointStore {
  save(runId: string, step: number, bytes: Uint8Array, sha256: string): Promise<void>;
  /** Newest checkpoints first: [{step, bytes, sha256}]. */
  list(runId: string): Promise<{ step: number; load: () => Promise<{ bytes: Uint8Array; sha256: string }> }[]>;
}

/** The newest checkpoint that passes its checksum (older ones are tried when it is damaged). */
export async function loadLatestValid(store: CheckpointStore, runId: string, onSkip?: (step: number, why: string) => void) {
  for (const entry of await store.list(runId)) {
    try {
      const { bytes, sha256 } = await entry.load();
      return await parseCheckpoint(bytes, sha256);
    } catch (e) {
      onSkip?.(entry.step, e instanceof Error ? e.message : String(e));
    }
  }
  return null;
}
