// Chat formatting and label masks: loss only on the assistant's content and its closing <|eot_id|>.
import { describe, expect, it, beforeAll } from 'vitest';
import { loadLlama3Tokenizer, type Tokenizer } from '../../../src/data/tokenizer';
import { toMessages, tokenizeExample, DEFAULT_SYSTEM_PROMPT_BN, IGNORE_INDEX } from '../../../src/data/format';
import { DataError } from '../../../src/data/errors';

let tok: Tokenizer;
beforeAll(async () => {
  tok = await loadLlama3Tokenizer();
});

const rec = { title: 'পরীক্ষার ভয়', question: 'পরীক্ষার আগে সব ভুলে যাই।', answer: 'এটা খুব স্বাভাবিক।\nধীরে শ্বাস নিন, আপনি পারবেন।' };

describe('toMessages', () => {
  it('system prompt, user = title + question, assistant = answer', () => {
    expect(toMessages(rec)).toEqual([
      { role: 'system', content: DEFAULT_SYSTEM_PROMPT_BN },
      { role: 'user', content: 'পরীক্ষার ভয়\nপরীক্ষার আগে সব ভুলে যাই।' },
      { role: 'assistant', content: rec.answer },
    ]);
    expect(toMessages({ ...rec, title: rec.question }, 'সিস্টেম')[1].content).toBe(rec.question);
    expect(toMessages(rec, 'সিস্টেম')[0].content).toBe('সিস্টেম');
    expect(DEFAULT_SYSTEM_PROMPT_BN).toMatch(/^আপনি একজন সহমর্মী/);
  });
});

describe('tokenizeExample', () => {
  it('ids equal the tokenization of the whole rendered chat', () => {
    for (const r of [rec, { title: '', question: 'Hello?', answer: ' x ' }, { title: 'a', question: 'b  c', answer: '১২৩ 456!\n\n—ঠিক' }]) {
      const msgs = toMessages(r);
      const { ids } = tokenizeExample(tok, msgs);
      expect(Array.from(ids)).toEqual(tok.encodeChat(msgs));
    }
  });

  it('labels: -100 on BOS, system, user and headers; ids on the answer and its <|eot_id|>', () => {
    const msgs = toMessages(rec);
    const { ids, labels } = tokenizeExample(tok, msgs);
    expect(ids.length).toBe(labels.length);
    const prompt = tok.encode(tok.applyChatTemplate(msgs.slice(0, 2), { addGenerationPrompt: true }));
    for (let t = 0; t < prompt.length; t++) expect(labels[t]).toBe(IGNORE_INDEX);
    for (let t = prompt.length; t < ids.length; t++) expect(labels[t]).toBe(ids[t]);
    expect(prompt.length).toBeGreaterThan(20);
    expect(labels[ids.length - 1]).toBe(tok.eotId);
    // the trained tokens decode to exactly the answer + <|eot_id|>
    const trained = Array.from(labels).filter((l) => l !== IGNORE_INDEX);
    expect(tok.decode(trained)).toBe(`${rec.answer}<|eot_id|>`);
    // no label on any header or on the system/user content
    const special = new Set([tok.bosId, 128006, 128007]);
    for (let t = 0; t < ids.length; t++) if (special.has(ids[t])) expect(labels[t]).toBe(IGNORE_INDEX);
    expect(trained.filter((l) => l === tok.eotId)).toHaveLength(1);
    // never a pad token
    expect(Array.from(ids)).not.toContain(tok.padId);
  });

  it('refuses a conversation that does not end with the assistant', () => {
    expect(() => tokenizeExample(tok, toMessages(rec).slice(0, 2))).toThrow(DataError);
  });
});
