// The CSV a run was trained on, kept in the Cache API (run records hold the data report, not the
// bytes) so a run can be resumed after a page reload with exactly the same data. One entry per
// run: the bytes, with the prepare options in a header.
import type { PrepareSettings } from './studio.svelte';

const CACHE = 'qlora-studio-run-data';
const url = (runId: string) => `/__run-data/${encodeURIComponent(runId)}.csv`;

export interface RunData {
  name: string;
  bytes: Uint8Array;
  settings: PrepareSettings;
}

function available(): boolean {
  return typeof caches !== 'undefined';
}

export async function saveRunData(runId: string, d: RunData): Promise<void> {
  if (!available()) return;
  const c = await caches.open(CACHE);
  const meta = encodeURIComponent(JSON.stringify({ name: d.name, settings: d.settings }));
  await c.put(url(runId), new Response(d.bytes.slice().buffer, { headers: { 'content-type': 'text/csv', 'x-run-data': meta } }));
}

export async function loadRunData(runId: string): Promise<RunData | null> {
  if (!available()) return null;
  const c = await caches.open(CACHE);
  const r = await c.match(url(runId));
  if (!r) return null;
  const meta = JSON.parse(decodeURIComponent(r.headers.get('x-run-data') ?? '%7B%7D')) as Partial<RunData>;
  return { name: meta.name ?? 'data.csv', settings: meta.settings ?? { seed: 0, systemPrompt: '' }, bytes: new Uint8Array(await r.arrayBuffer()) };
}

export async function deleteRunData(runId: string): Promise<void> {
  if (!available()) return;
  await (await caches.open(CACHE)).delete(url(runId));
}
