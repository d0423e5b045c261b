// Bad adapter imports beyond tests/unit/model-io/peft.test.ts: damaged zips (a flipped byte in
// the stored weights is caught by the CRC-32 check, truncation, a damaged deflated entry), zips
// from other tools (deflated, inside a folder), and through Engine.importAdapter on the demo
// model: an adapter for another model size, unknown target modules, and a failed import leaves
// the adapter already in the engine untouched.

import { beforeAll, describe, expect, it } from 'vitest';
import { zipSync } from 'fflate';
import { nodeGpuApi } from '../../../src/gpu/core/node';
import { Engine } from '../../../src/engine';
import { crc32, exportPeftFiles, exportPeftZip, importPeft } from '../../../src/export/peft';
import { DEMO_CONFIG } from '../../../src/model/demo';
import { LLAMA_3_1_8B_CONFIG } from '../../../src/model/config';
import { randomLora } from '../model-io/lora-fixture';

const enc = new TextEncoder();
const dec = new TextDecoder();
const w = randomLora(DEMO_CONFIG, 4, ['q', 'v'], 7);
const zip = exportPeftZip(w);
const fail = (p: Promise<unknown>) => p.then(() => 'imported', (e: Error) => e.message);

describe('damaged adapter zips', () => {
  it('CRC-32 matches the zip standard', () => {
    expect(crc32(enc.encode('123456789'))).toBe(0xcbf43926);
    expect(crc32(new Uint8Array(0))).toBe(0);
  });

  it('a flipped byte inside the stored adapter_model.safetensors is refused, not imported', async () => {
    const at = Buffer.from(zip).indexOf(Buffer.from('base_model.model')); // its header; data follows
    for (const offset of [600, 2000, 4000]) {
      const bad = zip.slice();
      bad[at + offset] ^= 0x10;
      expect(await fail(importPeft(bad, DEMO_CONFIG))).toMatch(/^adapter zip is corrupt: adapter_model\.safetensors fails its CRC-32 check \(stored [0-9a-f]{8}, computed [0-9a-f]{8}\); download or copy it again$/);
    }
  });

  it('a damaged deflated entry, a truncated zip, an empty file', async () => {
    const bad = zip.slice();
    const readme = Buffer.from(bad).lastIndexOf(Buffer.from('adapter_config.json'), Buffer.from(bad).indexOf(Buffer.from('adapter_model.safetensors')));
    for (let i = 0; i < 8; i++) bad[readme + 40 + i] ^= 0xff; // inside the deflated adapter_config.json
    expect(await fail(importPeft(bad, DEMO_CONFIG))).toMatch(/^adapter zip is corrupt|^adapter_config\.json: not valid JSON/);
    expect(await fail(importPeft(zip.subarray(0, zip.length >> 1), DEMO_CONFIG))).toMatch(/^adapter zip is corrupt \(/);
    expect(await fail(importPeft(new Uint8Array(0), DEMO_CONFIG))).toBe('adapter: not a zip file (expected adapter_config.json + adapter_model.safetensors, or a zip of them)');
  });

  it('a zip made by another tool (deflated, files inside a folder) imports', async () => {
    const files = exportPeftFiles(w);
    const other = zipSync({ 'my-adapter/adapter_config.json': [files['adapter_config.json'], { level: 9 }], 'my-adapter/adapter_model.safetensors': [files['adapter_model.safetensors'], { level: 6 }] });
    const got = await importPeft(other, DEMO_CONFIG);
    expect(got.layers[1].v_proj.B).toEqual(w.layers[1].v_proj.B);
  });
});

describe('adapters that do not fit the loaded model (Engine.importAdapter, demo model)', () => {
  let engine: Engine;
  beforeAll(async () => {
    engine = await Engine.create(await nodeGpuApi());
    await engine.loadDemoModel();
  });

  it('an adapter for Llama-3.1-8B: wrong layer count and shapes, with the numbers', async () => {
    const deeper = randomLora({ ...DEMO_CONFIG, numHiddenLayers: 4 }, 4, ['q', 'v'], 2);
    expect(await fail(engine.importAdapter(exportPeftFiles(deeper))))
      .toBe('adapter_model.safetensors: "base_model.model.model.layers.2.self_attn.q_proj.lora_A.weight": layer 2 but the model has 2 layers');
    const big = randomLora(LLAMA_3_1_8B_CONFIG, 4, ['q'], 1);
    expect(await fail(engine.importAdapter(exportPeftFiles(big))))
      .toBe('adapter_model.safetensors: "base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight" has shape [4,4096], expected [4,64] (r = 4, q_proj is [out 64, in 64] in config.json)');
  });

  it('unknown or unsupported target modules', async () => {
    const files = exportPeftFiles(w);
    const withTargets = (t: unknown) => ({ ...files, 'adapter_config.json': enc.encode(JSON.stringify({ ...JSON.parse(dec.decode(files['adapter_config.json'])), target_modules: t })) });
    expect(await fail(engine.importAdapter(withTargets(['embed_tokens']))))
      .toBe('adapter_config.json: "target_modules" unknown LoRA target "embed_tokens" (known: q_proj, k_proj, v_proj, o_proj, gate_proj, up_proj, down_proj or short q,k,v,o,gate,up,down)');
    expect(await fail(engine.importAdapter(withTargets(['q_proj', 'v_proj', 'lm_head'])))).toBe('adapter_config.json: "target_modules" includes lm_head, which is not supported');
    expect(await fail(engine.importAdapter(withTargets(['q_proj']))))
      .toMatch(/^adapter_model\.safetensors: "base_model\.model\.model\.layers\.0\.self_attn\.v_proj\.lora_A\.weight": v_proj is not in adapter_config\.json's target_modules \(q_proj\)$/);
  });

  it('a refused import leaves the adapter already loaded untouched', async () => {
    expect(await engine.importAdapter(zip)).toMatchObject({ r: 4, alpha: 8, targets: ['q_proj', 'v_proj'] });
    const before = await engine.exportPeft();
    const bad = zip.slice();
    bad[Buffer.from(zip).indexOf(Buffer.from('base_model.model')) + 2000] ^= 0x10;
    expect(await fail(engine.importAdapter(bad))).toMatch(/CRC-32/);
    expect(Buffer.from(await engine.exportPeft()).equals(Buffer.from(before))).toBe(true);
  });
});
