// Hub model → GPU → OPFS quantized cache → GPU, end to end in Node: the golden tiny Llama
// (tests/golden/tiny) is served by a local HTTP server in the Hub's URL layout (with Range and a
// gated token), downloaded with downloadHubModel into an in-memory OPFS (a dropped connection
// resumes; finished files are skipped on the next call), loaded on the software GPU as NF4,
// saved with saveQuantizedModel as a sharded bnb-4bit folder, reopened with openCachedModel and
// loaded again. Both models give the identical golden loss, and the reloaded NF4 weights are
// bit-identical to the first (uploaded as stored, not re-quantized).

import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testGpu } from '../../helpers/gpu';
import { loadGolden, packGolden, goldenLoraHost } from '../../helpers/golden';
import { downloadHubModel, DOWNLOAD_MARKER, type HubDownloadProgress } from '../../../src/model/hubSource';
import { saveQuantizedModel, openCachedModel, safetensorsStream, type CacheProgress } from '../../../src/store/quantCache';
import { CACHE_DIR, modelCache } from '../../../src/store/modelCache';
import { StorageQuotaError } from '../../../src/store/errors';
import { loadWeights, modelDims, type ModelWeights } from '../../../src/model/weights';
import { allocLora, setLoraWeights } from '../../../src/model/lora';
import { allocActivations } from '../../../src/model/activations';
import { evalBatch } from '../../../src/model/step';
import { parseTargets, TARGETS, moduleKey } from '../../../src/model/modules';
import { nf4Download } from '../../../src/gpu/ops/nf4';
import { readBytes, readF32 } from '../../../src/gpu/core/tensor';
import { BNB_QS_SUFFIX } from '../../../src/model/bnb';
import { SafetensorsFile, writeSafetensors } from '../../../src/model/safetensors';
import { MemDir, MemFile } from './memfs';

const DIR = 'tests/golden/tiny';
const REPO = 'golden/tiny';
const TOKEN = 'hf_quant_cache_secret';
const FILES: Record<string, Uint8Array> = {
  'config.json': new Uint8Array(readFileSync(`${DIR}/config.json`)),
  'model.safetensors': new Uint8Array(readFileSync(`${DIR}/model.safetensors`)),
};
let server: Server;
let endpoint = '';
let dropNext = false;
const requests: { file: string; range?: string; auth?: string }[] = [];

