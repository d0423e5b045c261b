// `npm run cli -- prepare --csv FILE [--out DIR] [--seed N] [--max-tokens N] [--split 90/5/5]
//   [--col-topic NAME] [--col-title NAME] [--col-question NAME] [--col-answer NAME]
//   [--delimiter C] [--system-prompt TEXT | --system-prompt-file FILE] [--filter-unsafe]
//   [--pack-tokens N] [--max-cell-chars N]`
// Runs the data pipeline and prints the JSON report on stdout. With --out, writes train.jsonl,
// val.jsonl, test.jsonl (chat format: {"messages":[...]}) and report.json there.
// Bad input throws a DataError / CliError: main prints one line and exits non-zero.

import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { CliError, type CliArgs } from '../args';
import { loadLlama3Tokenizer } from '../../data/tokenizer';
import { prepareDataset, toChatJsonl, DEFAULT_MAX_TOKENS, type PrepareOptions } from '../../data/pipeline';
import { parseSplit } from '../../data/split';

const KNOWN_FLAGS = new Set([
  'csv', 'out', 'seed', 'max-tokens', 'split', 'col-topic', 'col-title', 'col-question', 'col-answer',
  'delimiter', 'system-prompt', 'system-prompt-file', 'filter-unsafe', 'pack-tokens', 'max-cell-chars',
]);

function intFlag(args: CliArgs, name: string, def?: number): number | undefined {
  if (!args.has(name)) return def;
  const v = args.num(name);
  if (!Number.isInteger(v) || v < 0) throw new CliError(`--${name} must be a non-negative integer, got "${args.flags[name]}"`);
  return v;
}

function strFlag(args: CliArgs, name: string): string | undefined {
  if (!args.has(name)) return undefined;
  const v = args.flags[name];
  if (v === true) throw new CliError(`--${name} needs a value`);
  return v;
}

export async function run(args: CliArgs): Promise<void> {
  for (const f of Object.keys(args.flags)) if (!KNOWN_FLAGS.has(f)) throw new CliError(`prepare: unknown flag --${f}`);
  const csvPath = strFlag(args, 'csv');
  if (!csvPath) throw new CliError('prepare: missing --csv FILE');
  let bytes: Uint8Array;
  try {
    bytes = await readFile(csvPath);
  } catch (e) {
    throw new CliError(`cannot read ${csvPath}: ${(e as NodeJS.ErrnoException).code ?? String(e)}`);
  }
  let delimiter = strFlag(args, 'delimiter');
  if (delimiter === 'tab' || delimiter === '\\t') delimiter = '\t';
  let systemPrompt = strFlag(args, 'system-prompt');
  const spFile = strFlag(args, 'system-prompt-file');
  if (spFile) systemPrompt = (await readFile(spFile, 'utf8')).trim();
  const split = strFlag(args, 'split');
  const opts: PrepareOptions = {
    seed: intFlag(args, 'seed', 0),
    maxTokens: intFlag(args, 'max-tokens', DEFAULT_MAX_TOKENS),
    split: split ? parseSplit(split) : undefined,
    columns: {
      topic: strFlag(args, 'col-topic'),
      title: strFlag(args, 'col-title'),
      question: strFlag(args, 'col-question'),
      answer: strFlag(args, 'col-answer'),
    },
    delimiter,
    systemPrompt,
    unsafeFilter: args.bool('filter-unsafe'),
    packTokens: intFlag(args, 'pack-tokens'),
    maxCellChars: intFlag(args, 'max-cell-chars'),
  };
  const tok = await loadLlama3Tokenizer();
  const { examples, split: idx, report } = prepareDataset(bytes, tok, opts);
  const json = JSON.stringify(report, null, 2);
  const out = strFlag(args, 'out');
  if (out) {
    await mkdir(out, { recursive: true });
    for (const name of ['train', 'val', 'test'] as const)
      await writeFile(join(out, `${name}.jsonl`), toChatJsonl(idx[name].map((i) => examples[i])));
    await writeFile(join(out, 'report.json'), json + '\n');
  }
  console.log(json);
}
