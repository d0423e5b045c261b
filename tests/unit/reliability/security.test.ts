// Security checks:
// - the Hugging Face access token goes into Authorization headers only: never into a URL, an
//   error message, the console, OPFS, IndexedDB (run record, metrics, checkpoints, evaluations)
//   or any export (experiment log, run bundle, PEFT zip, GGUF) — an end-to-end run through the
//   engine: gated Hub repo (local server) → load → train with checkpoints → evaluate → cache →
//   export, then every stored and exported byte is searched for the token;
// - run records and experiment logs have no field that could carry a credential;
// - index.html's Content-Security-Policy allows no network but 'self' and the Hugging Face Hub,
//   and no inline or eval'd script;
// - model output and CSV text are rendered as text: no {@html} and no innerHTML-like sinks.

import 'fake-indexeddb/auto';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { unzipSync } from 'fflate';
import { nodeGpuApi } from '../../../src/gpu/core/node';
import { Engine } from '../../../src/engine';
import { buildDemoModel } from '../../../src/model/demo';
import { downloadHubFile, memorySink, modelFileList } from '../../../src/model/hub';
import { idbCheckpointStore } from '../../../src/store/checkpoints.idb';
import { CHILD_STORES, exportRunJsonl, openStudioDb, type RunRecord, type StudioDb } from '../../../src/store/db';
import { idbRunLog } from '../../../src/store/runlog';
import { exportRunBundle } from '../../../src/export/run';
import { MemDir, MemFile } from '../quant-cache/memfs';

const TOKEN = 'hf_reliabilityNeverStoreMe0123456789';
const REPO = 'org/gated-demo';
const demo = buildDemoModel(0);
const CSV = ['Topics,Question-Title,Questions,Answers', ...Array.from({ length: 12 }, (_, i) => `ক,প্রশ্ন ${i},আমি একা ${i},আপনি একা নন ${i}।`)].join('\n');
/** Field names that would hold a credential (exact names, so "tokens", "maxTokens" are fine). */
const CREDENTIAL_KEY = /^(token|access_?token|hf_?token|auth|authorization|bearer|password|secret|api_?key|cookie)$/i;

const contains = (bytes: Uint8Array, s: string) => Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).includes(Buffer.from(s));

function credentialKeys(v: unknown, path = '$', out: string[] = []): string[] {
  if (Array.isArray(v)) v.forEach((x, i) => credentialKeys(x, `${path}[${i}]`, out));
  else if (v && typeof v === 'object')
    for (const [k, x] of Object.entries(v)) {
      if (CREDENTIAL_KEY.test(k)) out.push(`${path}.${k}`);
      credentialKeys(x, `${path}.${k}`, out);
    }
  return out;
}

function* memFiles(d: MemDir, path = ''): Generator<[string, Uint8Array]> {
  for (const [name, c] of d.children) {
    if (c instanceof MemFile) yield [`${path}/${name}`, c.data];
    else yield* memFiles(c as MemDir, `${path}/${name}`);
  }
}

/** Everything the console receives while the test runs. */
const consoleText: string[] = [];
beforeAll(() => {
  for (const m of ['log', 'info', 'warn', 'error', 'debug'] as const)
    vi.spyOn(console, m).mockImplementation((...a: unknown[]) => { consoleText.push(a.map((x) => (x instanceof Error ? `${x.message} ${x.stack}` : typeof x === 'string' ? x : JSON.stringify(x))).join(' ')); });
});
afterAll(() => { vi.restoreAllMocks(); });

