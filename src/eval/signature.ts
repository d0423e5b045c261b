// sacrebleu-style reproducibility signatures: `key:value` pairs joined by `|`, version last
// (sacrebleu/metrics/base.py `Signature.format`). SACREBLEU_VERSION is the sacrebleu release
// whose outputs tests/golden/sacrebleu/fixture.json pins these implementations to.

export const SACREBLEU_VERSION = '2.6.0';

export function formatSignature(pairs: [string, string][]): string {
  const rest = pairs.filter(([k]) => k !== 'version');
  const version = pairs.find(([k]) => k === 'version');
  return [...rest, ...(version ? [version] : [])].map(([k, v]) => `${k}:${v}`).join('|');
}

/** sacrebleu's nrefs: the number of references per segment, or 'var' if it varies. */
export function nrefsOf(segRefs: string[][]): number | 'var' {
  const counts = new Set(segRefs.map((r) => r.length));
  return counts.size === 1 ? [...counts][0] : 'var';
}
