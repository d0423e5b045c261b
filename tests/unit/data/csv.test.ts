// CSV parsing: BOM, CRLF, quoted multi-line cells, delimiter detection, column detection and
// mapping, and one clear error with row/column for each kind of bad file.
import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { parseCsv } from '../../../src/data/csv';
import { DataError } from '../../../src/data/errors';

const fx = (name: string) => new Uint8Array(readFileSync(`tests/fixtures/data/${name}`));
const utf8 = (s: string) => new TextEncoder().encode(s);
const H = 'Topics,Question-Title,Questions,Answers';

function err(fn: () => unknown): DataError {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(DataError);
    const d = e as DataError;
    expect(d.message).not.toContain('\n'); // one line
    return d;
  }
  throw new Error('expected a DataError');
}

describe('parseCsv: well-formed input', () => {
  it('handles a BOM, CRLF, quoted multi-line cells, quoted commas and doubled quotes', () => {
    const p = parseCsv(fx('bom-crlf-multiline.csv'));
    expect(p.header).toEqual(['Topics', 'Question-Title', 'Questions', 'Answers']);
    expect(p.delimiter).toBe(',');
    expect(p.mapping).toEqual({ topic: 'Topics', title: 'Question-Title', question: 'Questions', answer: 'Answers' });
    expect(p.records).toHaveLength(2);
    expect(p.records[0]).toEqual({
      row: 2,
      topic: 'উদ্বেগ',
      title: 'ঘুম আসে না',
      question: 'রাতে ঘুম আসে না, কী করব?',
      answer: 'ধীরে শ্বাস নিন।\nঘুমের আগে মোবাইল দূরে রাখুন।',
    });
    expect(p.records[1]).toMatchObject({ row: 3, title: '', answer: 'আমি দুঃখিত। "শোক" সময় নেয়।' });
  });

  it('detects semicolon and tab delimiters', () => {
    const p = parseCsv(fx('semicolon.csv'));
    expect(p.delimiter).toBe(';');
    expect(p.records[0].question).toBe('কেউ নেই, খুব একা লাগে।');
    const t = parseCsv('Questions\tAnswers\nপ্রশ্ন\tউত্তর\n');
    expect(t.delimiter).toBe('\t');
    expect(t.records[0]).toMatchObject({ question: 'প্রশ্ন', answer: 'উত্তর', topic: '', title: '' });
    expect(t.mapping.topic).toBeUndefined();
  });

  it('accepts a string or an ArrayBuffer, columns in any order and extra columns', () => {
    const s = 'id,Answers,extra,Questions\n1,উত্তর,x,প্রশ্ন\n';
    const p = parseCsv(s);
    expect(p.records[0]).toMatchObject({ row: 2, question: 'প্রশ্ন', answer: 'উত্তর' });
    expect(parseCsv(utf8(s).buffer as ArrayBuffer).records).toEqual(p.records);
  });

  it('uses a user column mapping (case, space, - and _ insensitive)', () => {
    const p = parseCsv(fx('missing-columns.csv'), { columns: { topic: 'topic', title: 'TITLE', question: 'query', answer: 'Reply' } });
    expect(p.mapping).toEqual({ topic: 'Topic', title: 'Title', question: 'Query', answer: 'Reply' });
    expect(p.records[0]).toEqual({ row: 2, topic: 'উদ্বেগ', title: 'ক', question: 'খ', answer: 'গ' });
    expect(parseCsv('question title,QUESTIONS,answers\na,b,c\n').mapping.title).toBe('question title');
  });

  it('skips blank lines without counting them and keeps spreadsheet row numbers', () => {
    const p = parseCsv(`${H}\n\nক,খ,গ,ঘ\n\n\nচ,ছ,জ,ঝ\n`);
    expect(p.records.map((r) => r.row)).toEqual([3, 6]);
  });

  it('keeps formula-like and HTML cells as plain text', () => {
    const r = parseCsv(fx('formula-html.csv')).records[0];
    expect(r.title).toBe("=cmd|' /C calc'!A0");
    expect(r.question).toBe('=SUM(A1:A9) কেন?');
    expect(r.answer).toBe('<b>সাহস</b> রাখুন <script>x</script>');
  });

  it('sets aside rows with more fields than the header (unquoted delimiter in a cell)', () => {
    const rows = Array.from({ length: 9 }, (_, i) => `t,title ${i},q ${i},a ${i}`);
    rows.splice(4, 0, 't,title, with comma,q,a');
    const p = parseCsv(`${H}\n${rows.join('\n')}\n`);
    expect(p.records).toHaveLength(9);
    expect(p.malformedRows).toEqual([6]);
  });
});

