// `npm run cli -- generate` and `npm run cli -- eval` on the demo model (software GPU), with and
// without a PEFT adapter written to a temp folder.

import { execFileSync } from 'node:child_process';
import { mkdtempSync, mkdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { DEMO_CONFIG } from '../../src/model/demo';
import { exportPeftFiles, type LoraHostWeights } from '../../src/export/peft';
import { linearShapes } from '../../src/model/config';
import { Rng } from '../../src/util/rng';

const CSV = 'public/sample/BengaliEmpatheticConversations.sample.csv';

function run(args: string[]): { stdout: string; stderr: string } {
  const r = { stdout: '', stderr: '' };
  try {
    r.stdout = execFileSync('bash', ['scripts/cli.sh', ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (e) {
    const x = e as { stdout: string; stderr: string; status: number };
    throw new Error(`exit ${x.status}: ${x.stderr}`);
  }
  return r;
}

function randomAdapter(): string {
  const rng = new Rng(3);
  const r = 4, shapes = linearShapes(DEMO_CONFIG);
  const layers: LoraHostWeights['layers'] = [];
  for (let l = 0; l < DEMO_CONFIG.numHiddenLayers; l++) {
    const mods: LoraHostWeights['layers'][number] = {};
    for (const m of ['q_proj', 'v_proj'] as const) {
      const [outF, inF] = shapes[m];
      mods[m] = { A: rng.floats(r * inF, -0.5, 0.5), B: rng.floats(outF * r, -0.5, 0.5), inF, outF };
    }
    layers.push(mods);
  }
  const files = exportPeftFiles({ r, alpha: 8, dropout: 0, targets: ['q_proj', 'v_proj'], layers }, { config: DEMO_CONFIG });
  const dir = mkdtempSync(join(tmpdir(), 'adapter-'));
  mkdirSync(dir, { recursive: true });
  for (const [n, b] of Object.entries(files)) writeFileSync(join(dir, n), b);
  return dir;
}

describe('cli generate / eval', () => {
  it('generate streams an answer; the adapter changes it', () => {
    const base = run(['generate', '--model', 'demo', '--prompt', 'আমি খুব একা বোধ করি', '--max-new-tokens', '6']).stdout;
    const adapter = randomAdapter();
    const tuned = run(['generate', '--model', 'demo', '--adapter', adapter, '--prompt', 'আমি খুব একা বোধ করি', '--max-new-tokens', '6']).stdout;
    expect(base.length).toBeGreaterThan(0);
    expect(tuned).not.toEqual(base);
  });

  it('eval prints perplexity and metrics with signatures', () => {
    const out = JSON.parse(run(['eval', '--model', 'demo', '--csv', CSV, '--split', 'test', '--samples', '1', '--max-new-tokens', '4']).stdout);
    expect(out.perplexity).toBeGreaterThan(1);
    expect(out.tokens).toBeGreaterThan(0);
    expect(typeof out.bleu).toBe('number');
    expect(typeof out.chrf).toBe('number');
    expect(out.rougeL).toHaveProperty('f');
    expect(out.signatures.bleu).toMatch(/tok:13a/);
    expect(out.samples).toHaveLength(1);
  });
});
