// `npm run cli -- export --run DIR | --adapter PATH --out PATH [--format zip|peft|gguf] [--config config.json | --demo]
//   [--base-model NAME] [--name TEXT]`
// --run DIR takes the adapter and the model of a `train --out DIR` run.
// Reads a PEFT LoRA adapter (a folder with adapter_config.json + adapter_model.safetensors, or a
// zip of them), validates it against the model config (default: the built-in Llama-3.1-8B-Instruct
// config; --demo: the demo model), and writes it as a PEFT zip, a PEFT folder, or a llama.cpp
// GGUF LoRA adapter.

import { mkdir, readFile, readdir, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { CliError, type CliArgs } from '../args';
import { LLAMA_3_1_8B_CONFIG, parseLlamaConfig, type LlamaConfig } from '../../model/config';
import { DEMO_CONFIG } from '../../model/demo';
import { DEFAULT_BASE_MODEL, exportPeftFiles, exportPeftZip, importPeft } from '../../export/peft';
import { loraToGguf } from '../../export/gguf';

/** A `train --out DIR` folder: its log's first line names the model (demo or a folder). */
async function runModel(dir: string): Promise<{ cfg: LlamaConfig; label: string }> {
  const first = (await readFile(join(dir, 'log.jsonl'), 'utf8').catch(() => { throw new CliError(`--run ${dir}: no log.jsonl (is it a train --out folder?)`); })).split('\n')[0];
  const model = String((JSON.parse(first) as { model?: string }).model ?? '');
  if (model.startsWith('demo')) return { cfg: DEMO_CONFIG, label: 'demo model' };
  const text = await readFile(join(model, 'config.json'), 'utf8').catch(() => { throw new CliError(`--run ${dir}: the run's model folder ${model} has no config.json`); });
  return { cfg: parseLlamaConfig(text, join(model, 'config.json')), label: model };
}

async function loadConfig(args: CliArgs): Promise<{ cfg: LlamaConfig; label: string }> {
  if (args.has('run') && !args.has('config') && !args.bool('demo')) return runModel(args.str('run'));
  if (args.bool('demo')) return { cfg: DEMO_CONFIG, label: 'demo model' };
  if (!args.has('config')) return { cfg: LLAMA_3_1_8B_CONFIG, label: 'built-in meta-llama/Llama-3.1-8B-Instruct' };
  const path = args.str('config');
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch {
    throw new CliError(`cannot read --config ${path}`);
  }
  return { cfg: parseLlamaConfig(text, path), label: path };
}

async function readAdapter(path: string): Promise<Uint8Array | Record<string, Uint8Array>> {
  let st;
  try {
    st = await stat(path);
  } catch {
    throw new CliError(`--adapter ${path} does not exist`);
  }
  if (!st.isDirectory()) return new Uint8Array(await readFile(path));
  const files: Record<string, Uint8Array> = {};
  for (const f of await readdir(path)) {
    if (f === 'adapter_config.json' || f === 'adapter_model.safetensors' || f === 'adapter_model.bin') files[f] = new Uint8Array(await readFile(join(path, f)));
  }
  return files;
}

export async function run(args: CliArgs): Promise<void> {
  const adapterPath = args.has('run') ? join(args.str('run'), 'adapter') : args.str('adapter');
  const out = args.str('out');
  const format = args.str('format', out.endsWith('.gguf') ? 'gguf' : out.endsWith('.zip') ? 'zip' : 'peft');
  if (!['zip', 'peft', 'gguf'].includes(format)) throw new CliError(`--format must be zip, peft or gguf, got "${format}"`);
  const { cfg, label } = await loadConfig(args);
  const w = await importPeft(await readAdapter(adapterPath), cfg);
  const opts = { baseModelNameOrPath: args.str('base-model', DEFAULT_BASE_MODEL), config: cfg };
  const written: string[] = [];
  if (format === 'gguf') {
    await writeFile(out, loraToGguf(w, cfg, { name: args.str('name', 'LoRA adapter') }));
    written.push(out);
  } else if (format === 'zip') {
    await writeFile(out, exportPeftZip(w, opts));
    written.push(out);
  } else {
    await mkdir(out, { recursive: true });
    for (const [name, bytes] of Object.entries(exportPeftFiles(w, opts))) {
      await writeFile(join(out, name), bytes);
      written.push(join(out, name));
    }
  }
  const nParams = w.layers.reduce((s, l) => s + Object.values(l).reduce((t, m) => t + m.A.length + m.B.length, 0), 0);
  console.log(JSON.stringify({ config: label, format, r: w.r, alpha: w.alpha, targets: w.targets, loraParams: nParams, written }, null, 2));
}
