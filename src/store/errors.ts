// Typed storage errors shared by the IndexedDB checkpoint store and the OPFS model cache.
// Browsers report a full origin quota as a DOMException named 'QuotaExceededError' (legacy code
// 22; old Firefox 'NS_ERROR_DOM_QUOTA_REACHED'), either from the request or as the aborted
// transaction's error; all of them become a StorageQuotaError that says how much was needed.

export interface StorageEstimateLike { usage?: number; quota?: number }

export class StorageQuotaError extends Error {
  constructor(
    readonly bytesNeeded: number,
    readonly usage: number | null,
    readonly quota: number | null,
    what = 'data',
  ) {
    const mb = (b: number) => `${(b / 1e6).toFixed(1)} MB`;
    const state = usage !== null && quota !== null ? ` (${mb(usage)} of ${mb(quota)} used)` : '';
    super(`browser storage is full: saving ${what} needs ${mb(bytesNeeded)}${state}. Free space (delete old runs or cached models) or allow persistent storage.`);
    this.name = 'StorageQuotaError';
  }
}

/** True for a quota failure in any of its spellings (also wrapped as `cause` or a transaction's `error`). */
export function isQuotaError(e: unknown): boolean {
  for (let x = e, depth = 0; x && typeof x === 'object' && depth < 4; depth++) {
    const o = x as { name?: unknown; code?: unknown; cause?: unknown; error?: unknown };
    if (o.name === 'QuotaExceededError' || o.name === 'NS_ERROR_DOM_QUOTA_REACHED' || (o.code === 22 && o.name !== 'AbortError')) return true;
    x = o.cause ?? o.error;
  }
  return false;
}

/** navigator.storage.estimate() when the browser has it; nulls otherwise (Node, old browsers, errors). */
export async function storageEstimate(
  storage: { estimate?: () => Promise<StorageEstimateLike> } | undefined = (globalThis as { navigator?: { storage?: { estimate?: () => Promise<StorageEstimateLike> } } }).navigator?.storage,
): Promise<{ usage: number | null; quota: number | null }> {
  try {
    const e = storage?.estimate ? await storage.estimate() : undefined;
    return { usage: e?.usage ?? null, quota: e?.quota ?? null };
  } catch {
    return { usage: null, quota: null };
  }
}

/** Turn a quota failure into a StorageQuotaError (with the current estimate); other errors pass through. */
export async function toQuotaError(e: unknown, bytesNeeded: number, what: string, storage?: { estimate?: () => Promise<StorageEstimateLike> }): Promise<unknown> {
  if (!isQuotaError(e)) return e;
  const { usage, quota } = await storageEstimate(storage);
  const err = new StorageQuotaError(bytesNeeded, usage, quota, what);
  (err as { cause?: unknown }).cause = e;
  return err;
}
