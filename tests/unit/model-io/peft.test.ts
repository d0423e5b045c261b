import { unzipSync, zipSync } from 'fflate';
import { describe, expect, it } from 'vitest';
import { DEMO_CONFIG } from '../../../src/model/demo';
import { bytesSource, SafetensorsFile, writeSafetensors, type TensorToWrite } from '../../../src/model/safetensors';
import { adapterConfig, exportPeftFiles, exportPeftZip, filesToPeftInput, importPeft, peftTensorName } from '../../../src/export/peft';
import { randomLora } from './lora-fixture';

// Every key peft 0.13's LoraConfig.to_dict() writes (runtime_config removed), sorted as save_pretrained does.
const PEFT_013_KEYS = [
  'alpha_pattern', 'auto_mapping', 'base_model_name_or_path', 'bias', 'fan_in_fan_out', 'inference_mode', 'init_lora_weights',
  'layer_replication', 'layers_pattern', 'layers_to_transform', 'loftq_config', 'lora_alpha', 'lora_dropout', 'megatron_config',
  'megatron_core', 'modules_to_save', 'peft_type', 'r', 'rank_pattern', 'revision', 'target_modules', 'task_type', 'use_dora', 'use_rslora',
];

const dec = new TextDecoder();

describe('PEFT adapter export', () => {
  const w = randomLora(DEMO_CONFIG, 4, ['q', 'k', 'v', 'o', 'gate', 'up', 'down'], 1);

  it('writes adapter_config.json with every peft LoraConfig field', () => {
    const files = exportPeftFiles(w, { baseModelNameOrPath: 'meta-llama/Llama-3.1-8B-Instruct' });
    const text = dec.decode(files['adapter_config.json']);
    const cfg = JSON.parse(text);
    expect(Object.keys(cfg)).toEqual(PEFT_013_KEYS);
    expect(cfg).toMatchObject({
      peft_type: 'LORA', task_type: 'CAUSAL_LM', r: 4, lora_alpha: 8, lora_dropout: 0.05, bias: 'none',
      base_model_name_or_path: 'meta-llama/Llama-3.1-8B-Instruct', fan_in_fan_out: false, inference_mode: true,
      init_lora_weights: true, layers_to_transform: null, layers_pattern: null, rank_pattern: {}, alpha_pattern: {},
      modules_to_save: null, use_rslora: false, use_dora: false, revision: null, megatron_core: 'megatron.core', loftq_config: {},
    });
    expect(cfg.target_modules).toEqual(['down_proj', 'gate_proj', 'k_proj', 'o_proj', 'q_proj', 'up_proj', 'v_proj']);
    expect(text.startsWith('{\n  "alpha_pattern": {},\n')).toBe(true);
  });

  it('writes f32 A [r, in] and B [out, r] under PEFT names', async () => {
    const st = await SafetensorsFile.open(bytesSource(exportPeftFiles(w)['adapter_model.safetensors']), 'adapter_model.safetensors');
    expect(st.metadata).toEqual({ format: 'pt' });
    expect(st.names().length).toBe(2 * 7 * 2);
    const qa = st.info('base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight');
    expect(qa).toMatchObject({ dtype: 'F32', shape: [4, 64] });
    expect(st.info('base_model.model.model.layers.1.self_attn.k_proj.lora_B.weight')).toMatchObject({ dtype: 'F32', shape: [16, 4] });
    expect(st.info('base_model.model.model.layers.1.mlp.down_proj.lora_A.weight').shape).toEqual([4, 172]);
    expect(st.info('base_model.model.model.layers.0.mlp.gate_proj.lora_B.weight').shape).toEqual([172, 4]);
    expect(await st.readF32(peftTensorName(1, 'up_proj', 'B'))).toEqual(w.layers[1].up_proj.B);
  });

  it('zips deterministically and round-trips through the importer (zip and folder)', async () => {
    const zip = exportPeftZip(w);
    expect(exportPeftZip(w)).toEqual(zip);
    expect(Object.keys(unzipSync(zip)).sort()).toEqual(['README.md', 'adapter_config.json', 'adapter_model.safetensors']);
    const back = await importPeft(zip, DEMO_CONFIG);
    expect(back).toEqual(w);
    const nested = zipSync({ 'my-run': { 'adapter_config.json': unzipSync(zip)['adapter_config.json'], 'adapter_model.safetensors': unzipSync(zip)['adapter_model.safetensors'] } });
    expect(await importPeft(nested, DEMO_CONFIG)).toEqual(w);
    expect(await importPeft(exportPeftFiles(w), DEMO_CONFIG)).toEqual(w);
    const asFiles = Object.entries(exportPeftFiles(w)).map(([n, b]) => new File([b.slice()], n));
    expect(await importPeft(await filesToPeftInput([...asFiles, new File(['x'], 'README.md')]), DEMO_CONFIG)).toEqual(w);
    expect(await importPeft(await filesToPeftInput([new File([zip.slice()], 'adapter.zip')]), DEMO_CONFIG)).toEqual(w);
  });

  it('declares layers without LoRA with layers_to_transform and reads them back', async () => {
    const partial = randomLora(DEMO_CONFIG, 2, ['q', 'v'], 3);
    partial.layers[0] = {};
    expect(adapterConfig(partial).layers_to_transform).toEqual([1]);
    expect(await importPeft(exportPeftFiles(partial), DEMO_CONFIG)).toEqual(partial);
  });

  it('refuses weights that do not match the model config', () => {
    expect(() => exportPeftFiles(w, { config: { ...DEMO_CONFIG, hiddenSize: 128 } })).toThrow(/layer 0 q_proj: \[out 64, in 64\] but the model config implies \[64, 128\]/);
    const bad = { ...w, r: 5 };
    expect(() => exportPeftFiles(bad)).toThrow(/lora_A has 256 values, expected r·in = 5·64/);
  });
});

