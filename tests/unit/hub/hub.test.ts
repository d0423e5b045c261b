// Hub downloads against a local HTTP server in the Hub's URL layout (/{repo}/resolve/{rev}/{file}),
// with Range and Authorization: full download, resume after a dropped connection, a server that
// ignores Range, gated repo without/with a wrong token (401/403), 404, sharded file lists.

import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { downloadHubFile, memorySink, modelFileList, type DownloadProgress } from '../../../src/model/hub';

const FILES: Record<string, Uint8Array> = {
  'org/open/resolve/main/model.safetensors': Uint8Array.from({ length: 300_000 }, (_, i) => (i * 31) & 255),
  'org/open/resolve/main/config.json': new TextEncoder().encode('{"model_type":"llama"}'),
  'org/gated/resolve/main/model.safetensors': Uint8Array.from({ length: 1000 }, (_, i) => i & 255),
  'org/sharded/resolve/main/model.safetensors.index.json': new TextEncoder().encode(JSON.stringify({ weight_map: { a: 'model-00001-of-00002.safetensors', b: 'model-00002-of-00002.safetensors', c: 'model-00001-of-00002.safetensors' } })),
};
const TOKEN = 'hf_secret_test_token';
let server: Server;
let endpoint = '';
let dropNext = false; // drop the connection halfway through the next response
let ignoreRange = false;
const seenRanges: string[] = [];

beforeAll(async () => {
  server = createServer((req, res) => {
    const path = decodeURIComponent((req.url ?? '').slice(1));
    const data = FILES[path];
    if (path.startsWith('org/gated/') && req.headers.authorization !== `Bearer ${TOKEN}`) {
      res.writeHead(req.headers.authorization ? 403 : 401).end('gated');
      return;
    }
    if (!data) { res.writeHead(404).end('not found'); return; }
    const range = req.headers.range;
    let start = 0;
    if (range && !ignoreRange) {
      seenRanges.push(range);
      start = Number(/bytes=(\d+)-/.exec(range)![1]);
      if (start >= data.length) { res.writeHead(416).end(); return; }
      res.writeHead(206, { 'content-length': data.length - start, 'content-range': `bytes ${start}-${data.length - 1}/${data.length}` });
    } else res.writeHead(200, { 'content-length': data.length });
    const body = data.subarray(start);
    if (dropNext) {
      dropNext = false;
      res.write(body.subarray(0, body.length >> 1), () => res.destroy());
      return;
    }
    res.end(body);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(() => new Promise<void>((r) => server.close(() => r())));

describe('Hub downloads', () => {
  it('downloads a file with progress', async () => {
    const sink = memorySink();
    const progress: DownloadProgress[] = [];
    await downloadHubFile('org/open', 'model.safetensors', sink, { endpoint, onProgress: (p) => progress.push(p) });
    expect(sink.bytes()).toEqual(FILES['org/open/resolve/main/model.safetensors']);
    expect(progress.at(-1)).toEqual({ file: 'model.safetensors', bytes: 300_000, total: 300_000 });
    for (let i = 1; i < progress.length; i++) expect(progress[i].bytes).toBeGreaterThan(progress[i - 1].bytes);
  });

  it('resumes an interrupted download with a Range request', async () => {
    const sink = memorySink();
    dropNext = true;
    await expect(downloadHubFile('org/open', 'model.safetensors', sink, { endpoint })).rejects.toThrow();
    const partial = await sink.size();
    expect(partial).toBeGreaterThan(0);
    expect(partial).toBeLessThan(300_000);
    await downloadHubFile('org/open', 'model.safetensors', sink, { endpoint });
    expect(seenRanges.at(-1)).toBe(`bytes=${partial}-`);
    expect(sink.bytes()).toEqual(FILES['org/open/resolve/main/model.safetensors']);
  });

  it('starts over when the server ignores Range', async () => {
    const sink = memorySink();
    await sink.append(new Uint8Array(10).fill(7));
    ignoreRange = true;
    try { await downloadHubFile('org/open', 'config.json', sink, { endpoint }); } finally { ignoreRange = false; }
    expect(new TextDecoder().decode(sink.bytes())).toBe('{"model_type":"llama"}');
  });

  it('explains gated repos (401 without token, 403 with a wrong one) and 404', async () => {
    await expect(downloadHubFile('org/gated', 'model.safetensors', memorySink(), { endpoint })).rejects.toThrow(/gated or private \(401\).*accept its licence.*token/);
    await expect(downloadHubFile('org/gated', 'model.safetensors', memorySink(), { endpoint, token: 'hf_wrong' })).rejects.toThrow(/refused \(403\).*licence/);
    const ok = memorySink();
    await downloadHubFile('org/gated', 'model.safetensors', ok, { endpoint, token: TOKEN });
    expect(await ok.size()).toBe(1000);
    await expect(downloadHubFile('org/open', 'nope.bin', memorySink(), { endpoint })).rejects.toThrow(/Not found on the Hub: org\/open\/nope\.bin/);
    await expect(downloadHubFile('not a repo', 'x', memorySink(), { endpoint })).rejects.toThrow(/not a Hub repo id/);
  });

  it('lists the files of single-file and sharded models', async () => {
    expect(await modelFileList('org/open', { endpoint })).toEqual(['config.json', 'tokenizer.json', 'tokenizer_config.json', 'model.safetensors']);
    expect(await modelFileList('org/sharded', { endpoint })).toEqual(['config.json', 'tokenizer.json', 'tokenizer_config.json', 'model.safetensors.index.json', 'model-00001-of-00002.safetensors', 'model-00002-of-00002.safetensors']);
  });
});
