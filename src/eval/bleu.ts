// BLEU (Papineni et al. 2002) equal to sacrebleu 2.x `corpus_bleu` / `sentence_bleu`,
// written from sacrebleu/metrics/bleu.py's definition. Pure TS (browser worker and Node).
//
// Reference layout follows sacrebleu: `refs[k][i]` is reference k of segment i (k streams, each
// as long as `hyps`); a `null` entry drops that reference for that segment (nrefs:var).
// Per segment: hypothesis and references are (optionally lowercased,) right-stripped
// (Python `rstrip`), tokenized, split on whitespace; n-grams n = 1..4 of the hypothesis are
// clipped by the max count over references; the reference length is the closest reference
// length (ties -> the shorter). Corpus stats are summed, then
//   BP = 1 if c >= r else exp(1 - r/c) (0 if c = 0)
//   p_n = 100 * m_n / t_n; 'exp' smoothing: the k-th order with m_n = 0 gets 100 / (2^k t_n)
//   BLEU = BP * exp(mean_n log p_n)   (log 0 floored to -9999999999; score 0 if no match at all)
// Effective order (sentence_bleu's default) averages only over orders with t_n > 0.

import { pyRstrip, pySplit, pySum } from './pystr';
import { sacreTokenize, type SacreTokenizer } from './sacre-tokenize';
import { SACREBLEU_VERSION, formatSignature, nrefsOf } from './signature';
import { segmentRefs } from './refs';

export type SmoothMethod = 'exp' | 'none' | 'floor' | 'add-k';
export const MAX_NGRAM_ORDER = 4;
const SMOOTH_DEFAULTS: Record<SmoothMethod, number | null> = { none: null, floor: 0.1, 'add-k': 1, exp: null };

export interface BleuOptions {
  tokenize?: SacreTokenizer;      // default '13a'
  smoothMethod?: SmoothMethod;    // default 'exp'
  smoothValue?: number;           // for floor / add-k; default 0.1 / 1
  lowercase?: boolean;            // default false (JS toLowerCase ~ Python lower for Bengali/Latin)
  effectiveOrder?: boolean;       // default false for corpus, true for sentenceBleu
  maxNgramOrder?: number;         // default 4
}

export interface BleuScore {
  score: number;          // 0..100
  counts: number[];       // matched n-grams per order
  totals: number[];       // hypothesis n-grams per order
  precisions: number[];   // 0..100 per order (after smoothing)
  bp: number;
  sysLen: number;
  refLen: number;
  signature: string;      // sacrebleu format, e.g. nrefs:1|case:mixed|eff:no|tok:13a|smooth:exp|version:2.5.1
}

/** Segment statistics: [sysLen, refLen, counts..., totals...] like sacrebleu. */
export type BleuStats = number[];

function ngramCounts(tokens: string[], maxOrder: number): Map<string, number>[] {
  const out: Map<string, number>[] = [];
  for (let n = 1; n <= maxOrder; n++) {
    const m = new Map<string, number>();
    for (let i = 0; i + n <= tokens.length; i++) {
      const key = tokens.slice(i, i + n).join(' '); // tokens never contain whitespace
      m.set(key, (m.get(key) ?? 0) + 1);
    }
    out.push(m);
  }
  return out;
}

function resolved(opts: BleuOptions, sentence: boolean) {
  const smoothMethod = opts.smoothMethod ?? 'exp';
  if (!(smoothMethod in SMOOTH_DEFAULTS)) throw new Error(`unknown smooth method "${smoothMethod}" (exp, none, floor, add-k)`);
  return {
    tokenize: opts.tokenize ?? '13a',
    smoothMethod,
    smoothValue: opts.smoothValue ?? SMOOTH_DEFAULTS[smoothMethod],
    lowercase: opts.lowercase ?? false,
    effectiveOrder: opts.effectiveOrder ?? sentence,
    maxNgramOrder: opts.maxNgramOrder ?? MAX_NGRAM_ORDER,
  };
}
type Resolved = ReturnType<typeof resolved>;

function preprocess(o: Resolved, s: string): string[] {
  const t = o.lowercase ? s.toLowerCase() : s;
  return pySplit(sacreTokenize(o.tokenize, pyRstrip(t)));
}

/** Closest reference length to hypLen; ties go to the shorter reference. */
function closestRefLen(hypLen: number, refLens: number[]): number {
  let bestDiff = -1, best = -1;
  for (const r of refLens) {
    const d = Math.abs(hypLen - r);
    if (bestDiff === -1 || d < bestDiff) { bestDiff = d; best = r; }
    else if (d === bestDiff && r < best) best = r;
  }
  return best;
}

