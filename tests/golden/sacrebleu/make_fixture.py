#!/usr/bin/env python3
"""Golden fixture for src/eval/{bleu,chrf}.ts, computed with sacrebleu itself.

Usage (on a machine where `import sacrebleu` works, e.g. the GPU box):
    cd tests/golden/sacrebleu && python3 make_fixture.py > fixture.json

Writes one JSON object on stdout: the inputs (hypotheses, reference streams), sacrebleu's
version, and for every case the scores with full float precision (json uses repr), the
sufficient statistics and signatures, plus the tokenized strings of every input under each
tokenizer (to debug a tokenizer mismatch without rerunning this). Deterministic: no randomness.

Reference streams follow sacrebleu's convention: refs[k][i] is reference k of segment i.
"""
import json
import platform
import sys

try:
    import sacrebleu
    from sacrebleu.metrics import BLEU, CHRF
except Exception as e:  # pragma: no cover
    sys.stderr.write(f"error: cannot import sacrebleu ({e}); pip install sacrebleu\n")
    sys.exit(1)

TOKENIZERS = ["13a", "intl", "none", "char"]

# (hypothesis, reference) pairs. ~20 Bengali empathetic replies, then English, mixed script,
# an empty hypothesis and a perfect match. Several exercise tokenizer corner cases: danda,
# Bengali and ASCII digits with separators, HTML entities (13a), ASCII punctuation glued to
# words (chrF++ word split), ZWNJ/ZWJ, NBSP, tabs, trailing whitespace, emoji (non-BMP).
PAIRS = [
    ("আমি বুঝতে পারছি তুমি এখন খুব কষ্টের মধ্যে আছো।",
     "আমি বুঝতে পারছি যে তুমি এখন অনেক কষ্টে আছো।"),
    ("তোমার অনুভূতি একদম স্বাভাবিক, এতে লজ্জার কিছু নেই।",
     "তোমার এমন অনুভব করাটা খুবই স্বাভাবিক, লজ্জা পাওয়ার কিছু নেই।"),
    ("চিন্তা করো না, সব ঠিক হয়ে যাবে।",
     "চিন্তা কোরো না, ধীরে ধীরে সব ঠিক হয়ে যাবে।"),
    ("তুমি কি কারো সাথে এ বিষয়ে কথা বলেছো?",
     "তুমি কি এই ব্যাপারে কারও সাথে কথা বলেছ?"),
    ("একজন মানসিক স্বাস্থ্য বিশেষজ্ঞের সাথে কথা বলা ভালো হতে পারে।",
     "একজন মনোরোগ বিশেষজ্ঞ বা কাউন্সেলরের সাহায্য নেওয়া ভালো হবে।"),
    ("পরীক্ষায় খারাপ ফল করলে মন খারাপ হওয়াটাই স্বাভাবিক।",
     "পরীক্ষার ফল খারাপ হলে মন খারাপ লাগা খুব স্বাভাবিক।"),
    ("তোমার বাবা-মা নিশ্চয়ই তোমাকে ভালোবাসেন!",
     "তোমার বাবা-মা অবশ্যই তোমাকে অনেক ভালোবাসেন।"),
    ("আমি তোমার পাশে আছি।",
     "আমি সবসময় তোমার পাশে আছি।"),
    ("২০২৩ সালে আমার চাকরি চলে যায়, তারপর থেকে খুব একা লাগে।",
     "২০২৩ সালে চাকরি হারানোর পর থেকে আমি খুব একা বোধ করি।"),
    ("দিনে ১,৫০০ টাকা খরচ হয়... এটা অনেক!",
     "প্রতিদিন ১,৫০০ টাকা খরচ হয়, এটা সত্যিই অনেক।"),
    ("তুমি একা নও; অনেকেই এমন অনুভব করে।",
     "তুমি একা নও, অনেক মানুষই এরকম অনুভব করে।"),
    ("\"মন খারাপ\" লাগলে একটু হাঁটতে যেতে পারো (প্রকৃতির মাঝে)।",
     "মন খারাপ লাগলে প্রকৃতির মাঝে একটু হেঁটে আসতে পারো।"),
    ("রাতে ঘুম না হলে শরীর ও মন দুটোই ক্লান্ত হয়ে পড়ে।",
     "রাতে ঠিকমতো ঘুম না হলে শরীর আর মন দুটোই ক্লান্ত হয়।"),
    ("র‌্যাব আর ক্ষুদ্র্‍ শব্দে যুক্তাক্ষর আছে।",
     "র‌্যাব ও ক্ষুদ্র শব্দে যুক্তাক্ষর আছে।"),
    ("তোমার\u00a0কথা শুনে\tআমার খারাপ লাগছে।   ",
     "তোমার কথা শুনে আমারও খারাপ লাগছে।"),
    ("সময় দাও নিজেকে 🙂 সব ঠিক হবে।",
     "নিজেকে একটু সময় দাও, সব ঠিক হয়ে যাবে 🙂"),
    ("তুমি খুব সাহসী।",
     "তুমি সত্যিই অনেক সাহসী একজন মানুষ।"),
    ("কাজের চাপ ৩.৫ গুণ বেড়ে গেছে - এটা সহ্য করা কঠিন।",
     "কাজের চাপ অনেক বেড়ে গেছে, এটা সহ্য করা সত্যিই কঠিন।"),
    ("তুমি যা অনুভব করছো তা গুরুত্বপূর্ণ।",
     "তুমি যা অনুভব করছ, সেটা গুরুত্বপূর্ণ।"),
    ("ভালো থেকো।",
     "নিজের যত্ন নিও, ভালো থেকো।"),
    # English
    ("I'm really sorry you're going through this, it sounds exhausting.",
     "I am so sorry you are going through this; it must be exhausting."),
    ("It costs $1,000.50 & more (roughly) - see e.g. page 3.",
     "It costs about $1,000.50 &amp; more, see page 3."),
    ("Talking to a counselor could help.",
     "Maybe talking to a counsellor would help."),
    # mixed script
    ("তোমার anxiety খুব real, একজন therapist এর সাথে কথা বলো।",
     "তোমার anxiety একদম বাস্তব; একজন থেরাপিস্টের সাথে কথা বলো।"),
    ("Dr. রহমান বলেছেন 500mg দিনে 2 বার।",
     "ডাক্তার রহমান দিনে দুবার ৫০০ মিগ্রা খেতে বলেছেন।"),
    # empty hypothesis
    ("",
     "আমি তোমার কথা শুনছি।"),
    # perfect match
    ("তুমি একা নও, আমরা তোমার সাথে আছি।",
     "তুমি একা নও, আমরা তোমার সাথে আছি।"),
    # single short token (shorter than the n-gram orders)
    ("হ্যাঁ",
     "হ্যাঁ, অবশ্যই।"),
]

