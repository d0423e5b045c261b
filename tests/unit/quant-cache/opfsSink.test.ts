// opfsSink over an in-memory OPFS file: appends land at the end, a new sink over the same file
// continues from its size (resume), the writable path commits every commitBytes (not per chunk:
// browsers copy the file into a swap file per createWritable) and on close, clear() empties the
// file, the sync-access-handle path writes in place and releases its lock on close.
import { describe, expect, it } from 'vitest';
import { opfsSink } from '../../../src/store/opfsSink';
import { MemFile, type MemStats } from './memfs';

const stats = (): MemStats => ({ writables: 0, commits: 0, syncHandles: 0, bytesWritten: 0, failAfterBytes: null });
const bytes = (n: number, seed: number) => Uint8Array.from({ length: n }, (_, i) => (i * 7 + seed) & 255);
const cat = (...parts: Uint8Array[]) => { const o = new Uint8Array(parts.reduce((a, p) => a + p.length, 0)); let k = 0; for (const p of parts) { o.set(p, k); k += p.length; } return o; };

describe('opfsSink', () => {
  it('writable mode: appends, commits every commitBytes and on close, resumes from the file size', async () => {
    const s = stats();
    const file = new MemFile(s, false);
    const sink = opfsSink(file, { commitBytes: 1000 });
    expect(await sink.size()).toBe(0);
    const a = bytes(300, 1), b = bytes(400, 2), c = bytes(500, 3);
    await sink.append(a);
    expect(sink.mode).toBe('writable');
    await sink.append(b);
    expect(await sink.size()).toBe(700);
    expect(file.data.length).toBe(0); // not committed yet
    await sink.append(c); // 1200 ≥ 1000: committed
    expect(file.data).toEqual(cat(a, b, c));
    expect(s.commits).toBe(1);
    await sink.append(a);
    await sink.close();
    await sink.close(); // idempotent
    expect(file.data).toEqual(cat(a, b, c, a));
    expect(s.writables).toBe(2);

    // a later visit: a new sink over the same file continues at its end
    const again = opfsSink(file);
    expect(await again.size()).toBe(1500);
    await again.append(b);
    await again.close();
    expect(file.data).toEqual(cat(a, b, c, a, b));

    await again.clear();
    expect(await again.size()).toBe(0);
    expect(file.data.length).toBe(0);
    await again.append(c);
    await again.close();
    expect(file.data).toEqual(c);
  });

  it('clear() while a writable is open drops the uncommitted bytes too', async () => {
    const file = new MemFile(stats(), false);
    file.data = bytes(50, 9);
    const sink = opfsSink(file);
    await sink.append(bytes(20, 1));
    await sink.clear();
    await sink.append(bytes(10, 2));
    await sink.close();
    expect(file.data).toEqual(bytes(10, 2));
  });

  it('sync access handle mode: in-place appends, lock released on close, clear truncates', async () => {
    const s = stats();
    const file = new MemFile(s, true);
    file.data = bytes(100, 5);
    const sink = opfsSink(file, { flushBytes: 64 });
    expect(await sink.size()).toBe(100);
    await sink.append(bytes(80, 6));
    expect(sink.mode).toBe('sync');
    expect(file.locked).toBe(true);
    expect(file.data).toEqual(cat(bytes(100, 5), bytes(80, 6))); // written in place
    await sink.close();
    expect(file.locked).toBe(false);
    expect(s.writables).toBe(0);
    await sink.append(bytes(3, 7)); // reopens
    await sink.clear();
    expect(await sink.size()).toBe(0);
    await sink.append(bytes(4, 8));
    await sink.close();
    expect(file.data).toEqual(bytes(4, 8));
    // preferSyncHandle: false uses the writable even where a sync handle exists
    const w = opfsSink(file, { preferSyncHandle: false });
    await w.append(bytes(2, 1));
    expect(w.mode).toBe('writable');
    await w.close();
    expect(file.data).toEqual(cat(bytes(4, 8), bytes(2, 1)));
  });

  it('a writable without seek cannot append: a clear error', async () => {
    const file = { getFile: async () => new Blob([new Uint8Array(3)]), createWritable: async () => ({ write: async () => {}, close: async () => {} }) };
    const sink = opfsSink(file as never);
    await expect(sink.append(new Uint8Array(1))).rejects.toThrow(/cannot append/);
  });
});
