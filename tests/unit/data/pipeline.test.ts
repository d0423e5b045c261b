// The whole data step on the hand-written sample, the report, token statistics, JSONL output.
import { describe, expect, it, beforeAll } from 'vitest';
import { readFileSync } from 'node:fs';
import { loadLlama3Tokenizer, type Tokenizer } from '../../../src/data/tokenizer';
import { prepareDataset, toChatJsonl } from '../../../src/data/pipeline';
import { tokenStats, histogram } from '../../../src/data/stats';
import { DataError } from '../../../src/data/errors';

const SAMPLE = 'public/sample/BengaliEmpatheticConversations.sample.csv';
let tok: Tokenizer;
let bytes: Uint8Array;
beforeAll(async () => {
  tok = await loadLlama3Tokenizer();
  bytes = new Uint8Array(readFileSync(SAMPLE));
});

describe('tokenStats / histogram', () => {
  it('min, median, nearest-rank p95, max, mean', () => {
    expect(tokenStats([5, 1, 3])).toEqual({ min: 1, median: 3, p95: 5, max: 5, mean: 3 });
    expect(tokenStats([1, 2, 3, 4])).toEqual({ min: 1, median: 2.5, p95: 4, max: 4, mean: 2.5 });
    const hundred = Array.from({ length: 100 }, (_, i) => i + 1);
    expect(tokenStats(hundred).p95).toBe(95);
    expect(tokenStats([])).toEqual({ min: 0, median: 0, p95: 0, max: 0, mean: 0 });
  });

  it('bins cover min..max, contiguous, counts add up', () => {
    const lens = [100, 130, 131, 400, 977, 978];
    const h = histogram(lens, 10);
    expect(h[0].lo).toBeLessThanOrEqual(100);
    expect(h[h.length - 1].hi).toBeGreaterThan(978);
    for (let i = 1; i < h.length; i++) expect(h[i].lo).toBe(h[i - 1].hi);
    expect(h.reduce((a, b) => a + b.count, 0)).toBe(lens.length);
    expect(h.length).toBeLessThanOrEqual(11);
    expect(histogram([], 10)).toEqual([]);
    expect(histogram([7, 7], 10)).toEqual([{ lo: 0, hi: 8, count: 2 }]);
  });
});

describe('prepareDataset on the sample CSV', () => {
  it('reports rows, drops by reason, split sizes and token statistics', () => {
    const { examples, split, report } = prepareDataset(bytes, tok, { seed: 1 });
    expect(report.rows).toBe(62);
    expect(report.kept).toBe(59);
    expect(report.dropped).toMatchObject({ duplicate: 2, empty_answer: 1, too_long: 0 });
    expect(report.kept + Object.values(report.dropped).reduce((a, b) => a + b, 0)).toBe(report.rows);
    expect([report.train, report.val, report.test]).toEqual([53, 3, 3]);
    expect(split.train.length + split.val.length + split.test.length).toBe(examples.length);
    const lens = examples.map((e) => e.ids.length);
    expect(report.tokens).toEqual(tokenStats(lens));
    expect(report.histogram.reduce((a, b) => a + b.count, 0)).toBe(59);
    expect(report.columns).toEqual({ topic: 'Topics', title: 'Question-Title', question: 'Questions', answer: 'Answers' });
    // stray spaces are gone, multi-line answers keep single newlines
    for (const e of examples) for (const m of e.messages) expect(m.content).not.toMatch(/ {2}|^\s|\s$|\n\n| \n|\n /);
    expect(examples.some((e) => e.messages[2].content.includes('\n'))).toBe(true);
    expect(examples.every((e) => e.labels[e.labels.length - 1] === tok.eotId)).toBe(true);
  });

  it('is deterministic for a seed and drops rows over the token budget', () => {
    const a = prepareDataset(bytes, tok, { seed: 3 });
    const b = prepareDataset(bytes, tok, { seed: 3 });
    expect(b.split).toEqual(a.split);
    expect(prepareDataset(bytes, tok, { seed: 4 }).split.val).not.toEqual(a.split.val);
    const budget = a.report.tokens.median;
    const c = prepareDataset(bytes, tok, { seed: 3, maxTokens: budget });
    const over = a.examples.filter((e) => e.ids.length > budget).length;
    expect(c.report.dropped.too_long).toBe(over);
    expect(c.report.kept).toBe(59 - over);
    expect(c.report.tokens.max).toBeLessThanOrEqual(budget);
  });

  it('packing preview: batches, fill and truncation', () => {
    const { report } = prepareDataset(bytes, tok, { seed: 1, packTokens: 512 });
    const p = report.packing!;
    expect(p.maxTokens).toBe(512);
    expect(p.truncated).toBeGreaterThan(0); // the sample's examples are ~600-900 tokens
    expect(p.tokens).toBeLessThanOrEqual(p.batches * 512);
    expect(p.fill).toBeCloseTo(p.tokens / (p.batches * 512), 3);
  });

  it('reports progress while tokenizing', () => {
    const calls: [number, number][] = [];
    prepareDataset(bytes, tok, { onProgress: (d, t) => calls.push([d, t]) });
    expect(calls[0]).toEqual([0, 59]);
    expect(calls[calls.length - 1]).toEqual([59, 59]);
  });

  it('writes chat-format JSONL', () => {
    const { examples, split } = prepareDataset(bytes, tok, { seed: 1, systemPrompt: 'সিস্টেম' });
    const lines = toChatJsonl(split.val.map((i) => examples[i])).trimEnd().split('\n');
    expect(lines).toHaveLength(3);
    const first = JSON.parse(lines[0]);
    expect(first.messages.map((m: { role: string }) => m.role)).toEqual(['system', 'user', 'assistant']);
    expect(first.messages[0].content).toBe('সিস্টেম');
  });

  it('rejects bad options and passes CSV errors through', () => {
    expect(() => prepareDataset(bytes, tok, { maxTokens: 4 })).toThrow(DataError);
    expect(() => prepareDataset('', tok)).toThrow('the file is empty');
  });
});
