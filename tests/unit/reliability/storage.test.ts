// Storage faults beyond tests/unit/store/*: a tab closed mid-checkpoint (the save's one
// IndexedDB transaction aborted) leaves the previous checkpoint readable from a fresh
// connection; a second tab sees the same checkpoints but does not get the run's lock; and the
// browser storage filling up during training, through the engine: train() fails with the
// StorageQuotaError message, the run is marked failed with it, the previous checkpoint stays
// valid and the run resumes from it once there is space.

import 'fake-indexeddb/auto';
import { afterEach, describe, expect, it } from 'vitest';
import { nodeGpuApi } from '../../../src/gpu/core/node';
import { Engine } from '../../../src/engine';
import { writeSafetensors } from '../../../src/model/safetensors';
import { checkpointSteps, idbCheckpointStore, StorageQuotaError } from '../../../src/store/checkpoints.idb';
import { getRun, openStudioDb, type StudioDb } from '../../../src/store/db';
import { acquireRunLock, type LockManagerLike } from '../../../src/store/lock';
import { idbRunLog } from '../../../src/store/runlog';
import { loadLatestValid, sha256Hex, type CheckpointMeta } from '../../../src/train/checkpoint';
import { DEFAULT_TRAIN_CONFIG } from '../../../src/train/config';
import { START, type TrainEvent } from '../../../src/train/loop';

let n = 0;
const opened: StudioDb[] = [];
async function open(name: string) {
  const db = await openStudioDb(name);
  opened.push(db);
  return db;
}
afterEach(() => { while (opened.length) opened.pop()!.close(); });
const freshName = () => `reliability-${process.pid}-${n++}`;

async function makeCheckpoint(step: number, runId = 'r') {
  const meta: CheckpointMeta = { runId, position: { ...START, step }, config: DEFAULT_TRAIN_CONFIG, savedAt: '2025-01-01T00:00:00Z' };
  const bytes = writeSafetensors([{ name: '0.q_proj.A', dtype: 'F32', shape: [4, 4], data: Float32Array.from({ length: 16 }, (_, i) => step + i) }], { checkpoint: JSON.stringify(meta) });
  return { bytes, sha256: await sha256Hex(bytes) };
}

const bind = (o: object, p: PropertyKey) => {
  const v = Reflect.get(o, p, o);
  return typeof v === 'function' ? v.bind(o) : v;
};

/**
 * The database as seen by a tab that closes while `save` writes: the write request is issued,
 * then the transaction is aborted (what the browser does to a closing page's transactions)
 * before it commits. `when` decides which readwrite transactions on 'checkpoints' this hits.
 */
function closingTab(db: StudioDb, when: () => boolean, error: () => unknown = () => new DOMException('The transaction was aborted.', 'AbortError')): StudioDb {
  return new Proxy(db, {
    get(target, prop) {
      if (prop !== 'transaction') return bind(target, prop);
      return (...args: Parameters<StudioDb['transaction']>) => {
        const tx = (target.transaction as (...a: unknown[]) => ReturnType<StudioDb['transaction']>)(...args);
        if (args[0] !== 'checkpoints' || args[1] !== 'readwrite' || !when()) return tx;
        const real = tx.store as unknown as { put(v: unknown): Promise<unknown> };
        const store = new Proxy(real, {
          get: (s, p) => (p !== 'put' ? bind(s, p) : (v: unknown) => { const req = s.put(v); req.catch(() => {}); tx.abort(); return Promise.reject(error()); }),
        });
        return new Proxy(tx, { get: (t, p) => (p === 'store' ? store : bind(t, p)) });
      };
    },
  });
}

describe('a tab closed mid-checkpoint', () => {
  it('the aborted save leaves nothing of the new step; the previous checkpoint loads from a new connection', async () => {
    const name = freshName();
    const db = await open(name);
    const a = await makeCheckpoint(10);
    await idbCheckpointStore(db).save('r', 10, a.bytes, a.sha256);
    const b = await makeCheckpoint(20);
    const err = await idbCheckpointStore(closingTab(db, () => true)).save('r', 20, b.bytes, b.sha256).then(() => null, (e: unknown) => e);
    expect(err).toMatchObject({ name: 'AbortError' });
    db.close();
    const reopened = await open(name); // the page loaded again
    expect(await checkpointSteps(reopened, 'r')).toEqual([10]);
    const ck = await loadLatestValid(idbCheckpointStore(reopened), 'r');
    expect(ck!.meta.position.step).toBe(10);
    expect(ck!.meta.runId).toBe('r');
  });
});

