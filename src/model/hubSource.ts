// A Hugging Face Hub model as a ModelSource: modelFileList(repo) is downloaded into a directory
// (OPFS in the browser; any DirectoryHandleLike in tests), each file through an OPFS sink that
// resumes a partial file with a Range request. Files already complete are skipped: a small
// marker file (`.download.json`: the size of each finished file, never the token) records them,
// and a file counts as complete only while its size still matches. Optional files
// (tokenizer.json, tokenizer_config.json) that the repo lacks (404) are skipped. A dropped
// connection is resumed in place up to `retries` times (default 3) before the error surfaces.
// The token is passed to the Hub requests only: never stored, never logged, never in a message.

import { downloadHubFile, HubError, modelFileList, type DownloadProgress, type HubOptions } from './hub';
import { blobSource, type ByteSource } from './safetensors';
import { folderModelSource, type ModelSource } from './source';
import type { DirectoryHandleLike } from '../store/modelCache';
import { opfsSink, type OpfsFileLike } from '../store/opfsSink';

export const DOWNLOAD_MARKER = '.download.json';
const OPTIONAL = new Set(['tokenizer.json', 'tokenizer_config.json', 'generation_config.json']);

export interface HubDownloadProgress extends DownloadProgress {
  /** 0-based index of `file` among `fileCount` files. */
  fileIndex: number;
  fileCount: number;
  /** Bytes received in this call, all files (resumed bytes from an earlier visit not counted). */
  receivedBytes: number;
  /** Average over this call; null until a first chunk arrived. */
  bytesPerSecond: number | null;
  /** 'skipped': already complete on disk; 'absent': optional file the repo does not have. */
  status: 'downloading' | 'done' | 'skipped' | 'absent';
}

interface Marker { repo: string; revision: string; complete: Record<string, number>; absent: string[] }

export type HubModelSource = ModelSource & {
  /** Every downloaded file (config, tokenizer, safetensors) as lazily read ByteSources. */
  files: Map<string, ByteSource>;
};

const isNotFound = (e: unknown) => ['NotFoundError', 'TypeMismatchError'].includes((e as { name?: string })?.name ?? '');

async function readMarker(dir: DirectoryHandleLike, repo: string, revision: string): Promise<Marker> {
  const fresh: Marker = { repo, revision, complete: {}, absent: [] };
  try {
    const m = JSON.parse(await (await (await dir.getFileHandle(DOWNLOAD_MARKER)).getFile()).text()) as Marker;
    if (m?.repo !== repo || m.revision !== revision || typeof m.complete !== 'object' || !m.complete) return fresh;
    return { repo, revision, complete: m.complete, absent: Array.isArray(m.absent) ? m.absent : [] };
  } catch {
    return fresh;
  }
}

async function writeMarker(dir: DirectoryHandleLike, m: Marker): Promise<void> {
  const w = await (await dir.getFileHandle(DOWNLOAD_MARKER, { create: true })).createWritable();
  await w.write(new TextEncoder().encode(JSON.stringify(m)));
  await w.close();
}

async function fileSize(dir: DirectoryHandleLike, name: string): Promise<number | null> {
  try {
    return (await (await dir.getFileHandle(name)).getFile()).size;
  } catch (e) {
    if (isNotFound(e)) return null;
    throw e;
  }
}

/** fetch's network failure (TypeError: "Failed to fetch", undici "terminated") or a body cut short. */
function isNetworkError(e: unknown): boolean {
  if (e instanceof HubError) return e.status === 0 && /connection dropped/.test(e.message);
  return e instanceof TypeError;
}

function checkFileName(repo: string, f: string): void {
  if (!f || f === '.' || f === '..' || /[/\\\0]/.test(f) || f === DOWNLOAD_MARKER)
    throw new HubError(0, `${repo}: cannot store the file "${f}" (files in subfolders are not supported)`);
}

