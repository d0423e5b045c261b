// PEFT LoRA adapter export/import: `adapter_model.safetensors` (f32, PEFT's tensor names) +
// `adapter_config.json` (every field peft 0.13 writes for a LORA / CAUSAL_LM config, so it loads
// unchanged in peft 0.13 and later), zipped with fflate. Import takes a folder's files or a zip
// and validates them against the model config.
// Per layer i and module m (q,k,v,o under self_attn; gate,up,down under mlp):
//   base_model.model.model.layers.{i}.self_attn.q_proj.lora_A.weight   A [r, in]
//   base_model.model.model.layers.{i}.self_attn.q_proj.lora_B.weight   B [out, r]
// Forward: y = W x + (lora_alpha / r) · B (A dropout(x)).

import { unzipSync, zipSync } from 'fflate';
import { LINEAR_MODULES, linearShapes, moduleParent, normalizeTargets, type LinearModule, type LlamaConfig } from '../model/config';
import { bytesSource, SafetensorsFile, writeSafetensors, type TensorToWrite } from '../model/safetensors';

export interface LoraModuleHost {
  A: Float32Array; // [r, inF] row-major
  B: Float32Array; // [outF, r] row-major
  inF: number;
  outF: number;
}

export interface LoraHostWeights {
  r: number;
  alpha: number;
  dropout: number;
  /** PEFT module names: q_proj, k_proj, v_proj, o_proj, gate_proj, up_proj, down_proj. */
  targets: string[];
  /** One entry per model layer: module name → weights (empty object for a layer without LoRA). */
  layers: { [module: string]: LoraModuleHost }[];
}

export interface PeftExportOptions {
  baseModelNameOrPath?: string;
  /** Model config to validate shapes against before writing. */
  config?: LlamaConfig;
  /** Text for the README.md model card in the zip. */
  readme?: string;
}

export class PeftError extends Error {
  constructor(msg: string) {
    super(msg);
    this.name = 'PeftError';
  }
}

export const DEFAULT_BASE_MODEL = 'meta-llama/Llama-3.1-8B-Instruct';

export function peftTensorName(layer: number, module: LinearModule, which: 'A' | 'B'): string {
  return `base_model.model.model.layers.${layer}.${moduleParent(module)}.${module}.lora_${which}.weight`;
}

const NAME_RE = /^base_model\.model\.model\.layers\.(\d+)\.(self_attn|mlp)\.([a-z_]+)\.lora_([AB])\.weight$/;

/** adapter_config.json as peft 0.13's LoraConfig.to_dict() + save_pretrained (sort_keys) writes it. */
export function adapterConfig(w: LoraHostWeights, baseModelNameOrPath = DEFAULT_BASE_MODEL): Record<string, unknown> {
  const targets = normalizeTargets(w.targets);
  const cfg: Record<string, unknown> = {
    alpha_pattern: {},
    auto_mapping: null,
    base_model_name_or_path: baseModelNameOrPath,
    bias: 'none',
    fan_in_fan_out: false,
    inference_mode: true,
    init_lora_weights: true,
    layer_replication: null,
    layers_pattern: null,
    layers_to_transform: null,
    loftq_config: {},
    lora_alpha: w.alpha,
    lora_dropout: w.dropout,
    megatron_config: null,
    megatron_core: 'megatron.core',
    modules_to_save: null,
    peft_type: 'LORA',
    r: w.r,
    rank_pattern: {},
    revision: null,
    target_modules: [...targets].sort(),
    task_type: 'CAUSAL_LM',
    use_dora: false,
    use_rslora: false,
  };
  // Layers without LoRA (if any) are declared, as PEFT does, with layers_to_transform.
  const withLora = w.layers.map((l, i) => (Object.keys(l).length ? i : -1)).filter((i) => i >= 0);
  if (withLora.length !== w.layers.length) cfg.layers_to_transform = withLora;
  return cfg;
}

function checkWeights(w: LoraHostWeights, config?: LlamaConfig): LinearModule[] {
  if (!Number.isInteger(w.r) || w.r <= 0) throw new PeftError(`LoRA r must be a positive integer, got ${w.r}`);
  if (!Number.isFinite(w.alpha) || w.alpha <= 0) throw new PeftError(`lora_alpha must be a positive number, got ${w.alpha}`);
  if (!(w.dropout >= 0 && w.dropout < 1)) throw new PeftError(`lora_dropout must be in [0, 1), got ${w.dropout}`);
  const targets = normalizeTargets(w.targets);
  if (!targets.length) throw new PeftError('no LoRA target modules');
  if (config && w.layers.length !== config.numHiddenLayers)
    throw new PeftError(`adapter has ${w.layers.length} layers, the model config has num_hidden_layers ${config.numHiddenLayers}`);
  const shapes = config ? linearShapes(config) : null;
  w.layers.forEach((layer, i) => {
    for (const [m, t] of Object.entries(layer)) {
      if (!targets.includes(m as LinearModule)) throw new PeftError(`layer ${i}: module "${m}" is not among the targets (${targets.join(', ')})`);
      if (t.A.length !== w.r * t.inF) throw new PeftError(`layer ${i} ${m}: lora_A has ${t.A.length} values, expected r·in = ${w.r}·${t.inF}`);
      if (t.B.length !== t.outF * w.r) throw new PeftError(`layer ${i} ${m}: lora_B has ${t.B.length} values, expected out·r = ${t.outF}·${w.r}`);
      if (shapes) {
        const [out, inF] = shapes[m as LinearModule];
        if (t.inF !== inF || t.outF !== out) throw new PeftError(`layer ${i} ${m}: [out ${t.outF}, in ${t.inF}] but the model config implies [${out}, ${inF}]`);
      }
    }
  });
  return targets;
}

