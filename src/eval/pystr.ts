// Python `str` semantics needed to match sacrebleu exactly in JS.
// Python strings are sequences of code points (JS strings are UTF-16 units), and Python's
// `str.split()` / `str.rstrip()` with no argument use `str.isspace()`: characters of
// bidirectional class WS, B or S, or general category Zs. That set differs from JS `\s`
// (JS adds U+FEFF, Python adds U+001C..U+001F and U+0085). Neither treats ZWNJ/ZWJ
// (U+200C/U+200D, common in Bengali) or U+200B as whitespace.

/** Code points Python's `str.isspace()` accepts (Unicode 15, CPython 3.8–3.13). */
const PY_SPACE = '\\t\\n\\v\\f\\r\\x1c-\\x1f \\x85\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000';
const SPLIT_RE = new RegExp(`[${PY_SPACE}]+`, 'u');
const RSTRIP_RE = new RegExp(`[${PY_SPACE}]+$`, 'u');
const ALL_SPACE_RE = new RegExp(`[${PY_SPACE}]+`, 'gu');

/** Python `s.split()` (no separator): runs of whitespace split, no empty strings. */
export function pySplit(s: string): string[] {
  return s.split(SPLIT_RE).filter((w) => w.length > 0);
}

/** Python `s.rstrip()`. */
export function pyRstrip(s: string): string {
  return s.replace(RSTRIP_RE, '');
}

/** Python `''.join(s.split())`: every whitespace character removed. */
export function pyRemoveSpace(s: string): string {
  return s.replace(ALL_SPACE_RE, '');
}

/** Python `list(s)`: the code points of s. */
export function codePoints(s: string): string[] {
  return Array.from(s);
}

/** Python `len(s)`. */
export function pyLen(s: string): number {
  let n = 0;
  for (const _ of s) n++;
  return n;
}

/** Python (>= 3.12) `sum(xs)` of floats: Neumaier-compensated, so results match sacrebleu run
 *  on CPython 3.12+ bit for bit (older CPython summed naively; the difference is ~1 ulp). */
export function pySum(xs: number[]): number {
  let s = 0, c = 0;
  for (const x of xs) {
    const t = s + x;
    if (Math.abs(s) >= Math.abs(x)) c += (s - t) + x;
    else c += (x - t) + s;
    s = t;
  }
  return c !== 0 && Number.isFinite(c) ? s + c : s;
}
