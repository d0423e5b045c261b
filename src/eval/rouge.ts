// ROUGE-1, ROUGE-2, ROUGE-L (Lin 2004) with a Unicode-aware tokenizer for Bengali. Scoring
// follows Google's `rouge_score` package (precision, recall, F1 per pair; several references ->
// the one with the best F1, like `RougeScorer.score_multi`); only its tokenizer differs, because
// rouge_score's default keeps [a-z0-9] only and would delete every Bengali character.
//
// Tokenization (`rougeTokenize`):
//  1. Unicode NFC, so precomposed / decomposed spellings (e.g. য় U+09DF vs য + ◌় U+09AF U+09BC,
//     ো U+09CB vs ে + া) compare equal;
//  2. remove ZWNJ / ZWJ (U+200C, U+200D): they only pick a glyph form inside a Bengali word
//     (র‌্যাব), so the word stays whole and matches its spelling without them;
//  3. lowercase (JS toLowerCase; Bengali has no case);
//  4. split on every run of characters that are NOT a letter, mark or number
//     (`[^\p{L}\p{M}\p{N}]+`): vowel signs (ি ু ো, category Mc/Mn), virama ্ (Mn), chandrabindu ঁ,
//     nukta ় are marks and stay inside the word; danda ।, ASCII punctuation, spaces and emoji
//     split; Bengali digits ০-৯ are numbers ("১,৫০০" -> "১", "৫০০"). No stemming, no stop words.
// Scores: ROUGE-N P = clipped overlapping n-grams / hyp n-grams, R = ... / ref n-grams (each
// denominator at least 1, as rouge_score), F1 = 2PR/(P+R) (0 if P+R = 0). ROUGE-L uses the
// longest common subsequence of tokens: P = LCS/|hyp|, R = LCS/|ref|, all 0 if either is empty.
// Corpus (`corpusRouge`): the arithmetic mean of per-pair P, of R and of F1 separately — what
// rouge_score's BootstrapAggregator reports as `mid`, without the bootstrap resampling.

import { segmentRefs } from './refs';

export interface PRF { p: number; r: number; f: number }
export interface RougeScores { rouge1: PRF; rouge2: PRF; rougeL: PRF }
export interface CorpusRouge extends RougeScores { n: number }

const NON_WORD = /[^\p{L}\p{M}\p{N}]+/u;
const JOINERS = /[\u200c\u200d]/gu;

/** Tokens for ROUGE (see the header for the exact rule). */
export function rougeTokenize(text: string): string[] {
  return text.normalize('NFC').replace(JOINERS, '').toLowerCase().split(NON_WORD).filter((t) => t.length > 0);
}

function fmeasure(p: number, r: number): number {
  return p + r > 0 ? (2 * p * r) / (p + r) : 0;
}

function ngrams(tokens: string[], n: number): Map<string, number> {
  const m = new Map<string, number>();
  for (let i = 0; i + n <= tokens.length; i++) {
    const k = tokens.slice(i, i + n).join(' ');
    m.set(k, (m.get(k) ?? 0) + 1);
  }
  return m;
}

/** ROUGE-N on token lists. */
export function rougeN(hyp: string[], ref: string[], n: number): PRF {
  if (!(Number.isInteger(n) && n >= 1)) throw new Error(`ROUGE-N order must be a positive integer, got ${n}`);
  const h = ngrams(hyp, n), r = ngrams(ref, n);
  let overlap = 0, hTotal = 0, rTotal = 0;
  for (const [k, c] of h) { hTotal += c; overlap += Math.min(c, r.get(k) ?? 0); }
  for (const c of r.values()) rTotal += c;
  const p = overlap / Math.max(hTotal, 1), rec = overlap / Math.max(rTotal, 1);
  return { p, r: rec, f: fmeasure(p, rec) };
}

/** Length of the longest common subsequence (O(|a|·|b|) time, O(|b|) memory). */
export function lcsLength(a: string[], b: string[]): number {
  const row = new Array<number>(b.length + 1).fill(0);
  for (let i = 1; i <= a.length; i++) {
    let diag = 0; // row[j-1] of the previous i
    for (let j = 1; j <= b.length; j++) {
      const up = row[j];
      row[j] = a[i - 1] === b[j - 1] ? diag + 1 : Math.max(up, row[j - 1]);
      diag = up;
    }
  }
  return row[b.length];
}

/** ROUGE-L (sentence-level LCS) on token lists. */
export function rougeL(hyp: string[], ref: string[]): PRF {
  if (hyp.length === 0 || ref.length === 0) return { p: 0, r: 0, f: 0 };
  const l = lcsLength(hyp, ref);
  const p = l / hyp.length, r = l / ref.length;
  return { p, r, f: fmeasure(p, r) };
}

/** ROUGE-1/2/L of one hypothesis; with several references each type takes its best-F1 reference. */
export function rougeScores(hyp: string, refs: string | string[]): RougeScores {
  const refList = typeof refs === 'string' ? [refs] : refs;
  if (refList.length === 0) throw new Error('rougeScores needs at least one reference');
  const h = rougeTokenize(hyp);
  const per = refList.map((r) => {
    const t = rougeTokenize(r);
    return { rouge1: rougeN(h, t, 1), rouge2: rougeN(h, t, 2), rougeL: rougeL(h, t) };
  });
  const best = (k: keyof RougeScores) => per.reduce((a, b) => (b[k].f > a[k].f ? b : a))[k];
  return { rouge1: best('rouge1'), rouge2: best('rouge2'), rougeL: best('rougeL') };
}

/** Mean of per-pair scores. refs[k][i] = reference k of segment i (same layout as corpusBleu). */
export function corpusRouge(hyps: string[], refs: (string | null | undefined)[][]): CorpusRouge {
  if (hyps.length === 0) throw new Error('no hypotheses given');
  const segRefs = segmentRefs(hyps.length, refs);
  const sum: RougeScores = { rouge1: { p: 0, r: 0, f: 0 }, rouge2: { p: 0, r: 0, f: 0 }, rougeL: { p: 0, r: 0, f: 0 } };
  hyps.forEach((h, i) => {
    const s = rougeScores(h, segRefs[i]);
    for (const k of ['rouge1', 'rouge2', 'rougeL'] as const) {
      sum[k].p += s[k].p; sum[k].r += s[k].r; sum[k].f += s[k].f;
    }
  });
  const n = hyps.length;
  const mean = (x: PRF): PRF => ({ p: x.p / n, r: x.r / n, f: x.f / n });
  return { rouge1: mean(sum.rouge1), rouge2: mean(sum.rouge2), rougeL: mean(sum.rougeL), n };
}
