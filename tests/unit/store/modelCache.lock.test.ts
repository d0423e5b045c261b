// OPFS model cache over an in-memory directory handle (the subset of FileSystemDirectoryHandle
// the cache uses), and the run lock over a fake navigator.locks.
import { describe, expect, it } from 'vitest';
import { SafetensorsFile, writeSafetensors } from '../../../src/model/safetensors';
import { StorageQuotaError } from '../../../src/store/errors';
import { acquireRunLock, RUN_LOCK_PREFIX, type LockManagerLike } from '../../../src/store/lock';
import {
  CACHE_DIR, modelCache, modelDirName, openModelCache, ModelCacheError,
  type DirectoryHandleLike, type FileHandleLike, type WritableLike,
} from '../../../src/store/modelCache';

const notFound = (name: string) => new DOMException(`"${name}" not found`, 'NotFoundError');

/** In-memory OPFS: writes go to a swap buffer and appear on close(), as with createWritable. */
class MemFile implements FileHandleLike {
  readonly kind = 'file' as const;
  data = new Uint8Array(0);
  constructor(private fs: { failAfterBytes: number | null; written: number }) {}
  async getFile() { return new Blob([this.data]); }
  async createWritable(): Promise<WritableLike> {
    const parts: Uint8Array<ArrayBuffer>[] = [];
    return {
      write: async (d) => {
        const bytes = d instanceof Blob ? new Uint8Array(await d.arrayBuffer()) : new Uint8Array(d as ArrayBuffer);
        this.fs.written += bytes.byteLength;
        if (this.fs.failAfterBytes !== null && this.fs.written > this.fs.failAfterBytes) throw new DOMException('quota', 'QuotaExceededError');
        parts.push(bytes.slice());
      },
      close: async () => { this.data = new Uint8Array(await new Blob(parts).arrayBuffer()); },
      abort: async () => {},
    };
  }
}
class MemDir implements DirectoryHandleLike {
  readonly kind = 'directory' as const;
  children = new Map<string, MemDir | MemFile>();
  constructor(readonly fs = { failAfterBytes: null as number | null, written: 0 }) {}
  async getDirectoryHandle(name: string, o?: { create?: boolean }) {
    const c = this.children.get(name);
    if (c instanceof MemDir) return c;
    if (c) throw new DOMException('not a directory', 'TypeMismatchError');
    if (!o?.create) throw notFound(name);
    const d = new MemDir(this.fs);
    this.children.set(name, d);
    return d;
  }
  async getFileHandle(name: string, o?: { create?: boolean }) {
    const c = this.children.get(name);
    if (c instanceof MemFile) return c;
    if (c) throw new DOMException('not a file', 'TypeMismatchError');
    if (!o?.create) throw notFound(name);
    const f = new MemFile(this.fs);
    this.children.set(name, f);
    return f;
  }
  async removeEntry(name: string, o?: { recursive?: boolean }) {
    const c = this.children.get(name);
    if (!c) throw notFound(name);
    if (c instanceof MemDir && c.children.size && !o?.recursive) throw new DOMException('not empty', 'InvalidModificationError');
    this.children.delete(name);
  }
  async *entries(): AsyncIterable<[string, MemDir | MemFile]> { yield* [...this.children.entries()]; }
}

const st = writeSafetensors([{ name: 'w', dtype: 'F32', shape: [2, 3], data: Float32Array.from([1, 2, 3, 4, 5, 6]) }]);

