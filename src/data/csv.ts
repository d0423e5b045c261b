// CSV → raw conversation records. papaparse does the splitting (quoted multi-line fields, delimiter
// detection); this file adds what a user needs when the file is wrong: one clear error with the row
// (as a spreadsheet shows it: header = row 1) and the column, for empty files, header-only files,
// missing columns, unbalanced quotes, a wrong delimiter, bytes that are not UTF-8 and oversized cells.
// Corpus schema: `Topics`, `Question-Title`, `Questions`, `Answers` (any order, any extra columns).

import Papa from 'papaparse';
import { DataError } from './errors';

/** Header names for each field; topic and title are optional. */
export interface ColumnMapping {
  topic?: string;
  title?: string;
  question: string;
  answer: string;
}

export interface CsvOptions {
  /** Override the detected columns (names as in the header; case/space/-/_ insensitive). */
  columns?: Partial<ColumnMapping>;
  /** Field delimiter; default: detected among `,` tab `;` `|`. */
  delimiter?: string;
  /** Longest cell accepted, in characters (default 50,000); longer is an error (likely a runaway quote). */
  maxCellChars?: number;
}

/** One data row, text as in the file (not yet cleaned). */
export interface RawRecord {
  row: number; // spreadsheet row (header = 1)
  topic: string;
  title: string;
  question: string;
  answer: string;
}

export interface ParsedCsv {
  header: string[];
  delimiter: string;
  /** Header names used for each field (undefined: column absent). */
  mapping: { topic?: string; title?: string; question: string; answer: string };
  records: RawRecord[];
  /** Rows whose field count exceeds the header's (an unquoted delimiter inside a cell): skipped. */
  malformedRows: number[];
}

export const DEFAULT_MAX_CELL_CHARS = 50_000;
const DELIMITERS = [',', '\t', ';', '|'];
const DELIM_NAME: Record<string, string> = { ',': 'comma', '\t': 'tab', ';': 'semicolon', '|': 'pipe' };
const delimName = (d: string) => DELIM_NAME[d] ?? JSON.stringify(d);

/** Names each field is recognised by, normalised with `normName`. */
const KNOWN: Record<keyof ColumnMapping, string[]> = {
  topic: ['topics', 'topic'],
  title: ['questiontitle', 'title'],
  question: ['questions', 'question'],
  answer: ['answers', 'answer'],
};
const CORPUS_NAME: Record<keyof ColumnMapping, string> = {
  topic: 'Topics',
  title: 'Question-Title',
  question: 'Questions',
  answer: 'Answers',
};

function normName(s: string): string {
  return s.normalize('NFC').toLowerCase().replace(/[\s\-_]+/g, '');
}

/** Decode UTF-8 bytes (fatal on bad bytes: reported with row/column), or pass a string through. */
export function decodeCsvInput(input: string | Uint8Array | ArrayBuffer): string {
  if (typeof input === 'string') return input;
  const bytes = input instanceof Uint8Array ? input : new Uint8Array(input);
  if (bytes.length >= 2 && ((bytes[0] === 0xff && bytes[1] === 0xfe) || (bytes[0] === 0xfe && bytes[1] === 0xff)))
    throw new DataError('encoding', 'the file is UTF-16; save it as UTF-8 ("CSV UTF-8" in Excel)', 1);
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    throw locateBadBytes(bytes);
  }
}

function locateBadBytes(bytes: Uint8Array): DataError {
  const text = new TextDecoder('utf-8').decode(bytes); // bad sequences → U+FFFD
  const at = text.indexOf('\uFFFD');
  const before = stripBom(text.slice(0, Math.max(0, at))).replace(/\r\n?/g, '\n');
  const all = stripBom(text).replace(/\r\n?/g, '\n');
  const delimiter = detectDelimiter(all, undefined);
  const parsed = Papa.parse<string[]>(before, { delimiter });
  const row = Math.max(1, parsed.data.length);
  const header = Papa.parse<string[]>(all.split('\n')[0], { delimiter }).data[0] ?? [];
  const col = (parsed.data[row - 1]?.length ?? 1) - 1;
  const column = header[col]?.trim() || `#${col + 1}`;
  const line = before.split('\n').length;
  return new DataError(
    'encoding',
    `row ${row} (line ${line}), column "${column}": bytes that are not valid UTF-8; save the file as UTF-8 ("CSV UTF-8" in Excel)`,
    row,
    column,
  );
}

function stripBom(s: string): string {
  return s.charCodeAt(0) === 0xfeff ? s.slice(1) : s;
}

function lineAt(text: string, index: number | undefined): number | undefined {
  if (index === undefined) return undefined;
  let n = 1;
  for (let i = 0; i < index && i < text.length; i++) if (text.charCodeAt(i) === 10) n++;
  return n;
}

