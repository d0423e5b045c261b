// Run bundle export: one zip (fflate) with everything needed to inspect a run or continue it
// elsewhere:
//   log.jsonl                      experiment log (store/db.ts exportRunJsonl)
//   evaluations.json               every evaluation with its per-sample outputs
//   evaluations.csv                one row per evaluated sample (spreadsheet-safe, UTF-8 BOM)
//   chat/{train,validation,test}.jsonl   the split as chat JSONL ({"messages": [...]}, axolotl etc.)
//   data/{train,validation,test}.jsonl   the same as TRL prompt-completion JSONL (recipe data)
//   adapter/adapter_config.json + adapter_model.safetensors   PEFT adapter (when weights are given)
//   trl_config.yaml, accelerate_config.yaml, README.md         TRL recipe (recipe.ts)
// CSV: RFC 4180 quoting (fields with , " CR LF or edge spaces are quoted, quotes doubled, CRLF
// rows); text cells starting with = + - @ (or tab / CR) get a leading ' so spreadsheets show
// them as text instead of evaluating them as formulas.

import { zipSync } from 'fflate';
import { toChatJsonl } from '../data/pipeline';
import type { SplitIndices } from '../data/split';
import type { ChatMessage } from '../data/tokenizer';
import type { HeuristicFlags } from '../eval/heuristics';
import { exportRunJsonl, getRun, listEvaluations, RunNotFoundError, type EvaluationRecord, type StudioDb } from '../store/db';
import { exportPeftFiles, type LoraHostWeights, type PeftExportOptions } from './peft';
import { buildTrlRecipe, toPromptCompletionJsonl, type TrlRecipeOptions } from './recipe';

const FLAGS: (keyof HeuristicFlags)[] = ['bangla', 'lengthOk', 'endsComplete', 'empathy', 'noAdvice'];
export const EVAL_CSV_COLUMNS = ['evaluation', 'split', 'step', 'id', 'variant', 'prompt', 'reference', 'output', 'bleu', 'chrf', 'rougeL', ...FLAGS] as const;

/** One CSV field: formula-like text defused, then quoted when needed. */
export function csvCell(v: string | number | boolean | null | undefined): string {
  if (v === null || v === undefined) return '';
  if (typeof v === 'number') return Number.isFinite(v) ? String(v) : '';
  if (typeof v === 'boolean') return v ? 'true' : 'false';
  let s = v;
  if (/^[=+\-@\t\r]/.test(s)) s = `'${s}`;
  return /[",\r\n]|^\s|\s$/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

/** Per-sample rows of all evaluations (header first), CRLF line ends, UTF-8 BOM for spreadsheets. */
export function evaluationsCsv(evals: readonly EvaluationRecord[]): string {
  const rows: string[] = [EVAL_CSV_COLUMNS.join(',')];
  for (const e of evals)
    for (const s of e.samples)
      rows.push([
        e.id, e.split, e.step ?? null, s.id, s.variant ?? null, s.prompt, s.reference, s.output, s.bleu ?? null, s.chrf ?? null, s.rougeL ?? null,
        ...FLAGS.map((f) => s.heuristics?.[f] ?? null),
      ].map(csvCell).join(','));
  return '\uFEFF' + rows.join('\r\n') + '\r\n';
}

export interface RunBundleDataset {
  examples: readonly { messages: readonly ChatMessage[] }[];
  split: SplitIndices;
}

export interface RunBundleOptions {
  /** The prepared dataset (PreparedDataset fits) to include as JSONL. */
  dataset?: RunBundleDataset;
  /** LoRA weights read back from the GPU: the PEFT adapter goes into adapter/. */
  adapter?: LoraHostWeights;
  peft?: PeftExportOptions;
  /** Recipe options; baseModel defaults to the run's model when it is a Hub repo id. */
  recipe?: Omit<TrlRecipeOptions, 'runId' | 'hasValidation'>;
  /** Fixed zip timestamps (default 2024-01-01) so equal inputs give equal bytes. */
  mtime?: Date;
}

const SPLIT_FILES: [keyof SplitIndices, string][] = [['train', 'train'], ['val', 'validation'], ['test', 'test']];

/** The bundle's files by path (what the zip holds). */
export async function runBundleFiles(db: StudioDb, runId: string, opts: RunBundleOptions = {}): Promise<Record<string, Uint8Array>> {
  const run = await getRun(db, runId);
  if (!run) throw new RunNotFoundError(runId);
  const enc = (s: string) => new TextEncoder().encode(s);
  const files: Record<string, Uint8Array> = {};
  files['log.jsonl'] = enc(await exportRunJsonl(db, runId));
  const evals = await listEvaluations(db, runId);
  files['evaluations.json'] = enc(JSON.stringify(evals.map(({ runId: _r, ...e }) => e), null, 1) + '\n');
  files['evaluations.csv'] = enc(evaluationsCsv(evals));

  const ds = opts.dataset;
  if (ds) {
    for (const [key, name] of SPLIT_FILES) {
      const ex = ds.split[key].map((i) => {
        const e = ds.examples[i];
        if (!e) throw new Error(`dataset split ${key} refers to example ${i}, but there are ${ds.examples.length}`);
        return e;
      });
      files[`chat/${name}.jsonl`] = enc(toChatJsonl(ex));
      files[`data/${name}.jsonl`] = enc(toPromptCompletionJsonl(ex));
    }
  }
  const hubId = /^[\w.-]+\/[\w.-]+$/.test(run.modelName) ? run.modelName : undefined;
  const baseModel = opts.recipe?.baseModel ?? opts.peft?.baseModelNameOrPath ?? hubId;
  if (opts.adapter)
    for (const [name, bytes] of Object.entries(exportPeftFiles(opts.adapter, { ...opts.peft, baseModelNameOrPath: opts.peft?.baseModelNameOrPath ?? baseModel })))
      files[`adapter/${name}`] = bytes;
  const hasValidation = ds ? ds.split.val.length > 0 : (run.dataReport?.val ?? 1) > 0;
  const recipe = buildTrlRecipe(run.config, {
    ...opts.recipe, baseModel, runId, hasValidation, dataDir: 'data', adapterDir: opts.adapter ? 'adapter' : undefined,
  });
  if (!ds) recipe['README.md'] += '\nThis bundle has no dataset: put train.jsonl, validation.jsonl and test.jsonl (prompt-completion JSONL) in data/ first.\n';
  for (const [name, text] of Object.entries(recipe)) files[name] = enc(text);
  return files;
}

/** The run bundle as zip bytes (safetensors stored, text deflated). */
export async function exportRunBundle(db: StudioDb, runId: string, opts: RunBundleOptions = {}): Promise<Uint8Array> {
  const files = await runBundleFiles(db, runId, opts);
  const entries: Record<string, [Uint8Array, { level: 0 | 6 }]> = {};
  for (const [name, bytes] of Object.entries(files)) entries[name] = [bytes, { level: name.endsWith('.safetensors') ? 0 : 6 }];
  return zipSync(entries, { mtime: opts.mtime ?? new Date(Date.UTC(2024, 0, 1)) });
}