describe('PEFT adapter import validation', () => {
  const w = randomLora(DEMO_CONFIG, 4, ['q', 'v'], 2);
  const files = exportPeftFiles(w);
  const cfgJson = () => JSON.parse(dec.decode(files['adapter_config.json']));
  const withConfig = (patch: Record<string, unknown>) => ({ ...files, 'adapter_config.json': new TextEncoder().encode(JSON.stringify({ ...cfgJson(), ...patch })) });
  const tensors = async () => {
    const st = await SafetensorsFile.open(bytesSource(files['adapter_model.safetensors']));
    return Promise.all(st.names().map(async (n) => ({ name: n, dtype: 'F32', shape: st.info(n).shape, data: await st.readF32(n) }) as TensorToWrite));
  };
  const withTensors = async (edit: (t: TensorToWrite[]) => TensorToWrite[]) => ({ ...files, 'adapter_model.safetensors': writeSafetensors(edit(await tensors())) });

  it('checks adapter_config.json', async () => {
    await expect(importPeft(withConfig({ peft_type: 'IA3' }), DEMO_CONFIG)).rejects.toThrow(/adapter_config\.json: "peft_type" is "IA3"/);
    await expect(importPeft(withConfig({ r: 0 }), DEMO_CONFIG)).rejects.toThrow(/"r" must be a positive integer/);
    await expect(importPeft(withConfig({ use_dora: true }), DEMO_CONFIG)).rejects.toThrow(/"use_dora" is true/);
    await expect(importPeft(withConfig({ target_modules: '.*proj' }), DEMO_CONFIG)).rejects.toThrow(/regular expression/);
    await expect(importPeft(withConfig({ target_modules: ['q_proj', 'v_proj', 'lm_head'] }), DEMO_CONFIG)).rejects.toThrow(/lm_head/);
    await expect(importPeft(withConfig({ target_modules: ['q_proj'] }), DEMO_CONFIG)).rejects.toThrow(/v_proj is not in adapter_config\.json's target_modules \(q_proj\)/);
    await expect(importPeft(withConfig({ target_modules: ['q_proj', 'v_proj', 'k_proj'] }), DEMO_CONFIG)).rejects.toThrow(/missing "base_model\.model\.model\.layers\.0\.self_attn\.k_proj\.lora_A\.weight"/);
    await expect(importPeft(withConfig({ r: 8 }), DEMO_CONFIG)).rejects.toThrow(/has shape \[4,64\], expected \[8,64\] \(r = 8/);
    await expect(importPeft(withConfig({ layers_to_transform: [0, 7] }), DEMO_CONFIG)).rejects.toThrow(/layers_to_transform \[0,7\] exceeds the model's 2 layers/);
    await expect(importPeft({ ...files, 'adapter_config.json': new TextEncoder().encode('{') }, DEMO_CONFIG)).rejects.toThrow(/adapter_config\.json: not valid JSON/);
  });

  it('checks the tensors against config.json', async () => {
    await expect(importPeft(files, { ...DEMO_CONFIG, numHiddenLayers: 1 })).rejects.toThrow(/layer 1 but the model has 1 layers/);
    await expect(importPeft(files, { ...DEMO_CONFIG, hiddenSize: 32, headDim: 8 })).rejects.toThrow(/q_proj\.lora_A\.weight" has shape \[4,64\], expected \[4,32\]/);
    await expect(importPeft(await withTensors((t) => [...t, { name: 'base_model.model.lm_head.weight', dtype: 'F32', shape: [1], data: new Float32Array(1) }]), DEMO_CONFIG)).rejects.toThrow(/unexpected tensor "base_model\.model\.lm_head\.weight"/);
    await expect(importPeft(await withTensors((t) => t.filter((x) => !x.name.includes('layers.1.self_attn.v_proj.lora_B'))), DEMO_CONFIG)).rejects.toThrow(/missing ".*layers\.1\.self_attn\.v_proj\.lora_B\.weight"/);
    await expect(importPeft(await withTensors((t) => t.map((x) => ({ ...x, name: x.name.replace('self_attn.q_proj', 'mlp.q_proj') }))), DEMO_CONFIG)).rejects.toThrow(/unknown module mlp\.q_proj/);
  });

  it('checks the container', async () => {
    await expect(importPeft(new Uint8Array([1, 2, 3, 4]), DEMO_CONFIG)).rejects.toThrow(/not a zip file/);
    await expect(importPeft({ 'adapter_config.json': files['adapter_config.json'] }, DEMO_CONFIG)).rejects.toThrow(/missing adapter_model\.safetensors/);
    await expect(importPeft({ 'adapter_config.json': files['adapter_config.json'], 'adapter_model.bin': new Uint8Array(4) }, DEMO_CONFIG)).rejects.toThrow(/adapter_model\.bin \(pickle\) is not supported/);
    const zip = exportPeftZip(w);
    await expect(importPeft(zip.subarray(0, zip.length - 30), DEMO_CONFIG)).rejects.toThrow(/adapter zip is corrupt/);
  });
});
