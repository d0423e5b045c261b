// chrF (Popović 2015) and chrF++ (Popović 2017) equal to sacrebleu 2.x `CHRF`, written from
// sacrebleu/metrics/chrf.py's definition. Defaults: char order 6, word order 0 (chrF) or 2
// (chrF++), beta 2, whitespace excluded, eps_smoothing off (sacrebleu's default, which is the
// "effective order" average, signature `eff:yes`).
//
// Per segment and reference:
//  - character n-grams n = 1..6 over the code points of the segment with all (Python) whitespace
//    removed (`''.join(s.split())`);
//  - chrF++ adds word n-grams n = 1..2 over `s.split()` words where a word longer than one code
//    point has ONE ASCII punctuation char split off its end, else off its start ('(hi)' ->
//    '(hi', ')'), as sacrebleu does;
//  - per order: [hyp count (0 if the reference has none of that order), ref count, clipped
//    matches]; with several references the one with the best sentence F-score wins (first on ties).
// Corpus: per-order counts summed over segments, then
//   P_n = m/h, R_n = m/r over orders with h > 0 and r > 0; avgP, avgR = their means;
//   chrF = 100 * (1 + β²) avgP avgR / (β² avgP + avgR)   (0 if avgP + avgR = 0).
// With epsSmoothing=true the chrF++.py / Moses / NLTK average of per-order F-scores is used.
// `lowercase` uses JS toLowerCase (same as Python's lower() for Bengali and Latin).

import { codePoints, pyRemoveSpace, pySplit } from './pystr';
import { segmentRefs } from './refs';
import { SACREBLEU_VERSION, formatSignature, nrefsOf } from './signature';

export interface ChrfOptions {
  charOrder?: number;     // default 6
  wordOrder?: number;     // default 0 (chrF); 2 = chrF++
  beta?: number;          // default 2
  lowercase?: boolean;    // default false
  whitespace?: boolean;   // default false: whitespace is removed before char n-grams
  epsSmoothing?: boolean; // default false
}

export interface ChrfScore {
  score: number;      // 0..100
  name: string;       // 'chrF2' or 'chrF2++'
  stats: number[];    // [hyp, ref, match] per order (chars then words), summed over segments
  signature: string;  // e.g. nrefs:1|case:mixed|eff:yes|nc:6|nw:0|space:no|version:2.6.0
}

const PUNCTS = new Set('!"#$%&\'()*+,-./:;<=>?@[\\]^_`{|}~');

type Counter = Map<string, number>;

function count(items: string[]): Counter {
  const m: Counter = new Map();
  for (const x of items) m.set(x, (m.get(x) ?? 0) + 1);
  return m;
}

function charNgrams(line: string, maxOrder: number, whitespace: boolean): Counter[] {
  const cps = codePoints(whitespace ? line : pyRemoveSpace(line));
  const out: Counter[] = [];
  for (let n = 1; n <= maxOrder; n++) {
    const grams: string[] = [];
    for (let i = 0; i + n <= cps.length; i++) grams.push(cps.slice(i, i + n).join(''));
    out.push(count(grams));
  }
  return out;
}

/** sacrebleu CHRF._remove_punctuation: split one ASCII punctuation char off a word's end or start. */
export function chrfWords(sent: string): string[] {
  const out: string[] = [];
  for (const w of pySplit(sent)) {
    const cps = codePoints(w);
    if (cps.length === 1) out.push(w);
    else if (PUNCTS.has(cps[cps.length - 1])) out.push(cps.slice(0, -1).join(''), cps[cps.length - 1]);
    else if (PUNCTS.has(cps[0])) out.push(cps[0], cps.slice(1).join(''));
    else out.push(w);
  }
  return out;
}

function wordNgrams(words: string[], n: number): Counter {
  const grams: string[] = [];
  for (let i = 0; i + n <= words.length; i++) grams.push(words.slice(i, i + n).join(' '));
  return count(grams);
}

function resolved(opts: ChrfOptions) {
  const o = {
    charOrder: opts.charOrder ?? 6,
    wordOrder: opts.wordOrder ?? 0,
    beta: opts.beta ?? 2,
    lowercase: opts.lowercase ?? false,
    whitespace: opts.whitespace ?? false,
    epsSmoothing: opts.epsSmoothing ?? false,
  };
  if (!(Number.isInteger(o.charOrder) && o.charOrder >= 0 && Number.isInteger(o.wordOrder) && o.wordOrder >= 0 && o.charOrder + o.wordOrder > 0))
    throw new Error(`chrF orders must be non-negative integers, not both 0 (got char ${o.charOrder}, word ${o.wordOrder})`);
  return o;
}
type Resolved = ReturnType<typeof resolved>;

