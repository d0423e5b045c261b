// Cleaning: NFC, whitespace, newlines kept in answers, drops counted by reason, text never interpreted.
import { describe, expect, it } from 'vitest';
import { cleanRecords, normalizeText, userText, DEFAULT_UNSAFE_PATTERNS } from '../../../src/data/clean';
import type { RawRecord } from '../../../src/data/csv';

const rec = (row: number, question: string, answer: string, title = '', topic = 'উদ্বেগ'): RawRecord => ({ row, topic, title, question, answer });

describe('normalizeText', () => {
  it('composes to NFC (Bengali o-kar from e-kar + aa-kar)', () => {
    const decomposed = 'ক\u09C7\u09BEন';
    expect(decomposed).not.toBe('কোন');
    expect(normalizeText(decomposed)).toBe('কোন');
  });

  it('trims and collapses whitespace, NBSP and tabs; keeps ZWJ/ZWNJ; drops control chars and zero-width spaces', () => {
    expect(normalizeText('  আমি\t\u00A0 ভালো   আছি  ')).toBe('আমি ভালো আছি');
    expect(normalizeText('র\u200D্যাব ক\u200Cষ')).toBe('র\u200D্যাব ক\u200Cষ');
    expect(normalizeText('এক\u200Bদুই\u0007তিন\uFEFF')).toBe('একদুইতিন');
  });

  it('with keepNewlines: one \\n per break, lines trimmed, blank lines removed; without: one line', () => {
    const s = '  প্রথম লাইন  \r\n\r\n\n   দ্বিতীয়   লাইন\u2028তৃতীয় \n ';
    expect(normalizeText(s, true)).toBe('প্রথম লাইন\nদ্বিতীয় লাইন\nতৃতীয়');
    expect(normalizeText(s)).toBe('প্রথম লাইন দ্বিতীয় লাইন তৃতীয়');
  });
});

describe('userText', () => {
  it('title + newline + question; title left out when empty or equal to the question', () => {
    expect(userText({ title: 'ঘুম আসে না', question: 'রাতে ঘুম আসে না।' })).toBe('ঘুম আসে না\nরাতে ঘুম আসে না।');
    expect(userText({ title: '', question: 'প্রশ্ন' })).toBe('প্রশ্ন');
    expect(userText({ title: 'প্রশ্ন', question: 'প্রশ্ন' })).toBe('প্রশ্ন');
    expect(userText({ title: ' প্রশ্ন  ', question: 'প্রশ্ন' })).toBe('প্রশ্ন');
  });
});

describe('cleanRecords', () => {
  it('drops empty and duplicate rows, counting each reason; rows = kept + dropped', () => {
    const raw = [
      rec(2, ' প্রশ্ন  এক ', 'উত্তর\n\n এক '),
      rec(3, 'প্রশ্ন এক', 'উত্তর\nএক'), // duplicate after normalisation
      rec(4, '', 'উত্তর'),
      rec(5, 'প্রশ্ন', '   '),
      rec(6, ' ', ''),
      rec(7, 'প্রশ্ন এক', 'উত্তর\nএক', 'শিরোনাম'), // different user text: kept
      rec(8, 'প্রশ্ন এক', 'অন্য উত্তর'), // same question, other answer: kept
    ];
    const { records, dropped } = cleanRecords(raw, {}, 2);
    expect(records.map((r) => r.row)).toEqual([2, 7, 8]);
    expect(records[0]).toEqual({ row: 2, topic: 'উদ্বেগ', title: '', question: 'প্রশ্ন এক', answer: 'উত্তর\nএক' });
    expect(dropped).toEqual({ malformed: 2, empty_row: 1, empty_question: 1, empty_answer: 1, special_tokens: 0, unsafe: 0, duplicate: 1, too_long: 0 });
    const total = records.length + Object.values(dropped).reduce((a, b) => a + b, 0);
    expect(total).toBe(raw.length + 2);
  });

  it('keeps formula-like cells and HTML as plain text', () => {
    const { records } = cleanRecords([rec(2, "=cmd|' /C calc'!A0", '<b>সাহস</b> রাখুন <script>alert(1)</script>', '@SUM(1+1)')]);
    expect(records[0].question).toBe("=cmd|' /C calc'!A0");
    expect(records[0].title).toBe('@SUM(1+1)');
    expect(records[0].answer).toBe('<b>সাহস</b> রাখুন <script>alert(1)</script>');
  });

  it('drops rows with Llama control-token text', () => {
    const { records, dropped } = cleanRecords([rec(2, 'প্রশ্ন <|eot_id|>', 'উত্তর'), rec(3, 'প্রশ্ন', 'উত্তর<|start_header_id|>'), rec(4, '<|eot|> ঠিক আছে', 'উত্তর')]);
    expect(records.map((r) => r.row)).toEqual([4]);
    expect(dropped.special_tokens).toBe(2);
  });

  it('unsafe filter: off by default; defaults catch links, e-mails and phone numbers; custom patterns', () => {
    const raw = [
      rec(2, 'আমার নম্বর 01712345678', 'ঠিক আছে'),
      rec(3, 'প্রশ্ন', 'দেখুন https://example.com'),
      rec(4, 'লিখুন a.b@example.org এ', 'উত্তর'),
      rec(5, 'ফোন +৮৮০১৭১২৩৪৫৬৭৮', 'উত্তর'),
      rec(6, 'জরুরি সেবা ৯৯৯', 'ফোন করুন ৯৯৯-এ'),
    ];
    expect(cleanRecords(raw).records).toHaveLength(5);
    const on = cleanRecords(raw, { unsafeFilter: true });
    expect(on.records.map((r) => r.row)).toEqual([6]);
    expect(on.dropped.unsafe).toBe(4);
    expect(DEFAULT_UNSAFE_PATTERNS.length).toBeGreaterThan(0);
    const custom = cleanRecords(raw, { unsafeFilter: [/জরুরি/g] });
    expect(custom.records.map((r) => r.row)).toEqual([2, 3, 4, 5]);
    expect(custom.dropped.unsafe).toBe(1);
  });
});
