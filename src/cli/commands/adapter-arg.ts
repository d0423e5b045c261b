// --adapter DIR|ZIP for the CLI: a PEFT folder (adapter_config.json + adapter_model.safetensors)
// or a zip of one, as the bytes importPeft takes.
import { readFile, readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { CliError } from '../args';

export async function readAdapterArg(path: string): Promise<Uint8Array | Record<string, Uint8Array>> {
  const s = await stat(path).catch(() => { throw new CliError(`--adapter ${path} does not exist`); });
  if (s.isFile()) return new Uint8Array(await readFile(path));
  const files: Record<string, Uint8Array> = {};
  for (const n of await readdir(path)) if (n.endsWith('.json') || n.endsWith('.safetensors')) files[n] = new Uint8Array(await readFile(join(path, n)));
  if (!files['adapter_config.json']) throw new CliError(`--adapter ${path}: no adapter_config.json in the folder`);
  return files;
}
