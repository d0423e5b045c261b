// `npm run cli -- train --model demo|DIR --csv FILE --steps N --out DIR [--resume DIR] [--json]`
// Trains with the same engine code as the app (Dawn in Node), writes checkpoints, the PEFT
// adapter (DIR/adapter) and the run log (DIR/log.jsonl). With --json: one JSON object per
// step on stdout and a summary object last.

import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { appendFileSync } from 'node:fs';
import { join } from 'node:path';
import type { CliArgs } from '../args';
import { CliError } from '../args';
import { nodeGpuApi } from '../../gpu/core/node';
import { Gpu } from '../../gpu/core/context';
import { loadLlama3Tokenizer, prepareDataset } from '../../data';
import { openModel } from '../../model/source.node';
import { loadWeights } from '../../model/weights';
import { readLoraWeights } from '../../model/lora';
import { exportPeftFiles } from '../../export/peft';
import { resolveTrainConfig, PRESETS, type TrainConfig } from '../../train/config';
import { loadLatestValid, restoreLora } from '../../train/checkpoint';
import { fileCheckpointStore } from '../../train/checkpoint.node';
import { START, train, type TrainEvent } from '../../train/loop';
import { allocTraining, trainData } from '../../train/session';

function configFromArgs(a: CliArgs): TrainConfig {
  const preset = a.str('preset', 'quick-demo') as keyof typeof PRESETS;
  if (!(preset in PRESETS)) throw new CliError(`--preset must be one of ${Object.keys(PRESETS).join(', ')}`);
  const c: Record<string, unknown> = { ...PRESETS[preset].config };
  const nums = ['r', 'alpha', 'dropout', 'lr', 'warmup-steps', 'seq-len', 'batch-size', 'grad-accum', 'epochs', 'steps', 'eval-every', 'eval-batches', 'checkpoint-every', 'seed', 'weight-decay', 'max-grad-norm'];
  for (const n of nums) if (a.has(n)) c[n === 'steps' ? 'maxSteps' : n.replace(/-(\w)/g, (_, x) => x.toUpperCase())] = a.num(n);
  if (a.has('warmup-steps')) c.warmupSteps = a.num('warmup-steps');
  if (a.has('targets')) c.targets = a.str('targets').split(',');
  if (a.has('schedule')) c.schedule = a.str('schedule');
  if (a.bool('recompute')) c.recompute = true;
  try { return resolveTrainConfig(c as Partial<TrainConfig>); } catch (e) { throw new CliError((e as Error).message); }
}

export async function run(a: CliArgs): Promise<void> {
  const out = a.str('out');
  const json = a.bool('json');
  const resumeDir = a.has('resume') ? a.str('resume') : null;
  await mkdir(out, { recursive: true });
  const store = fileCheckpointStore(resumeDir ?? out);
  const ck = resumeDir ? await loadLatestValid(store, 'cli', (s, why) => process.stderr.write(`skipping checkpoint ${s}: ${why}\n`)) : null;
  if (resumeDir && !ck) throw new CliError(`no valid checkpoint in ${resumeDir}/checkpoints`);
  let cfg = ck ? ck.meta.config : configFromArgs(a);
  if (ck && a.has('steps')) cfg = { ...cfg, maxSteps: a.num('steps') };

  const gpu = await Gpu.create(await nodeGpuApi());
  const model = await openModel(a.str('model', 'demo'));
  const tok = await loadLlama3Tokenizer();
  if (tok.vocabSize > model.config.vocabSize) throw new CliError(`the tokenizer has ${tok.vocabSize} ids but the model's vocabulary is ${model.config.vocabSize}`);
  const csvPath = a.str('csv');
  const csv = await readFile(csvPath).catch(() => { throw new CliError(`cannot read --csv ${csvPath}`); });
  const ds = prepareDataset(new Uint8Array(csv), tok, { seed: cfg.seed, maxTokens: Math.max(16, a.num('max-tokens', cfg.seqLen)) });
  const data = trainData(ds);

  const weights = await loadWeights(gpu, model.config, model.reader, { quant: a.str('quant', 'nf4') === 'w16' ? 'w16' : 'nf4' });
  const st = allocTraining(gpu, weights, cfg);
  if (ck) await restoreLora(gpu, st.lora, ck.file);
  const logPath = join(out, 'log.jsonl');
  if (!ck) await writeFile(logPath, JSON.stringify({ type: 'run', model: model.name, config: cfg, data: ds.report }) + '\n');
  const emit = (e: TrainEvent) => {
    appendFileSync(logPath, JSON.stringify({ ...e, time: new Date().toISOString() }) + '\n');
    if (json) console.log(JSON.stringify(e));
    else if (e.type === 'step') console.log(`step ${e.step}/${e.totalSteps} loss ${e.loss.toFixed(4)} lr ${e.lr.toExponential(2)} |g| ${e.gradNorm.toFixed(3)} ${e.tokensPerSecond.toFixed(0)} tok/s`);
    else if (e.type === 'eval') console.log(`eval at ${e.step}: val loss ${e.valLoss.toFixed(4)} ppl ${e.perplexity.toFixed(2)}`);
  };
  const control = { pause: false, cancel: false };
  process.once('SIGINT', () => { control.pause = true; });
  const pos = await train({ gpu, weights, ...st, store: fileCheckpointStore(out), runId: 'cli' }, cfg, data, control, emit, ck?.meta.position ?? START);
  const host = await readLoraWeights(gpu, st.lora);
  const files = exportPeftFiles(host, { config: model.config, baseModelNameOrPath: model.name });
  await mkdir(join(out, 'adapter'), { recursive: true });
  for (const [n, bytes] of Object.entries(files)) await writeFile(join(out, 'adapter', n), bytes);
  const summary = { type: 'summary', steps: pos.step, epoch: pos.epoch, tokensSeen: pos.tokensSeen, bestValLoss: pos.bestValLoss, adapter: join(out, 'adapter'), log: logPath };
  console.log(JSON.stringify(summary));
}
