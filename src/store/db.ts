// The studio's IndexedDB database (idb): one record per run and, keyed under the run, its
// metrics (every step/eval TrainEvent with the time it arrived), checkpoints (safetensors bytes +
// SHA-256), evaluations (corpus metrics + per-sample outputs) and human ratings.
// Keys: runs runId; metrics [runId, index] with index = 2·step (+1 for an eval), so an event
// re-emitted after a resume overwrites its earlier copy; checkpoints [runId, step];
// evaluations [runId, id]; ratings [runId, sampleId, variant]. Every child key starts with the
// runId, so a run's records are one key range: IDBKeyRange.bound([runId], [runId, []]) (arrays
// sort after every number and string).

import { openDB, type DBSchema, type IDBPDatabase } from 'idb';
import type { DataReport } from '../data/pipeline';
import type { HeuristicFlags, HeuristicRates } from '../eval/heuristics';
import { validateRating, type HumanRating, type Variant } from '../eval/ratings';
import type { LoopPosition } from '../train/checkpoint';
import type { TrainConfig } from '../train/config';
import type { TrainEvent } from '../train/loop';

export const DB_NAME = 'qlora-studio';
export const DB_VERSION = 1;

export type RunStatus = 'running' | 'paused' | 'finished' | 'cancelled' | 'early-stopped' | 'failed';
export const RUN_STATUSES: readonly RunStatus[] = ['running', 'paused', 'finished', 'cancelled', 'early-stopped', 'failed'];

export interface RunRecord {
  runId: string;
  createdAt: string; // ISO 8601
  updatedAt: string;
  modelName: string; // HF repo id or 'demo'
  config: TrainConfig;
  dataReport: DataReport | null;
  status: RunStatus;
  position: LoopPosition | null; // last loop position (from the newest checkpoint or the last step)
  error?: string; // with status 'failed'
}

export type MetricEvent = Extract<TrainEvent, { type: 'step' | 'eval' }>;

export interface MetricRecord {
  runId: string;
  index: number; // 2·step, +1 for eval
  time: string; // ISO 8601
  event: MetricEvent;
}

export interface CheckpointRecord {
  runId: string;
  step: number;
  bytes: Uint8Array; // safetensors (serializeCheckpoint)
  sha256: string;
  size: number;
  savedAt: string;
}

/** Corpus-level numbers of one evaluation (sacrebleu-style scores 0..100, perplexity, heuristic rates). */
export interface EvaluationMetrics {
  bleu?: number;
  chrf?: number;
  chrfpp?: number;
  rouge1?: number;
  rouge2?: number;
  rougeL?: number; // F1 × 100
  perplexity?: number;
  valLoss?: number;
  heuristics?: HeuristicRates;
  signatures?: Record<string, string>;
}

/** One evaluated prompt: the model's output next to the reference, with sentence-level scores. */
export interface EvalSample {
  id: string;
  prompt: string;
  reference: string;
  output: string;
  variant?: Variant; // 'base' or 'adapter' when both were generated
  bleu?: number;
  chrf?: number;
  rougeL?: number;
  heuristics?: HeuristicFlags;
}

export interface EvaluationRecord {
  runId: string;
  id: string;
  createdAt: string;
  split: 'val' | 'test' | 'custom';
  step?: number; // adapter step that was evaluated
  metrics: EvaluationMetrics;
  samples: EvalSample[];
}

export interface RatingRecord extends HumanRating {
  runId: string;
  ratedAt: string;
}

export interface StudioSchema extends DBSchema {
  runs: { key: string; value: RunRecord; indexes: { createdAt: string } };
  metrics: { key: [string, number]; value: MetricRecord };
  checkpoints: { key: [string, number]; value: CheckpointRecord };
  evaluations: { key: [string, string]; value: EvaluationRecord };
  ratings: { key: [string, string, Variant]; value: RatingRecord };
}

export type StudioDb = IDBPDatabase<StudioSchema>;
export const CHILD_STORES = ['metrics', 'checkpoints', 'evaluations', 'ratings'] as const;