function segmentStats(o: Resolved, hyp: string, refs: string[]): BleuStats {
  const N = o.maxNgramOrder;
  const refMax: Map<string, number>[] = Array.from({ length: N }, () => new Map());
  const refLens: number[] = [];
  for (const r of refs) {
    const toks = preprocess(o, r);
    refLens.push(toks.length);
    ngramCounts(toks, N).forEach((m, n) => {
      for (const [k, c] of m) if (c > (refMax[n].get(k) ?? 0)) refMax[n].set(k, c);
    });
  }
  const htoks = preprocess(o, hyp);
  const correct = new Array<number>(N).fill(0);
  const total = new Array<number>(N).fill(0);
  ngramCounts(htoks, N).forEach((m, n) => {
    for (const [k, c] of m) {
      total[n] += c;
      const rc = refMax[n].get(k);
      if (rc !== undefined) correct[n] += Math.min(c, rc);
    }
  });
  return [htoks.length, closestRefLen(htoks.length, refLens), ...correct, ...total];
}

/** sacrebleu `my_log`: log with log(0) floored to -9999999999. */
function myLog(x: number): number {
  return x === 0 ? -9999999999 : Math.log(x);
}

/** sacrebleu `BLEU.compute_bleu` on summed statistics. */
function computeBleu(stats: BleuStats, o: Resolved): Omit<BleuScore, 'signature'> {
  const N = o.maxNgramOrder;
  const sysLen = stats[0], refLen = stats[1];
  const correct = stats.slice(2, 2 + N);
  const total = stats.slice(2 + N, 2 + 2 * N);
  let bp = 1.0;
  if (sysLen < refLen) bp = sysLen > 0 ? Math.exp(1 - refLen / sysLen) : 0.0;
  const precisions = new Array<number>(N).fill(0);
  if (!correct.some((c) => c !== 0)) return { score: 0, counts: correct, totals: total, precisions, bp, sysLen, refLen };

  let smoothMteval = 1.0;
  let effOrder = N;
  for (let n = 1; n <= N; n++) {
    if (o.smoothMethod === 'add-k' && n > 1) {
      correct[n - 1] += o.smoothValue!;
      total[n - 1] += o.smoothValue!;
    }
    if (total[n - 1] === 0) break;
    if (o.effectiveOrder) effOrder = n;
    if (correct[n - 1] === 0) {
      if (o.smoothMethod === 'exp') {
        smoothMteval *= 2;
        precisions[n - 1] = 100 / (smoothMteval * total[n - 1]);
      } else if (o.smoothMethod === 'floor') {
        precisions[n - 1] = (100 * o.smoothValue!) / total[n - 1];
      }
    } else {
      precisions[n - 1] = (100 * correct[n - 1]) / total[n - 1];
    }
  }
  const logSum = pySum(precisions.slice(0, effOrder).map(myLog));
  const score = bp * Math.exp(logSum / effOrder);
  return { score, counts: correct, totals: total, precisions, bp, sysLen, refLen };
}

function signature(o: Resolved, nrefs: number | 'var'): string {
  let smooth: string = o.smoothMethod;
  if (SMOOTH_DEFAULTS[o.smoothMethod] !== null) smooth += `[${o.smoothValue!.toFixed(2)}]`;
  return formatSignature([
    ['nrefs', String(nrefs)],
    ['case', o.lowercase ? 'lc' : 'mixed'],
    ['eff', o.effectiveOrder ? 'yes' : 'no'],
    ['tok', o.tokenize],
    ['smooth', smooth],
    ['version', SACREBLEU_VERSION],
  ]);
}

/** Corpus BLEU = sacrebleu.corpus_bleu(hyps, refs, tokenize=...) (effective order off by default). */
export function corpusBleu(hyps: string[], refs: (string | null | undefined)[][], opts: BleuOptions = {}): BleuScore {
  const o = resolved(opts, false);
  if (hyps.length === 0) throw new Error('no hypotheses given');
  const segRefs = segmentRefs(hyps.length, refs);
  const N = o.maxNgramOrder;
  const sum = new Array<number>(2 + 2 * N).fill(0);
  hyps.forEach((h, i) => segmentStats(o, h, segRefs[i]).forEach((v, j) => { sum[j] += v; }));
  return { ...computeBleu(sum, o), signature: signature(o, nrefsOf(segRefs)) };
}

/** Sentence BLEU = sacrebleu.sentence_bleu(hyp, refs) (smooth 'exp', effective order ON). */
export function sentenceBleu(hyp: string, refs: string[], opts: BleuOptions = {}): BleuScore {
  const o = resolved(opts, true);
  if (refs.length === 0) throw new Error('sentenceBleu needs at least one reference');
  return { ...computeBleu(segmentStats(o, hyp, refs), o), signature: signature(o, refs.length) };
}
