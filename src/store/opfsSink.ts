// A DownloadSink (src/model/hub.ts) over one OPFS file, so a Hub download survives a closed tab
// and resumes with a Range request from the bytes already on disk.
// Two ways to write, picked per file:
//  - a sync access handle (FileSystemFileHandle.createSyncAccessHandle, dedicated workers only —
//    the engine's worker): bytes are written in place at the end of the file; every
//    `flushBytes` they are flushed to disk, so a reload loses at most that much.
//  - otherwise createWritable({ keepExistingData: true }) + seek(size) + write: browsers stage
//    such writes in a swap file (copying the existing data) and commit them on close(), so the
//    writable stays open across appends and is committed every `commitBytes` (and on close()).
// Callers must close() the sink when the download ends (also after an error: what arrived is
// kept for the resume); the file is locked while a sync handle is open.

import type { DownloadSink } from '../model/hub';

/** FileSystemSyncAccessHandle (older Chrome returns promises from its methods: both work). */
export interface SyncAccessHandleLike {
  getSize(): number | Promise<number>;
  write(data: Uint8Array, opts: { at: number }): number | Promise<number>;
  truncate(size: number): void | Promise<void>;
  flush(): void | Promise<void>;
  close(): void | Promise<void>;
}

export interface SeekableWritableLike {
  write(data: Blob | BufferSource): Promise<void>;
  seek(position: number): Promise<void>;
  truncate?(size: number): Promise<void>;
  close(): Promise<void>;
  abort?(reason?: unknown): Promise<void>;
}

/** The subset of FileSystemFileHandle the sink uses. */
export interface OpfsFileLike {
  getFile(): Promise<Blob>;
  createWritable(opts?: { keepExistingData?: boolean }): Promise<SeekableWritableLike>;
  createSyncAccessHandle?(): Promise<SyncAccessHandleLike>;
}

export interface OpfsSink extends DownloadSink {
  /** Commit what is written and release the file (idempotent; the sink reopens if used again). */
  close(): Promise<void>;
  /** 'sync' (sync access handle) or 'writable' once the first write picked one; null before. */
  readonly mode: 'sync' | 'writable' | null;
}

export interface OpfsSinkOptions {
  /** Use a sync access handle when the handle offers one (default true). */
  preferSyncHandle?: boolean;
  /** Writable mode: commit the swap file every this many bytes (default 256 MiB). */
  commitBytes?: number;
  /** Sync mode: flush to disk every this many bytes (default 64 MiB). */
  flushBytes?: number;
}

export function opfsSink(file: OpfsFileLike, o: OpfsSinkOptions = {}): OpfsSink {
  const commitBytes = o.commitBytes ?? 256 * 2 ** 20;
  const flushBytes = o.flushBytes ?? 64 * 2 ** 20;
  let mode: 'sync' | 'writable' | null = null;
  let sync: SyncAccessHandleLike | null = null;
  let writable: SeekableWritableLike | null = null;
  let size: number | null = null; // bytes in the file, including uncommitted ones
  let pending = 0; // bytes since the last commit/flush

  async function open(): Promise<void> {
    if (sync || writable) return;
    if (o.preferSyncHandle !== false && typeof file.createSyncAccessHandle === 'function') {
      sync = await file.createSyncAccessHandle();
      mode = 'sync';
      size = await sync.getSize();
      return;
    }
    size = (await file.getFile()).size;
    writable = await file.createWritable({ keepExistingData: true });
    if (typeof writable.seek !== 'function') {
      await writable.abort?.().catch(() => {});
      writable = null;
      throw new Error('opfsSink: this file handle cannot append (its writable has no seek); a current browser is needed to resume downloads');
    }
    mode = 'writable';
    await writable.seek(size);
  }

  async function close(): Promise<void> {
    pending = 0;
    if (sync) {
      const s = sync;
      sync = null;
      try { await s.flush(); } finally { await s.close(); }
    }
    if (writable) {
      const w = writable;
      writable = null;
      await w.close();
    }
  }

  return {
    get mode() { return mode; },
    async size() {
      if (size === null) {
        if (sync) size = await sync.getSize();
        else size = (await file.getFile()).size;
      }
      return size;
    },
    async append(bytes) {
      if (!bytes.byteLength) return;
      await open();
      if (sync) {
        let off = 0;
        while (off < bytes.byteLength) {
          const n = await sync.write(bytes.subarray(off), { at: size! + off });
          if (!(n > 0)) throw new Error(`opfsSink: the file accepted no bytes at offset ${size! + off} (disk or quota full?)`);
          off += n;
        }
        size! += bytes.byteLength;
        pending += bytes.byteLength;
        if (pending >= flushBytes) { await sync.flush(); pending = 0; }
      } else {
        await writable!.write(bytes as Uint8Array<ArrayBuffer>);
        size! += bytes.byteLength;
        pending += bytes.byteLength;
        if (pending >= commitBytes) await close(); // commit; the next append reopens at the end
      }
    },
    async clear() {
      if (sync) {
        await sync.truncate(0);
        await sync.flush();
      } else {
        if (writable) {
          const w = writable;
          writable = null;
          await (w.abort ? w.abort().catch(() => {}) : w.close()); // pending bytes are dropped below anyway
        }
        const w = await file.createWritable({ keepExistingData: false });
        await w.close(); // an empty file
      }
      size = 0;
      pending = 0;
    },
    close,
  };
}
