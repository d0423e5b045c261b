// `npm run cli -- eval --model demo|DIR [--adapter DIR|ZIP] --csv FILE [--split test|val]
//   [--samples N] [--max-new-tokens N] [--tokenize 13a|intl|none|char] [--seed S]`
// Perplexity over the split's assistant tokens, then BLEU/chrF/chrF++/ROUGE and the response
// heuristics on greedy answers to up to N prompts. Prints one JSON object.

import { readFile } from 'node:fs/promises';
import type { CliArgs } from '../args';
import { CliError } from '../args';
import { nodeGpuApi } from '../../gpu/core/node';
import { Engine } from '../../engine';
import { openModel } from '../../model/source.node';
import type { SacreTokenizer } from '../../eval/sacre-tokenize';
import { readAdapterArg } from './adapter-arg';

export async function run(a: CliArgs): Promise<void> {
  const split = a.str('split', 'test');
  if (split !== 'test' && split !== 'val') throw new CliError('--split must be test or val');
  const tokenize = a.str('tokenize', '13a');
  if (!['13a', 'intl', 'none', 'char'].includes(tokenize)) throw new CliError('--tokenize must be 13a, intl, none or char');
  const engine = await Engine.create(await nodeGpuApi());
  await engine.loadModel(await openModel(a.str('model', 'demo')), a.str('quant', 'nf4') === 'w16' ? 'w16' : 'nf4');
  const useAdapter = a.has('adapter');
  if (useAdapter) await engine.importAdapter(await readAdapterArg(a.str('adapter')));
  const csvPath = a.str('csv');
  const csv = await readFile(csvPath).catch(() => { throw new CliError(`cannot read --csv ${csvPath}`); });
  await engine.prepareData(new Uint8Array(csv), { seed: a.num('seed', 42), maxTokens: a.num('max-tokens', 1024) });
  const r = await engine.evaluate({ split, useAdapter, samples: a.num('samples', 3), maxNewTokens: a.num('max-new-tokens', 32), tokenize: tokenize as SacreTokenizer },
    (done, total) => process.stderr.write(`\r${done}/${total}`));
  process.stderr.write('\n');
  console.log(JSON.stringify({
    split: r.split, adapter: r.adapter, perplexity: r.perplexity.perplexity, meanNll: r.perplexity.meanNll, tokens: r.perplexity.tokenCount,
    bleu: r.bleu?.score ?? null, chrf: r.chrf?.score ?? null, chrfpp: r.chrfpp?.score ?? null,
    rouge1: r.rouge?.rouge1 ?? null, rouge2: r.rouge?.rouge2 ?? null, rougeL: r.rouge?.rougeL ?? null,
    heuristics: r.heuristics, signatures: { bleu: r.bleu?.signature, chrf: r.chrf?.signature, chrfpp: r.chrfpp?.signature },
    samples: r.samples,
  }, null, 1));
}
