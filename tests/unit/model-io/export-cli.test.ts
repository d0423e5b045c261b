import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it, vi } from 'vitest';
import { parseArgs } from '../../../src/cli/args';
import { run } from '../../../src/cli/commands/export';
import { DEMO_CONFIG } from '../../../src/model/demo';
import { exportPeftFiles, importPeft } from '../../../src/export/peft';
import { parseGguf } from '../../../src/export/gguf';
import { randomLora } from './lora-fixture';

describe('cli export', () => {
  it('converts a PEFT folder to a zip, a folder and a GGUF, validating against the config', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'export-'));
    const w = randomLora(DEMO_CONFIG, 4, ['q', 'v', 'down'], 3);
    mkdirSync(join(dir, 'in'));
    for (const [n, b] of Object.entries(exportPeftFiles(w))) writeFileSync(join(dir, 'in', n), b);
    const log = vi.spyOn(console, 'log').mockImplementation(() => {});
    try {
      await run(parseArgs(['--adapter', join(dir, 'in'), '--demo', '--out', join(dir, 'a.zip')]));
      await run(parseArgs(['--adapter', join(dir, 'a.zip'), '--demo', '--out', join(dir, 'a.gguf'), '--name', 'x']));
      await run(parseArgs(['--adapter', join(dir, 'a.zip'), '--demo', '--out', join(dir, 'folder')]));
      expect(JSON.parse(log.mock.calls[0][0]).format).toBe('zip');
    } finally {
      log.mockRestore();
    }
    expect(await importPeft(new Uint8Array(readFileSync(join(dir, 'a.zip'))), DEMO_CONFIG)).toEqual(w);
    expect(parseGguf(new Uint8Array(readFileSync(join(dir, 'a.gguf')))).tensors.length).toBe(2 * 3 * 2);
    expect(readFileSync(join(dir, 'folder', 'adapter_model.safetensors')).equals(readFileSync(join(dir, 'in', 'adapter_model.safetensors')))).toBe(true);
    // against the 8B config (the default) the demo adapter's shapes are refused
    await expect(run(parseArgs(['--adapter', join(dir, 'in'), '--out', join(dir, 'b.gguf')]))).rejects.toThrow(/has shape \[4,\d+\], expected \[4,(4096|14336)\]/);
    await expect(run(parseArgs(['--adapter', join(dir, 'nope'), '--out', join(dir, 'b.gguf')]))).rejects.toThrow(/does not exist/);
    await expect(run(parseArgs(['--adapter', join(dir, 'in'), '--out', join(dir, 'b'), '--format', 'onnx']))).rejects.toThrow(/--format must be zip, peft or gguf/);
  });
});