describe('the Hub access token (hub.ts, fake fetch)', () => {
  const seen: { url: string; headers: Record<string, string> }[] = [];
  const fakeFetch = (status: number, body = new Uint8Array(4)) => (async (url: string, init?: RequestInit) => {
    seen.push({ url, headers: { ...(init?.headers as Record<string, string>) } });
    return new Response(status === 200 ? body : 'no', { status, headers: status === 200 ? { 'content-length': String(body.length + 10) } : {} });
  }) as unknown as typeof fetch;
  afterEach(() => { seen.length = 0; });

  it('is sent only as "Authorization: Bearer …", never in the URL or any error message', async () => {
    for (const status of [401, 403, 404, 416, 500]) {
      const sink = memorySink();
      if (status === 416) await sink.append(new Uint8Array(3));
      const e = await downloadHubFile(REPO, 'model.safetensors', sink, { token: TOKEN, fetch: fakeFetch(status) }).then(() => null, (x: Error) => x);
      expect(e, String(status)).toBeInstanceOf(Error);
      expect(`${e!.message} ${e!.stack}`).not.toContain(TOKEN);
    }
    // A dropped connection (fewer bytes than content-length).
    const dropped = await downloadHubFile(REPO, 'model.safetensors', memorySink(), { token: TOKEN, fetch: fakeFetch(200) }).then(() => null, (x: Error) => x);
    expect(dropped!.message).toMatch(/connection dropped/);
    expect(dropped!.message).not.toContain(TOKEN);
    const listed = await modelFileList(REPO, { token: TOKEN, fetch: fakeFetch(403) }).then(() => null, (x: Error) => x);
    expect(listed!.message).not.toContain(TOKEN);
    expect(seen.length).toBeGreaterThan(5);
    for (const r of seen) {
      expect(r.url).not.toContain(TOKEN);
      expect(r.headers.Authorization).toBe(`Bearer ${TOKEN}`);
      expect(Object.entries(r.headers).filter(([k, v]) => k !== 'Authorization' && v.includes(TOKEN))).toEqual([]);
    }
  });
});

