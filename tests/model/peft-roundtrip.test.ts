// PEFT interop proof, checked in CI: tests/golden/peft_roundtrip.py loaded the adapter this
// project exported (trained 3 AdamW steps by our engine) with peft's PeftModel.from_pretrained
// and compared its logits with ours; result.json records the max difference. Here: that result
// exists and is small, and the committed adapter is byte for byte what the exporter writes now
// (so the proof still covers today's code).

import { existsSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { testGpu } from '../helpers/gpu';
import { exportRoundtrip } from '../helpers/roundtrip';

const DIR = 'tests/golden/roundtrip';

describe('PEFT round trip (Python peft loads our adapter)', () => {
  it('peft reproduces our logits', () => {
    expect(existsSync(`${DIR}/result.json`)).toBe(true);
    const r = JSON.parse(readFileSync(`${DIR}/result.json`, 'utf8'));
    expect(r.max_rel_diff).toBeLessThan(1e-4);
    expect(r.adapter_config.peft_type).toBe('LORA');
  });

  it('the committed adapter is exactly what the exporter writes today', async () => {
    const { files } = await exportRoundtrip(await testGpu());
    for (const name of ['adapter_config.json', 'adapter_model.safetensors'])
      expect(Buffer.from(files[name]).equals(readFileSync(`${DIR}/adapter/${name}`))).toBe(true);
  });
});
