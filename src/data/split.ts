// Seeded train/val/test split of N examples (default 90/5/5). Deterministic for a given (N, seed,
// fractions); the three index lists are disjoint, cover 0..N-1 and are each sorted ascending.

import { Rng } from '../util/rng';
import { DataError } from './errors';

export interface SplitFractions {
  train: number;
  val: number;
  test: number;
}

export interface SplitIndices {
  train: number[];
  val: number[];
  test: number[];
}

export const DEFAULT_SPLIT: Readonly<SplitFractions> = { train: 0.9, val: 0.05, test: 0.05 };

/** Parse "90/5/5", "0.9,0.05,0.05" or "80:10:10" (percent or fractions; must sum to 1 or 100). */
export function parseSplit(s: string): SplitFractions {
  const parts = s.split(/[/,:]/).map((p) => Number(p.trim()));
  if (parts.length !== 3 || parts.some((p) => !Number.isFinite(p) || p < 0))
    throw new DataError('config', `split "${s}": expected three non-negative numbers like 90/5/5`);
  const sum = parts[0] + parts[1] + parts[2];
  const scale = Math.abs(sum - 100) < 1e-6 ? 100 : 1;
  return checkFractions({ train: parts[0] / scale, val: parts[1] / scale, test: parts[2] / scale });
}

function checkFractions(f: SplitFractions): SplitFractions {
  const vals = [f.train, f.val, f.test];
  if (vals.some((v) => !Number.isFinite(v) || v < 0) || Math.abs(vals[0] + vals[1] + vals[2] - 1) > 1e-6)
    throw new DataError('config', `split fractions must be non-negative and sum to 1, got ${vals.join('/')}`);
  return f;
}

/** Split indices 0..n-1. Val/test get round(n·fraction), at least 1 when their fraction is > 0 and n ≥ 3. */
export function splitIndices(n: number, opts: { seed: number; fractions?: SplitFractions }): SplitIndices {
  const f = checkFractions(opts.fractions ?? DEFAULT_SPLIT);
  const count = (frac: number) => {
    if (frac === 0) return 0;
    const c = Math.round(n * frac);
    return c === 0 && n >= 3 ? 1 : c;
  };
  let nVal = Math.min(n, count(f.val));
  let nTest = Math.min(n - nVal, count(f.test));
  if (f.train === 0) nTest = n - nVal; // rounding leftovers go to test
  else if (n > 0 && nVal + nTest >= n) {
    // keep at least one training example: take it from test, then from val
    if (nTest > 0) nTest--;
    else nVal--;
  }
  const perm = new Rng(opts.seed).shuffle(Array.from({ length: n }, (_, i) => i));
  const sort = (a: number[]) => a.sort((x, y) => x - y);
  return {
    val: sort(perm.slice(0, nVal)),
    test: sort(perm.slice(nVal, nVal + nTest)),
    train: sort(perm.slice(nVal + nTest)),
  };
}