describe('the token is written nowhere (engine end to end: gated Hub repo → train → cache → export)', () => {
  let server: Server;
  let endpoint = '';
  beforeAll(async () => {
    server = createServer((req, res) => {
      const m = /^\/([^/]+\/[^/]+)\/resolve\/main\/(.+)$/.exec(decodeURIComponent(req.url ?? ''));
      if (!m || m[1] !== REPO) { res.writeHead(404).end(); return; }
      if (req.headers.authorization !== `Bearer ${TOKEN}`) { res.writeHead(401).end('gated'); return; }
      const data = demo.files[m[2]];
      if (!data) { res.writeHead(404).end('not found'); return; }
      res.writeHead(200, { 'content-length': data.length }).end(data);
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(() => new Promise<void>((r) => server.close(() => r())));

  let db: StudioDb;
  afterAll(() => db?.close());

  it('IndexedDB, OPFS, the experiment log, the run bundle, PEFT and GGUF exports and the console never hold it', async () => {
    db = await openStudioDb(`reliability-security-${process.pid}`);
    const engine = await Engine.create(await nodeGpuApi(), { store: idbCheckpointStore(db), log: idbRunLog(db) });
    const opfs = new MemDir();
    engine.useStorageRoot(opfs);
    const summary = await engine.loadHubModel(REPO, { token: TOKEN, endpoint, quant: 'nf4' });
    expect(JSON.stringify(summary)).not.toContain(TOKEN);
    await engine.prepareData(CSV, { seed: 1, maxTokens: 128, systemPrompt: 'সহায়ক' });
    const runId = 'run-secure';
    await engine.train({ r: 4, alpha: 8, dropout: 0, lr: 1e-2, seqLen: 128, gradAccum: 1, maxSteps: 2, warmupSteps: 1, evalEvery: 2, evalBatches: 1, checkpointEvery: 1, seed: 3, targets: ['q_proj'] }, () => {}, runId);
    await engine.evaluate({ split: 'test', useAdapter: true, samples: 1, maxNewTokens: 2 });
    await engine.cacheLoadedModel();

    const blobs: [string, Uint8Array][] = [...memFiles(opfs)];
    expect(blobs.some(([p]) => p.endsWith('config.json'))).toBe(true); // the download and the cache are there
    const enc = new TextEncoder();
    const run = (await db.get('runs', runId)) as RunRecord;
    expect(run.modelName).toBe(REPO);
    blobs.push(['idb:runs', enc.encode(JSON.stringify(await db.getAll('runs')))]);
    for (const s of CHILD_STORES) {
      const recs = await db.getAll(s);
      blobs.push([`idb:${s}`, enc.encode(JSON.stringify(recs))]);
      for (const r of recs) if ('bytes' in r) blobs.push([`idb:${s}:bytes`, (r as { bytes: Uint8Array }).bytes]);
    }
    expect((await db.getAll('checkpoints')).length).toBeGreaterThan(0);
    const jsonl = await exportRunJsonl(db, runId);
    blobs.push(['log.jsonl', enc.encode(jsonl)]);
    const adapter = await engine.adapterWeights();
    const data = engine.datasetForExport()!;
    const bundle = await exportRunBundle(db, runId, { adapter: adapter!.weights, dataset: data });
    for (const [name, bytes] of Object.entries(unzipSync(bundle))) blobs.push([`bundle:${name}`, bytes]);
    blobs.push(['peft.zip', await engine.exportPeft()], ['adapter.gguf', await engine.exportGguf()]);

    // The search works: the repo id (stored on purpose) is found in the run record and the log.
    expect(blobs.filter(([, b]) => contains(b, REPO)).map(([w]) => w)).toEqual(expect.arrayContaining(['idb:runs', 'log.jsonl']));
    for (const [where, bytes] of blobs) expect(contains(bytes, TOKEN), where).toBe(false);
    for (const line of jsonl.trimEnd().split('\n')) expect(credentialKeys(JSON.parse(line))).toEqual([]);
    expect(consoleText.filter((t) => t.includes(TOKEN))).toEqual([]);
  });
});

describe('run records and logs have no credential fields', () => {
  it('RunRecord, TrainConfig and DataReport field names', async () => {
    const { DEFAULT_TRAIN_CONFIG } = await import('../../../src/train/config');
    expect(credentialKeys(DEFAULT_TRAIN_CONFIG)).toEqual([]);
    // The stored types, read from their source: no field named like a credential.
    for (const [file, iface] of [['src/store/db.ts', 'RunRecord'], ['src/train/config.ts', 'TrainConfig'], ['src/data/pipeline.ts', 'DataReport']]) {
      const src = readFileSync(file, 'utf8');
      const body = new RegExp(`export interface ${iface}[^{]*\\{([\\s\\S]*?)\\n\\}`).exec(src)![1];
      const fields = [...body.matchAll(/^\s*(\w+)\??:/gm)].map((m) => m[1]);
      expect(fields.length, iface).toBeGreaterThan(3);
      expect(fields.filter((f) => CREDENTIAL_KEY.test(f)), iface).toEqual([]);
    }
  });
});

describe('Content-Security-Policy (index.html)', () => {
  const html = readFileSync('index.html', 'utf8');
  const meta = /<meta\s+http-equiv="Content-Security-Policy"\s+content="([^"]+)"/.exec(html);
  const csp = new Map((meta?.[1] ?? '').split(';').map((d) => d.trim().split(/\s+/)).filter((d) => d[0]).map(([k, ...v]) => [k, v]));

  it('network: self and the Hugging Face Hub only', () => {
    expect(meta).not.toBeNull();
    expect(csp.get('default-src')).toEqual(["'self'"]);
    expect(csp.get('connect-src')).toEqual(["'self'", 'https://huggingface.co', 'https://*.hf.co']);
    for (const [k, v] of csp) {
      for (const src of v) {
        expect(src, `${k} ${src}`).not.toMatch(/^\*$|^https?:$|^http:\/\/|^wss?:|^ws:/);
        if (/^https:\/\//.test(src)) expect(src, `${k} ${src}`).toMatch(/^https:\/\/(huggingface\.co|\*\.hf\.co)$/);
      }
    }
  });

  it('scripts: no inline, no eval, none from elsewhere', () => {
    const script = csp.get('script-src') ?? csp.get('default-src')!;
    expect(script).toEqual(["'self'"]);
    expect(meta![1]).not.toMatch(/unsafe-eval|unsafe-hashes|strict-dynamic/);
    expect(csp.get('worker-src')).toEqual(["'self'", 'blob:']);
    // no inline <script> in the page itself
    expect([...html.matchAll(/<script\b([^>]*)>/g)].every((m) => /\bsrc=/.test(m[1]))).toBe(true);
  });
});

describe('untrusted text is rendered as text', () => {
  const files = (dir: string): string[] => readdirSync(dir).flatMap((n) => {
    const p = join(dir, n);
    return statSync(p).isDirectory() ? files(p) : [p];
  });

  it('no {@html} in src/app/**, no innerHTML/outerHTML/insertAdjacentHTML/document.write/eval in src/**', () => {
    const app = files('src/app').filter((f) => /\.(svelte|ts|js)$/.test(f));
    expect(app.length).toBeGreaterThan(10);
    expect(app.filter((f) => readFileSync(f, 'utf8').includes('{@html'))).toEqual([]);
    const all = [...files('src'), ...files('workers')].filter((f) => /\.(svelte|ts|js)$/.test(f));
    const sinks = /\.(innerHTML|outerHTML)\s*=|insertAdjacentHTML\(|document\.write\(|\beval\(|new Function\(/;
    expect(all.filter((f) => sinks.test(readFileSync(f, 'utf8')))).toEqual([]);
  });
});
