// `npm run cli -- train` on the demo model and the sample CSV (software GPU): JSON progress
// lines, a validation loss that falls from the untrained baseline, a PEFT adapter and a log on
// disk; then `--resume` continues from the checkpoint.

import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { unzipSync } from 'fflate';
import { parseGguf } from '../../src/export/gguf';

const CSV = 'public/sample/BengaliEmpatheticConversations.sample.csv';

function cli(args: string[]): string {
  return execFileSync('bash', ['scripts/cli.sh', ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

describe('cli train', () => {
  it('trains the demo model, the loss goes down, and it resumes', () => {
    const out = mkdtempSync(join(tmpdir(), 'train-'));
    const lines = cli(['train', '--model', 'demo', '--csv', CSV, '--steps', '4', '--eval-every', '4', '--out', out, '--json'])
      .trim().split('\n').map((l) => JSON.parse(l));
    const steps = lines.filter((l) => l.type === 'step');
    expect(steps.map((s) => s.step)).toEqual([1, 2, 3, 4]);
    for (const s of steps) {
      expect(Number.isFinite(s.loss)).toBe(true);
      expect(s.lr).toBeGreaterThan(0);
      expect(s.tokensPerSecond).toBeGreaterThan(0);
    }
    const evals = lines.filter((l) => l.type === 'eval');
    expect(evals.map((e) => e.step)).toEqual([0, 4]);
    expect(evals[1].valLoss).toBeLessThan(evals[0].valLoss);
    const summary = lines.at(-1);
    expect(summary.type).toBe('summary');
    expect(existsSync(join(out, 'adapter', 'adapter_model.safetensors'))).toBe(true);
    expect(JSON.parse(readFileSync(join(out, 'adapter', 'adapter_config.json'), 'utf8')).r).toBe(16);
    expect(readFileSync(join(out, 'log.jsonl'), 'utf8').trim().split('\n').length).toBeGreaterThan(5);

    // export --run: the run's adapter as GGUF (parsed back) and as a PEFT zip
    cli(['export', '--run', out, '--format', 'gguf', '--out', join(out, 'a.gguf')]);
    const gguf = parseGguf(new Uint8Array(readFileSync(join(out, 'a.gguf'))));
    expect(gguf.kv.get('general.type')?.value).toBe('adapter');
    expect(gguf.tensors.some((t) => t.name === 'blk.0.attn_q.weight.lora_a')).toBe(true);
    cli(['export', '--run', out, '--format', 'zip', '--out', join(out, 'a.zip')]);
    expect(Object.keys(unzipSync(new Uint8Array(readFileSync(join(out, 'a.zip')))))).toContain('adapter_model.safetensors');

    const out2 = mkdtempSync(join(tmpdir(), 'train-'));
    const more = cli(['train', '--resume', out, '--steps', '5', '--csv', CSV, '--out', out2, '--json'])
      .trim().split('\n').map((l) => JSON.parse(l));
    expect(more.filter((l) => l.type === 'step').map((s) => s.step)).toEqual([5]);
  });

  it('bad input: one clear line on stderr, non-zero exit', () => {
    let err = '';
    try { cli(['train', '--model', 'demo', '--csv', 'nope.csv', '--out', mkdtempSync(join(tmpdir(), 'x-'))]); } catch (e) { err = String((e as { stderr: string }).stderr); }
    expect(err.trim().split('\n').filter((l) => l.startsWith('error:'))).toHaveLength(1);
    expect(err).toMatch(/nope\.csv/);
    expect(err).not.toMatch(/\n\s+at /);
  });
});