/** Open (creating or upgrading) the database. Each version's upgrade step runs once, in order. */
export function openStudioDb(name = DB_NAME): Promise<StudioDb> {
  return openDB<StudioSchema>(name, DB_VERSION, {
    upgrade(db, oldVersion) {
      if (oldVersion < 1) {
        db.createObjectStore('runs', { keyPath: 'runId' }).createIndex('createdAt', 'createdAt');
        db.createObjectStore('metrics', { keyPath: ['runId', 'index'] });
        db.createObjectStore('checkpoints', { keyPath: ['runId', 'step'] });
        db.createObjectStore('evaluations', { keyPath: ['runId', 'id'] });
        db.createObjectStore('ratings', { keyPath: ['runId', 'sampleId', 'variant'] });
      }
    },
    blocked() {
      // Another tab holds an older version open; it will get `versionchange` and close.
    },
  }).then((db) => {
    db.addEventListener('versionchange', () => db.close()); // let a newer tab upgrade
    return db;
  });
}

/** All keys [runId, ...] of one run's child records. */
export const runRange = (runId: string) => IDBKeyRange.bound([runId], [runId, []]);

const now = () => new Date().toISOString();

export class RunNotFoundError extends Error {
  constructor(readonly runId: string) {
    super(`run "${runId}" does not exist`);
    this.name = 'RunNotFoundError';
  }
}

export interface NewRun {
  runId?: string; // default: a random UUID
  modelName: string;
  config: TrainConfig;
  dataReport?: DataReport | null;
  status?: RunStatus;
}

export async function createRun(db: StudioDb, r: NewRun): Promise<RunRecord> {
  const t = now();
  const rec: RunRecord = {
    runId: r.runId ?? crypto.randomUUID(), createdAt: t, updatedAt: t, modelName: r.modelName,
    config: r.config, dataReport: r.dataReport ?? null, status: r.status ?? 'running', position: null,
  };
  if (!RUN_STATUSES.includes(rec.status)) throw new Error(`run status must be one of ${RUN_STATUSES.join(', ')}, got "${rec.status}"`);
  await db.add('runs', rec).catch((e: unknown) => {
    throw (e as { name?: string }).name === 'ConstraintError' ? new Error(`run "${rec.runId}" already exists`) : e;
  });
  return rec;
}

export type RunPatch = Partial<Omit<RunRecord, 'runId' | 'createdAt' | 'updatedAt'>>;

/** Merge `patch` into the run (read and write in one transaction); bumps updatedAt. */
export async function updateRun(db: StudioDb, runId: string, patch: RunPatch): Promise<RunRecord> {
  if (patch.status !== undefined && !RUN_STATUSES.includes(patch.status)) throw new Error(`run status must be one of ${RUN_STATUSES.join(', ')}, got "${patch.status}"`);
  const tx = db.transaction('runs', 'readwrite');
  const old = await tx.store.get(runId);
  if (!old) {
    tx.abort();
    await tx.done.catch(() => {});
    throw new RunNotFoundError(runId);
  }
  const rec: RunRecord = { ...old, ...patch, runId, createdAt: old.createdAt, updatedAt: now() };
  await Promise.all([tx.store.put(rec), tx.done]);
  return rec;
}

export const getRun = (db: StudioDb, runId: string): Promise<RunRecord | undefined> => db.get('runs', runId);

/** Runs, newest first. */
export async function listRuns(db: StudioDb): Promise<RunRecord[]> {
  return (await db.getAllFromIndex('runs', 'createdAt')).reverse();
}

/** Delete a run and everything stored under it, atomically. Returns whether the run existed. */
export async function deleteRun(db: StudioDb, runId: string): Promise<boolean> {
  const tx = db.transaction(['runs', ...CHILD_STORES], 'readwrite');
  const existed = (await tx.objectStore('runs').getKey(runId)) !== undefined;
  await Promise.all([
    tx.objectStore('runs').delete(runId),
    ...CHILD_STORES.map((s) => tx.objectStore(s).delete(runRange(runId))),
    tx.done,
  ]);
  return existed;
}

export const metricIndex = (e: MetricEvent) => e.step * 2 + (e.type === 'eval' ? 1 : 0);

/** Store a step or eval event (other event types are rejected: they are not metrics). */
export async function appendMetric(db: StudioDb, runId: string, event: TrainEvent, time: Date = new Date()): Promise<MetricRecord> {
  if (event.type !== 'step' && event.type !== 'eval') throw new Error(`appendMetric: only step and eval events are metrics, got "${event.type}"`);
  if (!Number.isInteger(event.step) || event.step < 0) throw new Error(`appendMetric: step must be a non-negative integer, got ${event.step}`);
  const rec: MetricRecord = { runId, index: metricIndex(event), time: time.toISOString(), event };
  await db.put('metrics', rec);
  return rec;
}

