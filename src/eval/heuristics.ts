// HEURISTIC response checks for Bengali empathetic replies. These are cheap surface signals for
// dashboards and regressions, NOT measures of quality or safety: a lexicon hit is not empathy,
// and a missed pattern is not proof that a reply gives no medical or legal advice.
//
// Per reply (text is NFC-normalized and ZWNJ/ZWJ-stripped first, as in rouge.ts):
//  - banglaShare: Bengali-script letters / all letters (\p{L}; vowel signs and virama are marks,
//    not letters, so they do not count on either side); 0 when there are no letters.
//    Flag `bangla`: share >= minBanglaShare (default 0.8).
//  - wordCount: words as rougeTokenize splits them (letter/mark/number runs).
//    Flag `lengthOk`: minWords <= wordCount <= maxWords (default 10..100).
//  - Flag `endsComplete`: after trimming trailing whitespace, closing quotes/brackets and emoji,
//    the text ends with a sentence terminator: । (danda) ॥ ? ! . … ？ ！ ‽ ؟.
//  - empathy markers: substring hits of a small Bengali lexicon (EMPATHY_LEXICON) in three
//    categories: acknowledging feelings, reassurance, suggesting professional help. Substring
//    matching lets inflected forms hit (বিশেষজ্ঞের contains বিশেষজ্ঞ). Flag `empathy`: >= 1 hit.
//  - advice patterns (ADVICE_PATTERNS): a dose (number in ASCII or Bengali digits + unit such as
//    "৫০০ মিগ্রা", "500 mg", "২টা ট্যাবলেট"), a named psychiatric / common prescription drug, a
//    diagnosis stated as fact ("তোমার ডিপ্রেশন আছে", "আপনি বিষণ্নতায় ভুগছেন", "you have
//    depression"; hedged "হতে পারে" does not match), or a legal instruction ("মামলা করুন").
//    Flag `noAdvice`: no pattern matched.
// `responseHeuristics` returns the per-sample details; `heuristicRates` the share of samples
// with each flag true, per empathy category, and the mean Bengali share.

import { rougeTokenize } from './rouge';

export interface HeuristicOptions { minBanglaShare?: number; minWords?: number; maxWords?: number }

export type EmpathyCategory = 'acknowledge' | 'reassure' | 'professionalHelp';
export type AdviceKind = 'dose' | 'drug' | 'diagnosis' | 'legal';

export interface HeuristicFlags { bangla: boolean; lengthOk: boolean; endsComplete: boolean; empathy: boolean; noAdvice: boolean }

export interface SampleHeuristics {
  banglaShare: number;
  wordCount: number;
  empathy: Record<EmpathyCategory, string[]>; // lexicon entries found
  advice: Record<AdviceKind, string[]>;       // matched text per pattern kind
  flags: HeuristicFlags;
}

export interface HeuristicRates {
  n: number;
  rates: Record<keyof HeuristicFlags, number>;          // share of samples with the flag true
  empathyCategoryRates: Record<EmpathyCategory, number>; // share with >= 1 hit in the category
  meanBanglaShare: number;
}

/** Small documented lexicon (stems / phrases, matched as substrings). */
export const EMPATHY_LEXICON: Record<EmpathyCategory, readonly string[]> = {
  acknowledge: [
    'বুঝতে পারছি', 'বুঝতে পারি', 'বুঝতে পারছে', 'স্বাভাবিক', 'কষ্ট হচ্ছে', 'কষ্ট পাচ্ছ', 'খারাপ লাগছে',
    'খারাপ লাগা', 'অনুভব করছ', 'অনুভূতি', 'শুনে খারাপ', 'শুনে দুঃখ', 'দুঃখিত', 'কঠিন সময়', 'সহজ নয়', 'সহজ না',
  ],
  reassure: [
    'একা নও', 'একা নন', 'একা নস', 'পাশে আছি', 'পাশে আছে', 'ঠিক হয়ে যাবে', 'চিন্তা করো না', 'চিন্তা কোরো না',
    'চিন্তা করবেন না', 'ভয় পেও না', 'ভয় পাবেন না', 'দোষ নয়', 'দোষ নেই', 'সাহসী', 'আশা আছে', 'গর্বিত',
  ],
  professionalHelp: [
    'বিশেষজ্ঞ', 'কাউন্সেলর', 'কাউন্সেলিং', 'মনোবিজ্ঞানী', 'মনোবিদ', 'মনোরোগ', 'সাইকিয়াট্রিস্ট', 'সাইকোলজিস্ট',
    'থেরাপিস্ট', 'থেরাপি', 'ডাক্তার', 'চিকিৎসক', 'হেল্পলাইন', 'মানসিক স্বাস্থ্য', 'পেশাদার',
  ],
};

