// OPFS cache of quantized models (navigator.storage.getDirectory()), so the next visit loads in
// seconds. Layout: <root>/qlora-models/<encodeURIComponent(modelId)>/<file> plus manifest.json,
// written LAST: a directory without a readable manifest is an interrupted save and is neither
// listed nor opened (the next save or `clean` removes it). Files come back as ByteSources
// (File.slice, read lazily), the same interface the safetensors reader takes.
// Only the handle methods below are used, so tests pass an in-memory directory.

import { blobSource, type ByteSource } from '../model/safetensors';
import { toQuotaError, type StorageEstimateLike } from './errors';

export interface WritableLike {
  write(data: Blob | BufferSource): Promise<void>;
  close(): Promise<void>;
  abort?(reason?: unknown): Promise<void>;
}
export interface FileHandleLike {
  readonly kind: 'file';
  getFile(): Promise<Blob>;
  createWritable(): Promise<WritableLike>;
}
export interface DirectoryHandleLike {
  readonly kind: 'directory';
  getDirectoryHandle(name: string, opts?: { create?: boolean }): Promise<DirectoryHandleLike>;
  getFileHandle(name: string, opts?: { create?: boolean }): Promise<FileHandleLike>;
  removeEntry(name: string, opts?: { recursive?: boolean }): Promise<void>;
  entries(): AsyncIterable<[string, FileHandleLike | DirectoryHandleLike]>;
}

export interface CachedFile { name: string; size: number }
export interface CachedModel {
  modelId: string;
  files: CachedFile[];
  size: number; // bytes, all files
  savedAt: string;
  meta?: Record<string, unknown>; // e.g. quantization settings, source revision
}

export class ModelCacheError extends Error {
  constructor(msg: string) {
    super(msg);
    this.name = 'ModelCacheError';
  }
}

export const CACHE_DIR = 'qlora-models';
const MANIFEST = 'manifest.json';

function checkName(kind: string, name: string): void {
  if (typeof name !== 'string' || name === '' || name === '.' || name === '..' || /[/\\\0]/.test(name) || name.length > 200)
    throw new ModelCacheError(`${kind} "${name}" is not a valid file name (no / or \\, not empty, at most 200 characters)`);
}

/** Directory name of a model id (ids like "meta-llama/Llama-3.1-8B" contain a slash). */
export function modelDirName(modelId: string): string {
  if (typeof modelId !== 'string' || !modelId.trim()) throw new ModelCacheError('model id must be a non-empty string');
  const name = encodeURIComponent(modelId).replace(/\./g, '%2E');
  checkName('model id', name);
  return name;
}

const isNotFound = (e: unknown) => (e as { name?: string })?.name === 'NotFoundError' || (e as { name?: string })?.name === 'TypeMismatchError';

export type ModelFiles = Record<string, Blob | Uint8Array> | { name: string; data: Blob | Uint8Array }[];

/** A file's contents for a streaming save: whole, or chunks written as they are produced. */
export type FileBody = Blob | Uint8Array | AsyncIterable<Uint8Array>;
/** Writes one file of a streaming save; returns its size in bytes. */
export type WriteCachedFile = (name: string, body: FileBody) => Promise<number>;

export interface ModelCache {
  /** Write (or replace) a model's files; the manifest goes last. */
  save(modelId: string, files: ModelFiles, meta?: Record<string, unknown>): Promise<CachedModel>;
  /**
   * Write (or replace) a model file by file as `produce` calls `writeFile` (large models never
   * sit whole in memory); the manifest goes last, after `produce` resolves. On failure the
   * directory is removed; `expectedBytes` is what a quota error reports as needed.
   */
  saveStreaming(modelId: string, produce: (writeFile: WriteCachedFile) => Promise<void>, meta?: Record<string, unknown>, o?: { expectedBytes?: number }): Promise<CachedModel>;
  /** Completely saved models, by model id. */
  list(): Promise<CachedModel[]>;
  get(modelId: string): Promise<CachedModel | null>;
  /** The files as lazily read ByteSources; null when the model is not (completely) cached. */
  open(modelId: string): Promise<Record<string, ByteSource> | null>;
  /** Returns whether something was deleted. */
  delete(modelId: string): Promise<boolean>;
  /** Remove interrupted saves (directories without a manifest); returns their names. */
  clean(): Promise<string[]>;
}