/** Metrics in step order (a step before the eval at the same step). */
export const listMetrics = (db: StudioDb, runId: string): Promise<MetricRecord[]> => db.getAll('metrics', runRange(runId));

/**
 * Record any TrainEvent: step/eval become metrics; 'done' sets the run's status and position
 * step; 'checkpoint' is already in the checkpoints store and is ignored.
 */
export async function recordTrainEvent(db: StudioDb, runId: string, event: TrainEvent, time: Date = new Date()): Promise<void> {
  if (event.type === 'step' || event.type === 'eval') await appendMetric(db, runId, event, time);
  else if (event.type === 'done') await updateRun(db, runId, { status: event.reason });
}

export async function saveEvaluation(db: StudioDb, e: Omit<EvaluationRecord, 'createdAt' | 'id'> & { id?: string; createdAt?: string }): Promise<EvaluationRecord> {
  const rec: EvaluationRecord = { ...e, id: e.id ?? crypto.randomUUID(), createdAt: e.createdAt ?? now() };
  const ids = new Set<string>();
  for (const s of rec.samples) {
    if (typeof s.id !== 'string' || s.id === '') throw new Error(`evaluation ${rec.id}: every sample needs a non-empty id`);
    const k = `${s.id}\u0000${s.variant ?? ''}`;
    if (ids.has(k)) throw new Error(`evaluation ${rec.id}: duplicate sample id "${s.id}"${s.variant ? ` (${s.variant})` : ''}`);
    ids.add(k);
  }
  await db.put('evaluations', rec);
  return rec;
}

/** Evaluations, oldest first. */
export async function listEvaluations(db: StudioDb, runId: string): Promise<EvaluationRecord[]> {
  return (await db.getAll('evaluations', runRange(runId))).sort((a, b) => a.createdAt.localeCompare(b.createdAt));
}

/** Save (or replace) the rating of one sample's variant; checked with validateRating. */
export async function saveRating(db: StudioDb, runId: string, r: HumanRating, ratedAt: Date = new Date()): Promise<RatingRecord> {
  validateRating(r);
  const rec: RatingRecord = { ...r, runId, ratedAt: ratedAt.toISOString() };
  await db.put('ratings', rec);
  return rec;
}

/** Ratings, oldest first. */
export async function listRatings(db: StudioDb, runId: string): Promise<RatingRecord[]> {
  return (await db.getAll('ratings', runRange(runId))).sort((a, b) => a.ratedAt.localeCompare(b.ratedAt));
}

export type LogLine =
  | ({ kind: 'run' } & RunRecord)
  | ({ kind: 'metric'; time: string } & MetricEvent)
  | ({ kind: 'evaluation' } & Omit<EvaluationRecord, 'runId'>)
  | ({ kind: 'rating' } & Omit<RatingRecord, 'runId'>);

/**
 * The run's experiment log as JSONL: the run record first, then its metrics, evaluations and
 * ratings merged in time order (ties keep that order). Checkpoint bytes are not included.
 */
export async function exportRunJsonl(db: StudioDb, runId: string): Promise<string> {
  const tx = db.transaction(['runs', 'metrics', 'evaluations', 'ratings'], 'readonly');
  const [run, metrics, evals, ratings] = await Promise.all([
    tx.objectStore('runs').get(runId),
    tx.objectStore('metrics').getAll(runRange(runId)),
    tx.objectStore('evaluations').getAll(runRange(runId)),
    tx.objectStore('ratings').getAll(runRange(runId)),
  ]);
  if (!run) throw new RunNotFoundError(runId);
  const timed: { time: string; order: number; seq: number; line: LogLine }[] = [];
  metrics.forEach((m, seq) => timed.push({ time: m.time, order: 0, seq, line: { kind: 'metric', time: m.time, ...m.event } }));
  evals.forEach(({ runId: _r, ...e }, seq) => timed.push({ time: e.createdAt, order: 1, seq, line: { kind: 'evaluation', ...e } }));
  ratings.forEach(({ runId: _r, ...r }, seq) => timed.push({ time: r.ratedAt, order: 2, seq, line: { kind: 'rating', ...r } }));
  timed.sort((a, b) => (a.time < b.time ? -1 : a.time > b.time ? 1 : a.order - b.order || a.seq - b.seq));
  const lines: LogLine[] = [{ kind: 'run', ...run }, ...timed.map((t) => t.line)];
  return lines.map((l) => JSON.stringify(l) + '\n').join('');
}
