// Bad and hostile CSV input beyond tests/unit/data/csv.test.ts: a tab file read with the wrong
// delimiter, 50,000-character cells at and over the limit through the whole pipeline, formula
// and HTML/script cells kept as literal text up to the chat JSONL, and a ~200 MB file: parsed and
// cleaned within CI limits, tokenizing progress monotone (tokenizing all 200 MB takes ~20 min on
// the CI machine, so progress is checked on its first rows; see docs/RELIABILITY.md).

import { beforeAll, describe, expect, it } from 'vitest';
import { parseCsv } from '../../../src/data/csv';
import { cleanRecords } from '../../../src/data/clean';
import { DataError } from '../../../src/data/errors';
import { prepareDataset, toChatJsonl } from '../../../src/data/pipeline';
import { loadLlama3Tokenizer, type Tokenizer } from '../../../src/data/tokenizer';

const H = 'Topics,Question-Title,Questions,Answers';
const enc = new TextEncoder();
let tok: Tokenizer;
beforeAll(async () => { tok = await loadLlama3Tokenizer(); });

function dataError(fn: () => unknown): DataError {
  try { fn(); } catch (e) { expect(e).toBeInstanceOf(DataError); return e as DataError; }
  throw new Error('expected a DataError');
}

describe('wrong delimiter', () => {
  it('a tab-separated file read with a given comma: one column, "contains tabs: wrong delimiter?"', () => {
    const tsv = 'Topics\tQuestion-Title\tQuestions\tAnswers\nক\tখ\tগ\tঘ\n';
    expect(parseCsv(tsv).delimiter).toBe('\t'); // detected when not given
    const e = dataError(() => parseCsv(tsv, { delimiter: ',' }));
    expect(e.kind).toBe('delimiter');
    expect(e.message).toBe('the header splits into one column ("Topics\tQuestion-Title\tQuestions\tAnswers") with the given comma delimiter; it contains tabs: wrong delimiter?');
  });

  it('a semicolon header whose rows use commas: rows with fewer fields than the header', () => {
    const rows = Array.from({ length: 4 }, (_, i) => `t,title ${i},q ${i},a ${i}`);
    const e = dataError(() => parseCsv(`Topics;Question-Title;Questions;Answers\n${rows.join('\n')}\n`));
    expect(e.kind).toBe('delimiter');
    expect(e.message).toBe("4 of 4 rows have fewer fields than the header's 4; do the rows use another delimiter than the header (semicolon)?");
  });
});

describe('50,000-character cells', () => {
  const cell = (n: number) => 'অ'.repeat(n);
  it('a cell of exactly 50,000 characters is read whole, then dropped as over the token budget', () => {
    const csv = `${H}\nক,খ,প্রশ্ন এক,${cell(50_000)}\nক,খ,প্রশ্ন দুই,উত্তর দুই\nক,খ,প্রশ্ন তিন,উত্তর তিন\n`;
    expect(parseCsv(csv).records[0].answer).toHaveLength(50_000);
    const { report } = prepareDataset(csv, tok);
    expect(report.rows).toBe(3);
    expect(report.dropped.too_long).toBe(1);
    expect(report.kept).toBe(2);
  });

  it('50,001 characters: refused with the row, the column and the likely cause', () => {
    const csv = `${H}\nক,খ,গ,ঘ\nক,খ,${cell(50_001)},ঘ\n`;
    const e = dataError(() => prepareDataset(csv, tok));
    expect(e.kind).toBe('cell-too-long');
    expect(e.message).toBe('row 3, column "Questions": cell has 50001 characters (max 50000); an unbalanced quote may have merged rows');
  });

  it('an unclosed quote that swallows the rest of a large file is reported where it opens', () => {
    const rows = Array.from({ length: 2000 }, (_, i) => `ক,খ,প্রশ্ন ${i},উত্তর ${i} ${'অ'.repeat(40)}`);
    rows[9] = 'ক,খ,"প্রশ্ন খোলা,উত্তর';
    const e = dataError(() => parseCsv(`${H}\n${rows.join('\n')}\n`));
    // Either the merged cell hits the length limit or the quote never closes; both name row 11.
    expect(e.row).toBe(11);
    expect(e.column).toBe('Questions');
    expect(['quotes', 'cell-too-long']).toContain(e.kind);
  });
});

