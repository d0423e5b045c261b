// Cleaned records → Llama 3.1 chat examples: system (a Bengali counsellor prompt, editable),
// user (title + "\n" + question), assistant (answer); tokenized with the chat template.
// T = tokens of one example. Labels follow the Hugging Face convention: labels[t] = ids[t] on the
// assistant's content tokens and its closing <|eot_id|>, -100 on everything else (BOS, system and
// user turns, headers). The model predicts labels[t] from position t-1 (see `shiftedTargets`).

import type { CleanRecord } from './clean';
import { userText } from './clean';
import { DataError } from './errors';
import type { ChatMessage, ChatTemplateOptions, Tokenizer } from './tokenizer';

export const IGNORE_INDEX = -100;

/**
 * Default system prompt: an empathetic Bengali counsellor (addresses the model as আপনি). Kept short
 * on purpose: Bengali costs ~1.2 Llama-3 tokens per character and the prompt is repeated in every
 * example (≈130 tokens here, against a corpus median of ~144 tokens per pair).
 */
export const DEFAULT_SYSTEM_PROMPT_BN =
  'আপনি একজন সহমর্মী মানসিক স্বাস্থ্য পরামর্শদাতা। মন দিয়ে শুনে, বিচার না করে, উষ্ণ ও সম্মানজনক বাংলায় উত্তর দিন।';

/** [system, user, assistant] for one record; an empty system prompt leaves the system turn with only the date header. */
export function toMessages(r: Pick<CleanRecord, 'title' | 'question' | 'answer'>, systemPrompt = DEFAULT_SYSTEM_PROMPT_BN): ChatMessage[] {
  return [
    { role: 'system', content: systemPrompt },
    { role: 'user', content: userText(r) },
    { role: 'assistant', content: r.answer },
  ];
}

export interface TokenizedExample {
  ids: Int32Array; // [T] token ids, BOS first
  labels: Int32Array; // [T] ids on the assistant turn's content + <|eot_id|>, -100 elsewhere
}

/**
 * Tokenize a conversation whose last message is the assistant's. The prompt (everything up to
 * and including the assistant header) and the reply are encoded separately and concatenated:
 * the template puts a special token right before each, so this equals encoding the whole text
 * (the tokenizer splits at special tokens), and gives the exact label boundary.
 */
export function tokenizeExample(tok: Tokenizer, messages: readonly ChatMessage[], opts?: ChatTemplateOptions): TokenizedExample {
  const last = messages[messages.length - 1];
  if (!last || last.role !== 'assistant') throw new DataError('config', 'tokenizeExample: the last message must be the assistant turn');
  const prompt = tok.applyChatTemplate(messages.slice(0, -1), { ...opts, addGenerationPrompt: true });
  const full = tok.applyChatTemplate(messages, { ...opts, addGenerationPrompt: false });
  if (!full.startsWith(prompt)) throw new DataError('config', 'chat template: the rendered prompt is not a prefix of the full conversation');
  const promptIds = tok.encode(prompt);
  const replyIds = tok.encode(full.slice(prompt.length)); // "<answer><|eot_id|>"
  const T = promptIds.length + replyIds.length;
  const ids = new Int32Array(T);
  const labels = new Int32Array(T).fill(IGNORE_INDEX);
  ids.set(promptIds, 0);
  ids.set(replyIds, promptIds.length);
  labels.set(replyIds, promptIds.length);
  return { ids, labels };
}