describe('parseCsv: errors with row and column', () => {
  it('empty file', () => {
    for (const input of [new Uint8Array(0), utf8('\ufeff'), utf8('  \r\n\n ')]) {
      const e = err(() => parseCsv(input));
      expect(e.kind).toBe('empty');
      expect(e.message).toBe('the file is empty');
    }
  });

  it('header only', () => {
    const e = err(() => parseCsv(fx('header-only.csv')));
    expect(e.kind).toBe('no-rows');
    expect(e.message).toBe('the file has a header but no data rows');
  });

  it('missing columns: says which are missing and which exist', () => {
    const e = err(() => parseCsv(fx('missing-columns.csv')));
    expect(e.kind).toBe('columns');
    expect(e.message).toContain('"Questions" (question) and "Answers" (answer)');
    expect(e.message).toContain('the file has: "Topic", "Title", "Query", "Reply"');
    const m = err(() => parseCsv(fx('missing-columns.csv'), { columns: { question: 'Query', answer: 'Antwort' } }));
    expect(m.message).toContain('column "Antwort" (mapped to answer) is not in the header');
    expect(m.column).toBe('Antwort');
  });

  it('unbalanced quotes: row, line and column of the open quote', () => {
    const e = err(() => parseCsv(fx('unbalanced-quotes.csv')));
    expect(e.kind).toBe('quotes');
    expect(e.row).toBe(3);
    expect(e.column).toBe('Questions');
    expect(e.message).toMatch(/^row 3 \(line 3\), column "Questions": a quoted field is never closed/);
    const t = err(() => parseCsv(`${H}\nক,খ,"গ"x,ঘ\n`));
    expect(t.kind).toBe('quotes');
    expect(t.row).toBe(2);
    expect(t.column).toBe('Questions');
  });

  it('wrong delimiter: a given delimiter that does not split the header', () => {
    const e = err(() => parseCsv(fx('semicolon.csv'), { delimiter: ',' }));
    expect(e.kind).toBe('delimiter');
    expect(e.message).toContain('one column');
    expect(e.message).toContain('semicolons: wrong delimiter?');
  });

  it('wrong delimiter: rows that do not split like the header', () => {
    const rows = Array.from({ length: 5 }, (_, i) => `t;title ${i};q ${i};a ${i}`);
    const e = err(() => parseCsv(`${H}\n${rows.join('\n')}\n`));
    expect(e.kind).toBe('delimiter');
    expect(e.message).toContain('5 of 5 rows have fewer fields');
    const many = Array.from({ length: 5 }, (_, i) => `t,x,y,q ${i},a ${i}`);
    expect(err(() => parseCsv(`${H}\n${many.join('\n')}\n`)).message).toContain('5 of 5 rows have more fields than the header (first: row 2)');
  });

  it('non-UTF-8 bytes: the row (not the line) and the column', () => {
    const e = err(() => parseCsv(fx('not-utf8.csv')));
    expect(e.kind).toBe('encoding');
    expect(e.row).toBe(3); // header, one two-line row, then the bad one
    expect(e.column).toBe('Answers');
    expect(e.message).toBe('row 3 (line 4), column "Answers": bytes that are not valid UTF-8; save the file as UTF-8 ("CSV UTF-8" in Excel)');
    expect(err(() => parseCsv(new Uint8Array([0xff, 0xfe, 0x41, 0x00]))).message).toContain('UTF-16');
  });

  it('cells over the maximum length', () => {
    const long = 'অ'.repeat(60);
    const e = err(() => parseCsv(`${H}\nক,খ,গ,ঘ\nক,খ,গ,${long}\n`, { maxCellChars: 50 }));
    expect(e.kind).toBe('cell-too-long');
    expect(e.row).toBe(3);
    expect(e.column).toBe('Answers');
    expect(e.message).toBe('row 3, column "Answers": cell has 60 characters (max 50); an unbalanced quote may have merged rows');
    expect(parseCsv(`${H}\nক,খ,গ,${long}\n`, { maxCellChars: 60 }).records).toHaveLength(1);
  });
});
