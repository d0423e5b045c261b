// Loading the golden fixtures of tests/golden/make_golden.py.

import { readFileSync } from 'node:fs';
import { parseLlamaConfig, type LlamaConfig } from '../../src/model/config';
import { openSafetensorsPath } from '../../src/model/safetensors.node';
import type { SafetensorsFile } from '../../src/model/safetensors';
import type { PackedBatch } from '../../src/model/batch';
import type { LoraHost } from '../../src/model/lora';
import { moduleKey, parseTargets, TARGETS } from '../../src/model/modules';

export interface Golden {
  cfg: LlamaConfig;
  model: SafetensorsFile;
  adapter: SafetensorsFile;
  golden: SafetensorsFile;
  json: { lengths: number[]; lora: { r: number; alpha: number } };
  adapterConfig: { r: number; lora_alpha: number; target_modules: string[] };
}

export async function loadGolden(dir: string): Promise<Golden> {
  return {
    cfg: parseLlamaConfig(readFileSync(`${dir}/config.json`, 'utf8'), `${dir}/config.json`),
    model: await openSafetensorsPath(`${dir}/model.safetensors`),
    adapter: await openSafetensorsPath(`${dir}/adapter/adapter_model.safetensors`),
    golden: await openSafetensorsPath(`${dir}/golden.safetensors`),
    json: JSON.parse(readFileSync(`${dir}/golden.json`, 'utf8')),
    adapterConfig: JSON.parse(readFileSync(`${dir}/adapter/adapter_config.json`, 'utf8')),
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

export async function goldenLoraHost(g: Golden): Promise<LoraHost> {
  const targets = parseTargets(g.adapterConfig.target_modules);
  const layers: LoraHost['layers'] = [];
  for (let l = 0; l < g.cfg.numHiddenLayers; l++) {
    const mods: LoraHost['layers'][number] = {};
    for (const t of TARGETS.filter((x) => targets.includes(x))) {
      const key = `base_model.model.${moduleKey(l, t)}`;
      const A = await g.adapter.readF32(`${key}.lora_A.weight`);
      const B = await g.adapter.readF32(`${key}.lora_B.weight`);
      const info = g.adapter.info(`${key}.lora_B.weight`);
      mods[t] = { A, B, outF: info.shape[0], inF: A.length / g.adapterConfig.r };
    }
    layers.push(mods);
  }
  return { r: g.adapterConfig.r, alpha: g.adapterConfig.lora_alpha, dropout: 0, targets, layers };
}
