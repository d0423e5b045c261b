// PEFT interop proof, checked in CI: tests/golden/peft_roundtrip.py loaded the adapter this
// project exported (trained 3 AdamW steps by our engine) with peft's PeftModel.from_pretrained
// and compared its logits with ours; result.json records the max difference. Here: that result
// exists and is small, and the committed adapter is byte for byte what the exporter writes now
// (so the proof still covers today's code).

import { existsSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { testGpu } from '../helpers/gpu';
import { exportRoundtrip } from '../helpers/roundtrip';
import { expectClose } from '../helpers/compare';
import { bytesSource, SafetensorsFile } from '../../src/model/safetensors';

const DIR = 'tests/golden/roundtrip';

describe('PEFT round trip (Python peft loads our adapter)', () => {
  it('peft reproduces our logits', () => {
    expect(existsSync(`${DIR}/result.json`)).toBe(true);
    const r = JSON.parse(readFileSync(`${DIR}/result.json`, 'utf8'));
    expect(r.max_rel_diff).toBeLessThan(1e-4);
    expect(r.adapter_config.peft_type).toBe('LORA');
  });

  it('the committed adapter is what the exporter and engine write today', async () => {
    // Same config bytes and tensor names; weights within 1e-4 as in the golden tests (kernel changes may move
    // the last bits of 3 AdamW steps, which the logits comparison above tolerates anyway).
    const { files } = await exportRoundtrip(await testGpu());
    expect(Buffer.from(files['adapter_config.json']).equals(readFileSync(`${DIR}/adapter/adapter_config.json`))).toBe(true);
    const now = await SafetensorsFile.open(bytesSource(files['adapter_model.safetensors']));
    const then = await SafetensorsFile.open(bytesSource(new Uint8Array(readFileSync(`${DIR}/adapter/adapter_model.safetensors`))));
    expect(now.names().sort()).toEqual(then.names().sort());
    for (const n of then.names()) expectClose(await now.readF32(n), await then.readF32(n), 1e-4, n);
  });
});
