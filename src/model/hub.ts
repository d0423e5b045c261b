// Hugging Face Hub downloads in the browser (and Node): files from
// `{endpoint}/{repo}/resolve/{revision}/{file}` with the user's token for gated repos, streamed
// into a sink with progress, resumable with HTTP Range requests after an interruption.
// Clear messages for 401/403 (gated: accept the licence, give a token) and 404.

export const HUB_ENDPOINT = 'https://huggingface.co';

export interface HubOptions {
  endpoint?: string; // default https://huggingface.co (tests use a local server)
  revision?: string; // default 'main'
  token?: string; // sent only as an Authorization header; never stored or logged here
  fetch?: typeof fetch;
  signal?: AbortSignal;
}

export class HubError extends Error {
  constructor(readonly status: number, message: string) {
    super(message);
    this.name = 'HubError';
  }
}

/** Where downloaded bytes go: memory, an OPFS file, a Node file. */
export interface DownloadSink {
  /** Bytes already stored (a resumed download continues from here). */
  size(): Promise<number>;
  append(bytes: Uint8Array): Promise<void>;
  /** Drop what is stored (the server ignored the Range request and resent everything). */
  clear(): Promise<void>;
}

export interface DownloadProgress { file: string; bytes: number; total: number | null }

const REPO_RE = /^[A-Za-z0-9][\w.-]*\/[\w.-]+$/;

function fileUrl(repo: string, file: string, o: HubOptions): string {
  if (!REPO_RE.test(repo)) throw new HubError(0, `"${repo}" is not a Hub repo id (expected owner/name, e.g. meta-llama/Llama-3.1-8B-Instruct)`);
  const rev = encodeURIComponent(o.revision ?? 'main');
  return `${(o.endpoint ?? HUB_ENDPOINT).replace(/\/$/, '')}/${repo}/resolve/${rev}/${file.split('/').map(encodeURIComponent).join('/')}`;
}

function explain(status: number, repo: string, file: string, hasToken: boolean): HubError {
  if (status === 401 || status === 403)
    return new HubError(status, hasToken
      ? `Access to ${repo} was refused (${status}): the token has no access. Accept the model's licence on its Hub page (huggingface.co/${repo}) with the account the token belongs to, and use a token with read permission.`
      : `${repo} is gated or private (${status}): accept its licence on huggingface.co/${repo}, then give an access token (huggingface.co/settings/tokens, read permission).`);
  if (status === 404) return new HubError(404, `Not found on the Hub: ${repo}/${file} (check the repo id, the file name and the revision).`);
  if (status === 416) return new HubError(416, `${repo}/${file}: the server refused the resume range; the partial download was discarded, try again.`);
  return new HubError(status, `Downloading ${repo}/${file} failed: HTTP ${status}.`);
}

/** Download one file into `sink`, resuming from what it already holds. */
export async function downloadHubFile(
  repo: string, file: string, sink: DownloadSink, o: HubOptions & { onProgress?: (p: DownloadProgress) => void } = {},
): Promise<void> {
  const doFetch = o.fetch ?? fetch;
  const have = await sink.size();
  const headers: Record<string, string> = {};
  if (o.token) headers.Authorization = `Bearer ${o.token}`;
  if (have > 0) headers.Range = `bytes=${have}-`;
  const res = await doFetch(fileUrl(repo, file, o), { headers, signal: o.signal });
  if (res.status === 416 && have > 0) { await sink.clear(); throw explain(416, repo, file, !!o.token); }
  if (!res.ok) throw explain(res.status, repo, file, !!o.token);
  let done = have;
  if (have > 0 && res.status !== 206) { await sink.clear(); done = 0; } // Range ignored: start over
  const len = Number(res.headers.get('content-length') ?? NaN);
  const total = Number.isFinite(len) ? done + len : null;
  if (!res.body) throw new HubError(res.status, `Downloading ${repo}/${file}: the response has no body`);
  const reader = res.body.getReader();
  for (;;) {
    const { done: end, value } = await reader.read();
    if (end) break;
    await sink.append(value);
    done += value.byteLength;
    o.onProgress?.({ file, bytes: done, total });
  }
  if (total !== null && done !== total) throw new HubError(0, `Downloading ${repo}/${file}: got ${done} of ${total} bytes (connection dropped): resume to continue`);
}

/** The files of a model repo we need: config, tokenizer and the safetensors (single or sharded). */
export async function modelFileList(repo: string, o: HubOptions = {}): Promise<string[]> {
  const doFetch = o.fetch ?? fetch;
  const headers: Record<string, string> = o.token ? { Authorization: `Bearer ${o.token}` } : {};
  const idx = await doFetch(fileUrl(repo, 'model.safetensors.index.json', o), { headers, signal: o.signal });
  const base = ['config.json', 'tokenizer.json', 'tokenizer_config.json'];
  if (idx.ok) {
    const j = (await idx.json()) as { weight_map?: Record<string, string> };
    const shards = [...new Set(Object.values(j.weight_map ?? {}))];
    if (shards.length === 0) throw new HubError(0, `${repo}: model.safetensors.index.json has no weight_map`);
    return [...base, 'model.safetensors.index.json', ...shards];
  }
  if (idx.status !== 404) throw explain(idx.status, repo, 'model.safetensors.index.json', !!o.token);
  return [...base, 'model.safetensors'];
}

/** An in-memory sink (small files, tests). */
export function memorySink(): DownloadSink & { bytes(): Uint8Array } {
  let parts: Uint8Array[] = [];
  let n = 0;
  return {
    size: async () => n,
    append: async (b) => { parts.push(b.slice()); n += b.byteLength; },
    clear: async () => { parts = []; n = 0; },
    bytes() {
      const out = new Uint8Array(n);
      let p = 0;
      for (const b of parts) { out.set(b, p); p += b.byteLength; }
      return out;
    },
  };
}
