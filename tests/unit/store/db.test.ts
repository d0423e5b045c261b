// IndexedDB schema and API (fake-indexeddb): runs, metrics, evaluations, ratings, cascade delete,
// JSONL export order, and the versioned upgrade.
import 'fake-indexeddb/auto';
import { afterEach, describe, expect, it } from 'vitest';
import {
  appendMetric, createRun, deleteRun, exportRunJsonl, getRun, listEvaluations, listMetrics, listRatings, listRuns,
  openStudioDb, recordTrainEvent, saveEvaluation, saveRating, updateRun, DB_VERSION, type StudioDb,
} from '../../../src/store/db';
import { DEFAULT_TRAIN_CONFIG } from '../../../src/train/config';
import type { TrainEvent } from '../../../src/train/loop';

let n = 0;
const opened: StudioDb[] = [];
async function freshDb() {
  const db = await openStudioDb(`test-db-${process.pid}-${n++}`);
  opened.push(db);
  return db;
}
afterEach(() => { while (opened.length) opened.pop()!.close(); });

const step = (s: number, loss = 1 / s): TrainEvent => ({
  type: 'step', step: s, totalSteps: 10, epoch: 0, loss, lr: 1e-4, gradNorm: 0.5, tokensPerSecond: 100, etaSeconds: 1, gpuMemoryBytes: 1, tokensSeen: s * 10,
});
const at = (sec: number) => new Date(Date.UTC(2025, 0, 1, 0, 0, sec));