describe('formula-like and HTML/script cells stay literal text up to the training data', () => {
  const hostile = [
    ["=cmd|' /C calc'!A0", '=HYPERLINK("http://x","y") কেন?', '+1+1 @SUM(A1) -2'],
    ['<img src=x onerror=alert(1)>', '<script>alert("x")</script> আমি একা', '<b>সাহস</b> রাখুন &amp; &lt;'],
  ];
  it('prepareDataset keeps them byte for byte in the chat messages and the JSONL', () => {
    const q = (s: string) => `"${s.replace(/"/g, '""')}"`;
    const csv = `${H}\n` + hostile.map(([title, question, answer]) => ['বিষয়', q(title), q(question), q(answer)].join(',')).join('\n') + '\n';
    const { examples, report } = prepareDataset(csv, tok, { split: { train: 1, val: 0, test: 0 } });
    expect(report.kept).toBe(2);
    hostile.forEach(([title, question, answer], i) => {
      const m = examples[i].messages;
      expect(m[1].content).toBe(`${title}\n${question}`);
      expect(m[2].content).toBe(answer);
    });
    const jsonl = toChatJsonl(examples).trimEnd().split('\n').map((l) => JSON.parse(l));
    expect(jsonl[1].messages[1].content).toBe('<img src=x onerror=alert(1)>\n<script>alert("x")</script> আমি একা');
    expect(jsonl[0].messages[2].content).toBe('+1+1 @SUM(A1) -2');
  });
});

describe('a ~200 MB CSV', () => {
  it('parses and cleans within CI limits; tokenizing progress is monotone and ends at the total', () => {
    const target = 200 * 1e6;
    const parts = [H + '\n'];
    let bytes = parts[0].length, rows = 0;
    while (bytes < target) {
      // ~350 bytes of Bengali per row, a quoted comma and a duplicate every 50 rows.
      const k = rows % 50 === 49 ? rows - 1 : rows;
      const row = `উদ্বেগ ${k % 97},প্রশ্ন ${k},"আমি খুব চিন্তিত, রাতে ঘুম আসে না ${k}। কী করব?","আপনার কষ্ট বুঝতে পারছি ${k}। ধীরে শ্বাস নিন, ঘুমের আগে মোবাইল দূরে রাখুন।"\n`;
      parts.push(row);
      bytes += enc.encode(row).length;
      rows++;
    }
    const file = enc.encode(parts.join(''));
    expect(file.length).toBeGreaterThanOrEqual(target);

    let t = performance.now();
    const parsed = parseCsv(file);
    const parseS = (performance.now() - t) / 1000;
    expect(parsed.records).toHaveLength(rows);
    expect(parsed.records[rows - 1].row).toBe(rows + 1);
    t = performance.now();
    const cleaned = cleanRecords(parsed.records);
    const cleanS = (performance.now() - t) / 1000;
    expect(cleaned.dropped.duplicate).toBe(Math.floor(rows / 50));
    expect(cleaned.records).toHaveLength(rows - Math.floor(rows / 50));
    console.log(`200 MB CSV: ${rows} rows, ${(file.length / 1e6).toFixed(0)} MB; parse ${parseS.toFixed(1)} s, clean ${cleanS.toFixed(1)} s, heap ${(process.memoryUsage().heapUsed / 2 ** 20).toFixed(0)} MiB`);
    expect(parseS + cleanS).toBeLessThan(180);

    // Tokenizing progress, on the first 1,000 data rows of the same file.
    const head = enc.encode(parts.slice(0, 1001).join(''));
    expect(file.subarray(0, head.length)).toEqual(head);
    const calls: [number, number][] = [];
    const { report } = prepareDataset(head, tok, { onProgress: (d, n) => calls.push([d, n]) });
    expect(report.rows).toBe(1000);
    const total = report.rows - report.dropped.duplicate;
    expect(calls[0]).toEqual([0, total]);
    expect(calls.at(-1)).toEqual([total, total]);
    for (let i = 1; i < calls.length; i++) {
      expect(calls[i][0]).toBeGreaterThan(calls[i - 1][0]);
      expect(calls[i][1]).toBe(total);
    }
    expect(calls.length).toBe(Math.ceil(total / 256) + 1);
  }, 300_000);
});
