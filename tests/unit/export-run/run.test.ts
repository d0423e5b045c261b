// Run bundle: the zip's files (log, evaluations JSON/CSV, chat + TRL JSONL splits, PEFT adapter,
// recipe); CSV quoting and formula defusing checked with an RFC 4180 reader.
import 'fake-indexeddb/auto';
import { unzipSync } from 'fflate';
import { afterEach, describe, expect, it } from 'vitest';
import { csvCell, evaluationsCsv, exportRunBundle, EVAL_CSV_COLUMNS } from '../../../src/export/run';
import { bytesSource, SafetensorsFile } from '../../../src/model/safetensors';
import { appendMetric, createRun, openStudioDb, saveEvaluation, saveRating, type EvaluationRecord, type StudioDb } from '../../../src/store/db';
import { DEFAULT_TRAIN_CONFIG } from '../../../src/train/config';

let n = 0;
const opened: StudioDb[] = [];
async function freshDb() {
  const db = await openStudioDb(`test-run-${process.pid}-${n++}`);
  opened.push(db);
  return db;
}
afterEach(() => { while (opened.length) opened.pop()!.close(); });

/** RFC 4180 reader (quoted fields, doubled quotes, CRLF or LF rows). */
function readCsv(text: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [], cell = '', q = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (q) {
      if (c === '"' && text[i + 1] === '"') { cell += '"'; i++; }
      else if (c === '"') q = false;
      else cell += c;
    } else if (c === '"' && cell === '') q = true;
    else if (c === ',') { row.push(cell); cell = ''; }
    else if (c === '\r' && text[i + 1] === '\n') { /* row end at \n */ }
    else if (c === '\n') { row.push(cell); rows.push(row); row = []; cell = ''; }
    else cell += c;
  }
  if (cell !== '' || row.length) { row.push(cell); rows.push(row); }
  return rows;
}

const TRICKY = ['=HYPERLINK("http://x","y")', '+1+2', '-3', '@SUM(A1)', 'a, "quoted"\nline2', ' lead', 'আপনি একা নন।'];

describe('csvCell / evaluationsCsv', () => {
  it('quotes and defuses formulas', () => {
    expect(csvCell('plain')).toBe('plain');
    expect(csvCell('=1+1')).toBe("'=1+1");
    expect(csvCell('-2')).toBe("'-2");
    expect(csvCell('@x')).toBe("'@x");
    expect(csvCell('+x')).toBe("'+x");
    expect(csvCell('\tx')).toBe("'\tx");
    expect(csvCell('a,b')).toBe('"a,b"');
    expect(csvCell('say "hi"')).toBe('"say ""hi"""');
    expect(csvCell('=A1,"x"')).toBe('"\'=A1,""x"""');
    expect(csvCell(-1.5)).toBe('-1.5'); // numbers are data, not text
    expect(csvCell(NaN)).toBe('');
    expect(csvCell(null)).toBe('');
    expect(csvCell(true)).toBe('true');
  });

  it('writes one row per sample that reads back to the same text (after the defusing quote)', () => {
    const e: EvaluationRecord = {
      runId: 'r', id: 'e1', createdAt: '2025-01-01T00:00:00Z', split: 'test', step: 30, metrics: { bleu: 5 },
      samples: TRICKY.map((t, i) => ({
        id: `s${i}`, prompt: t, reference: `ref ${i}`, output: t, variant: 'adapter' as const, bleu: i, chrf: 10 + i, rougeL: 0.5,
        heuristics: { bangla: i % 2 === 0, lengthOk: true, endsComplete: false, empathy: true, noAdvice: true },
      })),
    };
    const csv = evaluationsCsv([e, { ...e, id: 'e2', samples: [] }]);
    expect(csv.startsWith('\uFEFF')).toBe(true);
    expect(csv.endsWith('\r\n')).toBe(true);
    const rows = readCsv(csv.slice(1));
    expect(rows[0]).toEqual([...EVAL_CSV_COLUMNS]);
    expect(rows.length).toBe(1 + TRICKY.length);
    rows.slice(1).forEach((r, i) => {
      expect(r.length).toBe(EVAL_CSV_COLUMNS.length);
      const col = (name: string) => r[EVAL_CSV_COLUMNS.indexOf(name as never)];
      const expected = /^[=+\-@]/.test(TRICKY[i]) ? `'${TRICKY[i]}` : TRICKY[i];
      expect(col('prompt')).toBe(expected);
      expect(col('output')).toBe(expected);
      expect([col('evaluation'), col('split'), col('step'), col('id'), col('variant'), col('bleu'), col('chrf'), col('rougeL')])
        .toEqual(['e1', 'test', '30', `s${i}`, 'adapter', String(i), String(10 + i), '0.5']);
      expect(col('bangla')).toBe(i % 2 === 0 ? 'true' : 'false');
      for (const cell of r) expect(/^[=+\-@]/.test(cell), cell).toBe(false);
    });
  });
});

