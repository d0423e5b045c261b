// The whole data step, CSV bytes → report + tokenized chat examples + seeded split:
// parse (csv.ts) → clean (clean.ts) → format + tokenize, drop over-budget rows (format.ts) →
// split (split.ts). Packing (pack.ts) is done per epoch by the training loop.
// Pure TypeScript: runs in a Web Worker and in Node.

import { parseCsv, type CsvOptions, type ParsedCsv } from './csv';
import { cleanRecords, type CleanOptions, type CleanRecord, type DropCounts } from './clean';
import { DataError } from './errors';
import { DEFAULT_SYSTEM_PROMPT_BN, toMessages, tokenizeExample, type TokenizedExample } from './format';
import { histogram, tokenStats, type HistogramBin, type TokenStats } from './stats';
import { DEFAULT_SPLIT, splitIndices, type SplitFractions, type SplitIndices } from './split';
import type { ChatMessage, Tokenizer } from './tokenizer';
import { packBatches } from './pack';

export interface PrepareOptions extends CsvOptions, CleanOptions {
  /** Seed of the split (and of the packing preview). Default 0. */
  seed?: number;
  /** Rows whose chat-formatted token count exceeds this are dropped ('too_long'). Default 2048. */
  maxTokens?: number;
  split?: SplitFractions;
  systemPrompt?: string;
  /** "Today Date" of the template; default the template's own ("26 Jul 2024"). */
  dateString?: string;
  histogramBins?: number;
  /** If set, the report includes a packing preview of the train split at this micro-batch size. */
  packTokens?: number;
  /** Called every 256 cleaned rows while tokenizing (and once at the end): for a progress bar. */
  onProgress?: (done: number, total: number) => void;
}

export interface PreparedExample extends TokenizedExample {
  row: number; // spreadsheet row in the CSV
  topic: string;
  messages: ChatMessage[];
}

export interface DataReport {
  rows: number; // data rows in the file (blank lines not counted)
  kept: number;
  dropped: DropCounts; // rows = kept + Σ dropped
  train: number;
  val: number;
  test: number;
  tokens: TokenStats; // per kept example, chat template included
  histogram: HistogramBin[];
  delimiter: string;
  columns: ParsedCsv['mapping'];
  maxTokens: number;
  seed: number;
  /** Only with packTokens: the train split packed for epoch 0. */
  packing?: { maxTokens: number; batches: number; tokens: number; truncated: number; fill: number };
}

export interface PreparedDataset {
  examples: PreparedExample[];
  split: SplitIndices; // indices into examples
  report: DataReport;
}

export const DEFAULT_MAX_TOKENS = 2048;

export function prepareDataset(input: string | Uint8Array | ArrayBuffer, tok: Tokenizer, opts: PrepareOptions = {}): PreparedDataset {
  const seed = opts.seed ?? 0;
  const maxTokens = opts.maxTokens ?? DEFAULT_MAX_TOKENS;
  if (!Number.isInteger(maxTokens) || maxTokens < 16) throw new DataError('config', `maxTokens must be an integer ≥ 16, got ${maxTokens}`);
  if (!Number.isInteger(seed)) throw new DataError('config', `seed must be an integer, got ${seed}`);

  const parsed = parseCsv(input, opts);
  const { records, dropped } = cleanRecords(parsed.records, opts, parsed.malformedRows.length);
  const systemPrompt = opts.systemPrompt ?? DEFAULT_SYSTEM_PROMPT_BN;
  const examples: PreparedExample[] = [];
  for (let k = 0; k < records.length; k++) {
    if (opts.onProgress && k % 256 === 0) opts.onProgress(k, records.length);
    const ex = formatRecord(tok, records[k], systemPrompt, opts.dateString);
    if (ex.ids.length > maxTokens) {
      dropped.too_long++;
      continue;
    }
    examples.push(ex);
  }
  opts.onProgress?.(records.length, records.length);
  const split = splitIndices(examples.length, { seed, fractions: opts.split ?? DEFAULT_SPLIT });
  const lengths = examples.map((e) => e.ids.length);
  const report: DataReport = {
    rows: parsed.records.length + parsed.malformedRows.length,
    kept: examples.length,
    dropped,
    train: split.train.length,
    val: split.val.length,
    test: split.test.length,
    tokens: tokenStats(lengths),
    histogram: histogram(lengths, opts.histogramBins ?? 20),
    delimiter: parsed.delimiter,
    columns: parsed.mapping,
    maxTokens,
    seed,
  };
  if (opts.packTokens !== undefined) {
    const train = split.train.map((i) => examples[i]);
    const p = packBatches(train, { maxTokens: opts.packTokens, seed });
    report.packing = {
      maxTokens: opts.packTokens,
      batches: p.batches.length,
      tokens: p.tokens,
      truncated: p.truncated,
      fill: p.batches.length ? Math.round((p.tokens / (p.batches.length * opts.packTokens)) * 1000) / 1000 : 0,
    };
  }
  return { examples, split, report };
}

function formatRecord(tok: Tokenizer, r: CleanRecord, systemPrompt: string, dateString?: string): PreparedExample {
  const messages = toMessages(r, systemPrompt);
  const { ids, labels } = tokenizeExample(tok, messages, { dateString });
  return { row: r.row, topic: r.topic, messages, ids, labels };
}

/** Chat-format JSONL, one `{"messages":[...]}` per line (what HF TRL / axolotl read). */
export function toChatJsonl(examples: readonly { messages: readonly ChatMessage[] }[]): string {
  return examples.map((e) => JSON.stringify({ messages: e.messages }) + '\n').join('');
}
