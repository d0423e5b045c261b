// The engine in a Web Worker, exposed with comlink: all GPU work stays off the UI thread.
import * as Comlink from 'comlink';
import { Engine, toEngineError } from '../src/engine';

/** What the UI can call: create the engine, then use it through the returned proxy. */
const api = {
  async init(): Promise<Engine> {
    try {
      return Comlink.proxy(await Engine.create(self.navigator.gpu));
    } catch (e) {
      throw toEngineError(e);
    }
  },
};
export type EngineWorkerApi = typeof api;
Comlink.expose(api);
