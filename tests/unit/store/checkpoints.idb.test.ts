// IndexedDB checkpoint store: atomic save, pruning, newest-first lazy list, quota failures
// (injected in the request and at commit) leave the previous checkpoint loadable and valid.
import 'fake-indexeddb/auto';
import { afterEach, describe, expect, it } from 'vitest';
import { writeSafetensors } from '../../../src/model/safetensors';
import { checkpointSteps, idbCheckpointStore, requestPersistence, StorageQuotaError } from '../../../src/store/checkpoints.idb';
import { openStudioDb, type StudioDb } from '../../../src/store/db';
import { isQuotaError } from '../../../src/store/errors';
import { loadLatestValid, sha256Hex, type CheckpointMeta } from '../../../src/train/checkpoint';
import { DEFAULT_TRAIN_CONFIG } from '../../../src/train/config';
import { START } from '../../../src/train/loop';

let n = 0;
const opened: StudioDb[] = [];
async function freshDb() {
  const db = await openStudioDb(`test-ckpt-${process.pid}-${n++}`);
  opened.push(db);
  return db;
}
afterEach(() => { while (opened.length) opened.pop()!.close(); });

/** A real checkpoint file (safetensors + metadata) for `step`, as serializeCheckpoint writes it. */
async function makeCheckpoint(step: number, runId = 'r') {
  const meta: CheckpointMeta = { runId, position: { ...START, step }, config: DEFAULT_TRAIN_CONFIG, savedAt: '2025-01-01T00:00:00Z' };
  const data = Float32Array.from({ length: 12 }, (_, i) => step + i / 8);
  const bytes = writeSafetensors([{ name: '0.q_proj.A', dtype: 'F32', shape: [3, 4], data }], { checkpoint: JSON.stringify(meta) });
  return { bytes, sha256: await sha256Hex(bytes) };
}

const quota = () => new DOMException('The quota has been exceeded.', 'QuotaExceededError');
const bind = (o: object, p: PropertyKey) => {
  const v = Reflect.get(o, p, o);
  return typeof v === 'function' ? v.bind(o) : v;
};

/**
 * The same database, but readwrite transactions fail with QuotaExceededError:
 * 'request' — put() rejects (and the transaction aborts), as when a write request fails;
 * 'commit'  — put() succeeds, then the transaction aborts and `done` rejects with the quota error.
 */
function failingDb(db: StudioDb, mode: 'request' | 'commit'): StudioDb {
  return new Proxy(db, {
    get(target, prop) {
      if (prop !== 'transaction') return bind(target, prop);
      return (...args: Parameters<StudioDb['transaction']>) => {
        const tx = (target.transaction as (...a: unknown[]) => ReturnType<StudioDb['transaction']>)(...args);
        if (args[1] !== 'readwrite') return tx;
        const done = mode === 'commit' ? tx.done.then(() => { throw quota(); }, () => { throw quota(); }) : tx.done;
        const real = tx.store as unknown as { put(v: unknown): Promise<unknown> };
        const store = new Proxy(real, {
          get(s, p) {
            if (p !== 'put') return bind(s, p);
            if (mode === 'request') return () => { tx.abort(); return Promise.reject(quota()); };
            return async (v: unknown) => { const k = await s.put(v); tx.abort(); return k; };
          },
        });
        return new Proxy(tx, { get: (t, p) => (p === 'store' ? store : p === 'done' ? done : bind(t, p)) });
      };
    },
  });
}

