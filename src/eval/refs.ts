// Reference layout shared by the corpus metrics (BLEU, chrF, ROUGE): sacrebleu's convention,
// `refs[k][i]` = reference k of segment i (k streams, each as long as the hypotheses); a null /
// undefined entry drops reference k for segment i (sacrebleu then signs `nrefs:var`).

/** Per-segment reference lists from sacrebleu-style streams, with shape checks. */
export function segmentRefs(nHyps: number, refs: (string | null | undefined)[][]): string[][] {
  if (refs.length === 0) throw new Error('no reference streams given');
  refs.forEach((stream, k) => {
    if (stream.length !== nHyps)
      throw new Error(`reference stream ${k} has ${stream.length} lines but there are ${nHyps} hypotheses`);
  });
  const out: string[][] = [];
  for (let i = 0; i < nHyps; i++) {
    const r = refs.map((s) => s[i]).filter((x): x is string => x !== null && x !== undefined);
    if (r.length === 0) throw new Error(`segment ${i} has no reference (every reference stream is null there)`);
    out.push(r);
  }
  return out;
}

