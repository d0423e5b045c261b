// Writes the PEFT round-trip fixture: the golden tiny model's adapter, trained 3 AdamW steps by
// this project's engine, exported by this project's PEFT writer, plus this engine's logits for
// the golden batch. tests/golden/peft_roundtrip.py then loads the adapter with
// PeftModel.from_pretrained and compares logits (result.json).
// Run: node scripts/run-ts.mjs tests/golden/export_roundtrip.ts  (software GPU is fine)

import { mkdirSync, writeFileSync } from 'node:fs';
import { nodeGpuApi } from '../../src/gpu/core/node';
import { Gpu } from '../../src/gpu/core/context';
import { exportRoundtrip } from '../helpers/roundtrip';

const gpu = await Gpu.create(await nodeGpuApi());
const { files, logits } = await exportRoundtrip(gpu);
mkdirSync('tests/golden/roundtrip/adapter', { recursive: true });
for (const [n, b] of Object.entries(files)) writeFileSync(`tests/golden/roundtrip/adapter/${n}`, b);
writeFileSync('tests/golden/roundtrip/our_logits.safetensors', logits);
console.log('wrote tests/golden/roundtrip/');
process.exit(0);