/** The cache over an OPFS (or any compatible) root directory. */
export function modelCache(root: DirectoryHandleLike, opts: { storage?: { estimate?: () => Promise<StorageEstimateLike> } } = {}): ModelCache {
  const cacheDir = () => root.getDirectoryHandle(CACHE_DIR, { create: true });

  async function readManifest(dir: DirectoryHandleLike): Promise<CachedModel | null> {
    try {
      const blob = await (await dir.getFileHandle(MANIFEST)).getFile();
      const m = JSON.parse(await blob.text()) as CachedModel;
      return m && typeof m.modelId === 'string' && Array.isArray(m.files) ? m : null;
    } catch {
      return null; // missing or unreadable manifest: an interrupted save
    }
  }

  async function modelDir(modelId: string): Promise<DirectoryHandleLike | null> {
    try {
      return await (await cacheDir()).getDirectoryHandle(modelDirName(modelId));
    } catch (e) {
      if (isNotFound(e)) return null;
      throw e;
    }
  }

  async function writeFile(dir: DirectoryHandleLike, name: string, data: FileBody): Promise<number> {
    const w = await (await dir.getFileHandle(name, { create: true })).createWritable();
    let n = 0;
    try {
      if (data instanceof Uint8Array) { await w.write(data as Uint8Array<ArrayBuffer>); n = data.byteLength; }
      else if (data instanceof Blob) { await w.write(data); n = data.size; }
      else for await (const chunk of data) { await w.write(chunk as Uint8Array<ArrayBuffer>); n += chunk.byteLength; }
      await w.close();
    } catch (e) {
      await w.abort?.(e).catch(() => {});
      throw e;
    }
    return n;
  }

  async function saveInto(modelId: string, produce: (writeFile: WriteCachedFile) => Promise<void>, meta: Record<string, unknown> | undefined, expectedBytes: () => number): Promise<CachedModel> {
    const dirName = modelDirName(modelId);
    const parent = await cacheDir();
    await parent.removeEntry(dirName, { recursive: true }).catch((e) => { if (!isNotFound(e)) throw e; });
    const dir = await parent.getDirectoryHandle(dirName, { create: true });
    const out: CachedFile[] = [];
    try {
      await produce(async (name, body) => {
        checkName('file', name);
        if (name === MANIFEST) throw new ModelCacheError(`file name "${MANIFEST}" is reserved by the model cache`);
        if (out.some((f) => f.name === name)) throw new ModelCacheError(`model "${modelId}": duplicate file "${name}"`);
        const size = await writeFile(dir, name, body);
        out.push({ name, size });
        return size;
      });
      if (!out.length) throw new ModelCacheError(`model "${modelId}": no files to cache`);
      const manifest: CachedModel = { modelId, files: out, size: out.reduce((a, f) => a + f.size, 0), savedAt: new Date().toISOString(), ...(meta ? { meta } : {}) };
      await writeFile(dir, MANIFEST, new TextEncoder().encode(JSON.stringify(manifest)));
      return manifest;
    } catch (e) {
      await parent.removeEntry(dirName, { recursive: true }).catch(() => {});
      throw await toQuotaError(e, expectedBytes(), `model ${modelId}`, opts.storage);
    }
  }

  const api: ModelCache = {
    async save(modelId, files, meta) {
      modelDirName(modelId);
      const list = Array.isArray(files) ? files : Object.entries(files).map(([name, data]) => ({ name, data }));
      if (!list.length) throw new ModelCacheError(`model "${modelId}": no files to cache`);
      const seen = new Set<string>();
      for (const f of list) {
        checkName('file', f.name);
        if (f.name === MANIFEST) throw new ModelCacheError(`file name "${MANIFEST}" is reserved by the model cache`);
        if (seen.has(f.name)) throw new ModelCacheError(`model "${modelId}": duplicate file "${f.name}"`);
        seen.add(f.name);
      }
      const total = list.reduce((a, f) => a + (f.data instanceof Uint8Array ? f.data.byteLength : f.data.size), 0);
      return saveInto(modelId, async (write) => { for (const f of list) await write(f.name, f.data); }, meta, () => total);
    },
    saveStreaming(modelId, produce, meta, o = {}) {
      let written = 0;
      return saveInto(modelId, (write) => produce(async (name, body) => { const n = await write(name, body); written += n; return n; }), meta,
        () => o.expectedBytes ?? written);
    },
    async list() {
      const out: CachedModel[] = [];
      for await (const [, h] of (await cacheDir()).entries()) {
        if (h.kind !== 'directory') continue;
        const m = await readManifest(h);
        if (m) out.push(m);
      }
      return out.sort((a, b) => a.modelId.localeCompare(b.modelId));
    },
    async get(modelId) {
      const dir = await modelDir(modelId);
      return dir ? readManifest(dir) : null;
    },
    async open(modelId) {
      const dir = await modelDir(modelId);
      const m = dir && (await readManifest(dir));
      if (!dir || !m) return null;
      const out: Record<string, ByteSource> = {};
      for (const f of m.files) {
        const blob = await (await dir.getFileHandle(f.name)).getFile();
        if (blob.size !== f.size) throw new ModelCacheError(`cached model "${modelId}": ${f.name} has ${blob.size} bytes, the manifest says ${f.size}; delete and re-cache it`);
        out[f.name] = blobSource(blob, f.name);
      }
      return out;
    },
    async delete(modelId) {
      try {
        await (await cacheDir()).removeEntry(modelDirName(modelId), { recursive: true });
        return true;
      } catch (e) {
        if (isNotFound(e)) return false;
        throw e;
      }
    },
    async clean() {
      const dir = await cacheDir();
      const broken: string[] = [];
      for await (const [name, h] of dir.entries()) if (h.kind === 'directory' && !(await readManifest(h))) broken.push(name);
      for (const name of broken) await dir.removeEntry(name, { recursive: true });
      return broken;
    },
  };
  return api;
}

type StorageWithDirectory = { getDirectory?: () => Promise<unknown>; estimate?: () => Promise<StorageEstimateLike> };

/** The cache in this origin's OPFS; a clear ModelCacheError where OPFS is unavailable. */
export async function openModelCache(
  storage: StorageWithDirectory | undefined = (globalThis as { navigator?: { storage?: StorageWithDirectory } }).navigator?.storage,
): Promise<ModelCache> {
  if (!storage?.getDirectory)
    throw new ModelCacheError('the origin private file system (OPFS) is not available here (needs a current browser in a secure context); models will not be cached between visits');
  let root: DirectoryHandleLike;
  try {
    root = (await storage.getDirectory()) as DirectoryHandleLike;
  } catch (e) {
    throw new ModelCacheError(`could not open the origin private file system (${(e as Error)?.message ?? e}); private browsing windows may not allow it`);
  }
  return modelCache(root, { storage });
}