# A second reference stream (for the multi-reference cases); same length as PAIRS.
REFS2 = [
    "তুমি যে খুব কষ্ট পাচ্ছো সেটা আমি বুঝতে পারছি।",
    "এমন অনুভূতি হওয়া স্বাভাবিক, এতে লজ্জার কিছু নেই।",
    "চিন্তা করো না, সব ঠিক হয়ে যাবে।",
    "তুমি কি কারো সাথে কথা বলেছো?",
    "একজন বিশেষজ্ঞের সাথে কথা বলা ভালো।",
    "খারাপ ফল করলে মন খারাপ হয়।",
    "তারা তোমাকে ভালোবাসেন।",
    "আমি তোমার পাশে আছি।",
    "চাকরি চলে যাওয়ার পর থেকে একা লাগে।",
    "দিনে ১,৫০০ টাকা অনেক খরচ।",
    "তুমি একা নও।",
    "একটু হাঁটতে যেতে পারো।",
    "ঘুম না হলে ক্লান্ত লাগে।",
    "র‌্যাব শব্দে যুক্তাক্ষর আছে।",
    "তোমার কথা শুনে আমার খারাপ লাগছে।",
    "নিজেকে সময় দাও।",
    "তুমি খুব সাহসী।",
    "কাজের চাপ বেড়ে গেছে।",
    "তোমার অনুভূতি গুরুত্বপূর্ণ।",
    "ভালো থেকো।",
    "I'm sorry you're going through this.",
    "It costs $1,000.50 and more.",
    "A counselor could help.",
    "তোমার anxiety বাস্তব।",
    "ডাক্তার রহমান 500 mg দিনে 2 বার বলেছেন।",
    "",
    "তুমি একা নও।",
    "হ্যাঁ",
]


