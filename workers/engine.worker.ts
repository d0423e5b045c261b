// The engine in a Web Worker, exposed with comlink: all GPU work stays off the UI thread.
// Checkpoints and the experiment log go to IndexedDB (the UI reads the same database).
import * as Comlink from 'comlink';
import { Engine, toEngineError } from '../src/engine';
import { openStudioDb } from '../src/store/db';
import { idbCheckpointStore } from '../src/store/checkpoints.idb';
import { idbRunLog } from '../src/store/runlog';
import { acquireRunLock } from '../src/store/lock';

/** What the UI can call: create the engine, then use it through the returned proxy. */
const api = {
  async init(): Promise<Engine> {
    try {
      const db = await openStudioDb();
      const engine = await Engine.create(self.navigator.gpu, { store: idbCheckpointStore(db), log: idbRunLog(db), lockRun: (id) => acquireRunLock(id) });
      return Comlink.proxy(engine);
    } catch (e) {
      throw toEngineError(e);
    }
  },
};
export type EngineWorkerApi = typeof api;
Comlink.expose(api);
