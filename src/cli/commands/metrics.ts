// `npm run cli -- metrics --hyp FILE --ref FILE[,FILE2...] [--tokenize 13a|intl|none|char] [--heuristics]`
// Text metrics of a hypothesis file against one or more reference files (UTF-8, one segment per
// line; every file must have the same number of lines). Prints ONE JSON object:
//   bleu (sacrebleu corpus_bleu, smooth exp), chrf / chrfpp (sacrebleu CHRF, word order 0 / 2),
//   rouge1 / rouge2 / rougeL ({p, r, f}: mean over lines, Unicode tokenizer of src/eval/rouge.ts),
//   signatures (sacrebleu format), and with --heuristics the response-heuristic rates of the hyps.
// Several reference files, comma-separated, are sacrebleu's multi-reference streams.

import { readFileSync } from 'node:fs';
import { CliError, type CliArgs } from '../args';
import { corpusBleu } from '../../eval/bleu';
import { corpusChrf } from '../../eval/chrf';
import { corpusRouge } from '../../eval/rouge';
import { responseHeuristics } from '../../eval/heuristics';
import { isSacreTokenizer, SACRE_TOKENIZERS } from '../../eval/sacre-tokenize';

/** Lines of a UTF-8 text file: BOM dropped, LF or CRLF endings, one final newline optional. */
export function readLines(path: string, what: string): string[] {
  let bytes: Uint8Array;
  try {
    bytes = readFileSync(path);
  } catch (e) {
    throw new CliError(`cannot read ${what} file "${path}": ${(e as NodeJS.ErrnoException).code ?? String(e)}`);
  }
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    throw new CliError(`${what} file "${path}" is not valid UTF-8`);
  }
  if (text.startsWith('\ufeff')) text = text.slice(1);
  if (text === '') return [];
  const lines = text.split('\n').map((l) => (l.endsWith('\r') ? l.slice(0, -1) : l));
  if (lines[lines.length - 1] === '') lines.pop();
  return lines;
}

const round = (x: number) => Number(x.toFixed(6));
const prf = (x: { p: number; r: number; f: number }) => ({ p: round(x.p), r: round(x.r), f: round(x.f) });

export async function run(args: CliArgs): Promise<void> {
  const hypPath = args.str('hyp');
  const refPaths = args.str('ref').split(',').filter((p) => p !== '');
  if (refPaths.length === 0) throw new CliError('missing --ref');
  const tokenize = args.str('tokenize', '13a');
  if (!isSacreTokenizer(tokenize)) throw new CliError(`--tokenize must be one of ${SACRE_TOKENIZERS.join(', ')}, got "${tokenize}"`);

  const hyps = readLines(hypPath, 'hypothesis');
  const refs = refPaths.map((p) => readLines(p, 'reference'));
  refs.forEach((r, k) => {
    if (r.length !== hyps.length)
      throw new CliError(`line count mismatch: ${hypPath} has ${hyps.length} lines but ${refPaths[k]} has ${r.length}`);
  });
  if (hyps.length === 0) throw new CliError(`${hypPath} has no lines`);

  const bleu = corpusBleu(hyps, refs, { tokenize });
  const chrf = corpusChrf(hyps, refs, { wordOrder: 0 });
  const chrfpp = corpusChrf(hyps, refs, { wordOrder: 2 });
  const rouge = corpusRouge(hyps, refs);
  const out: Record<string, unknown> = {
    lines: hyps.length,
    nrefs: refs.length,
    bleu: {
      score: bleu.score,
      counts: bleu.counts,
      totals: bleu.totals,
      precisions: bleu.precisions,
      bp: bleu.bp,
      sys_len: bleu.sysLen,
      ref_len: bleu.refLen,
      signature: bleu.signature,
    },
    chrf: { score: chrf.score, signature: chrf.signature },
    chrfpp: { score: chrfpp.score, signature: chrfpp.signature },
    rouge1: prf(rouge.rouge1),
    rouge2: prf(rouge.rouge2),
    rougeL: prf(rouge.rougeL),
    signatures: {
      bleu: bleu.signature,
      chrf: chrf.signature,
      chrfpp: chrfpp.signature,
      rouge: 'agg:mean|tok:unicode-lmn-nfc-lc|stem:no',
    },
  };
  if (args.bool('heuristics')) out.heuristics = responseHeuristics(hyps).summary;
  console.log(JSON.stringify(out));
}
