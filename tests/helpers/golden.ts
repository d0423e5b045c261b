// Loading the golden fixtures of tests/golden/make_golden.py.

import { readFileSync } from 'node:fs';
import { parseLlamaConfig, type LlamaConfig } from '../../src/model/config';
import { openSafetensorsPath } from '../../src/model/safetensors.node';
import type { SafetensorsFile } from '../../src/model/safetensors';
import type { PackedBatch } from '../../src/model/batch';
import type { LoraHost } from '../../src/model/lora';
import { importPeft } from '../../src/export/peft';

export interface Golden {
  cfg: LlamaConfig;
  model: SafetensorsFile;
  golden: SafetensorsFile;
  json: { lengths: number[]; lora: { r: number; alpha: number } };
}

export async function loadGolden(dir: string): Promise<Golden> {
  return {
    cfg: parseLlamaConfig(readFileSync(`${dir}/config.json`, 'utf8'), `${dir}/config.json`),
    model: await openSafetensorsPath(`${dir}/model.safetensors`),
    golden: await openSafetensorsPath(`${dir}/golden.safetensors`),
    json: JSON.parse(readFileSync(`${dir}/golden.json`, 'utf8')),
  };
}

/** The golden batch's sequences packed back to back (positions restart, segIds 0,1). */
export async function packGolden(g: Golden): Promise<PackedBatch> {
  const ids: number[] = [], labels: number[] = [], positions: number[] = [], segIds: number[] = [];
  for (let b = 0; b < g.json.lengths.length; b++) {
    const i = (await g.golden.read(`input_ids.${b}`)).data as Int32Array;
    const l = (await g.golden.read(`labels.${b}`)).data as Int32Array;
    i.forEach((v, t) => { ids.push(v); labels.push(l[t]); positions.push(t); segIds.push(b); });
  }
  return { ids: Int32Array.from(ids), labels: Int32Array.from(labels), positions: Int32Array.from(positions), segIds: Int32Array.from(segIds) };
}

/** The golden adapter, read with the project's PEFT importer (peft 0.21's own output). */
export async function goldenLoraHost(g: Golden, dir: string): Promise<LoraHost> {
  return importPeft({
    'adapter_config.json': new Uint8Array(readFileSync(`${dir}/adapter/adapter_config.json`)),
    'adapter_model.safetensors': new Uint8Array(readFileSync(`${dir}/adapter/adapter_model.safetensors`)),
  }, g.cfg);
}