describe('idbCheckpointStore', () => {
  it('saves, lists newest first with lazy load, and keeps the two newest', async () => {
    const db = await freshDb();
    const store = idbCheckpointStore(db);
    for (const s of [5, 10, 15]) {
      const c = await makeCheckpoint(s);
      await store.save('r', s, c.bytes, c.sha256);
    }
    await store.save('other', 1, ...Object.values(await makeCheckpoint(1, 'other')) as [Uint8Array, string]);
    const list = await store.list('r');
    expect(list.map((e) => e.step)).toEqual([15, 10]);
    const loaded = await list[0].load();
    expect(loaded.sha256).toBe((await makeCheckpoint(15)).sha256);
    expect(loaded.bytes).toEqual((await makeCheckpoint(15)).bytes);
    const latest = await loadLatestValid(store, 'r');
    expect(latest!.meta.position.step).toBe(15);
    expect(await checkpointSteps(db, 'other')).toEqual([1]);
    expect(await store.list('none')).toEqual([]);
  });

  it('stores an exact copy of a subarray view', async () => {
    const db = await freshDb();
    const c = await makeCheckpoint(3);
    const big = new Uint8Array(c.bytes.length + 100);
    big.set(c.bytes, 50);
    await idbCheckpointStore(db).save('r', 3, big.subarray(50, 50 + c.bytes.length), c.sha256);
    const rec = await db.get('checkpoints', ['r', 3]);
    expect(rec!.bytes.buffer.byteLength).toBe(c.bytes.length);
    expect(rec!.size).toBe(c.bytes.length);
    expect((await loadLatestValid(idbCheckpointStore(db), 'r'))!.meta.position.step).toBe(3);
  });

  it('a save at a lower step (run resumed from an older checkpoint) drops the abandoned higher steps', async () => {
    const db = await freshDb();
    const store = idbCheckpointStore(db, 3);
    for (const s of [10, 20, 30]) await store.save('r', s, ...Object.values(await makeCheckpoint(s)) as [Uint8Array, string]);
    await store.save('r', 25, ...Object.values(await makeCheckpoint(25)) as [Uint8Array, string]);
    expect((await store.list('r')).map((e) => e.step)).toEqual([25, 20, 10]);
  });

  it('falls back to the older checkpoint when the newest is damaged', async () => {
    const db = await freshDb();
    const store = idbCheckpointStore(db);
    for (const s of [1, 2]) await store.save('r', s, ...Object.values(await makeCheckpoint(s)) as [Uint8Array, string]);
    const rec = (await db.get('checkpoints', ['r', 2]))!;
    rec.bytes[rec.bytes.length - 1] ^= 0xff;
    await db.put('checkpoints', rec);
    const skipped: number[] = [];
    const got = await loadLatestValid(store, 'r', (s) => skipped.push(s));
    expect(skipped).toEqual([2]);
    expect(got!.meta.position.step).toBe(1);
  });

  for (const mode of ['request', 'commit'] as const) {
    it(`quota exceeded (${mode}) → StorageQuotaError; the previous checkpoint stays valid`, async () => {
      const db = await freshDb();
      const first = await makeCheckpoint(10);
      await idbCheckpointStore(db).save('r', 10, first.bytes, first.sha256);
      const estimate = async () => ({ usage: 9_900_000, quota: 10_000_000 });
      const broken = idbCheckpointStore(failingDb(db, mode), 2, { storage: { estimate } });
      const next = await makeCheckpoint(20);
      const err = await broken.save('r', 20, next.bytes, next.sha256).then(() => null, (e: unknown) => e);
      expect(err).toBeInstanceOf(StorageQuotaError);
      const q = err as StorageQuotaError;
      expect(q.bytesNeeded).toBe(next.bytes.byteLength);
      expect(q.usage).toBe(9_900_000);
      expect(q.quota).toBe(10_000_000);
      expect(q.message).toMatch(/storage is full.*checkpoint step 20.*9\.9 MB of 10\.0 MB used/);
      expect(isQuotaError((q as { cause?: unknown }).cause)).toBe(true);
      // Nothing of step 20 was written; step 10 loads and passes its checksum.
      expect(await checkpointSteps(db, 'r')).toEqual([10]);
      const latest = await loadLatestValid(idbCheckpointStore(db), 'r');
      expect(latest!.meta.position.step).toBe(10);
    });
  }

  it('a non-quota failure passes through unchanged', async () => {
    const db = await freshDb();
    const bad = new Proxy(db, {
      get: (t, p) => (p === 'transaction' ? () => { throw new DOMException('closing', 'InvalidStateError'); } : bind(t, p)),
    });
    await expect(idbCheckpointStore(bad).save('r', 1, new Uint8Array(4), 'x')).rejects.toMatchObject({ name: 'InvalidStateError' });
    expect(() => idbCheckpointStore(db, 0)).toThrow(/keep must be a positive integer/);
  });

  it('isQuotaError recognises the spellings browsers use', () => {
    expect(isQuotaError(quota())).toBe(true);
    expect(isQuotaError({ name: 'NS_ERROR_DOM_QUOTA_REACHED' })).toBe(true);
    expect(isQuotaError(Object.assign(new Error('abort'), { name: 'AbortError', error: quota() }))).toBe(true);
    expect(isQuotaError(new DOMException('x', 'AbortError'))).toBe(false);
    expect(isQuotaError(new Error('x'))).toBe(false);
  });

  it('requestPersistence uses navigator.storage.persist when present', async () => {
    expect(await requestPersistence(undefined)).toBe(false);
    expect(await requestPersistence({})).toBe(false);
    expect(await requestPersistence({ persisted: async () => false, persist: async () => true })).toBe(true);
    expect(await requestPersistence({ persisted: async () => true, persist: async () => { throw new Error('not called'); } })).toBe(true);
    expect(await requestPersistence({ persist: async () => false })).toBe(false);
    expect(await requestPersistence({ persist: async () => { throw new Error('denied'); } })).toBe(false);
  });
});