function resolveMapping(header: string[], user: Partial<ColumnMapping> | undefined, delimiter: string, explicitDelim: boolean): ParsedCsv['mapping'] & { idx: Record<keyof ColumnMapping, number> } {
  const norm = header.map(normName);
  const idx = { topic: -1, title: -1, question: -1, answer: -1 } as Record<keyof ColumnMapping, number>;
  const has = `the file has: ${header.map((h) => JSON.stringify(h.trim())).join(', ')}`;
  for (const key of Object.keys(KNOWN) as (keyof ColumnMapping)[]) {
    const wanted = user?.[key];
    if (wanted !== undefined && wanted !== '') {
      const i = norm.indexOf(normName(wanted));
      if (i < 0) throw new DataError('columns', `column "${wanted}" (mapped to ${key}) is not in the header; ${has}`, 1, wanted);
      idx[key] = i;
    } else {
      idx[key] = norm.findIndex((n) => KNOWN[key].includes(n));
    }
  }
  const missing = (['question', 'answer'] as const).filter((k) => idx[k] < 0);
  if (missing.length) {
    if (header.length === 1) {
      const other = DELIMITERS.find((d) => d !== delimiter && header[0].includes(d));
      throw new DataError(
        'delimiter',
        `the header splits into one column ("${header[0].slice(0, 80)}") with ${explicitDelim ? 'the given' : 'the detected'} ${delimName(delimiter)} delimiter` +
          (other ? `; it contains ${delimName(other)}s: wrong delimiter?` : '; wrong delimiter?'),
        1,
      );
    }
    const names = missing.map((k) => `"${CORPUS_NAME[k]}" (${k})`).join(' and ');
    throw new DataError('columns', `missing column ${names}; ${has}; map them with the column options`, 1);
  }
  const name = (i: number) => (i >= 0 ? header[i].trim() : undefined);
  return { topic: name(idx.topic), title: name(idx.title), question: name(idx.question)!, answer: name(idx.answer)!, idx };
}

/**
 * The delimiter that splits the header line into the most known (or mapped) column names, then
 * into the most fields; ',' when none splits it. Judged on the header alone, so rows that use
 * another delimiter than the header are reported as such instead of silently re-splitting.
 */
function detectDelimiter(text: string, user: Partial<ColumnMapping> | undefined): string {
  const first = text.slice(0, text.indexOf('\n') < 0 ? text.length : text.indexOf('\n'));
  const wanted = new Set<string>(Object.values(KNOWN).flat());
  for (const v of Object.values(user ?? {})) if (v) wanted.add(normName(v));
  let best = ',';
  let bestScore = 0;
  for (const d of DELIMITERS) {
    const fields = Papa.parse<string[]>(first, { delimiter: d }).data[0] ?? [];
    if (fields.length < 2) continue;
    const score = fields.filter((f) => wanted.has(normName(f))).length * 1000 + fields.length;
    if (score > bestScore) [best, bestScore] = [d, score];
  }
  return best;
}

/** Parse a CSV (bytes or text) into raw records; throws a DataError with row/column on bad input. */
export function parseCsv(input: string | Uint8Array | ArrayBuffer, opts: CsvOptions = {}): ParsedCsv {
  const text = stripBom(decodeCsvInput(input)).replace(/\r\n?/g, '\n');
  if (text.trim() === '') throw new DataError('empty', 'the file is empty');
  const res = Papa.parse<string[]>(text, {
    delimiter: opts.delimiter ?? detectDelimiter(text, opts.columns),
    skipEmptyLines: false,
  });
  const data = res.data;
  const header = (data[0] ?? []).map((h) => h.trim());
  const quoteErr = res.errors.find((e) => e.type === 'Quotes');
  if (quoteErr) {
    const row = (quoteErr.row ?? 0) + 1;
    const col = Math.max(0, (data[row - 1]?.length ?? 1) - 1);
    const column = header[col] || `#${col + 1}`;
    const what = quoteErr.code === 'MissingQuotes' ? 'a quoted field is never closed' : 'text after a closing quote';
    throw new DataError('quotes', `row ${row} (line ${lineAt(text, quoteErr.index)}), column "${column}": ${what} (unbalanced quotes; a quote inside a quoted cell must be doubled: "")`, row, column);
  }
  const delimiter = res.meta.delimiter;
  const m = resolveMapping(header, opts.columns, delimiter, opts.delimiter !== undefined);
  const maxCell = opts.maxCellChars ?? DEFAULT_MAX_CELL_CHARS;

  const records: RawRecord[] = [];
  const malformedRows: number[] = [];
  let fieldRows = 0;
  let shortRows = 0;
  const needed = Math.max(m.idx.question, m.idx.answer) + 1;
  for (let r = 1; r < data.length; r++) {
    const f = data[r];
    if (f.length === 1 && f[0].trim() === '') continue; // a blank line, not a row
    fieldRows++;
    const row = r + 1;
    for (let c = 0; c < f.length; c++) {
      if (f[c].length > maxCell) {
        const column = header[c] || `#${c + 1}`;
        throw new DataError('cell-too-long', `row ${row}, column "${column}": cell has ${f[c].length} characters (max ${maxCell}); an unbalanced quote may have merged rows`, row, column);
      }
    }
    if (f.length > header.length) {
      malformedRows.push(row);
      continue;
    }
    if (f.length < needed) shortRows++;
    const get = (i: number) => (i >= 0 && i < f.length ? f[i] : '');
    records.push({ row, topic: get(m.idx.topic), title: get(m.idx.title), question: get(m.idx.question), answer: get(m.idx.answer) });
  }
  if (fieldRows === 0) throw new DataError('no-rows', 'the file has a header but no data rows', 2);
  if (malformedRows.length > Math.max(2, fieldRows * 0.2))
    throw new DataError(
      'delimiter',
      `${malformedRows.length} of ${fieldRows} rows have more fields than the header (first: row ${malformedRows[0]}); wrong delimiter (${delimName(delimiter)}) or unquoted ${delimName(delimiter)}s in cells?`,
      malformedRows[0],
    );
  if (shortRows > Math.max(2, fieldRows * 0.2))
    throw new DataError(
      'delimiter',
      `${shortRows} of ${fieldRows} rows have fewer fields than the header's ${header.length}; do the rows use another delimiter than the header (${delimName(delimiter)})?`,
    );
  return { header, delimiter, mapping: { topic: m.topic, title: m.title, question: m.question, answer: m.answer }, records, malformedRows };
}