/** The two PEFT files (bytes). Same weights ⇒ identical bytes. */
export function exportPeftFiles(w: LoraHostWeights, opts: PeftExportOptions = {}): Record<string, Uint8Array> {
  checkWeights(w, opts.config);
  const tensors: TensorToWrite[] = [];
  w.layers.forEach((layer, i) => {
    for (const m of LINEAR_MODULES) {
      const t = layer[m];
      if (!t) continue;
      tensors.push({ name: peftTensorName(i, m, 'A'), dtype: 'F32', shape: [w.r, t.inF], data: t.A });
      tensors.push({ name: peftTensorName(i, m, 'B'), dtype: 'F32', shape: [t.outF, w.r], data: t.B });
    }
  });
  const config = adapterConfig(w, opts.baseModelNameOrPath);
  return {
    'adapter_config.json': new TextEncoder().encode(JSON.stringify(config, null, 2)),
    'adapter_model.safetensors': writeSafetensors(tensors, { format: 'pt' }),
  };
}

/** A zip of the PEFT folder (adapter_config.json, adapter_model.safetensors, README.md). */
export function exportPeftZip(w: LoraHostWeights, opts: PeftExportOptions = {}): Uint8Array {
  const files = exportPeftFiles(w, opts);
  const base = opts.baseModelNameOrPath ?? DEFAULT_BASE_MODEL;
  const readme = opts.readme ?? [
    '---', `base_model: ${base}`, 'library_name: peft', '---', '',
    `LoRA adapter (r=${w.r}, lora_alpha=${w.alpha}, targets ${normalizeTargets(w.targets).join(', ')}) trained in the browser.`, '',
    '```python', 'from peft import PeftModel', 'from transformers import AutoModelForCausalLM',
    `model = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained("${base}"), "path/to/this/folder")`, '```', '',
  ].join('\n');
  const entries: Record<string, [Uint8Array, { level: 0 | 6 }]> = {};
  for (const [name, bytes] of Object.entries(files)) entries[name] = [bytes, { level: name.endsWith('.safetensors') ? 0 : 6 }];
  entries['README.md'] = [new TextEncoder().encode(readme), { level: 6 }];
  return zipSync(entries, { mtime: new Date(Date.UTC(2024, 0, 1)) });
}

const isZip = (b: Uint8Array) => b.length >= 4 && b[0] === 0x50 && b[1] === 0x4b && b[2] === 0x03 && b[3] === 0x04;

const CRC_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

