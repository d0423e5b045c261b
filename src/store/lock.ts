// One tab per run: a Web Lock (navigator.locks) named after the run, requested with
// ifAvailable so a second tab learns at once that the run is busy instead of waiting. The lock
// is held until release() (or until the tab closes, when the browser frees it).

export const RUN_LOCK_PREFIX = 'qlora-studio:run:';

export interface RunLock {
  /** True when this tab holds the run (or when Web Locks are unavailable: see `supported`). */
  owned: boolean;
  /** False where navigator.locks is missing: nothing could be checked. */
  supported: boolean;
  release(): void;
}

/** The subset of the Web Locks LockManager used here. */
export interface LockManagerLike {
  request<T>(name: string, options: { ifAvailable?: boolean; mode?: 'exclusive' | 'shared' }, callback: (lock: unknown | null) => Promise<T> | T): Promise<T>;
}

export async function acquireRunLock(
  runId: string,
  locks: LockManagerLike | undefined = (globalThis as { navigator?: { locks?: LockManagerLike } }).navigator?.locks,
): Promise<RunLock> {
  if (!runId) throw new Error('acquireRunLock: runId must be a non-empty string');
  if (!locks?.request) return { owned: true, supported: false, release() {} };
  return new Promise<RunLock>((resolve, reject) => {
    locks
      .request(RUN_LOCK_PREFIX + runId, { ifAvailable: true, mode: 'exclusive' }, (lock) => {
        if (!lock) {
          resolve({ owned: false, supported: true, release() {} });
          return undefined;
        }
        // Hold the lock until release(): the request ends when this promise settles.
        return new Promise<void>((done) => {
          let released = false;
          resolve({ owned: true, supported: true, release() { if (!released) { released = true; done(); } } });
        });
      })
      .catch(reject);
  });
}