describe('exportRunBundle', () => {
  it('zips log, evaluations, dataset splits, adapter and recipe', async () => {
    const db = await freshDb();
    await createRun(db, { runId: 'run-7', modelName: 'demo', config: { ...DEFAULT_TRAIN_CONFIG, r: 2, alpha: 4, targets: ['q_proj'] } });
    await appendMetric(db, 'run-7', { type: 'step', step: 1, totalSteps: 2, epoch: 0, loss: 2, lr: 1e-4, gradNorm: 1, tokensPerSecond: 5, etaSeconds: 1, gpuMemoryBytes: 0, tokensSeen: 9 }, new Date(1000));
    await saveEvaluation(db, { runId: 'run-7', split: 'test', metrics: { bleu: 3 }, createdAt: new Date(2000).toISOString(),
      samples: [{ id: 'a', prompt: '=cmd', reference: 'r', output: 'o' }] });
    await saveRating(db, 'run-7', { sampleId: 'a', empathy: 4, tone: 4, helpfulness: 4, note: '', variant: 'adapter', blind: true }, new Date(3000));
    const ex = (i: number) => ({ messages: [{ role: 'system' as const, content: 'S' }, { role: 'user' as const, content: `q${i}` }, { role: 'assistant' as const, content: `a${i}` }] });
    const examples = [0, 1, 2, 3, 4].map(ex);
    const adapter = {
      r: 2, alpha: 4, dropout: 0, targets: ['q_proj'],
      layers: [{ q_proj: { A: Float32Array.from({ length: 8 }, (_, i) => i), B: new Float32Array(8).fill(0.5), inF: 4, outF: 4 } }],
    };
    const zip = await exportRunBundle(db, 'run-7', { dataset: { examples, split: { train: [0, 2, 3], val: [1], test: [4] } }, adapter });
    const files = unzipSync(zip);
    const text = (name: string) => new TextDecoder().decode(files[name]);
    expect(Object.keys(files).sort()).toEqual([
      'README.md', 'accelerate_config.yaml', 'adapter/adapter_config.json', 'adapter/adapter_model.safetensors',
      'chat/test.jsonl', 'chat/train.jsonl', 'chat/validation.jsonl', 'data/test.jsonl', 'data/train.jsonl', 'data/validation.jsonl',
      'evaluations.csv', 'evaluations.json', 'log.jsonl', 'trl_config.yaml',
    ]);
    expect(text('log.jsonl').trim().split('\n').map((l) => JSON.parse(l).kind)).toEqual(['run', 'metric', 'evaluation', 'rating']);
    expect(JSON.parse(text('evaluations.json'))[0]).toMatchObject({ split: 'test', metrics: { bleu: 3 }, samples: [{ id: 'a', prompt: '=cmd' }] });
    expect(text('evaluations.csv')).toContain(",'=cmd,");
    const lines = (name: string) => text(name).trim().split('\n').map((l) => JSON.parse(l));
    expect(lines('chat/train.jsonl')).toEqual([ex(0), ex(2), ex(3)]);
    expect(lines('chat/validation.jsonl')).toEqual([ex(1)]);
    expect(lines('data/test.jsonl')).toEqual([{ prompt: ex(4).messages.slice(0, 2), completion: [ex(4).messages[2]] }]);
    const cfg = JSON.parse(text('adapter/adapter_config.json'));
    expect(cfg).toMatchObject({ r: 2, lora_alpha: 4, target_modules: ['q_proj'], base_model_name_or_path: 'meta-llama/Llama-3.1-8B-Instruct' });
    const st = await SafetensorsFile.open(bytesSource(files['adapter/adapter_model.safetensors']));
    expect(Array.from(await st.readF32('base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight'))).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
    expect(text('trl_config.yaml')).toContain('lora_r: 2\n');
    expect(text('trl_config.yaml')).toContain('lora_target_modules: ["q_proj"]\n');
    expect(text('README.md')).toContain('PeftModel.from_pretrained(model, "adapter", is_trainable=True)');
    // deterministic bytes
    expect(await exportRunBundle(db, 'run-7', { dataset: { examples, split: { train: [0, 2, 3], val: [1], test: [4] } }, adapter })).toEqual(zip);
  });

  it('without dataset or adapter: log, evaluations and recipe only; Hub model id becomes the base model', async () => {
    const db = await freshDb();
    await createRun(db, { runId: 'r', modelName: 'unsloth/Meta-Llama-3.1-8B-Instruct', config: { ...DEFAULT_TRAIN_CONFIG, evalEvery: 0 } });
    const files = unzipSync(await exportRunBundle(db, 'r'));
    expect(Object.keys(files).sort()).toEqual(['README.md', 'accelerate_config.yaml', 'evaluations.csv', 'evaluations.json', 'log.jsonl', 'trl_config.yaml']);
    const yaml = new TextDecoder().decode(files['trl_config.yaml']);
    expect(yaml).toContain('model_name_or_path: "unsloth/Meta-Llama-3.1-8B-Instruct"');
    expect(yaml).toContain('eval_strategy: "no"');
    expect(new TextDecoder().decode(files['README.md'])).toContain('This bundle has no dataset');
    expect(new TextDecoder('utf-8', { ignoreBOM: true }).decode(files['evaluations.csv'])).toBe('\uFEFF' + EVAL_CSV_COLUMNS.join(',') + '\r\n');
    await expect(exportRunBundle(db, 'missing')).rejects.toThrow(/does not exist/);
    await expect(exportRunBundle(db, 'r', { dataset: { examples: [], split: { train: [0], val: [], test: [] } } })).rejects.toThrow(/refers to example 0/);
  });
});
