// Checkpoints in IndexedDB (the browser's CheckpointStore). A save is ONE readwrite
// transaction holding the new record: IndexedDB commits a transaction entirely or not at all,
// so a crash, a closed tab or a full quota mid-write leaves the earlier checkpoints as they
// were. Pruning (keep the `keep` newest, drop steps above the new one: a run resumed from an
// older checkpoint has abandoned them) runs afterwards in a separate transaction. A full
// quota becomes a StorageQuotaError carrying the checkpoint size and the storage estimate.

import { CheckpointError, type CheckpointStore } from '../train/checkpoint';
import type { CheckpointRecord, StudioDb } from './db';
import { runRange } from './db';
import { toQuotaError, type StorageEstimateLike } from './errors';

export { StorageQuotaError, isQuotaError } from './errors';

export interface IdbCheckpointOptions {
  /** Where the quota estimate comes from (default navigator.storage). */
  storage?: { estimate?: () => Promise<StorageEstimateLike> };
}

/** A run's checkpoint steps, ascending. */
export async function checkpointSteps(db: StudioDb, runId: string): Promise<number[]> {
  return (await db.getAllKeys('checkpoints', runRange(runId))).map((k) => k[1]);
}

export function idbCheckpointStore(db: StudioDb, keep = 2, opts: IdbCheckpointOptions = {}): CheckpointStore {
  if (!Number.isInteger(keep) || keep < 1) throw new Error(`idbCheckpointStore: keep must be a positive integer, got ${keep}`);
  return {
    async save(runId, step, bytes, sha256) {
      if (!Number.isInteger(step) || step < 0) throw new Error(`checkpoint step must be a non-negative integer, got ${step}`);
      // A view into a larger buffer would be cloned with the whole buffer: store an exact copy.
      const own = bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength ? bytes : bytes.slice();
      const rec: CheckpointRecord = { runId, step, bytes: own, sha256, size: bytes.byteLength, savedAt: new Date().toISOString() };
      const tx = db.transaction('checkpoints', 'readwrite');
      try {
        // Both promises are awaited: a quota failure can surface from the request or only as
        // the transaction's error when it commits.
        await Promise.all([tx.store.put(rec), tx.done]);
      } catch (e) {
        try { tx.abort(); } catch { /* already finished or aborted */ }
        await tx.done.catch(() => {});
        throw await toQuotaError(e, bytes.byteLength, `checkpoint step ${step}`, opts.storage);
      }
      await prune(db, runId, step, keep);
    },
    async list(runId) {
      const steps = (await checkpointSteps(db, runId)).reverse();
      return steps.map((step) => ({
        step,
        load: async () => {
          const r = await db.get('checkpoints', [runId, step]);
          if (!r) throw new CheckpointError(`checkpoint ${runId} step ${step} is no longer stored`);
          return { bytes: r.bytes, sha256: r.sha256 };
        },
      }));
    },
  };
}

/** Keep the `keep` newest checkpoints at or below `current`; delete the rest and any above it. */
async function prune(db: StudioDb, runId: string, current: number, keep: number): Promise<void> {
  const tx = db.transaction('checkpoints', 'readwrite');
  const steps = (await tx.store.getAllKeys(runRange(runId))).map((k) => k[1]);
  const older = steps.filter((s) => s <= current).sort((a, b) => b - a);
  const drop = [...steps.filter((s) => s > current), ...older.slice(keep)];
  await Promise.all([...drop.map((s) => tx.store.delete([runId, s])), tx.done]);
}

type PersistentStorage = { persist?: () => Promise<boolean>; persisted?: () => Promise<boolean> };

/**
 * Ask the browser not to evict this origin's storage under pressure (navigator.storage.persist).
 * Returns whether storage is persistent; false where the API is missing or the browser declines.
 */
export async function requestPersistence(
  storage: PersistentStorage | undefined = (globalThis as { navigator?: { storage?: PersistentStorage } }).navigator?.storage,
): Promise<boolean> {
  try {
    if (storage?.persisted && (await storage.persisted())) return true;
    return storage?.persist ? await storage.persist() : false;
  } catch {
    return false;
  }
}
