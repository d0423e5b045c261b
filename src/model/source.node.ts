// Node: an HF model folder on disk as a ModelSource (or 'demo').
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { nodeFileSource } from './safetensors.node';
import type { ByteSource } from './safetensors';
import { demoModelSource, folderModelSource, type ModelSource } from './source';

export async function openModel(spec: string): Promise<ModelSource> {
  if (spec === 'demo') return demoModelSource(0);
  let names: string[];
  try { names = await readdir(spec); } catch { throw new Error(`model folder "${spec}" does not exist (or use --model demo)`); }
  const files = new Map<string, ByteSource>();
  for (const n of names) if (n.endsWith('.json') || n.endsWith('.safetensors')) files.set(n, await nodeFileSource(join(spec, n)));
  return folderModelSource(spec, files);
}
