// Cleaning of raw CSV records: Unicode NFC, trimmed, whitespace collapsed (answers and questions
// keep their line breaks, one per break), empty and duplicate rows dropped, an optional filter for
// unsafe patterns (links, e-mail addresses, phone numbers). Every dropped row is counted by reason.
// Text is never interpreted: formula-like cells (`=cmd|...`) and HTML stay plain text.
// Bengali needs ZWJ/ZWNJ (U+200D/U+200C) for conjunct shaping: they are kept.

import type { RawRecord } from './csv';

export type DropReason =
  | 'malformed' // more fields than the header (an unquoted delimiter inside a cell)
  | 'empty_row' // every mapped cell empty
  | 'empty_question'
  | 'empty_answer'
  | 'duplicate' // same user text and answer as an earlier row
  | 'unsafe' // matched an unsafe pattern (only with the filter on)
  | 'special_tokens' // contains Llama control-token text such as <|eot_id|> (would break the template)
  | 'too_long'; // over the token budget (counted when formatting)

export const DROP_REASONS: readonly DropReason[] = [
  'malformed',
  'empty_row',
  'empty_question',
  'empty_answer',
  'special_tokens',
  'unsafe',
  'duplicate',
  'too_long',
];

export type DropCounts = Record<DropReason, number>;

export function emptyDropCounts(): DropCounts {
  return { malformed: 0, empty_row: 0, empty_question: 0, empty_answer: 0, special_tokens: 0, unsafe: 0, duplicate: 0, too_long: 0 };
}

export interface CleanRecord {
  row: number; // spreadsheet row of the source
  topic: string;
  title: string;
  question: string;
  answer: string;
}

export interface CleanOptions {
  /** Drop rows matching unsafe patterns: true for the defaults, or your own list. */
  unsafeFilter?: boolean | readonly RegExp[];
}

/** Links, e-mail addresses and phone numbers (Bangladeshi mobiles, Latin or Bengali digits). */
export const DEFAULT_UNSAFE_PATTERNS: readonly RegExp[] = [
  /\bhttps?:\/\/|\bwww\.[a-z0-9-]+\./i,
  /[\w.+-]+@[\w-]+\.[a-z]{2,}/i,
  /(?:\+?88)?01[3-9]\d{8}(?!\d)/,
  /(?:\+?৮৮)?০১[৩-৯][০-৯]{8}(?![০-৯])/,
];

/** Llama 3 control-token text: in data it would be read as the control token itself. */
export const SPECIAL_TOKEN_TEXT = /<\|(?:begin_of_text|end_of_text|start_header_id|end_header_id|eot_id|eom_id|python_tag|finetune_right_pad_id|reserved_special_token_\d+)\|>/;

// C0/C1 controls except \t \n, zero-width space, BOM, line/paragraph separators handled below.
const CONTROL = /[\u0000-\u0008\u000B-\u001F\u007F-\u009F\u200B\uFEFF]/g;

/** NFC, trim, collapse whitespace. With `keepNewlines`, each line break survives as one '\n'. */
export function normalizeText(s: string, keepNewlines = false): string {
  const t = s.normalize('NFC').replace(/\r\n?|[\u2028\u2029]/g, '\n').replace(CONTROL, '');
  if (!keepNewlines) return t.replace(/\s+/g, ' ').trim();
  return t
    .split('\n')
    .map((l) => l.replace(/\s+/g, ' ').trim())
    .filter((l) => l !== '')
    .join('\n');
}

/** The user turn: title + "\n" + question; the title is left out if empty or equal to the question. */
export function userText(r: { title: string; question: string }): string {
  const title = r.title.trim();
  if (title === '' || title === r.question || normalizeText(title) === normalizeText(r.question)) return r.question;
  return `${title}\n${r.question}`;
}

function matches(p: RegExp, s: string): boolean {
  p.lastIndex = 0; // a /g or /y pattern keeps state between calls
  return p.test(s);
}

export interface CleanResult {
  records: CleanRecord[];
  dropped: DropCounts;
}

/** Normalise and filter records; `malformedRows` (from parseCsv) is counted as dropped. */
export function cleanRecords(raw: readonly RawRecord[], opts: CleanOptions = {}, malformedRows = 0): CleanResult {
  const dropped = emptyDropCounts();
  dropped.malformed = malformedRows;
  const patterns = opts.unsafeFilter === true ? DEFAULT_UNSAFE_PATTERNS : opts.unsafeFilter || [];
  const seen = new Set<string>();
  const records: CleanRecord[] = [];
  for (const r of raw) {
    const c: CleanRecord = {
      row: r.row,
      topic: normalizeText(r.topic),
      title: normalizeText(r.title),
      question: normalizeText(r.question, true),
      answer: normalizeText(r.answer, true),
    };
    if (!c.question && !c.answer) {
      dropped.empty_row++;
      continue;
    }
    if (!c.question) {
      dropped.empty_question++;
      continue;
    }
    if (!c.answer) {
      dropped.empty_answer++;
      continue;
    }
    const user = userText(c);
    if (SPECIAL_TOKEN_TEXT.test(user) || SPECIAL_TOKEN_TEXT.test(c.answer)) {
      dropped.special_tokens++;
      continue;
    }
    if (patterns.some((p) => matches(p, user) || matches(p, c.answer))) {
      dropped.unsafe++;
      continue;
    }
    const key = `${user}\u0000${c.answer}`;
    if (seen.has(key)) {
      dropped.duplicate++;
      continue;
    }
    seen.add(key);
    records.push(c);
  }
  return { records, dropped };
}
