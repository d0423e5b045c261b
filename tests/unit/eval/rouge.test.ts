// ROUGE-1/2/L on hand-computed English and Bengali examples (the arithmetic is in the comments),
// and the Unicode tokenizer's treatment of Bengali marks, virama, joiners, danda and digits.
import { describe, expect, it } from 'vitest';
import { corpusRouge, lcsLength, rougeL, rougeN, rougeScores, rougeTokenize } from '../../../src/eval/rouge';

const close = (a: number, b: number) => expect(a).toBeCloseTo(b, 12);

describe('rougeTokenize', () => {
  it('keeps Bengali words with vowel signs, virama and chandrabindu whole', () => {
    // ক্ষুদ্র = ক ্ ষ ু দ ্ র: virama ্ and vowel sign ু are marks (Mn) -> one token.
    expect(rougeTokenize('ক্ষুদ্র শব্দ, হ্যাঁ!')).toEqual(['ক্ষুদ্র', 'শব্দ', 'হ্যাঁ']);
    // danda and ASCII punctuation split; hyphen splits বাবা-মা.
    expect(rougeTokenize('তোমার বাবা-মা ভালোবাসেন।কেমন আছো?')).toEqual(['তোমার', 'বাবা', 'মা', 'ভালোবাসেন', 'কেমন', 'আছো']);
  });
  it('drops ZWNJ/ZWJ inside a word and NFC-normalizes', () => {
    expect(rougeTokenize('র\u200c্যাব')).toEqual(['র্যাব']);
    // য় precomposed (U+09DF) and decomposed (U+09AF U+09BC) give the same token.
    expect(rougeTokenize('ভয়\u09df')).toEqual(rougeTokenize('ভয়\u09af\u09bc'));
  });
  it('lowercases, splits digits at separators, drops emoji', () => {
    expect(rougeTokenize('I\'m OK 🙂 ১,৫০০ 3.5')).toEqual(['i', 'm', 'ok', '১', '৫০০', '3', '5']);
    expect(rougeTokenize('  ।।  ')).toEqual([]);
  });
});

describe('ROUGE by hand', () => {
  it('English: "The cat sat on the mat" vs "the cat is on the mat"', () => {
    // tokens hyp: the cat sat on the mat (6); ref: the cat is on the mat (6)
    // R1: overlap the:min(2,2)=2 + cat 1 + on 1 + mat 1 = 5 -> P = R = F = 5/6
    // R2: hyp {the cat, cat sat, sat on, on the, the mat}, ref {the cat, cat is, is on, on the,
    //     the mat}: overlap 3 of 5 each -> P = R = F = 3/5
    // RL: LCS = the cat on the mat = 5 -> P = R = F = 5/6
    const s = rougeScores('The cat sat on the mat', 'the cat is on the mat');
    for (const v of [s.rouge1.p, s.rouge1.r, s.rouge1.f, s.rougeL.p, s.rougeL.r, s.rougeL.f]) close(v, 5 / 6);
    for (const v of [s.rouge2.p, s.rouge2.r, s.rouge2.f]) close(v, 3 / 5);
  });

  it('Bengali: "আমি তোমার কষ্ট বুঝতে পারছি।" vs "তোমার কষ্ট আমি সত্যিই বুঝতে পারছি"', () => {
    // hyp: আমি তোমার কষ্ট বুঝতে পারছি (5, danda dropped); ref: তোমার কষ্ট আমি সত্যিই বুঝতে পারছি (6)
    // R1: all 5 hyp words are in ref -> P = 5/5 = 1, R = 5/6, F = 2·1·(5/6)/(1 + 5/6) = 10/11
    // R2: hyp bigrams {আমি তোমার, তোমার কষ্ট, কষ্ট বুঝতে, বুঝতে পারছি} (4); ref bigrams {তোমার কষ্ট,
    //     কষ্ট আমি, আমি সত্যিই, সত্যিই বুঝতে, বুঝতে পারছি} (5); overlap {তোমার কষ্ট, বুঝতে পারছি} = 2
    //     -> P = 2/4, R = 2/5, F = 2·0.5·0.4/0.9 = 4/9
    // RL: LCS = তোমার কষ্ট বুঝতে পারছি = 4 -> P = 4/5, R = 4/6, F = 2·(4/5)(2/3)/(4/5 + 2/3) = 8/11
    const s = rougeScores('আমি তোমার কষ্ট বুঝতে পারছি।', 'তোমার কষ্ট আমি সত্যিই বুঝতে পারছি');
    close(s.rouge1.p, 1); close(s.rouge1.r, 5 / 6); close(s.rouge1.f, 10 / 11);
    close(s.rouge2.p, 1 / 2); close(s.rouge2.r, 2 / 5); close(s.rouge2.f, 4 / 9);
    close(s.rougeL.p, 4 / 5); close(s.rougeL.r, 2 / 3); close(s.rougeL.f, 8 / 11);
  });

  it('clips repeated n-grams and handles empty sides', () => {
    // hyp "না না না" vs ref "না": overlap min(3,1) = 1 -> P = 1/3, R = 1, F = 2(1/3)/(4/3) = 1/2
    const r1 = rougeN(['না', 'না', 'না'], ['না'], 1);
    close(r1.p, 1 / 3); close(r1.r, 1); close(r1.f, 1 / 2);
    // bigrams of a 1-token ref: none -> R = 0/max(0,1) = 0, F = 0
    expect(rougeN(['না', 'না'], ['না'], 2)).toEqual({ p: 0, r: 0, f: 0 });
    expect(rougeL([], ['না'])).toEqual({ p: 0, r: 0, f: 0 });
    expect(rougeScores('', 'কিছু একটা').rouge1).toEqual({ p: 0, r: 0, f: 0 });
    expect(lcsLength(['a', 'b', 'c', 'b', 'd', 'a', 'b'], ['b', 'd', 'c', 'a', 'b', 'a'])).toBe(4); // CLRS: bcba
  });

  it('several references: best F1 per ROUGE type', () => {
    // vs "আমি তোমার পাশে আছি": R1 = 4/4 -> F 1; vs "পাশে": P = 1/4, R = 1, F = 0.4 -> picks F = 1
    const s = rougeScores('আমি তোমার পাশে আছি', ['পাশে', 'আমি তোমার পাশে আছি']);
    close(s.rouge1.f, 1); close(s.rouge2.f, 1); close(s.rougeL.f, 1);
  });

  it('corpus = mean of per-pair P, R, F1', () => {
    // pair 1 (English above): R1 F = 5/6; pair 2 (perfect match): 1 -> mean (5/6 + 1)/2 = 11/12
    // pair 1 R1 P = 5/6, pair 2 P = 1 -> mean 11/12 ; R2 F: (3/5 + 1)/2 = 4/5
    const c = corpusRouge(['The cat sat on the mat', 'ভালো থেকো।'], [['the cat is on the mat', 'ভালো থেকো']]);
    expect(c.n).toBe(2);
    close(c.rouge1.f, 11 / 12); close(c.rouge1.p, 11 / 12); close(c.rouge2.f, 4 / 5); close(c.rougeL.r, 11 / 12);
  });

  it('rejects mismatched reference streams', () => {
    expect(() => corpusRouge(['a', 'b'], [['a']])).toThrow(/1 lines but there are 2 hypotheses/);
  });
});
