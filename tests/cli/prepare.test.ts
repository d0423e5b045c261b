// `prepare` end to end through the real CLI entry: JSON report on stdout, JSONL files with --out,
// and for bad input a non-zero exit with one line on stderr and no stack trace.
import { describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const SAMPLE = 'public/sample/BengaliEmpatheticConversations.sample.csv';

function cli(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile('node', ['scripts/run-ts.mjs', 'src/cli/main.ts', 'prepare', ...args], { env: { ...process.env, QLORA_DEBUG: '' } }, (err, stdout, stderr) =>
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout, stderr }),
    );
  });
}

function expectOneLineError(r: { code: number; stdout: string; stderr: string }, pattern: RegExp) {
  expect(r.code).not.toBe(0);
  const lines = r.stderr.split('\n').filter((l) => l !== '');
  expect(lines).toHaveLength(1);
  expect(lines[0]).toMatch(/^error: /);
  expect(lines[0]).toMatch(pattern);
  expect(r.stderr).not.toMatch(/\n\s+at /);
  expect(r.stdout).toBe('');
}

describe('cli prepare', () => {
  it('prints the JSON report for the sample CSV', async () => {
    const r = await cli('--csv', SAMPLE, '--seed', '1');
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const report = JSON.parse(r.stdout);
    expect(report).toMatchObject({ rows: 62, kept: 59, train: 53, val: 3, test: 3, seed: 1, maxTokens: 2048 });
    expect(report.dropped).toMatchObject({ duplicate: 2, empty_answer: 1 });
    expect(Object.keys(report.tokens)).toEqual(['min', 'median', 'p95', 'max', 'mean']);
    expect(report.histogram.reduce((a: number, b: { count: number }) => a + b.count, 0)).toBe(59);
  });

  it('with --out writes train/val/test JSONL in chat format and the report', async () => {
    const out = mkdtempSync(join(tmpdir(), 'prepare-'));
    try {
      const r = await cli('--csv', SAMPLE, '--out', out, '--seed', '2', '--split', '80/10/10', '--max-tokens', '4096');
      expect(r.code).toBe(0);
      const report = JSON.parse(r.stdout);
      expect(JSON.parse(readFileSync(join(out, 'report.json'), 'utf8'))).toEqual(report);
      for (const name of ['train', 'val', 'test'] as const) {
        const lines = readFileSync(join(out, `${name}.jsonl`), 'utf8').trimEnd().split('\n');
        expect(lines).toHaveLength(report[name]);
        for (const l of lines) {
          const { messages } = JSON.parse(l);
          expect(messages.map((m: { role: string }) => m.role)).toEqual(['system', 'user', 'assistant']);
          expect(messages[2].content.length).toBeGreaterThan(0);
        }
      }
      expect([report.train, report.val, report.test]).toEqual([47, 6, 6]);
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
  });

  it('maps columns with --col-* flags', async () => {
    const r = await cli('--csv', 'tests/fixtures/data/missing-columns.csv', '--col-question', 'Query', '--col-answer', 'Reply', '--col-title', 'Title');
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ rows: 1, kept: 1, columns: { topic: 'Topic', title: 'Title', question: 'Query', answer: 'Reply' } });
  });

  it('bad files: exit code 1 and one clear line with the row and column', async () => {
    expectOneLineError(await cli('--csv', 'tests/fixtures/data/not-utf8.csv'), /row 3 \(line 4\), column "Answers": bytes that are not valid UTF-8/);
    expectOneLineError(await cli('--csv', 'tests/fixtures/data/unbalanced-quotes.csv'), /row 3 .*column "Questions".*never closed/);
    const r = await cli('--csv', 'tests/fixtures/data/missing-columns.csv');
    expectOneLineError(r, /missing column "Questions" \(question\) and "Answers" \(answer\); the file has: "Topic", "Title", "Query", "Reply"/);
    expect(r.code).toBe(1);
  });

  it('usage errors: exit code 2', async () => {
    const missing = await cli();
    expectOneLineError(missing, /missing --csv/);
    expect(missing.code).toBe(2);
    expectOneLineError(await cli('--csv', 'no/such/file.csv'), /cannot read no\/such\/file\.csv: ENOENT/);
    expectOneLineError(await cli('--csv', SAMPLE, '--seed', 'abc'), /--seed must be a number/);
    expectOneLineError(await cli('--csv', SAMPLE, '--colum-question', 'x'), /unknown flag --colum-question/);
  });
});
