// Node-only byte sources for the safetensors reader (fs/promises file handles). Kept apart from
// safetensors.ts so that the browser bundle never imports node:fs.

import { open, readFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { SafetensorsFile, ShardedSafetensors, type ByteSource } from './safetensors';

export interface NodeByteSource extends ByteSource {
  close(): Promise<void>;
}

/** A file on disk as a ByteSource; reads go straight to the file (pread). */
export async function nodeFileSource(path: string): Promise<NodeByteSource> {
  const fh = await open(path, 'r');
  const { size } = await fh.stat();
  return {
    size,
    name: basename(path),
    async read(offset, length) {
      const buf = new Uint8Array(length);
      let got = 0;
      while (got < length) {
        const { bytesRead } = await fh.read(buf, got, length - got, offset + got);
        if (bytesRead === 0) break;
        got += bytesRead;
      }
      return got === length ? buf : buf.subarray(0, got);
    },
    close: () => fh.close(),
  };
}

/** Open one .safetensors file from disk (the handle stays open for lazy tensor reads). */
export async function openSafetensorsPath(path: string): Promise<SafetensorsFile> {
  return SafetensorsFile.open(await nodeFileSource(path), basename(path));
}

/** Open a sharded model from its model.safetensors.index.json path; shards resolve beside it. */
export async function openShardedPath(indexPath: string): Promise<ShardedSafetensors> {
  const text = await readFile(indexPath, 'utf8');
  const dir = dirname(indexPath);
  return ShardedSafetensors.fromIndex(text, (f) => nodeFileSource(join(dir, f)), basename(indexPath));
}