beforeAll(async () => {
  server = createServer((req, res) => {
    const m = /^\/([^/]+\/[^/]+)\/resolve\/([^/]+)\/(.+)$/.exec(decodeURIComponent(req.url ?? ''));
    if (!m || m[1] !== REPO || m[2] !== 'main') { res.writeHead(404).end(); return; }
    requests.push({ file: m[3], range: req.headers.range, auth: req.headers.authorization });
    if (req.headers.authorization !== `Bearer ${TOKEN}`) { res.writeHead(401).end('gated'); return; }
    const data = FILES[m[3]];
    if (!data) { res.writeHead(404).end('not found'); return; }
    let start = 0;
    if (req.headers.range) {
      start = Number(/bytes=(\d+)-/.exec(req.headers.range)![1]);
      if (start >= data.length) { res.writeHead(416).end(); return; }
      res.writeHead(206, { 'content-length': data.length - start });
    } else res.writeHead(200, { 'content-length': data.length });
    const body = data.subarray(start);
    if (dropNext && m[3] === 'model.safetensors') {
      dropNext = false;
      res.write(body.subarray(0, body.length >> 1), () => res.destroy());
      return;
    }
    res.end(body);
  });
  server.keepAliveTimeout = 60_000; // no close/reuse race under a loaded machine
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(() => new Promise<void>((r) => server.close(() => r())));

async function goldenLoss(w: ModelWeights): Promise<number> {
  const gpu = await testGpu();
  const g = await loadGolden(DIR);
  const host = await goldenLoraHost(g, DIR);
  const lora = allocLora(gpu, modelDims(g.cfg), { r: host.r, alpha: host.alpha, dropout: 0, targets: parseTargets(host.targets) });
  setLoraWeights(gpu, lora, host);
  const acts = allocActivations(gpu, w.dims, 32, 32, host.r, lora.targets, false);
  const r = await evalBatch(gpu, w, lora, acts, await packGolden(g));
  return r.nllSum / r.count;
}

function memText(f: MemFile): string { return new TextDecoder().decode(f.data); }

describe('Hub download → NF4 on the GPU → OPFS bnb-4bit cache → reload', () => {
  it('downloads with resume, caches sharded bnb-4bit, reloads without re-quantization to the identical loss', async () => {
    const gpu = await testGpu();
    const root = new MemDir();
    const dl = await root.getDirectoryHandle('download', { create: true });

    // 1. the first attempt drops the connection halfway through model.safetensors
    dropNext = true;
    await expect(downloadHubModel(REPO, dl, { endpoint, token: TOKEN, retries: 0 })).rejects.toThrow(/connection dropped|terminated|socket|fetch failed/i);
    const partial = (dl.children.get('model.safetensors') as MemFile).data.length;
    expect(partial).toBeGreaterThan(0);
    expect(partial).toBeLessThan(FILES['model.safetensors'].length);

    // 2. the second resumes with a Range request; optional tokenizer files the repo lacks are skipped
    requests.length = 0;
    const progress: HubDownloadProgress[] = [];
    const source = await downloadHubModel(REPO, dl, { endpoint, token: TOKEN, onProgress: (p) => progress.push(p) });
    expect(requests.find((r) => r.file === 'model.safetensors')?.range).toBe(`bytes=${partial}-`);
    expect((dl.children.get('model.safetensors') as MemFile).data).toEqual(FILES['model.safetensors']);
    expect(source.name).toBe(REPO);
    expect([...source.files.keys()].sort()).toEqual(['config.json', 'model.safetensors']);
    const last = progress.filter((p) => p.file === 'model.safetensors').at(-1)!;
    expect(last).toMatchObject({ status: 'done', bytes: FILES['model.safetensors'].length, fileCount: 4 });
    expect(last.receivedBytes).toBe(FILES['model.safetensors'].length - partial);
    expect(progress.find((p) => p.file === 'config.json')?.status).toBe('skipped'); // finished in the first attempt
    expect(progress.filter((p) => p.status === 'absent').map((p) => p.file).sort()).toEqual(['tokenizer.json', 'tokenizer_config.json']);
    // the token went only into Authorization headers: nothing stored holds it
    for (const [, f] of dl.children) expect(memText(f as MemFile)).not.toContain(TOKEN);
    expect(memText(dl.children.get(DOWNLOAD_MARKER) as MemFile)).toContain('"model.safetensors"');

    // 3. a third call downloads nothing: every file is complete (only the file list is asked for)
    requests.length = 0;
    const again = await downloadHubModel(REPO, dl, { endpoint, token: TOKEN });
    expect(requests.map((r) => r.file)).toEqual(['model.safetensors.index.json']);
    expect(again.config).toEqual(source.config);

    // 4. load as NF4, save to the cache
    const w1 = await loadWeights(gpu, source.config, source.reader, { quant: 'nf4', doubleQuant: true });
    const cache = modelCache(root);
    const cacheProgress: CacheProgress[] = [];
    const saved = await saveQuantizedModel(gpu, cache, REPO, w1, {
      extraFiles: { 'generation_config.json': new Uint8Array(readFileSync(`${DIR}/generation_config.json`)) },
      meta: { revision: 'main' }, chunkBytes: 4096 + 4, onProgress: (p) => cacheProgress.push(p),
    });
    const L = source.config.numHiddenLayers;
    const shards = Array.from({ length: L + 1 }, (_, i) => `model-0000${i + 1}-of-0000${L + 1}.safetensors`);
    expect(saved.files.map((f) => f.name)).toEqual(['config.json', 'generation_config.json', ...shards, 'model.safetensors.index.json']);
    expect(saved.meta).toMatchObject({ quant: 'nf4', doubleQuant: true, layers: L, revision: 'main' });
    expect(cacheProgress.at(-1)!.fileIndex).toBe(saved.files.length - 1);
    expect(Math.abs(cacheProgress.at(-1)!.bytes - saved.size) / saved.size).toBeLessThan(0.05);
    expect(Math.abs(cacheProgress.at(-1)!.totalBytes - saved.size) / saved.size).toBeLessThan(0.1);
    expect((await cache.list()).map((m) => m.modelId)).toEqual([REPO]);

    // the folder is a transformers bnb-4bit checkpoint: quantization_config, index, bnb tensors per layer shard
    const files = (await cache.open(REPO))!;
    const cfg = JSON.parse(new TextDecoder().decode(await files['config.json'].read(0, files['config.json'].size)));
    expect(cfg.quantization_config).toMatchObject({ quant_method: 'bitsandbytes', load_in_4bit: true, bnb_4bit_quant_type: 'nf4', bnb_4bit_use_double_quant: true });
    expect(cfg.hidden_size).toBe(source.config.hiddenSize);
    const index = JSON.parse(new TextDecoder().decode(await files['model.safetensors.index.json'].read(0, files['model.safetensors.index.json'].size)));
    for (let l = 0; l < L; l++) {
      const shard = await SafetensorsFile.open(files[shards[l]], shards[l]);
      for (const t of TARGETS) {
        const name = `${moduleKey(l, t)}.weight`;
        expect(index.weight_map[name]).toBe(shards[l]);
        expect(shard.info(name).dtype).toBe('U8');
        expect(shard.has(name + BNB_QS_SUFFIX)).toBe(true);
        expect(shard.has(`${name}.nested_absmax`)).toBe(true);
      }
      expect(shard.names().every((n) => n.startsWith(`model.layers.${l}.`))).toBe(true);
    }
    const tail = await SafetensorsFile.open(files[shards[L]], shards[L]);
    expect(tail.names().sort()).toEqual(['lm_head.weight', 'model.embed_tokens.weight', 'model.norm.weight']);
    expect(tail.info('model.embed_tokens.weight').dtype).toBe('BF16');
    let total = 0;
    for (const s of shards) { const f = await SafetensorsFile.open(files[s], s); for (const n of f.names()) { const i = f.info(n); total += i.end - i.begin; } }
    expect(index.metadata.total_size).toBe(total);

    // 5. reopen from the cache and load again: bnb linears uploaded as stored
    const cached = await openCachedModel(cache, REPO);
    expect(cached.name).toBe(REPO);
    expect(cached.config.hiddenSize).toBe(source.config.hiddenSize);
    const w2 = await loadWeights(gpu, cached.config, cached.reader, { quant: 'nf4' });
    for (let l = 0; l < L; l++) for (const t of TARGETS) {
      const a = w1.layers[l].proj[t], b = w2.layers[l].proj[t];
      if (a.kind !== 'nf4' || b.kind !== 'nf4') throw new Error('expected NF4 linears');
      expect(b.w.doubleQuant).toBe(true);
      expect(await nf4Download(gpu, b.w)).toEqual(await nf4Download(gpu, a.w));
    }
    for (const k of ['embed', 'lmHead'] as const)
      expect(await readBytes(gpu, w2[k].data.buffer)).toEqual(await readBytes(gpu, w1[k].data.buffer));
    expect(await readF32(gpu, w2.finalNorm)).toEqual(await readF32(gpu, w1.finalNorm));
    const [loss1, loss2] = [await goldenLoss(w1), await goldenLoss(w2)];
    expect(Number.isFinite(loss1)).toBe(true);
    expect(loss2).toBe(loss1);

    // 6. delete
    expect(await cache.delete(REPO)).toBe(true);
    await expect(openCachedModel(cache, REPO)).rejects.toThrow(/not in the model cache/);
  });

  it('a gated repo without a token is refused with the Hub message; a quota failure while caching leaves nothing behind', async () => {
    const root = new MemDir();
    await expect(downloadHubModel(REPO, await root.getDirectoryHandle('d', { create: true }), { endpoint })).rejects.toThrow(/gated or private \(401\)/);
    // in a worker the sink writes through a sync access handle; files are unlocked afterwards
    const syncRoot = new MemDir(undefined, true);
    dropNext = true;
    await expect(downloadHubModel(REPO, syncRoot, { endpoint, token: TOKEN, retries: 0 })).rejects.toThrow();
    expect((syncRoot.children.get('model.safetensors') as MemFile).locked).toBe(false);
    const viaSync = await downloadHubModel(REPO, syncRoot, { endpoint, token: TOKEN });
    expect(syncRoot.stats.syncHandles).toBeGreaterThan(0);
    expect(syncRoot.stats.syncHandles).toBeGreaterThanOrEqual(3); // config, model, model again
    expect((syncRoot.children.get('model.safetensors') as MemFile).data).toEqual(FILES['model.safetensors']);
    expect(viaSync.reader.names().length).toBeGreaterThan(0);

    // by default a dropped connection is resumed within the same call
    const auto = new MemDir();
    dropNext = true;
    requests.length = 0;
    await downloadHubModel(REPO, auto, { endpoint, token: TOKEN });
    const st = requests.filter((r) => r.file === 'model.safetensors');
    expect(st.length).toBe(2);
    expect(st[1].range).toMatch(/^bytes=\d+-$/);
    expect((auto.children.get('model.safetensors') as MemFile).data).toEqual(FILES['model.safetensors']);

    const gpu = await testGpu();
    const g = await loadGolden(DIR);
    const w = await loadWeights(gpu, g.cfg, g.model, { quant: 'nf4' });
    root.stats.bytesWritten = 0;
    root.stats.failAfterBytes = 100_000;
    const cache = modelCache(root, { storage: { estimate: async () => ({ usage: 5, quota: 10 }) } });
    const err = await saveQuantizedModel(gpu, cache, 'm', w).catch((e) => e);
    expect(err).toBeInstanceOf(StorageQuotaError);
    expect(err.bytesNeeded).toBeGreaterThan(100_000);
    expect((await root.getDirectoryHandle(CACHE_DIR)).children.size).toBe(0);
    // with the storage estimate, a save that cannot fit is refused before anything is written
    root.stats.failAfterBytes = null;
    const written = root.stats.bytesWritten;
    const early = await saveQuantizedModel(gpu, cache, 'm', w, { storage: { estimate: async () => ({ usage: 1e6, quota: 1e6 + 1000 }) } }).catch((e) => e);
    expect(early).toBeInstanceOf(StorageQuotaError);
    expect(early.message).toMatch(/storage is full/);
    expect(root.stats.bytesWritten).toBe(written);
    const ok = await saveQuantizedModel(gpu, cache, 'm', w, { storage: { estimate: async () => ({ usage: 0, quota: 1e9 }) } });
    expect(ok.files.length).toBeGreaterThan(2);
  });

  it('safetensorsStream gives the bytes writeSafetensors gives', async () => {
    const ts = [
      { name: 'b', dtype: 'U8' as const, shape: [3], data: Uint8Array.from([1, 2, 3]) },
      { name: 'a', dtype: 'F32' as const, shape: [2], data: Float32Array.from([1.5, -2]) },
      { name: 'c', dtype: 'BF16' as const, shape: [1, 3], data: Uint16Array.from([1, 2, 3]) },
    ];
    const parts: Uint8Array[] = [];
    for await (const c of safetensorsStream(ts.map((t) => ({ ...t, byteLength: t.data.byteLength, chunks: async function* () { yield new Uint8Array(t.data.buffer); } })), { format: 'pt' })) parts.push(c.slice());
    expect(new Uint8Array(await new Blob(parts as Uint8Array<ArrayBuffer>[]).arrayBuffer())).toEqual(writeSafetensors(ts, { format: 'pt' }));
  });
});
