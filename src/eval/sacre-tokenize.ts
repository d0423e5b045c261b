// sacrebleu 2.x BLEU tokenizers, re-implemented from their definitions
// (sacrebleu/tokenizers/tokenizer_{13a,re,intl,char,none}.py). Each returns the tokenized
// string, tokens separated by single spaces, exactly as sacrebleu's tokenizer would; BLEU then
// splits it with Python's `str.split()` (see pystr.ts). All regexes use the `u` flag so they
// act on code points as Python's `re`/`regex` do.

import { codePoints, pySplit } from './pystr';

export type SacreTokenizer = '13a' | 'intl' | 'none' | 'char';
export const SACRE_TOKENIZERS: readonly SacreTokenizer[] = ['13a', 'intl', 'none', 'char'];

// --- 13a (mteval-v13a.pl) -------------------------------------------------------------------
// Language-independent part: drop `<skipped>`, join `-\n` hyphenation, newline -> space,
// unescape four HTML entities. Then the "regexp" post-tokenizer on ` line `:
//  1. pad every ASCII char in { | } ~ [ \ ] ^ _ ` space ! " # $ % & ( ) * + : ; < = > ? @ /
//  2. split `.` / `,` off when NOT preceded by an ASCII digit   (x. -> x . )
//  3. split `.` / `,` off when NOT followed by an ASCII digit   (.x -> . x)
//  4. split `-` off when preceded by an ASCII digit             (3- -> 3 - )
// and finally collapse whitespace (Python split/join).
const RE13A_SYMBOLS = /([\x7B-\x7E\x5B-\x60\x20-\x26\x28-\x2B\x3A-\x40\x2F])/gu;
const RE13A_PERIOD_AFTER_NONDIGIT = /([^0-9])([.,])/gu;
const RE13A_PERIOD_BEFORE_NONDIGIT = /([.,])([^0-9])/gu;
const RE13A_DASH_AFTER_DIGIT = /([0-9])(-)/gu;

export function tokenize13a(line: string): string {
  let s = line.split('<skipped>').join('');
  s = s.split('-\n').join('');
  s = s.split('\n').join(' ');
  if (s.includes('&')) {
    s = s.split('&quot;').join('"');
    s = s.split('&amp;').join('&');
    s = s.split('&lt;').join('<');
    s = s.split('&gt;').join('>');
  }
  s = ` ${s} `;
  s = s.replace(RE13A_SYMBOLS, ' $1 ');
  s = s.replace(RE13A_PERIOD_AFTER_NONDIGIT, '$1 $2 ');
  s = s.replace(RE13A_PERIOD_BEFORE_NONDIGIT, ' $1 $2');
  s = s.replace(RE13A_DASH_AFTER_DIGIT, '$1 $2 ');
  return pySplit(s).join(' ');
}

// --- intl (mteval-v14.pl international) -----------------------------------------------------
//  1. (\P{N})(\p{P}) -> '$1 $2 '   punctuation after a non-number
//  2. (\p{P})(\P{N}) -> ' $1 $2'   punctuation before a non-number
//  3. (\p{S})        -> ' $1 '     every symbol
// then collapse whitespace. Unicode categories come from the JS engine's Unicode tables
// (sacrebleu uses the `regex` package's); they agree for Bengali, Latin and common emoji.
const REINTL_PUNCT_AFTER = /(\P{N})(\p{P})/gu;
const REINTL_PUNCT_BEFORE = /(\p{P})(\P{N})/gu;
const REINTL_SYMBOL = /(\p{S})/gu;

export function tokenizeIntl(line: string): string {
  let s = line.replace(REINTL_PUNCT_AFTER, '$1 $2 ');
  s = s.replace(REINTL_PUNCT_BEFORE, ' $1 $2');
  s = s.replace(REINTL_SYMBOL, ' $1 ');
  return pySplit(s).join(' ');
}

// --- char: every code point is a token (Python `" ".join(line)`) ----------------------------
export function tokenizeChar(line: string): string {
  return codePoints(line).join(' ');
}

// --- none: unchanged -------------------------------------------------------------------------
export function tokenizeNone(line: string): string {
  return line;
}

export function sacreTokenize(tok: SacreTokenizer, line: string): string {
  switch (tok) {
    case '13a': return tokenize13a(line);
    case 'intl': return tokenizeIntl(line);
    case 'char': return tokenizeChar(line);
    case 'none': return tokenizeNone(line);
    default: throw new Error(`unknown tokenizer "${tok as string}" (expected one of ${SACRE_TOKENIZERS.join(', ')})`);
  }
}

export function isSacreTokenizer(s: string): s is SacreTokenizer {
  return (SACRE_TOKENIZERS as readonly string[]).includes(s);
}
