// Evaluation of a model (base or with its adapter) on a held-out split: perplexity over the
// assistant tokens (batched forward on the GPU), then greedy answers for up to `samples`
// prompts scored with BLEU, chrF/chrF++ (sacrebleu-equal), ROUGE (Unicode-aware) and the
// response heuristics, with every per-sample output kept.

import type { Gpu } from '../gpu/core/context';
import { packBatches } from '../data/pack';
import type { PreparedDataset } from '../data/pipeline';
import type { Tokenizer } from '../data/tokenizer';
import type { Activations } from '../model/activations';
import type { LoraState } from '../model/lora';
import { evalBatches } from '../model/step';
import type { ModelWeights } from '../model/weights';
import { generate, type KvCache } from '../chat/generate';
import { GREEDY } from '../chat/sampling';
import { corpusBleu, sentenceBleu, type BleuScore } from './bleu';
import { corpusChrf, corpusChrfpp, sentenceChrf, type ChrfScore } from './chrf';
import { corpusRouge, rougeScores, type CorpusRouge } from './rouge';
import { responseHeuristics, type HeuristicRates, type SampleHeuristics } from './heuristics';
import { aggregatePerplexity, type PerplexitySummary } from './perplexity';
import type { SacreTokenizer } from './sacre-tokenize';

export interface EvalOptions {
  split: 'val' | 'test';
  useAdapter: boolean;
  samples: number; // prompts answered and scored with BLEU/chrF/ROUGE (0 = perplexity only)
  maxNewTokens: number;
  tokenize?: SacreTokenizer;
}

export interface EvalSample {
  id: string; row: number; prompt: string; reference: string; output: string;
  bleu: number; chrf: number; rougeL: number; heuristics: SampleHeuristics;
}

export interface EvalResult {
  split: 'val' | 'test';
  adapter: boolean;
  perplexity: PerplexitySummary;
  bleu: BleuScore | null;
  chrf: ChrfScore | null;
  chrfpp: ChrfScore | null;
  rouge: CorpusRouge | null;
  heuristics: HeuristicRates | null;
  samples: EvalSample[];
}

export interface EvalContext {
  gpu: Gpu; weights: ModelWeights; lora: LoraState | null; acts: Activations;
  tokenizer: Tokenizer; dataset: PreparedDataset; kv: KvCache;
}

export async function evaluateSplit(ctx: EvalContext, o: EvalOptions, onProgress?: (done: number, total: number) => void): Promise<EvalResult> {
  const idx = ctx.dataset.split[o.split];
  if (idx.length === 0) throw new Error(`the ${o.split} split is empty: use a larger CSV or another split ratio`);
  const examples = idx.map((i) => ctx.dataset.examples[i]);
  const maxT = ctx.acts.maxT;
  const fit = examples.map((e) => (e.ids.length <= maxT ? e : { ...e, ids: e.ids.subarray(0, maxT), labels: e.labels.subarray(0, maxT) }));
  const batches = packBatches(fit, { maxTokens: maxT, seed: 0, order: fit.map((_, i) => i) }).batches;
  const n = Math.min(o.samples, examples.length);
  const total = batches.length + n;
  const nll = [];
  for await (const r of evalBatches(ctx.gpu, ctx.weights, ctx.lora, ctx.acts, batches)) {
    nll.push({ nllSum: r.nllSum, tokenCount: r.count });
    onProgress?.(nll.length, total);
  }
  const perplexity = aggregatePerplexity(nll);
  const samples: EvalSample[] = [];
  const tokenize = o.tokenize ?? '13a';
  for (let s = 0; s < n; s++) {
    const e = examples[s];
    const prompt = e.messages.filter((m) => m.role !== 'assistant');
    const reference = e.messages.find((m) => m.role === 'assistant')?.content ?? '';
    const ids = ctx.tokenizer.encodeChat(prompt, { addGenerationPrompt: true });
    const out: number[] = [];
    for await (const id of generate(ctx.gpu, ctx.weights, ctx.lora, ctx.acts, ctx.kv, ids, { ...GREEDY, repetitionPenalty: 1.1, maxNewTokens: o.maxNewTokens, stopIds: ctx.tokenizer.eosIds, seed: 0 })) {
      if (ctx.tokenizer.eosIds.includes(id)) break;
      out.push(id);
    }
    const output = ctx.tokenizer.decode(out, { skipSpecialTokens: true }).trim();
    samples.push({
      id: `${o.split}-${e.row}`, row: e.row, prompt: prompt.find((m) => m.role === 'user')?.content ?? '', reference, output,
      bleu: sentenceBleu(output, [reference], { tokenize }).score, chrf: sentenceChrf(output, [reference]).score,
      rougeL: rougeScores(output, reference).rougeL.f, heuristics: responseHeuristics([output]).samples[0],
    });
    onProgress?.(batches.length + s + 1, total);
  }
  const hyps = samples.map((x) => x.output), refs = [samples.map((x) => x.reference)];
  return {
    split: o.split, adapter: o.useAdapter && ctx.lora !== null, perplexity,
    bleu: n ? corpusBleu(hyps, refs, { tokenize }) : null,
    chrf: n ? corpusChrf(hyps, refs) : null,
    chrfpp: n ? corpusChrfpp(hyps, refs) : null,
    rouge: n ? corpusRouge(hyps, refs) : null,
    heuristics: n ? responseHeuristics(hyps).summary : null,
    samples,
  };
}