def bleu_stats(score):
    return {
        "score": score.score,
        "counts": [int(c) for c in score.counts],
        "totals": [int(t) for t in score.totals],
        "precisions": [float(p) for p in score.precisions],
        "bp": float(score.bp),
        "sys_len": int(score.sys_len),
        "ref_len": int(score.ref_len),
    }


def main():
    hyps = [h for h, _ in PAIRS]
    refs1 = [r for _, r in PAIRS]
    assert len(REFS2) == len(PAIRS)
    out = {
        "sacrebleu_version": sacrebleu.__version__,
        "python_version": platform.python_version(),
        "note": "generated by tests/golden/sacrebleu/make_fixture.py; refs[k][i] = reference k of segment i",
        "hyps": hyps,
        "refs": [refs1],
        "refs2": REFS2,
        "tokenized": {},
        "bleu": {},
        "chrf": {},
    }

    for tok in TOKENIZERS:
        # Tokenized strings as BLEU sees them (rstrip, then the tokenizer).
        m = BLEU(tokenize=tok)
        out["tokenized"][tok] = {
            "hyps": [m._preprocess_segment(s) for s in hyps],
            "refs": [m._preprocess_segment(s) for s in refs1],
            "refs2": [m._preprocess_segment(s) for s in REFS2],
        }

        corpus = BLEU(tokenize=tok)
        c = corpus.corpus_score(hyps, [refs1])
        corpus_multi = BLEU(tokenize=tok)
        cm = corpus_multi.corpus_score(hyps, [refs1, REFS2])
        sent_metric = BLEU(tokenize=tok, effective_order=True)
        sentences = [bleu_stats(sent_metric.sentence_score(h, [r])) for h, r in zip(hyps, refs1)]
        sent_sig = sent_metric.get_signature().format()
        sentences_multi = [bleu_stats(sent_metric.sentence_score(h, [r1, r2]))
                           for h, r1, r2 in zip(hyps, refs1, REFS2)]
        sent_multi_sig = sent_metric.get_signature().format()
        # The compat API (sacrebleu.sentence_bleu) must agree with the metric object.
        for i, (h, r) in enumerate(zip(hyps, refs1)):
            assert sacrebleu.sentence_bleu(h, [r], tokenize=tok).score == sentences[i]["score"]
        assert sacrebleu.corpus_bleu(hyps, [refs1], tokenize=tok).score == c.score
        out["bleu"][tok] = {
            "corpus": bleu_stats(c),
            "corpus_signature": corpus.get_signature().format(),
            "corpus_multi": bleu_stats(cm),
            "corpus_multi_signature": corpus_multi.get_signature().format(),
            "sentence": sentences,
            "sentence_signature": sent_sig,
            "sentence_multi": sentences_multi,
            "sentence_multi_signature": sent_multi_sig,
        }

    for name, word_order in (("chrf", 0), ("chrfpp", 2)):
        corpus = CHRF(word_order=word_order)
        c = corpus.corpus_score(hyps, [refs1])
        corpus_multi = CHRF(word_order=word_order)
        cm = corpus_multi.corpus_score(hyps, [refs1, REFS2])
        sent_metric = CHRF(word_order=word_order)
        sentences = [sent_metric.sentence_score(h, [r]).score for h, r in zip(hyps, refs1)]
        sentences_multi = [sent_metric.sentence_score(h, [r1, r2]).score
                           for h, r1, r2 in zip(hyps, refs1, REFS2)]
        for i, (h, r) in enumerate(zip(hyps, refs1)):
            assert sacrebleu.sentence_chrf(h, [r], word_order=word_order).score == sentences[i]
        out["chrf"][name] = {
            "word_order": word_order,
            "corpus": c.score,
            "corpus_signature": corpus.get_signature().format(),
            "corpus_multi": cm.score,
            "corpus_multi_signature": corpus_multi.get_signature().format(),
            "sentence": sentences,
            "sentence_multi": sentences_multi,
        }

    json.dump(out, sys.stdout, ensure_ascii=False, indent=1)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
