// Llama 3.1 tokenizer: special-token fixes, known ids, round trips, and the official chat
// template rendered exactly as Hugging Face transformers renders meta-llama/Llama-3.1-8B-Instruct.
import { describe, expect, it, beforeAll } from 'vitest';
import { loadLlama3Tokenizer, fixLlama31SpecialTokens, type Tokenizer } from '../../../src/data/tokenizer';
import { LLAMA31_CHAT_TEMPLATE } from '../../../src/data/llama31-template';
import { DataError } from '../../../src/data/errors';

let tok: Tokenizer;
beforeAll(async () => {
  tok = await loadLlama3Tokenizer();
});

describe('loadLlama3Tokenizer', () => {
  it('has the Llama 3.1 special ids and vocabulary size', () => {
    expect(tok.bosId).toBe(128000);
    expect(tok.eotId).toBe(128009);
    expect(tok.eomId).toBe(128008);
    expect([...tok.eosIds]).toEqual([128001, 128008, 128009]);
    expect(tok.vocabSize).toBe(128256);
    expect(tok.idToToken(128000)).toBe('<|begin_of_text|>');
    expect(tok.idToToken(128009)).toBe('<|eot_id|>');
  });

  it('renames the three tokens the @lenml file still names with Llama 3.0 names', () => {
    expect(tok.idToToken(128004)).toBe('<|finetune_right_pad_id|>');
    expect(tok.idToToken(128008)).toBe('<|eom_id|>');
    expect(tok.idToToken(128010)).toBe('<|python_tag|>');
    expect(tok.encode('<|finetune_right_pad_id|>')).toEqual([128004]);
    expect(tok.encode('<|eom_id|>')).toEqual([128008]);
    expect(tok.encode('<|python_tag|>')).toEqual([128010]);
    expect(tok.encode('a<|eom_id|>b<|python_tag|>')).toEqual([...tok.encode('a'), 128008, ...tok.encode('b'), 128010]);
    // the old names are plain text now, not special tokens
    expect(tok.encode('<|reserved_special_token_4|>').length).toBeGreaterThan(1);
  });

  it('encodes known Llama 3 ids and round-trips Bengali', () => {
    expect(tok.encode('Hello World')).toEqual([9906, 4435]);
    expect(tok.encode('Hello World', { addSpecialTokens: true })).toEqual([128000, 9906, 4435]);
    const bn = 'আমি খুব দুশ্চিন্তায় আছি।\nকী করব?  যুক্তাক্ষর: ক্ষ, জ্ঞ, র‍্যাব';
    const ids = tok.encode(bn);
    expect(ids.length).toBeGreaterThan(10);
    expect(ids.every((i) => i >= 0 && i < 128000)).toBe(true);
    expect(tok.decode(ids)).toBe(bn);
    expect(tok.decode([128000, ...ids, 128009], { skipSpecialTokens: true })).toBe(bn);
  });

  it('piecewise encoding (split at special tokens, cached) equals encoding the whole text', () => {
    const texts = [
      tok.applyChatTemplate([
        { role: 'system', content: 'আপনি একজন পরামর্শদাতা।' },
        { role: 'user', content: '  দুশ্চিন্তা \n\n হচ্ছে ' },
        { role: 'assistant', content: 'ধীরে শ্বাস নিন।\nআপনি পারবেন।' },
      ]),
      'a <|eot_id|> b\n<|eot_id|>\n\n c<|start_header_id|>  x',
      '<|eot_id|><|eot_id|>',
      '   leading and trailing   ',
      'no specials at all: ১২৩৪৫ 12345 !!! ...',
    ];
    for (let round = 0; round < 2; round++) // the second round hits the cache
      for (const t of texts) expect(tok.encode(t)).toEqual(tok.encode(t, { addSpecialTokens: true }).slice(1));
  });

  it('is memoised and does not modify the source JSON', async () => {
    expect(await loadLlama3Tokenizer()).toBe(tok);
    const json = { model: { type: 'BPE' }, added_tokens: [{ id: 128008, content: '<|reserved_special_token_4|>' }] };
    const fixed = fixLlama31SpecialTokens(json) as typeof json;
    expect(fixed.added_tokens[0].content).toBe('<|eom_id|>');
    expect(json.added_tokens[0].content).toBe('<|reserved_special_token_4|>');
  });

  it('rejects files that are not a Llama 3.1 tokenizer', async () => {
    await expect(loadLlama3Tokenizer({ tokenizerJSON: { hello: 1 } })).rejects.toThrow(DataError);
    await expect(loadLlama3Tokenizer({ tokenizerJSON: { hello: 1 } })).rejects.toThrow(/not a Hugging Face tokenizer/);
  });
});

describe('Llama 3.1 chat template', () => {
  it('renders a 2-message chat exactly like the official template', () => {
    const text = tok.applyChatTemplate([
      { role: 'user', content: 'Hello' },
      { role: 'assistant', content: 'Hi there' },
    ]);
    expect(text).toBe(
      '<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\n' +
        'Cutting Knowledge Date: December 2023\nToday Date: 26 Jul 2024\n\n<|eot_id|>' +
        '<|start_header_id|>user<|end_header_id|>\n\nHello<|eot_id|>' +
        '<|start_header_id|>assistant<|end_header_id|>\n\nHi there<|eot_id|>',
    );
  });

  it('puts the system prompt after the date header, trims content, adds the generation prompt', () => {
    const text = tok.applyChatTemplate(
      [
        { role: 'system', content: '  আপনি একজন পরামর্শদাতা। ' },
        { role: 'user', content: '\nআমার মন খারাপ।  ' },
      ],
      { addGenerationPrompt: true },
    );
    expect(text).toBe(
      '<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\n' +
        'Cutting Knowledge Date: December 2023\nToday Date: 26 Jul 2024\n\nআপনি একজন পরামর্শদাতা।<|eot_id|>' +
        '<|start_header_id|>user<|end_header_id|>\n\nআমার মন খারাপ।<|eot_id|>' +
        '<|start_header_id|>assistant<|end_header_id|>\n\n',
    );
    expect(tok.applyChatTemplate([{ role: 'user', content: 'x' }], { dateString: '01 Jan 2025' })).toContain('Today Date: 01 Jan 2025\n\n');
  });

  it('tokenizes the rendered chat with the header special tokens', () => {
    const ids = tok.encodeChat([
      { role: 'user', content: 'Hello' },
      { role: 'assistant', content: 'Hi there' },
    ]);
    // <|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\n
    expect(ids.slice(0, 5)).toEqual([128000, 128006, 9125, 128007, 271]);
    expect(ids.filter((i) => i === 128006)).toHaveLength(3);
    expect(ids[ids.length - 1]).toBe(128009);
    expect(ids).toContain(882); // "user"
    expect(ids).toContain(78191); // "assistant"
  });

  it('is the full official template (tools, ipython, eom), not the simplified one', () => {
    expect(LLAMA31_CHAT_TEMPLATE.startsWith('{{- bos_token }}\n{%- if custom_tools is defined %}')).toBe(true);
    expect(LLAMA31_CHAT_TEMPLATE).toContain('{{- "Cutting Knowledge Date: December 2023\\n" }}');
    expect(LLAMA31_CHAT_TEMPLATE).toContain('{%- set date_string = "26 Jul 2024" %}');
    expect(LLAMA31_CHAT_TEMPLATE).toContain('{{- "<|eom_id|>" }}');
    expect(LLAMA31_CHAT_TEMPLATE.endsWith("{{- '<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}\n{%- endif %}\n")).toBe(true);
    expect(LLAMA31_CHAT_TEMPLATE.length).toBe(4614);
  });
});