/** CRC-32 (zip, IEEE 802.3) of bytes. */
export function crc32(b: Uint8Array): number {
  let c = 0xffffffff;
  for (let i = 0; i < b.length; i++) c = CRC_TABLE[(c ^ b[i]) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

/**
 * Entry name → CRC-32 from the zip's central directory (empty when it cannot be read: unzipSync
 * then reports the damage). fflate does not verify CRCs, and safetensors entries are stored
 * uncompressed, so without this check a flipped byte in the weights would import silently.
 */
function zipCrcs(z: Uint8Array): Map<string, number> {
  const out = new Map<string, number>();
  const dv = new DataView(z.buffer, z.byteOffset, z.byteLength);
  let eocd = -1;
  for (let i = z.length - 22; i >= Math.max(0, z.length - 22 - 0xffff); i--)
    if (dv.getUint32(i, true) === 0x06054b50) { eocd = i; break; }
  if (eocd < 0) return out;
  let p = dv.getUint32(eocd + 16, true);
  const end = Math.min(eocd, p + dv.getUint32(eocd + 12, true));
  while (p + 46 <= end && dv.getUint32(p, true) === 0x02014b50) {
    const nameLen = dv.getUint16(p + 28, true);
    const name = new TextDecoder().decode(z.subarray(p + 46, p + 46 + nameLen));
    out.set(name, dv.getUint32(p + 16, true));
    p += 46 + nameLen + dv.getUint16(p + 30, true) + dv.getUint16(p + 32, true);
  }
  return out;
}

/** Unpack a zip or a folder's files into name → bytes (by base name). */
function collectFiles(input: Uint8Array | Record<string, Uint8Array>): Record<string, Uint8Array> {
  let raw: Record<string, Uint8Array>;
  if (input instanceof Uint8Array) {
    if (!isZip(input)) throw new PeftError('adapter: not a zip file (expected adapter_config.json + adapter_model.safetensors, or a zip of them)');
    try {
      raw = unzipSync(input);
    } catch (e) {
      throw new PeftError(`adapter zip is corrupt (${(e as Error).message})`);
    }
    const crcs = zipCrcs(input);
    for (const [path, bytes] of Object.entries(raw)) {
      const want = crcs.get(path);
      const got = crc32(bytes);
      if (want !== undefined && want !== got)
        throw new PeftError(`adapter zip is corrupt: ${path} fails its CRC-32 check (stored ${want.toString(16).padStart(8, '0')}, computed ${got.toString(16).padStart(8, '0')}); download or copy it again`);
    }
  } else raw = input;
  const out: Record<string, Uint8Array> = {};
  for (const [path, bytes] of Object.entries(raw)) {
    const base = path.split('/').pop()!;
    if (base === 'adapter_config.json' || base === 'adapter_model.safetensors') {
      if (out[base]) throw new PeftError(`adapter: more than one ${base} (${path})`);
      out[base] = bytes;
    } else if (base === 'adapter_model.bin' && !('adapter_model.safetensors' in raw)) {
      throw new PeftError('adapter: adapter_model.bin (pickle) is not supported; save the adapter with safe_serialization=True');
    }
  }
  for (const need of ['adapter_config.json', 'adapter_model.safetensors'])
    if (!out[need]) throw new PeftError(`adapter: missing ${need}`);
  return out;
}

/** Parse and check adapter_config.json; returns r, alpha, dropout, targets, layers_to_transform. */
export function parseAdapterConfig(json: unknown, file = 'adapter_config.json') {
  if (typeof json !== 'object' || json === null) throw new PeftError(`${file}: expected a JSON object`);
  const j = json as Record<string, unknown>;
  const bad = (field: string, what: string) => new PeftError(`${file}: "${field}" ${what}`);
  if (j.peft_type !== 'LORA') throw bad('peft_type', `is ${JSON.stringify(j.peft_type)}; only "LORA" adapters are supported`);
  if (j.task_type != null && j.task_type !== 'CAUSAL_LM') throw bad('task_type', `is ${JSON.stringify(j.task_type)}; expected "CAUSAL_LM"`);
  if (!Number.isInteger(j.r) || (j.r as number) <= 0) throw bad('r', `must be a positive integer, got ${JSON.stringify(j.r)}`);
  if (typeof j.lora_alpha !== 'number' || j.lora_alpha <= 0) throw bad('lora_alpha', `must be a positive number, got ${JSON.stringify(j.lora_alpha)}`);
  const dropout = j.lora_dropout ?? 0;
  if (typeof dropout !== 'number' || dropout < 0 || dropout >= 1) throw bad('lora_dropout', `must be in [0, 1), got ${JSON.stringify(dropout)}`);
  for (const [field, ok] of [['use_dora', false], ['use_rslora', false], ['fan_in_fan_out', false]] as const)
    if (j[field] != null && j[field] !== ok) throw bad(field, `is ${JSON.stringify(j[field])}; only ${ok} is supported`);
  if (j.bias != null && j.bias !== 'none') throw bad('bias', `is ${JSON.stringify(j.bias)}; only "none" is supported`);
  for (const field of ['rank_pattern', 'alpha_pattern'])
    if (j[field] != null && Object.keys(j[field] as object).length) throw bad(field, 'is not empty; per-module ranks/alphas are not supported');
  if (j.modules_to_save != null && (j.modules_to_save as unknown[]).length) throw bad('modules_to_save', `is ${JSON.stringify(j.modules_to_save)}; fully trained modules are not supported`);
  if (j.layer_replication != null) throw bad('layer_replication', 'is not supported');
  let tm = j.target_modules;
  if (typeof tm === 'string') {
    if (tm === 'all-linear') tm = [...LINEAR_MODULES];
    else throw bad('target_modules', `is the regular expression ${JSON.stringify(tm)}; give a list of module names`);
  }
  if (!Array.isArray(tm) || tm.some((t) => typeof t !== 'string')) throw bad('target_modules', `must be a list of module names, got ${JSON.stringify(tm)}`);
  let targets: LinearModule[];
  try {
    targets = normalizeTargets(tm.filter((t: string) => t !== 'lm_head'));
  } catch (e) {
    throw bad('target_modules', (e as Error).message);
  }
  if (tm.includes('lm_head')) throw bad('target_modules', 'includes lm_head, which is not supported');
  let layersToTransform: number[] | null = null;
  if (j.layers_to_transform != null) {
    const l = j.layers_to_transform;
    layersToTransform = typeof l === 'number' ? [l] : (l as number[]);
    if (!Array.isArray(layersToTransform) || layersToTransform.some((x) => !Number.isInteger(x) || x < 0))
      throw bad('layers_to_transform', `must be a layer index or a list of them, got ${JSON.stringify(l)}`);
  }
  return { r: j.r as number, alpha: j.lora_alpha, dropout, targets, layersToTransform, baseModel: j.base_model_name_or_path as string | undefined };
}

/** Import a PEFT adapter (zip bytes, or the folder's files by name) and validate it against the model config. */
export async function importPeft(input: Uint8Array | Record<string, Uint8Array>, config: LlamaConfig): Promise<LoraHostWeights> {
  const files = collectFiles(input);
  let cfgJson: unknown;
  try {
    cfgJson = JSON.parse(new TextDecoder().decode(files['adapter_config.json']));
  } catch (e) {
    throw new PeftError(`adapter_config.json: not valid JSON (${(e as Error).message})`);
  }
  const ac = parseAdapterConfig(cfgJson);
  const L = config.numHiddenLayers;
  if (ac.layersToTransform?.some((l) => l >= L)) throw new PeftError(`adapter_config.json: layers_to_transform ${JSON.stringify(ac.layersToTransform)} exceeds the model's ${L} layers`);
  const layerSet = new Set(ac.layersToTransform ?? [...Array(L).keys()]);
  const st = await SafetensorsFile.open(bytesSource(files['adapter_model.safetensors']), 'adapter_model.safetensors');
  const shapes = linearShapes(config);
  const layers: LoraHostWeights['layers'] = Array.from({ length: L }, () => ({}));
  const seen = new Set<string>();
  for (const name of st.names()) {
    const m = NAME_RE.exec(name);
    if (!m) throw new PeftError(`adapter_model.safetensors: unexpected tensor "${name}" (expected base_model.model.model.layers.{i}.<self_attn|mlp>.<module>.lora_<A|B>.weight)`);
    const [, li, parent, mod, which] = m;
    const layer = Number(li);
    const module = mod as LinearModule;
    if (!LINEAR_MODULES.includes(module) || moduleParent(module) !== parent) throw new PeftError(`adapter_model.safetensors: "${name}": unknown module ${parent}.${mod}`);
    if (layer >= L) throw new PeftError(`adapter_model.safetensors: "${name}": layer ${layer} but the model has ${L} layers`);
    if (!ac.targets.includes(module)) throw new PeftError(`adapter_model.safetensors: "${name}": ${module} is not in adapter_config.json's target_modules (${ac.targets.join(', ')})`);
    if (!layerSet.has(layer)) throw new PeftError(`adapter_model.safetensors: "${name}": layer ${layer} is not in layers_to_transform`);
    const [out, inF] = shapes[module];
    const want = which === 'A' ? [ac.r, inF] : [out, ac.r];
    const info = st.info(name);
    if (info.shape.length !== 2 || info.shape[0] !== want[0] || info.shape[1] !== want[1])
      throw new PeftError(`adapter_model.safetensors: "${name}" has shape [${info.shape}], expected [${want}] (r = ${ac.r}, ${module} is [out ${out}, in ${inF}] in config.json)`);
    const data = await st.readF32(name);
    const entry = (layers[layer][module] ??= { A: new Float32Array(0), B: new Float32Array(0), inF, outF: out });
    if (which === 'A') entry.A = data.slice();
    else entry.B = data.slice();
    seen.add(name);
  }
  for (const layer of layerSet)
    for (const module of ac.targets)
      for (const which of ['A', 'B'] as const) {
        const name = peftTensorName(layer, module, which);
        if (!seen.has(name)) throw new PeftError(`adapter_model.safetensors: missing "${name}" (target ${module}, layer ${layer})`);
      }
  return { r: ac.r, alpha: ac.alpha, dropout: ac.dropout, targets: ac.targets, layers };
}

/** Browser helper: the File objects of a picked/dropped folder (or a single zip) → importPeft input. */
export async function filesToPeftInput(files: Iterable<Blob & { name: string }>): Promise<Uint8Array | Record<string, Uint8Array>> {
  const list = [...files];
  if (list.length === 1 && list[0].name.endsWith('.zip')) return new Uint8Array(await list[0].arrayBuffer());
  const out: Record<string, Uint8Array> = {};
  for (const f of list) {
    const base = f.name.split('/').pop()!;
    if (base === 'adapter_config.json' || base === 'adapter_model.safetensors' || base === 'adapter_model.bin') out[base] = new Uint8Array(await f.arrayBuffer());
  }
  return out;
}
