// Where a model comes from: the built-in demo (generated in memory), or an HF folder given as
// named byte sources (browser File objects, Node files, Hub downloads). Returns the parsed
// config and a TensorReader over single-file or sharded safetensors.

import { parseLlamaConfig, type LlamaConfig } from './config';
import { buildDemoModel } from './demo';
import { bytesSource, SafetensorsFile, ShardedSafetensors, type ByteSource } from './safetensors';
import type { TensorReader } from './weights';

export interface ModelSource {
  name: string;
  config: LlamaConfig;
  reader: TensorReader;
}

export function demoModelSource(seed = 0): Promise<ModelSource> {
  const demo = buildDemoModel(seed);
  return SafetensorsFile.open(bytesSource(demo.files['model.safetensors'], 'model.safetensors'))
    .then((reader) => ({ name: `demo (seed ${seed})`, config: demo.config, reader }));
}

const text = async (s: ByteSource) => new TextDecoder().decode(await s.read(0, s.size));

/** An HF model folder: config.json plus model.safetensors or model.safetensors.index.json + shards. */
export async function folderModelSource(name: string, files: Map<string, ByteSource>): Promise<ModelSource> {
  const cfgFile = files.get('config.json');
  if (!cfgFile) throw new Error(`${name}: no config.json in the model folder (files: ${[...files.keys()].slice(0, 8).join(', ')})`);
  const config = parseLlamaConfig(await text(cfgFile), 'config.json');
  const index = files.get('model.safetensors.index.json');
  if (index) {
    const reader = ShardedSafetensors.fromIndex(await text(index), async (f) => {
      const s = files.get(f);
      if (!s) throw new Error(`${name}: model.safetensors.index.json names ${f}, which is not in the folder`);
      return s;
    });
    // Check every shard is present before loading starts.
    for (const f of reader.shardFiles()) if (!files.has(f)) throw new Error(`${name}: missing shard ${f}`);
    return { name, config, reader: shardedReader(reader) };
  }
  const single = files.get('model.safetensors');
  if (!single) throw new Error(`${name}: no model.safetensors or model.safetensors.index.json in the model folder`);
  return { name, config, reader: await SafetensorsFile.open(single, 'model.safetensors') };
}

function shardedReader(s: ShardedSafetensors): TensorReader {
  return { names: () => s.names(), read: (n) => s.read(n) };
}