describe('two tabs on the same run', () => {
  it('the second tab sees the checkpoints but does not own the run until the first lets go', async () => {
    const name = freshName();
    const [tab1, tab2] = [await open(name), await open(name)];
    const held = new Set<string>();
    const locks: LockManagerLike = {
      async request(lockName, o, cb) {
        if (held.has(lockName)) return cb(null);
        held.add(lockName);
        try { return await cb({ name: lockName }); } finally { held.delete(lockName); }
      },
    };
    const l1 = await acquireRunLock('run-7', locks);
    const c = await makeCheckpoint(5, 'run-7');
    await idbCheckpointStore(tab1).save('run-7', 5, c.bytes, c.sha256);
    const l2 = await acquireRunLock('run-7', locks);
    expect([l1.owned, l2.owned]).toEqual([true, false]);
    expect((await loadLatestValid(idbCheckpointStore(tab2), 'run-7'))!.meta.position.step).toBe(5);
    l1.release(); // tab 1 closes
    await new Promise((r) => setTimeout(r, 0));
    const l3 = await acquireRunLock('run-7', locks);
    expect(l3.owned).toBe(true);
    l3.release();
  });
});

describe('storage full while training (engine, demo model)', () => {
  it('train() fails with the quota message, the run is marked failed, the previous checkpoint is valid and the run resumes', async () => {
    const db = await open(freshName());
    let full = false;
    const estimate = async () => ({ usage: 49_990_000, quota: 50_000_000 });
    const quota = () => new DOMException('The quota has been exceeded.', 'QuotaExceededError');
    const store = idbCheckpointStore(closingTab(db, () => full, quota), 2, { storage: { estimate } });
    const engine = await Engine.create(await nodeGpuApi(), { store, log: idbRunLog(db) });
    await engine.loadDemoModel();
    const csv = ['Topics,Question-Title,Questions,Answers', ...Array.from({ length: 12 }, (_, i) => `ক,প্রশ্ন ${i},আমি একা ${i},আপনি একা নন ${i}।`)].join('\n');
    await engine.prepareData(csv, { seed: 1, maxTokens: 128, systemPrompt: 'সহায়ক' });
    const cfg = { r: 4, alpha: 8, dropout: 0, lr: 1e-2, seqLen: 128, gradAccum: 1, maxSteps: 4, warmupSteps: 1, evalEvery: 0, checkpointEvery: 2, seed: 3, targets: ['q_proj', 'v_proj'] };
    const events: TrainEvent[] = [];
    const err = await engine.train(cfg, (e) => {
      if ('step' in e && e.type !== 'done') events.push(e as TrainEvent);
      if (e.type === 'checkpoint' && e.step === 2) full = true; // the disk fills after the first checkpoint
    }, 'run-q').then(() => null, (e: unknown) => e);

    expect(err).toBeInstanceOf(StorageQuotaError);
    const q = err as StorageQuotaError;
    expect(q.bytesNeeded).toBeGreaterThan(0);
    expect(q.message).toBe(`browser storage is full: saving checkpoint step 4 needs ${(q.bytesNeeded / 1e6).toFixed(1)} MB (50.0 MB of 50.0 MB used). Free space (delete old runs or cached models) or allow persistent storage.`);
    const run = (await getRun(db, 'run-q'))!;
    expect(run.status).toBe('failed');
    expect(run.error).toBe(q.message);
    expect(await checkpointSteps(db, 'run-q')).toEqual([2]);
    expect((await loadLatestValid(idbCheckpointStore(db), 'run-q'))!.meta.position.step).toBe(2);

    full = false; // space freed: resume from step 2 to the end
    const pos = await engine.resumeFromCheckpoint('run-q', () => {});
    expect(pos.step).toBe(4);
    expect(await checkpointSteps(db, 'run-q')).toEqual([2, 4]);
    expect((await getRun(db, 'run-q'))!.status).toBe('finished');
  });
});
