import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { parseArgs } from '../../src/cli/args';
import { run } from '../../src/cli/commands/plan';

const fixture = new URL('../fixtures/llama-3.1-8b/config.json', import.meta.url).pathname;

async function cli(argv: string[]): Promise<Record<string, any>> {
  const log = vi.spyOn(console, 'log').mockImplementation(() => {});
  try {
    await run(parseArgs(argv));
    return JSON.parse(log.mock.calls.map((c) => c.join(' ')).join('\n'));
  } finally {
    log.mockRestore();
  }
}

describe('cli plan', () => {
  afterEach(() => vi.restoreAllMocks());

  it('prints totalBytes, bytes and GiB per part for the real 8B config', async () => {
    const out = await cli(['--config', fixture, '--seq', '512', '--batch', '1', '--r', '16', '--targets', 'q,k,v,o,gate,up,down', '--budget-gib', '11']);
    expect(out.config).toBe(fixture);
    expect(out.options.targets).toEqual(['q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj']);
    expect(out.totalBytes).toBe(Object.values(out.parts as Record<string, { bytes: number }>).reduce((a, p) => a + p.bytes, 0));
    expect(out.totalGiB).toBeCloseTo(out.totalBytes / 1024 ** 3, 2);
    expect(out.parts['weights.nf4.packed'].GiB).toBeCloseTo(3.25, 2);
    expect(out.parts['activations.saved'].bytes).toBeGreaterThan(0);
    expect(out.fits).toBe(true);
  });

  it('--recompute, fewer targets and a refusal', async () => {
    const r = await cli(['--config', fixture, '--recompute', '--targets', 'q,v']);
    expect(r.parts['activations.recompute_layer']).toBeDefined();
    expect(r.options.targets).toEqual(['q_proj', 'v_proj']);
    const big = await cli(['--config', fixture, '--seq', '8192', '--budget-gib', '11']);
    expect(big.fits).toBe(false);
    expect(big.refusal).toMatch(/budget is 11\.00 GiB.*--recompute/);
  });

  it('reports a bad config by file and field', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'plan-'));
    const path = join(dir, 'config.json');
    writeFileSync(path, JSON.stringify({ model_type: 'gpt2' }));
    await expect(run(parseArgs(['--config', path]))).rejects.toThrow(/config\.json: "model_type" is "gpt2"/);
    await expect(run(parseArgs(['--config', join(dir, 'missing.json')]))).rejects.toThrow(/cannot read --config/);
    await expect(run(parseArgs(['--config', fixture, '--lm-head', 'fp8']))).rejects.toThrow(/--lm-head must be bf16 or nf4/);
  });
});
