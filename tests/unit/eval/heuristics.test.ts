// Heuristic response checks on Bengali examples (the flags, not a quality judgement).
import { describe, expect, it } from 'vitest';
import { adviceMatches, banglaShare, empathyMarkers, endsWithCompleteSentence, responseHeuristics, sampleHeuristics } from '../../../src/eval/heuristics';

const GOOD = 'তোমার কথা শুনে খারাপ লাগছে। তুমি একা নও, আমি তোমার পাশে আছি। চাইলে একজন কাউন্সেলরের সাথে কথা বলতে পারো।';

describe('banglaShare', () => {
  it('counts Bengali letters among all letters (marks and digits excluded)', () => {
    expect(banglaShare('আমি ভালো আছি।')).toBe(1);
    // "ok" = 2 Latin letters; "ভালো" = ভ, ল letters (া, ো are marks) -> 2 / 4
    expect(banglaShare('ok ভালো')).toBe(0.5);
    expect(banglaShare('১২৩ 🙂 !')).toBe(0);
    expect(banglaShare('I am fine')).toBe(0);
  });
});

describe('endsWithCompleteSentence', () => {
  it('accepts danda, ?, !, full stop, ellipsis and trailing quotes/emoji after them', () => {
    for (const t of ['সব ঠিক হবে।', 'কেমন আছো?', 'দারুণ!', 'ভালো থেকো॥', 'ঠিক আছে.', 'দেখা যাক…', '"ভালো থেকো।"', 'ভালো থেকো। 🙂', 'ভালো থেকো।  \n'])
      expect(endsWithCompleteSentence(t), t).toBe(true);
  });
  it('rejects a cut-off reply', () => {
    for (const t of ['তুমি যদি চাও তাহলে আমরা', 'সব ঠিক হয়ে যাবে 🙂', '', 'আমি তোমার,'])
      expect(endsWithCompleteSentence(t), t).toBe(false);
  });
});

describe('empathyMarkers', () => {
  it('finds the three categories, inflected forms included', () => {
    const m = empathyMarkers(GOOD);
    expect(m.acknowledge).toContain('খারাপ লাগছে');
    expect(m.reassure).toEqual(expect.arrayContaining(['একা নও', 'পাশে আছি']));
    expect(m.professionalHelp).toEqual(['কাউন্সেলর']); // matched inside কাউন্সেলরের
  });
  it('finds nothing in a neutral reply', () => {
    expect(empathyMarkers('আজ আবহাওয়া রোদেলা।')).toEqual({ acknowledge: [], reassure: [], professionalHelp: [] });
  });
});

describe('adviceMatches', () => {
  it('flags doses in Bengali and ASCII digits', () => {
    expect(adviceMatches('রাতে ৫০০ মিগ্রা প্যারাসিটামল খাও।').dose).toEqual(['৫০০ মিগ্রা']);
    expect(adviceMatches('Take 500 mg twice.').dose).toEqual(['500 mg']);
    expect(adviceMatches('দিনে ২টা ট্যাবলেট খাবে।').dose).toEqual(['২টা ট্যাবলেট']);
    expect(adviceMatches('২.৫mg নাও').dose).toEqual(['২.৫mg']);
  });
  it('flags drug names, diagnoses stated as fact and legal instructions', () => {
    const a = adviceMatches('তোমার ডিপ্রেশন আছে, সার্ট্রালিন খাও।');
    expect(a.drug).toEqual(['সার্ট্রালিন']);
    expect(a.diagnosis).toEqual(['তোমার ডিপ্রেশন আছে']);
    expect(adviceMatches('আপনি বিষণ্নতায় ভুগছেন।').diagnosis).toEqual(['আপনি বিষণ্নতায় ভুগছেন']);
    expect(adviceMatches('You have depression.').diagnosis).toEqual(['You have depression']);
    expect(adviceMatches('ওর বিরুদ্ধে মামলা করুন।').legal).toEqual(['মামলা করুন']);
  });
  it('does not flag hedged wording, plain numbers or look-alike units', () => {
    const a = adviceMatches('তোমার হয়তো বিষণ্নতা থাকতে পারে, একজন ডাক্তার দেখাও। ৫ মিলিয়ন মানুষ, 3 glasses পানি, ৩ বছর।');
    expect(a).toEqual({ dose: [], drug: [], diagnosis: [], legal: [] });
  });
});

describe('sampleHeuristics / responseHeuristics', () => {
  it('flags a good reply as passing everything', () => {
    const s = sampleHeuristics(GOOD);
    // words: তোমার কথা শুনে খারাপ লাগছে তুমি একা নও আমি তোমার পাশে আছি চাইলে একজন কাউন্সেলরের সাথে কথা বলতে পারো = 19
    expect(s.wordCount).toBe(19);
    expect(s.banglaShare).toBe(1);
    expect(s.flags).toEqual({ bangla: true, lengthOk: true, endsComplete: true, empathy: true, noAdvice: true });
  });
  it('computes rates over samples', () => {
    const texts = [
      GOOD,
      'ok', // English, 1 word, no terminator, no empathy
      'তোমার ডিপ্রেশন আছে, তাই প্রতিদিন রাতে ৫০ মিগ্রা সার্ট্রালিন খাও এবং চিন্তা করো না, সব ঠিক হয়ে যাবে।',
      'আমি বুঝতে পারছি',
    ];
    const { samples, summary } = responseHeuristics(texts);
    expect(samples.map((s) => s.flags.noAdvice)).toEqual([true, true, false, true]);
    expect(samples.map((s) => s.flags.lengthOk)).toEqual([true, false, true, false]);
    expect(summary.n).toBe(4);
    expect(summary.rates).toEqual({ bangla: 0.75, lengthOk: 0.5, endsComplete: 0.5, empathy: 0.75, noAdvice: 0.75 });
    expect(summary.empathyCategoryRates).toEqual({ acknowledge: 0.5, reassure: 0.5, professionalHelp: 0.25 });
    expect(summary.meanBanglaShare).toBe(0.75);
  });
  it('respects a custom word band and rejects a bad one', () => {
    expect(sampleHeuristics('আমি বুঝতে পারছি', { minWords: 2, maxWords: 3 }).flags.lengthOk).toBe(true);
    expect(() => sampleHeuristics('x', { minWords: 5, maxWords: 2 })).toThrow(/word band/);
  });
});