/**
 * Download `repo` (config, tokenizer, safetensors) into `dir`, resuming partial files and
 * skipping finished ones, and open it as a ModelSource (named after the repo id).
 */
export async function downloadHubModel(
  repo: string, dir: DirectoryHandleLike,
  o: HubOptions & { onProgress?: (p: HubDownloadProgress) => void; retries?: number } = {},
): Promise<HubModelSource> {
  const revision = o.revision ?? 'main';
  const retries = o.retries ?? 3;
  const hub: HubOptions = { endpoint: o.endpoint, revision, token: o.token, fetch: o.fetch, signal: o.signal };
  const list = await modelFileList(repo, hub);
  list.forEach((f) => checkFileName(repo, f));
  const marker = await readMarker(dir, repo, revision);
  const t0 = Date.now();
  let received = 0;
  const report = (i: number, p: DownloadProgress, status: HubDownloadProgress['status']) => {
    const secs = (Date.now() - t0) / 1000;
    o.onProgress?.({ ...p, fileIndex: i, fileCount: list.length, receivedBytes: received, bytesPerSecond: received > 0 && secs > 0 ? received / secs : null, status });
  };

  const present: string[] = [];
  for (let i = 0; i < list.length; i++) {
    const file = list[i];
    const have = await fileSize(dir, file);
    if (marker.complete[file] !== undefined && have === marker.complete[file]) {
      present.push(file);
      report(i, { file, bytes: have, total: have }, 'skipped');
      continue;
    }
    if (marker.absent.includes(file) && have === null) { report(i, { file, bytes: 0, total: 0 }, 'absent'); continue; }
    delete marker.complete[file];
    // The platform's file handle (OPFS) has what opfsSink needs; DirectoryHandleLike types only a subset.
    const handle = (await dir.getFileHandle(file, { create: true })) as unknown as OpfsFileLike;
    const sink = opfsSink(handle);
    let last = 0;
    const onProgress = (p: DownloadProgress) => {
      received += p.bytes - last;
      last = p.bytes;
      report(i, p, 'downloading');
    };
    try {
      for (let attempt = 0; ; attempt++) {
        last = await sink.size();
        try {
          await downloadHubFile(repo, file, sink, { ...hub, onProgress });
          break;
        } catch (e) {
          // 416: the partial file was already whole (closed before the marker was written) or
          // stale; the sink was cleared, so one fresh attempt settles it. A dropped connection
          // resumes from what arrived, `retries` times.
          const again = (e instanceof HubError && e.status === 416 && attempt === 0) || (isNetworkError(e) && attempt < retries);
          if (!again || o.signal?.aborted) throw e;
        }
      }
    } catch (e) {
      await sink.close().catch(() => {});
      if (e instanceof HubError && e.status === 404 && OPTIONAL.has(file)) {
        await dir.removeEntry(file).catch(() => {});
        if (!marker.absent.includes(file)) marker.absent.push(file);
        await writeMarker(dir, marker);
        report(i, { file, bytes: 0, total: 0 }, 'absent');
        continue;
      }
      throw e; // what arrived stays on disk: the next call resumes it
    }
    await sink.close();
    const size = await sink.size();
    marker.complete[file] = size;
    marker.absent = marker.absent.filter((f) => f !== file);
    await writeMarker(dir, marker);
    present.push(file);
    report(i, { file, bytes: size, total: size }, 'done');
  }

  const files = new Map<string, ByteSource>();
  for (const f of present) files.set(f, blobSource(await (await dir.getFileHandle(f)).getFile(), f));
  const source = await folderModelSource(repo, files);
  return { ...source, files };
}

/** Remove a download directory's files (e.g. after the model was cached quantized). */
export async function clearHubDownload(dir: DirectoryHandleLike): Promise<void> {
  const names: string[] = [];
  for await (const [name] of dir.entries()) names.push(name);
  for (const n of names) await dir.removeEntry(n, { recursive: true });
}
