// Token-length statistics and histogram for the data report (lengths in tokens per example).

export interface TokenStats {
  min: number;
  median: number;
  p95: number;
  max: number;
  mean: number;
}

export interface HistogramBin {
  lo: number; // inclusive
  hi: number; // exclusive
  count: number;
}

/** Nearest-rank percentile of sorted values (p in [0, 100]). */
function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return 0;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank - 1))];
}

export function tokenStats(lengths: readonly number[]): TokenStats {
  if (lengths.length === 0) return { min: 0, median: 0, p95: 0, max: 0, mean: 0 };
  const s = [...lengths].sort((a, b) => a - b);
  const n = s.length;
  const median = n % 2 ? s[(n - 1) / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
  const mean = s.reduce((a, b) => a + b, 0) / n;
  return { min: s[0], median, p95: percentile(s, 95), max: s[n - 1], mean: Math.round(mean * 10) / 10 };
}

/** About `bins` equal-width bins covering [min, max], the width a multiple of 8 tokens, edges on multiples of the width. */
export function histogram(lengths: readonly number[], bins = 20): HistogramBin[] {
  if (lengths.length === 0) return [];
  let min = Infinity;
  let max = -Infinity;
  for (const l of lengths) {
    if (l < min) min = l;
    if (l > max) max = l;
  }
  const width = Math.max(8, Math.ceil((max - min + 1) / Math.max(1, bins) / 8) * 8);
  const lo = Math.floor(min / width) * width;
  const nb = Math.floor((max - lo) / width) + 1;
  const out: HistogramBin[] = Array.from({ length: nb }, (_, i) => ({ lo: lo + i * width, hi: lo + (i + 1) * width, count: 0 }));
  for (const l of lengths) out[Math.floor((l - lo) / width)].count++;
  return out;
}
