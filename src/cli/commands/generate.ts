// `npm run cli -- generate --model demo|DIR [--adapter DIR|ZIP] --prompt TEXT [--system TEXT]
//   [--max-new-tokens N] [--temperature T] [--top-k K] [--top-p P] [--repetition-penalty R] [--seed S]`
// Streams the answer to stdout as it is generated (Llama 3.1 chat template, KV cache).

import type { CliArgs } from '../args';
import { CliError } from '../args';
import { nodeGpuApi } from '../../gpu/core/node';
import { Engine } from '../../engine';
import { openModel } from '../../model/source.node';
import { DEFAULT_SYSTEM_PROMPT_BN, type ChatMessage } from '../../data';
import { readAdapterArg } from './adapter-arg';

export async function run(a: CliArgs): Promise<void> {
  const prompt = a.str('prompt');
  if (!prompt.trim()) throw new CliError('--prompt is empty');
  const engine = await Engine.create(await nodeGpuApi());
  const model = await openModel(a.str('model', 'demo'));
  await engine.loadModel(model, a.str('quant', 'nf4') === 'w16' ? 'w16' : 'nf4');
  const useAdapter = a.has('adapter');
  if (useAdapter) await engine.importAdapter(await readAdapterArg(a.str('adapter')));
  const messages: ChatMessage[] = [
    { role: 'system', content: a.str('system', DEFAULT_SYSTEM_PROMPT_BN) },
    { role: 'user', content: prompt },
  ];
  const r = await engine.chat(messages, {
    maxNewTokens: a.num('max-new-tokens', 64), temperature: a.num('temperature', 0), topK: a.num('top-k', 0),
    topP: a.num('top-p', 1), repetitionPenalty: a.num('repetition-penalty', 1.1), seed: a.num('seed', 0), useAdapter,
  }, (piece) => process.stdout.write(piece));
  process.stdout.write('\n');
  process.stderr.write(`[${r.tokens} tokens${useAdapter ? ', adapter on' : ', base model'}]\n`);
}