describe('store/db', () => {
  it('creates the five stores at version 1', async () => {
    const db = await freshDb();
    expect(db.version).toBe(DB_VERSION);
    expect([...db.objectStoreNames].sort()).toEqual(['checkpoints', 'evaluations', 'metrics', 'ratings', 'runs']);
  });

  it('creates, updates and lists runs newest first', async () => {
    const db = await freshDb();
    const a = await createRun(db, { runId: 'a', modelName: 'demo', config: DEFAULT_TRAIN_CONFIG });
    await new Promise((r) => setTimeout(r, 5));
    await createRun(db, { runId: 'b', modelName: 'meta-llama/Llama-3.1-8B-Instruct', config: DEFAULT_TRAIN_CONFIG });
    expect(a).toMatchObject({ status: 'running', position: null, dataReport: null });
    expect((await listRuns(db)).map((r) => r.runId)).toEqual(['b', 'a']);
    await expect(createRun(db, { runId: 'a', modelName: 'demo', config: DEFAULT_TRAIN_CONFIG })).rejects.toThrow(/already exists/);

    await new Promise((r) => setTimeout(r, 5));
    const pos = { step: 5, epoch: 0, batchInEpoch: 5, bestValLoss: 1.2, evalsWithoutImprovement: 0, tokensSeen: 500 };
    const u = await updateRun(db, 'a', { status: 'paused', position: pos });
    expect(u.status).toBe('paused');
    expect(u.position).toEqual(pos);
    expect(u.createdAt).toBe(a.createdAt);
    expect(u.updatedAt > a.updatedAt).toBe(true);
    expect(await getRun(db, 'a')).toEqual(u);
    await expect(updateRun(db, 'nope', { status: 'finished' })).rejects.toThrow(/run "nope" does not exist/);
    await expect(updateRun(db, 'a', { status: 'exploded' as never })).rejects.toThrow(/status must be one of/);
    expect(typeof (await createRun(db, { modelName: 'demo', config: DEFAULT_TRAIN_CONFIG })).runId).toBe('string');
  });

  it('stores step/eval metrics in step order; a re-emitted step replaces its earlier copy', async () => {
    const db = await freshDb();
    await createRun(db, { runId: 'r', modelName: 'demo', config: DEFAULT_TRAIN_CONFIG });
    await appendMetric(db, 'r', step(2), at(2));
    await appendMetric(db, 'r', { type: 'eval', step: 1, valLoss: 2, perplexity: Math.exp(2) }, at(1));
    await appendMetric(db, 'r', step(1), at(0));
    await appendMetric(db, 'r', step(2, 0.25), at(3)); // after a resume
    const m = await listMetrics(db, 'r');
    expect(m.map((x) => [x.event.type, x.event.step])).toEqual([['step', 1], ['eval', 1], ['step', 2]]);
    expect(m[2].event).toMatchObject({ loss: 0.25 });
    expect(m[2].time).toBe(at(3).toISOString());
    await expect(appendMetric(db, 'r', { type: 'checkpoint', step: 1, bytes: 3, position: { step: 1, epoch: 0, batchInEpoch: 1, bestValLoss: null, evalsWithoutImprovement: 0, tokensSeen: 9 } })).rejects.toThrow(/only step and eval/);
    await recordTrainEvent(db, 'r', { type: 'done', reason: 'early-stopped', step: 2 });
    expect((await getRun(db, 'r'))!.status).toBe('early-stopped');
  });

  it('saves evaluations and ratings; rejects malformed ones', async () => {
    const db = await freshDb();
    await createRun(db, { runId: 'r', modelName: 'demo', config: DEFAULT_TRAIN_CONFIG });
    const e = await saveEvaluation(db, {
      runId: 'r', split: 'test', metrics: { bleu: 12.5, rougeL: 30 },
      samples: [{ id: 's1', prompt: 'p', reference: 'ref', output: 'out', bleu: 10 }],
    });
    expect((await listEvaluations(db, 'r'))[0]).toEqual(e);
    await expect(saveEvaluation(db, { runId: 'r', split: 'val', metrics: {}, samples: [{ id: 'x', prompt: '', reference: '', output: '' }, { id: 'x', prompt: '', reference: '', output: '' }] }))
      .rejects.toThrow(/duplicate sample id "x"/);
    const rating = { sampleId: 's1', empathy: 4, tone: 5, helpfulness: 3, note: 'ok', variant: 'adapter' as const, blind: true };
    await saveRating(db, 'r', rating, at(1));
    await saveRating(db, 'r', { ...rating, empathy: 5 }, at(2)); // replaces (same sample and variant)
    await saveRating(db, 'r', { ...rating, variant: 'base' }, at(3));
    const rs = await listRatings(db, 'r');
    expect(rs.map((r) => [r.variant, r.empathy])).toEqual([['adapter', 5], ['base', 4]]);
    await expect(saveRating(db, 'r', { ...rating, tone: 6 })).rejects.toThrow(/tone must be an integer 1..5/);
  });

  it('deleteRun cascades to every store and leaves other runs alone', async () => {
    const db = await freshDb();
    for (const id of ['r', 'r2', 'rr']) {
      await createRun(db, { runId: id, modelName: 'demo', config: DEFAULT_TRAIN_CONFIG });
      await appendMetric(db, id, step(1));
      await db.put('checkpoints', { runId: id, step: 1, bytes: new Uint8Array([1, 2]), sha256: 'x', size: 2, savedAt: '' });
      await saveEvaluation(db, { runId: id, split: 'val', metrics: {}, samples: [] });
      await saveRating(db, id, { sampleId: 's', empathy: 1, tone: 1, helpfulness: 1, note: '', variant: 'base', blind: false });
    }
    expect(await deleteRun(db, 'r')).toBe(true);
    expect(await deleteRun(db, 'r')).toBe(false);
    expect(await getRun(db, 'r')).toBeUndefined();
    for (const s of ['metrics', 'checkpoints', 'evaluations', 'ratings'] as const) {
      const keys = (await db.getAllKeys(s)) as unknown as unknown[][];
      expect(keys.map((k) => k[0]).sort(), s).toEqual(['r2', 'rr']);
    }
  });

  it('exportRunJsonl: run first, then metrics, evaluations and ratings merged in time order', async () => {
    const db = await freshDb();
    await createRun(db, { runId: 'r', modelName: 'demo', config: DEFAULT_TRAIN_CONFIG });
    await appendMetric(db, 'r', step(1), at(1));
    await saveRating(db, 'r', { sampleId: 's', empathy: 3, tone: 3, helpfulness: 3, note: 'ন"ো\nte', variant: 'base', blind: false }, at(4));
    await saveEvaluation(db, { runId: 'r', split: 'val', metrics: { bleu: 1 }, samples: [], createdAt: at(3).toISOString(), id: 'e1' });
    await appendMetric(db, 'r', step(2), at(5));
    await appendMetric(db, 'r', { type: 'eval', step: 2, valLoss: 1, perplexity: Math.E }, at(2)); // arrived earlier
    const text = await exportRunJsonl(db, 'r');
    expect(text.endsWith('\n')).toBe(true);
    const lines = text.trimEnd().split('\n').map((l) => JSON.parse(l));
    expect(lines.map((l) => l.kind)).toEqual(['run', 'metric', 'metric', 'evaluation', 'rating', 'metric']);
    expect(lines[0]).toMatchObject({ runId: 'r', modelName: 'demo', status: 'running' });
    expect(lines[1]).toMatchObject({ type: 'step', step: 1, time: at(1).toISOString() });
    expect(lines[2]).toMatchObject({ type: 'eval', step: 2 });
    expect(lines[3]).toMatchObject({ id: 'e1', metrics: { bleu: 1 } });
    expect(lines[4].note).toBe('ন"ো\nte');
    expect(lines.slice(1).every((l) => !('runId' in l))).toBe(true);
    await expect(exportRunJsonl(db, 'missing')).rejects.toThrow(/does not exist/);
  });
});