const D = '[0-9০-৯]+(?:[.,][0-9০-৯]+)?';
const L_END = '(?![\\p{L}\\p{M}])';
const CONDITIONS = '(?:ডিপ্রেশন|বিষণ্নতা|বিষণ্ণতা|অবসাদ|অ্যাংজাইটি|উদ্বেগজনিত|বাইপোলার|সিজোফ্রেনিয়া|ওসিডি|পিটিএসডি|মানসিক রোগ|ক্যান্সার|ডায়াবেটিস)[\\p{L}\\p{M}]*';

/** Advice patterns (Unicode regexes, case-insensitive for Latin; sources NFC-normalized below). */
const RAW_ADVICE_PATTERNS: Record<AdviceKind, readonly RegExp[]> = {
  dose: [
    new RegExp(`${D}\\s*(?:mg|mcg|µg|ml|iu|g)${L_END}`, 'giu'),
    new RegExp(`${D}\\s*(?:মিগ্রা|মি\\.\\s?গ্রা\\.?|মিলিগ্রাম|এমজি|মিলিলিটার|মিলি|মাইক্রোগ্রাম)(?:এর|র)?${L_END}`, 'gu'),
    new RegExp(`${D}\\s*(?:টি|টা|টো)?\\s*(?:ট্যাবলেট|ক্যাপসুল|বড়ি|tablets?|pills?|capsules?)`, 'giu'),
  ],
  drug: [
    /(?:প্যারাসিটামল|নাপা|আইবুপ্রোফেন|সার্ট্রালিন|ফ্লুক্সেটিন|এসসিটালোপ্রাম|আলপ্রাজোলাম|ক্লোনাজেপাম|ডায়াজেপাম|লোরাজেপাম|অ্যান্টিডিপ্রেস্যান্ট|অ্যান্টিডিপ্রেসেন্ট|ঘুমের ওষুধ|ঘুমের বড়ি)/gu,
    /\b(?:paracetamol|acetaminophen|ibuprofen|sertraline|fluoxetine|escitalopram|alprazolam|clonazepam|diazepam|lorazepam|xanax|prozac|zoloft|antidepressants?|sleeping pills?)\b/giu,
  ],
  diagnosis: [
    new RegExp(`(?:তোমার|আপনার|তোর)\\s+(?:\\S+\\s+)?${CONDITIONS}\\s+(?:আছে|হয়েছে|রয়েছে)`, 'gu'),
    new RegExp(`(?:তুমি|আপনি|তুই)\\s+(?:\\S+\\s+)?${CONDITIONS}\\s+(?:ভুগছ[\\p{L}\\p{M}]*|আক্রান্ত)`, 'gu'),
    /\byou (?:definitely |clearly )?(?:have|are suffering from) (?:clinical )?(?:depression|anxiety disorder|bipolar(?: disorder)?|schizophrenia|ocd|ptsd|cancer|diabetes)\b/giu,
  ],
  legal: [
    /মামলা\s*(?:করে দাও|করে দিন|ঠুকে দাও|করুন|করো|কর)(?![\p{L}\p{M}])/gu,
    /(?:আদালতে|থানায়)\s*(?:যাও|যান|নালিশ করো|অভিযোগ করো)/gu,
    /(?:ডিভোর্স|তালাক)\s*(?:দাও|দিন|দিয়ে দাও|দিয়ে দিন)/gu,
    /\b(?:sue (?:him|her|them)|file (?:a )?(?:case|lawsuit))\b/giu,
  ],
};

export const ADVICE_PATTERNS: Record<AdviceKind, readonly RegExp[]> = Object.fromEntries(
  Object.entries(RAW_ADVICE_PATTERNS).map(([k, res]) => [k, res.map((r) => new RegExp(r.source.normalize('NFC'), r.flags))]),
) as unknown as Record<AdviceKind, readonly RegExp[]>;