function allNgrams(o: Resolved, s: string): Counter[] {
  const t = o.lowercase ? s.toLowerCase() : s;
  const grams = charNgrams(t, o.charOrder, o.whitespace);
  if (o.wordOrder > 0) {
    const words = chrfWords(t);
    for (let n = 1; n <= o.wordOrder; n++) grams.push(wordNgrams(words, n));
  }
  return grams;
}

function matchStats(hyp: Counter, ref: Counter): [number, number, number] {
  let match = 0, hypCount = 0, refCount = 0;
  for (const [g, c] of hyp) {
    hypCount += c;
    const r = ref.get(g);
    if (r !== undefined) match += Math.min(c, r);
  }
  for (const c of ref.values()) refCount += c;
  return [ref.size > 0 ? hypCount : 0, refCount, match];
}

/** sacrebleu CHRF._compute_f_score on [hyp, ref, match] triplets. */
function fScore(o: Resolved, stats: number[]): number {
  const eps = 1e-16;
  const factor = o.beta ** 2;
  const order = o.charOrder + o.wordOrder;
  let score = 0, effOrder = 0, avgPrec = 0, avgRec = 0;
  for (let i = 0; i < order; i++) {
    const [nHyp, nRef, nMatch] = stats.slice(3 * i, 3 * i + 3);
    const prec = nHyp > 0 ? nMatch / nHyp : eps;
    const rec = nRef > 0 ? nMatch / nRef : eps;
    const denom = factor * prec + rec;
    score += denom > 0 ? ((1 + factor) * prec * rec) / denom : eps;
    if (nHyp > 0 && nRef > 0) { avgPrec += prec; avgRec += rec; effOrder += 1; }
  }
  if (o.epsSmoothing) return (100 * score) / order;
  if (effOrder === 0) { avgPrec = 0; avgRec = 0; } else { avgPrec /= effOrder; avgRec /= effOrder; }
  if (avgPrec + avgRec) {
    let s = (1 + factor) * avgPrec * avgRec;
    s /= factor * avgPrec + avgRec;
    return 100 * s;
  }
  return 0;
}

function segmentStats(o: Resolved, hyp: string, refs: string[]): number[] {
  const h = allNgrams(o, hyp);
  let best: number[] = [];
  let bestF = -1;
  for (const ref of refs) {
    const r = allNgrams(o, ref);
    const stats = h.flatMap((hc, i) => matchStats(hc, r[i]));
    const f = fScore(o, stats);
    if (f > bestF) { bestF = f; best = stats; }
  }
  return best;
}

function signature(o: Resolved, nrefs: number | 'var'): string {
  return formatSignature([
    ['nrefs', String(nrefs)],
    ['case', o.lowercase ? 'lc' : 'mixed'],
    ['eff', o.epsSmoothing ? 'no' : 'yes'],
    ['nc', String(o.charOrder)],
    ['nw', String(o.wordOrder)],
    ['space', o.whitespace ? 'yes' : 'no'],
    ['version', SACREBLEU_VERSION],
  ]);
}

function result(o: Resolved, stats: number[], nrefs: number | 'var'): ChrfScore {
  return { score: fScore(o, stats), name: `chrF${o.beta}${'+'.repeat(o.wordOrder)}`, stats, signature: signature(o, nrefs) };
}

/** Corpus chrF = sacrebleu.corpus_chrf / CHRF().corpus_score. refs[k][i] = reference k of segment i. */
export function corpusChrf(hyps: string[], refs: (string | null | undefined)[][], opts: ChrfOptions = {}): ChrfScore {
  const o = resolved(opts);
  if (hyps.length === 0) throw new Error('no hypotheses given');
  const segRefs = segmentRefs(hyps.length, refs);
  const sum = new Array<number>(3 * (o.charOrder + o.wordOrder)).fill(0);
  hyps.forEach((h, i) => segmentStats(o, h, segRefs[i]).forEach((v, j) => { sum[j] += v; }));
  return result(o, sum, nrefsOf(segRefs));
}

/** Sentence chrF = sacrebleu.sentence_chrf(hyp, refs). */
export function sentenceChrf(hyp: string, refs: string[], opts: ChrfOptions = {}): ChrfScore {
  const o = resolved(opts);
  if (refs.length === 0) throw new Error('sentenceChrf needs at least one reference');
  return result(o, segmentStats(o, hyp, refs), refs.length);
}

/** chrF++ (word order 2) shorthands. */
export const corpusChrfpp = (hyps: string[], refs: (string | null | undefined)[][], opts: ChrfOptions = {}) =>
  corpusChrf(hyps, refs, { ...opts, wordOrder: opts.wordOrder ?? 2 });
export const sentenceChrfpp = (hyp: string, refs: string[], opts: ChrfOptions = {}) =>
  sentenceChrf(hyp, refs, { ...opts, wordOrder: opts.wordOrder ?? 2 });
