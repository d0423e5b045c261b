// The training run as the UI sees it: starts, pauses, resumes and cancels runs in the engine
// worker, and collects the TrainEvents it streams back (charts, progress, GPU memory). After a
// page reload, resumeFromStore() reloads the model and the run's CSV and continues the run from
// its newest checkpoint.
import * as Comlink from 'comlink';
import { getEngine, describeError } from '../engine';
import type { RecoveryEvent, TrainEvent } from '../../engine';
import type { TrainConfig } from '../../train/config';
import { getDb } from './db';
import { getRun, listMetrics, updateRun } from '../../store/db';
import { loadRunData, saveRunData } from './runData';
import { studio } from './studio.svelte';
import { requestPersistence } from '../../store/checkpoints.idb';

export type StepEvent = Extract<TrainEvent, { type: 'step' }>;
export type EvalEvent = Extract<TrainEvent, { type: 'eval' }>;
export type TrainStatus = 'idle' | 'starting' | 'running' | 'pausing' | 'paused' | 'cancelling' | 'finished' | 'early-stopped' | 'cancelled' | 'failed';

class Training {
  runId = $state<string | null>(null);
  status = $state<TrainStatus>('idle');
  steps = $state.raw<StepEvent[]>([]);
  evals = $state.raw<EvalEvent[]>([]);
  lastCheckpoint = $state<number | null>(null);
  error = $state<string | null>(null);
  notice = $state<string | null>(null);
  cfg = $state.raw<TrainConfig | null>(null);

  get last(): StepEvent | null {
    return this.steps.at(-1) ?? null;
  }
  get active(): boolean {
    return this.status === 'starting' || this.status === 'running' || this.status === 'pausing' || this.status === 'cancelling';
  }
  /** A run whose adapter exists in the engine (trained at least one step, or resumed). */
  get hasAdapter(): boolean {
    return this.runId !== null && this.status !== 'starting' && this.status !== 'failed';
  }

  private onEvent = (e: TrainEvent | RecoveryEvent) => {
    if (e.type === 'step') {
      this.steps = [...this.steps.filter((s) => s.step < e.step), e];
      if (this.status === 'starting') this.status = 'running';
    } else if (e.type === 'eval') {
      this.evals = [...this.evals.filter((s) => s.step < e.step), e];
    } else if (e.type === 'checkpoint') {
      this.lastCheckpoint = e.step;
    } else if (e.type === 'recovered') {
      this.notice = `The GPU device was lost (${e.reason}); training resumed from step ${e.resumedAtStep}.`;
    }
  };

  private async run(call: (cb: (e: TrainEvent | RecoveryEvent) => void) => Promise<{ endReason: TrainStatus }>) {
    this.error = null;
    this.status = 'starting';
    let reason: TrainStatus = 'finished';
    const cb = (e: TrainEvent | RecoveryEvent) => {
      if (e.type === 'done') reason = e.reason;
      else if (this.status === 'starting' && e.type !== 'recovered') this.status = 'running';
      this.onEvent(e);
    };
    try {
      // The reply carries the end reason: the 'done' event may arrive after it (other port).
      this.status = (await call(Comlink.proxy(cb))).endReason ?? reason;
    } catch (e) {
      this.error = describeError(e).message;
      this.status = 'failed';
    }
  }

  /** An adapter imported into the engine (PEFT zip or folder): chat, evaluate, export or train on. */
  imported(runId: string, cfg: TrainConfig) {
    this.runId = runId;
    this.cfg = cfg;
    this.steps = [];
    this.evals = [];
    this.lastCheckpoint = null;
    this.error = null;
    this.status = 'finished';
  }

  /** A new run with `cfg` on the prepared data. */
  async start(cfg: TrainConfig) {
    const data = studio.data;
    if (!data) throw new Error('prepare a dataset first (Data section)');
    const runId = `run-${new Date().toISOString().replace(/[:.]/g, '-')}`;
    this.runId = runId;
    this.cfg = $state.snapshot(cfg) as TrainConfig;
    this.steps = [];
    this.evals = [];
    this.lastCheckpoint = null;
    this.notice = null;
    // Long runs: ask the browser not to evict the checkpoints under storage pressure.
    if (!(await requestPersistence().catch(() => false)))
      this.notice = 'The browser did not grant persistent storage: under storage pressure it may evict checkpoints. Export the adapter when the run ends.';
    // Keep the exact CSV for a resume after a reload (best effort: a full cache is not fatal).
    await saveRunData(runId, { name: data.name, bytes: data.bytes, settings: data.settings }).catch(() => {
      this.notice = 'The browser did not let the studio keep a copy of the CSV: resuming after a reload will ask for it again.';
    });
    const engine = await getEngine();
    await this.run((cb) => engine.train(this.cfg!, cb, runId));
  }

  /** Continue the paused run in this page (the engine still holds its state). */
  async resume() {
    if (!this.runId || !this.cfg) return;
    const engine = await getEngine();
    const runId = this.runId;
    await this.run((cb) => engine.train(this.cfg!, cb, runId));
  }

  async pause() {
    if (this.status !== 'running' && this.status !== 'starting') return;
    this.status = 'pausing';
    (await getEngine()).pauseTraining();
  }

  async cancel() {
    if (this.status === 'paused' && this.runId) {
      // Nothing runs in the worker: mark the run as cancelled in the experiment log.
      await updateRun(await getDb(), this.runId, { status: 'cancelled' }).catch(() => {});
      this.status = 'cancelled';
      return;
    }
    if (!this.active) return;
    this.status = 'cancelling';
    (await getEngine()).cancelTraining();
  }

  /**
   * Resume a run recorded in IndexedDB after a reload: the demo model (or the model already
   * loaded), the run's CSV with its prepare settings, then its newest checkpoint.
   */
  async resumeFromStore(runId: string, onStage: (s: string) => void = () => {}) {
    const db = await getDb();
    const run = await getRun(db, runId);
    if (!run) throw new Error(`run ${runId} is no longer in the experiment log`);
    const data = await loadRunData(runId);
    if (!data) throw new Error('the CSV of this run is not stored in this browser any more; load it in the Data section and start a new run');
    const engine = await getEngine();
    if (!studio.model) {
      if (!run.modelName.startsWith('demo')) throw new Error(`this run trained "${run.modelName}": load that model in the Model section first, then resume`);
      onStage('Loading the demo model…');
      studio.loadingModel = true;
      try {
        studio.model = await engine.loadDemoModel();
      } finally {
        studio.loadingModel = false;
      }
    }
    onStage('Preparing the run’s data…');
    const preview = await engine.prepareData(data.bytes, { seed: data.settings.seed, systemPrompt: data.settings.systemPrompt, columns: data.settings.columns });
    studio.data = { ...data, preview };
    const metrics = await listMetrics(db, runId);
    this.runId = runId;
    this.cfg = run.config;
    studio.trainCfg = structuredClone(run.config);
    this.steps = metrics.map((m) => m.event).filter((e): e is StepEvent => e.type === 'step');
    this.evals = metrics.map((m) => m.event).filter((e): e is EvalEvent => e.type === 'eval');
    this.lastCheckpoint = null;
    this.notice = null;
    onStage('Resuming from the newest checkpoint…');
    await this.run((cb) => engine.resumeFromCheckpoint(runId, cb));
  }
}

export const training = new Training();
