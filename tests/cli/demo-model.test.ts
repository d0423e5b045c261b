import { mkdtempSync, readFileSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it, vi } from 'vitest';
import { parseArgs } from '../../src/cli/args';
import { run } from '../../src/cli/commands/demo-model';
import { parseLlamaConfig } from '../../src/model/config';
import { openSafetensorsPath } from '../../src/model/safetensors.node';

async function cli(argv: string[]): Promise<Record<string, any>> {
  const log = vi.spyOn(console, 'log').mockImplementation(() => {});
  try {
    await run(parseArgs(argv));
    return JSON.parse(log.mock.calls.map((c) => c.join(' ')).join('\n'));
  } finally {
    log.mockRestore();
  }
}

describe('cli demo-model', () => {
  it('writes an HF folder; the same seed gives identical bytes', async () => {
    const a = mkdtempSync(join(tmpdir(), 'demo-a-')), b = mkdtempSync(join(tmpdir(), 'demo-b-'));
    const out = await cli(['--out', a, '--seed', '5']);
    await cli(['--out', b, '--seed', '5']);
    expect(readdirSync(a).sort()).toEqual(['config.json', 'generation_config.json', 'model.safetensors', 'tokenizer.json', 'tokenizer_config.json']);
    for (const f of readdirSync(a)) expect(readFileSync(join(b, f)).equals(readFileSync(join(a, f))), f).toBe(true);
    expect(out.config.vocab_size).toBe(128256);
    const cfg = parseLlamaConfig(readFileSync(join(a, 'config.json'), 'utf8'));
    const st = await openSafetensorsPath(join(a, 'model.safetensors'));
    expect(st.info('model.embed_tokens.weight').shape).toEqual([cfg.vocabSize, cfg.hiddenSize]);
    const tok = JSON.parse(readFileSync(join(a, 'tokenizer.json'), 'utf8'));
    expect(tok.added_tokens.some((t: { content: string }) => t.content === '<|eot_id|>')).toBe(true);
  });

  it('refuses a bad seed and a missing --out', async () => {
    await expect(run(parseArgs(['--out', '/tmp/x', '--seed', '-3']))).rejects.toThrow(/--seed must be an integer/);
    await expect(run(parseArgs([]))).rejects.toThrow(/missing --out/);
  });
});
