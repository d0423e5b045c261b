// The experiment log as the engine sees it: a run starts, events arrive, evaluations are saved.
// In the browser it is IndexedDB (db.ts); the CLI writes log.jsonl itself and passes none.

import type { DataReport } from '../data/pipeline';
import type { EvalResult } from '../eval/run';
import type { TrainConfig } from '../train/config';
import type { TrainEvent } from '../train/loop';
import { createRun, getRun, recordTrainEvent, saveEvaluation, updateRun, type StudioDb } from './db';

export interface RunLog {
  startRun(runId: string, modelName: string, config: TrainConfig, report: DataReport | null): Promise<void>;
  event(runId: string, e: TrainEvent): Promise<void>;
  failed(runId: string, message: string): Promise<void>;
  evaluation(runId: string, r: EvalResult, step: number | undefined): Promise<void>;
}

export function idbRunLog(db: StudioDb): RunLog {
  return {
    async startRun(runId, modelName, config, report) {
      if (await getRun(db, runId)) await updateRun(db, runId, { status: 'running' });
      else await createRun(db, { runId, modelName, config, dataReport: report });
    },
    async event(runId, e) {
      await recordTrainEvent(db, runId, e);
      if (e.type === 'checkpoint') await updateRun(db, runId, { position: e.position }); // Runs shows the step
    },
    failed: async (runId, message) => { await updateRun(db, runId, { status: 'failed', error: message }); },
    async evaluation(runId, r, step) {
      await saveEvaluation(db, {
        runId, split: r.split, step,
        metrics: {
          bleu: r.bleu?.score, chrf: r.chrf?.score, chrfpp: r.chrfpp?.score,
          rouge1: r.rouge ? r.rouge.rouge1.f * 100 : undefined, rouge2: r.rouge ? r.rouge.rouge2.f * 100 : undefined,
          rougeL: r.rouge ? r.rouge.rougeL.f * 100 : undefined, perplexity: r.perplexity.perplexity,
          heuristics: r.heuristics ?? undefined,
          signatures: { ...(r.bleu ? { bleu: r.bleu.signature } : {}), ...(r.chrf ? { chrf: r.chrf.signature } : {}), ...(r.chrfpp ? { chrfpp: r.chrfpp.signature } : {}) },
        },
        samples: r.samples.map((s) => ({
          id: s.id, prompt: s.prompt, reference: s.reference, output: s.output,
          variant: r.adapter ? 'adapter' as const : 'base' as const, bleu: s.bleu, chrf: s.chrf, rougeL: s.rougeL, heuristics: s.heuristics.flags,
        })),
      });
    },
  };
}
