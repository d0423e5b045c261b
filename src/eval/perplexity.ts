// Perplexity from summed token negative log-likelihoods (natural log). The GPU forward pass that
// produces per-batch `nllSum` (sum over non-ignored label tokens, labels != -100) and
// `tokenCount` lives elsewhere; this file only turns those sums into perplexity.
//   ppl = exp(sum NLL / number of tokens)
// Aggregation over batches sums NLLs and token counts first (token-weighted), which is NOT the
// mean of per-batch perplexities.

export interface NllBatch { nllSum: number; tokenCount: number }
export interface PerplexitySummary { perplexity: number; meanNll: number; nllSum: number; tokenCount: number; batches: number }

function checkBatch(nllSum: number, tokenCount: number): void {
  if (!Number.isFinite(nllSum) || nllSum < 0) throw new Error(`nllSum must be a finite number >= 0, got ${nllSum}`);
  if (!Number.isInteger(tokenCount) || tokenCount < 0) throw new Error(`tokenCount must be an integer >= 0, got ${tokenCount}`);
}

/** exp(nllSum / tokenCount). Throws on tokenCount 0 (perplexity of no tokens is undefined). */
export function perplexity(nllSum: number, tokenCount: number): number {
  checkBatch(nllSum, tokenCount);
  if (tokenCount === 0) throw new Error('perplexity of 0 tokens is undefined');
  return Math.exp(nllSum / tokenCount);
}

/** Token-weighted running aggregate over batches. */
export class PerplexityAccumulator {
  nllSum = 0;
  tokenCount = 0;
  batches = 0;
  private comp = 0; // Kahan compensation for nllSum over many batches

  add(nllSum: number, tokenCount: number): this {
    checkBatch(nllSum, tokenCount);
    const y = nllSum - this.comp;
    const t = this.nllSum + y;
    this.comp = t - this.nllSum - y;
    this.nllSum = t;
    this.tokenCount += tokenCount;
    this.batches++;
    return this;
  }

  summary(): PerplexitySummary {
    if (this.tokenCount === 0) throw new Error('no tokens accumulated: perplexity is undefined');
    const meanNll = this.nllSum / this.tokenCount;
    return { perplexity: Math.exp(meanNll), meanNll, nllSum: this.nllSum, tokenCount: this.tokenCount, batches: this.batches };
  }
}

export function aggregatePerplexity(batches: NllBatch[]): PerplexitySummary {
  const acc = new PerplexityAccumulator();
  for (const b of batches) acc.add(b.nllSum, b.tokenCount);
  return acc.summary();
}