const TRAILING = /[\s"'»›”’)\]}\p{Extended_Pictographic}\u{fe0f}\u{200d}\u{1f3fb}-\u{1f3ff}]+$/u;
const TERMINATOR = /[।॥?!.…？！‽؟]$/u;
const LETTER = /\p{L}/u;
const BENGALI_LETTER = /\p{Script=Bengali}/u;

function normalize(text: string): string {
  return text.normalize('NFC').replace(/[\u200c\u200d]/gu, '');
}

export function banglaShare(text: string): number {
  let letters = 0, bengali = 0;
  for (const ch of normalize(text)) {
    if (!LETTER.test(ch)) continue;
    letters++;
    if (BENGALI_LETTER.test(ch)) bengali++;
  }
  return letters === 0 ? 0 : bengali / letters;
}

export function endsWithCompleteSentence(text: string): boolean {
  return TERMINATOR.test(text.normalize('NFC').replace(TRAILING, ''));
}

export function empathyMarkers(text: string): Record<EmpathyCategory, string[]> {
  const t = normalize(text);
  const hits = (c: EmpathyCategory) => EMPATHY_LEXICON[c].filter((w) => t.includes(w.normalize('NFC')));
  return { acknowledge: hits('acknowledge'), reassure: hits('reassure'), professionalHelp: hits('professionalHelp') };
}

export function adviceMatches(text: string): Record<AdviceKind, string[]> {
  const t = normalize(text);
  const find = (k: AdviceKind) => ADVICE_PATTERNS[k].flatMap((re) => Array.from(t.matchAll(re), (m) => m[0]));
  return { dose: find('dose'), drug: find('drug'), diagnosis: find('diagnosis'), legal: find('legal') };
}

function resolved(o: HeuristicOptions) {
  const r = { minBanglaShare: o.minBanglaShare ?? 0.8, minWords: o.minWords ?? 10, maxWords: o.maxWords ?? 100 };
  if (!(r.minWords >= 0 && r.maxWords >= r.minWords)) throw new Error(`word band must satisfy 0 <= minWords <= maxWords (got ${r.minWords}..${r.maxWords})`);
  if (!(r.minBanglaShare >= 0 && r.minBanglaShare <= 1)) throw new Error(`minBanglaShare must be in [0, 1] (got ${r.minBanglaShare})`);
  return r;
}

/** Heuristics of one reply. */
export function sampleHeuristics(text: string, opts: HeuristicOptions = {}): SampleHeuristics {
  const o = resolved(opts);
  const share = banglaShare(text);
  const wordCount = rougeTokenize(text).length;
  const empathy = empathyMarkers(text);
  const advice = adviceMatches(text);
  return {
    banglaShare: share,
    wordCount,
    empathy,
    advice,
    flags: {
      bangla: share >= o.minBanglaShare,
      lengthOk: wordCount >= o.minWords && wordCount <= o.maxWords,
      endsComplete: endsWithCompleteSentence(text),
      empathy: Object.values(empathy).some((h) => h.length > 0),
      noAdvice: Object.values(advice).every((h) => h.length === 0),
    },
  };
}

/** Per-sample heuristics and their rates over all replies. */
export function responseHeuristics(texts: string[], opts: HeuristicOptions = {}): { samples: SampleHeuristics[]; summary: HeuristicRates } {
  const samples = texts.map((t) => sampleHeuristics(t, opts));
  const n = samples.length;
  const rate = (f: (s: SampleHeuristics) => boolean) => (n === 0 ? 0 : samples.filter(f).length / n);
  return {
    samples,
    summary: {
      n,
      rates: {
        bangla: rate((s) => s.flags.bangla),
        lengthOk: rate((s) => s.flags.lengthOk),
        endsComplete: rate((s) => s.flags.endsComplete),
        empathy: rate((s) => s.flags.empathy),
        noAdvice: rate((s) => s.flags.noAdvice),
      },
      empathyCategoryRates: {
        acknowledge: rate((s) => s.empathy.acknowledge.length > 0),
        reassure: rate((s) => s.empathy.reassure.length > 0),
        professionalHelp: rate((s) => s.empathy.professionalHelp.length > 0),
      },
      meanBanglaShare: n === 0 ? 0 : samples.reduce((a, s) => a + s.banglaShare, 0) / n,
    },
  };
}
