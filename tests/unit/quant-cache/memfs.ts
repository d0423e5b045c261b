// In-memory OPFS for tests: directories and files with the semantics the code relies on —
// createWritable stages writes in a swap copy (keepExistingData copies the file) that replaces
// the file on close() and is dropped by abort(); seek/truncate on the writable; optionally a
// sync access handle (in-place writes, getSize, truncate, flush, close) that locks the file.
import type { DirectoryHandleLike } from '../../../src/store/modelCache';
import type { OpfsFileLike, SeekableWritableLike, SyncAccessHandleLike } from '../../../src/store/opfsSink';

const notFound = (name: string) => new DOMException(`"${name}" not found`, 'NotFoundError');

export interface MemStats { writables: number; commits: number; syncHandles: number; bytesWritten: number; failAfterBytes: number | null }

function grow(data: Uint8Array, size: number): Uint8Array {
  if (data.length >= size) return data;
  const out = new Uint8Array(Math.max(size, data.length * 2));
  out.set(data);
  return out;
}

export class MemFile implements OpfsFileLike {
  readonly kind = 'file' as const;
  data: Uint8Array = new Uint8Array(0);
  locked = false;
  constructor(readonly stats: MemStats, readonly withSyncHandle: boolean) {
    if (!withSyncHandle) this.createSyncAccessHandle = undefined;
  }
  async getFile(): Promise<Blob> {
    return new Blob([this.data.slice() as Uint8Array<ArrayBuffer>]);
  }
  private count(n: number) {
    this.stats.bytesWritten += n;
    if (this.stats.failAfterBytes !== null && this.stats.bytesWritten > this.stats.failAfterBytes) throw new DOMException('quota', 'QuotaExceededError');
  }
  async createWritable(o: { keepExistingData?: boolean } = {}): Promise<SeekableWritableLike> {
    if (this.locked) throw new DOMException('locked by a sync access handle', 'NoModificationAllowedError');
    this.stats.writables++;
    let swap: Uint8Array = o.keepExistingData ? this.data.slice() : new Uint8Array(0);
    let len = swap.length, pos = 0, open = true;
    const ensure = () => { if (!open) throw new DOMException('closed', 'InvalidStateError'); };
    return {
      write: async (d) => {
        ensure();
        const bytes = d instanceof Blob ? new Uint8Array(await d.arrayBuffer()) : ArrayBuffer.isView(d) ? new Uint8Array(d.buffer, d.byteOffset, d.byteLength) : new Uint8Array(d);
        this.count(bytes.length);
        swap = grow(swap, pos + bytes.length);
        swap.set(bytes, pos);
        pos += bytes.length;
        len = Math.max(len, pos);
      },
      seek: async (p) => { ensure(); pos = p; },
      truncate: async (n) => { ensure(); swap = grow(swap, n); swap.fill(0, len, n); len = n; pos = Math.min(pos, n); },
      close: async () => { ensure(); open = false; this.data = swap.slice(0, len); this.stats.commits++; },
      abort: async () => { open = false; },
    };
  }
  createSyncAccessHandle?: () => Promise<SyncAccessHandleLike> = async () => {
    if (this.locked) throw new DOMException('already locked', 'NoModificationAllowedError');
    this.locked = true;
    this.stats.syncHandles++;
    let open = true;
    const ensure = () => { if (!open) throw new DOMException('closed', 'InvalidStateError'); };
    return {
      getSize: () => { ensure(); return this.data.length; },
      write: (d, { at }) => {
        ensure();
        this.count(d.length);
        const out = grow(new Uint8Array(0), Math.max(this.data.length, at + d.length)).subarray(0, Math.max(this.data.length, at + d.length));
        out.set(this.data);
        out.set(d, at);
        this.data = out;
        return d.length;
      },
      truncate: (n) => { ensure(); const out = new Uint8Array(n); out.set(this.data.subarray(0, n)); this.data = out; },
      flush: () => { ensure(); },
      close: () => { open = false; this.locked = false; },
    };
  };
}

export class MemDir implements DirectoryHandleLike {
  readonly kind = 'directory' as const;
  children = new Map<string, MemDir | MemFile>();
  constructor(readonly stats: MemStats = { writables: 0, commits: 0, syncHandles: 0, bytesWritten: 0, failAfterBytes: null }, readonly withSyncHandle = false) {}
  async getDirectoryHandle(name: string, o?: { create?: boolean }) {
    const c = this.children.get(name);
    if (c instanceof MemDir) return c;
    if (c) throw new DOMException('not a directory', 'TypeMismatchError');
    if (!o?.create) throw notFound(name);
    const d = new MemDir(this.stats, this.withSyncHandle);
    this.children.set(name, d);
    return d;
  }
  async getFileHandle(name: string, o?: { create?: boolean }) {
    const c = this.children.get(name);
    if (c instanceof MemFile) return c;
    if (c) throw new DOMException('not a file', 'TypeMismatchError');
    if (!o?.create) throw notFound(name);
    const f = new MemFile(this.stats, this.withSyncHandle);
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