describe('modelCache (OPFS)', () => {
  it('saves, lists with sizes, reads back as ByteSources, deletes', async () => {
    const root = new MemDir();
    const cache = modelCache(root);
    const cfg = new TextEncoder().encode('{"hidden_size": 8}');
    const saved = await cache.save('meta-llama/Llama-3.1-8B-Instruct', { 'model.safetensors': new Blob([st as Uint8Array<ArrayBuffer>]), 'config.json': cfg }, { quant: 'nf4' });
    expect(saved).toMatchObject({ modelId: 'meta-llama/Llama-3.1-8B-Instruct', size: st.byteLength + cfg.byteLength, meta: { quant: 'nf4' } });
    await cache.save('demo', [{ name: 'model.safetensors', data: st }]);
    const list = await cache.list();
    expect(list.map((m) => [m.modelId, m.size])).toEqual([['demo', st.byteLength], ['meta-llama/Llama-3.1-8B-Instruct', st.byteLength + cfg.byteLength]]);
    expect(list[1].files).toEqual([{ name: 'model.safetensors', size: st.byteLength }, { name: 'config.json', size: cfg.byteLength }]);
    // one directory per model id, slash encoded
    expect([...(await root.getDirectoryHandle(CACHE_DIR)).children.keys()].sort()).toEqual(['demo', 'meta-llama%2FLlama-3%2E1-8B-Instruct']);

    const files = (await cache.open('meta-llama/Llama-3.1-8B-Instruct'))!;
    expect(Object.keys(files).sort()).toEqual(['config.json', 'model.safetensors']);
    expect(await files['config.json'].read(1, 6)).toEqual(cfg.subarray(1, 7));
    const f = await SafetensorsFile.open(files['model.safetensors']);
    expect(Array.from(await f.readF32('w'))).toEqual([1, 2, 3, 4, 5, 6]);

    expect(await cache.delete('demo')).toBe(true);
    expect(await cache.delete('demo')).toBe(false);
    expect(await cache.open('demo')).toBeNull();
    expect((await cache.list()).map((m) => m.modelId)).toEqual(['meta-llama/Llama-3.1-8B-Instruct']);
  });

  it('replaces a model saved again; an interrupted save is invisible and cleaned', async () => {
    const root = new MemDir();
    const cache = modelCache(root);
    await cache.save('m', { 'a.bin': new Uint8Array(10), 'b.bin': new Uint8Array(5) });
    await cache.save('m', { 'a.bin': new Uint8Array(3) });
    expect(await cache.get('m')).toMatchObject({ size: 3, files: [{ name: 'a.bin', size: 3 }] });
    // a directory without a manifest (tab closed mid-save)
    const dir = await (await root.getDirectoryHandle(CACHE_DIR)).getDirectoryHandle('half', { create: true });
    await (await (await dir.getFileHandle('x', { create: true })).createWritable()).close();
    expect((await cache.list()).map((m) => m.modelId)).toEqual(['m']);
    expect(await cache.open('half')).toBeNull();
    expect(await cache.clean()).toEqual(['half']);
  });

  it('a full quota during save → StorageQuotaError, nothing half-written is left', async () => {
    const root = new MemDir();
    root.fs.failAfterBytes = 20;
    const cache = modelCache(root, { storage: { estimate: async () => ({ usage: 1e6, quota: 2e6 }) } });
    const err = await cache.save('big', { 'a.bin': new Uint8Array(15), 'b.bin': new Uint8Array(15) }).catch((e) => e);
    expect(err).toBeInstanceOf(StorageQuotaError);
    expect(err).toMatchObject({ bytesNeeded: 30, usage: 1e6, quota: 2e6 });
    expect((await root.getDirectoryHandle(CACHE_DIR)).children.size).toBe(0);
  });

  it('rejects bad names and reports a missing OPFS clearly', async () => {
    const cache = modelCache(new MemDir());
    await expect(cache.save('m', { 'a/b': new Uint8Array(1) })).rejects.toThrow(/not a valid file name/);
    await expect(cache.save('m', { 'manifest.json': new Uint8Array(1) })).rejects.toThrow(/reserved/);
    await expect(cache.save('m', {})).rejects.toThrow(/no files/);
    expect(() => modelDirName('')).toThrow(ModelCacheError);
    expect(modelDirName('..')).toBe('%2E%2E');
    await expect(openModelCache(undefined)).rejects.toThrow(/OPFS\) is not available/);
    await expect(openModelCache({ getDirectory: async () => { throw new DOMException('denied', 'SecurityError'); } })).rejects.toThrow(/could not open/);
    const ok = await openModelCache({ getDirectory: async () => new MemDir() });
    expect(await ok.list()).toEqual([]);
  });
});

/** Web Locks semantics for exclusive locks: one holder per name; ifAvailable gets null when held. */
function fakeLocks(): LockManagerLike & { held: Set<string> } {
  const held = new Set<string>();
  return {
    held,
    async request(name, options, callback) {
      if (held.has(name)) {
        if (options.ifAvailable) return callback(null);
        throw new Error('the fake only supports ifAvailable');
      }
      held.add(name);
      try {
        return await callback({ name, mode: 'exclusive' });
      } finally {
        held.delete(name);
      }
    },
  };
}

describe('acquireRunLock (Web Locks)', () => {
  it('the first tab owns the run; a second tab does not until the first releases', async () => {
    const locks = fakeLocks(); // shared by both "tabs", as navigator.locks is per origin
    const a = await acquireRunLock('run-1', locks);
    expect(a).toMatchObject({ owned: true, supported: true });
    expect(locks.held.has(RUN_LOCK_PREFIX + 'run-1')).toBe(true);
    const b = await acquireRunLock('run-1', locks);
    expect(b.owned).toBe(false);
    b.release(); // harmless
    expect((await acquireRunLock('run-2', locks)).owned).toBe(true); // other runs are independent
    a.release();
    a.release(); // idempotent
    await new Promise((r) => setTimeout(r, 0));
    expect(locks.held.has(RUN_LOCK_PREFIX + 'run-1')).toBe(false);
    const c = await acquireRunLock('run-1', locks);
    expect(c.owned).toBe(true);
    c.release();
  });

  it('without navigator.locks it cannot check: owned, supported false', async () => {
    expect(await acquireRunLock('r', undefined)).toMatchObject({ owned: true, supported: false });
    await expect(acquireRunLock('', fakeLocks())).rejects.toThrow(/non-empty/);
    const failing: LockManagerLike = { request: async () => { throw new DOMException('x', 'SecurityError'); } };
    await expect(acquireRunLock('r', failing)).rejects.toMatchObject({ name: 'SecurityError' });
  });
});
