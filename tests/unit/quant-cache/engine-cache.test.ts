// The engine's Hub and cache methods (thin wiring): in Node without a storage root they refuse
// with "OPFS is not available here"; with an in-memory root they download the demo model from a
// local Hub-layout server, cache it quantized, list it, load it back (NF4 linears as stored,
// same GPU weights) and delete it, with typed progress events for each phase.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { nodeGpuApi } from '../../../src/gpu/core/node';
import { Engine, type ModelLoadEvent } from '../../../src/engine';
import { buildDemoModel } from '../../../src/model/demo';
import { GREEDY } from '../../../src/chat/sampling';
import { MemDir } from './memfs';

const demo = buildDemoModel(0);
const REPO = 'studio/demo';
let server: Server;
let endpoint = '';
const auths: (string | undefined)[] = [];

beforeAll(async () => {
  server = createServer((req, res) => {
    const m = /^\/([^/]+\/[^/]+)\/resolve\/main\/(.+)$/.exec(decodeURIComponent(req.url ?? ''));
    auths.push(req.headers.authorization);
    const data = m && m[1] === REPO ? demo.files[m[2]] : undefined;
    if (!data) { res.writeHead(404).end(); return; }
    res.writeHead(200, { 'content-length': data.length }).end(data);
  });
  server.keepAliveTimeout = 60_000;
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(() => new Promise<void>((r) => server.close(() => r())));

describe('Engine: Hub download and OPFS model cache', () => {
  it('without OPFS (Node) every method says so clearly', async () => {
    const engine = await Engine.create(await nodeGpuApi());
    await expect(engine.listCachedModels()).rejects.toThrow(/OPFS is not available here/);
    await expect(engine.loadHubModel(REPO, { endpoint })).rejects.toThrow(/OPFS is not available here/);
    await expect(engine.loadCachedModel(REPO)).rejects.toThrow(/OPFS is not available here/);
    await expect(engine.deleteCachedModel(REPO)).rejects.toThrow(/OPFS is not available here/);
  });

  it('loadHubModel → cacheLoadedModel → listCachedModels → loadCachedModel → deleteCachedModel', async () => {
    const engine = await Engine.create(await nodeGpuApi());
    engine.useStorageRoot(new MemDir());
    await expect(engine.cacheLoadedModel()).rejects.toThrow(/load a model first/);
    const events: ModelLoadEvent[] = [];
    const s1 = await engine.loadHubModel(REPO, { endpoint, token: 'hf_engine_token' }, (e) => events.push(e));
    expect(s1).toMatchObject({ name: REPO, quant: 'nf4', layers: demo.config.numHiddenLayers });
    expect(auths.every((a) => a === 'Bearer hf_engine_token')).toBe(true);
    const dl = events.filter((e) => e.phase === 'download');
    expect(dl.length).toBeGreaterThan(0);
    expect(dl.find((e) => e.file === 'model.safetensors' && e.status === 'done')).toMatchObject({ bytes: demo.files['model.safetensors'].length, fileCount: 4 });
    expect(events.at(-1)).toMatchObject({ phase: 'load' });

    events.length = 0;
    const cached = await engine.cacheLoadedModel(undefined, (e) => events.push(e));
    expect(cached.modelId).toBe(REPO);
    expect(cached.files.map((f) => f.name)).toContain('model.safetensors.index.json');
    expect(events.every((e) => e.phase === 'cache')).toBe(true);
    expect((await engine.listCachedModels()).map((m) => [m.modelId, m.size])).toEqual([[REPO, cached.size]]);

    const before = await engine.chat([{ role: 'user', content: 'hi' }], { ...GREEDY, maxNewTokens: 3, seed: 1, useAdapter: false }, () => {});
    // the download can go once cached: a device loss now reloads the model from the cache
    expect(await engine.deleteHubDownload(REPO)).toBe(true);
    const first = engine.gpu;
    first.device.destroy();
    await new Promise((r) => setTimeout(r, 10));
    expect(await engine.chat([{ role: 'user', content: 'hi' }], { ...GREEDY, maxNewTokens: 3, seed: 1, useAdapter: false }, () => {})).toEqual(before); // lost while idle: reloaded first
    expect(engine.gpu).not.toBe(first);
    events.length = 0;
    const s2 = await engine.loadCachedModel(REPO, (e) => events.push(e));
    expect(s2).toMatchObject({ name: REPO, quant: 'nf4' });
    expect(Math.abs(s2.gpuBytes - s1.gpuBytes) / s1.gpuBytes).toBeLessThan(1e-3); // same weights (small pooled buffers aside)
    expect(events.length).toBeGreaterThan(0);
    expect(events.every((e) => e.phase === 'load')).toBe(true);
    const after = await engine.chat([{ role: 'user', content: 'hi' }], { ...GREEDY, maxNewTokens: 3, seed: 1, useAdapter: false }, () => {});
    expect(after).toEqual(before);

    expect(await engine.deleteCachedModel(REPO)).toBe(true);
    expect(await engine.listCachedModels()).toEqual([]);
    await expect(engine.loadCachedModel(REPO)).rejects.toThrow(/not in the model cache/);
    expect(await engine.deleteHubDownload(REPO)).toBe(false);
  });
});
