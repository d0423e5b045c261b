// `npm run cli -- plan --config path/to/config.json --seq 512 --batch 1 --r 16
//   [--targets q,k,v,o,gate,up,down] [--recompute] [--no-double-quant] [--lm-head bf16|nf4]
//   [--ce-rows R] [--budget-gib 11] [--max-binding-mib 2048]`
// Prints the memory plan as JSON: bytes and GiB per part, the total, the largest binding, and,
// with --budget-gib, whether it fits (checkPlan's refusal message when it does not).
// Without --config the built-in Llama-3.1-8B-Instruct config is used.

import { readFile } from 'node:fs/promises';
import { CliError, type CliArgs } from '../args';
import { LLAMA_3_1_8B_CONFIG, parseLlamaConfig } from '../../model/config';
import { checkPlan, planMemory } from '../../model/plan';

const GiB = 1024 ** 3;
const gib = (b: number) => Math.round((b / GiB) * 1000) / 1000;

export async function run(args: CliArgs): Promise<void> {
  const path = args.has('config') ? args.str('config') : null;
  let cfg = LLAMA_3_1_8B_CONFIG;
  if (path) {
    let text: string;
    try {
      text = await readFile(path, 'utf8');
    } catch {
      throw new CliError(`cannot read --config ${path}`);
    }
    cfg = parseLlamaConfig(text, path);
  }
  const lmHead = args.str('lm-head', 'bf16');
  if (lmHead !== 'bf16' && lmHead !== 'nf4') throw new CliError(`--lm-head must be bf16 or nf4, got "${lmHead}"`);
  const plan = planMemory(cfg, {
    seq: args.num('seq', 512),
    batch: args.num('batch', 1),
    r: args.num('r', 16),
    targets: args.str('targets', 'q,k,v,o,gate,up,down').split(','),
    recompute: args.bool('recompute'),
    doubleQuant: !args.bool('no-double-quant'),
    lmHead,
    ceBlockRows: args.has('ce-rows') ? args.num('ce-rows') : undefined,
  });
  const out: Record<string, unknown> = {
    config: path ?? 'built-in meta-llama/Llama-3.1-8B-Instruct',
    options: plan.opts,
    tokens: plan.tokens,
    loraParams: plan.loraParams,
    totalBytes: plan.totalBytes,
    totalGiB: gib(plan.totalBytes),
    parts: Object.fromEntries(Object.entries(plan.parts).map(([k, v]) => [k, { bytes: v, GiB: gib(v) }])),
    largestBinding: { name: plan.largestBindingName, bytes: plan.largestBinding },
    splitByVocab: plan.splittable,
    host: Object.fromEntries(Object.entries(plan.host).map(([k, v]) => [k, { bytes: v, GiB: gib(v) }])),
  };
  if (args.has('budget-gib')) {
    const budget = args.num('budget-gib') * GiB;
    const bind = args.num('max-binding-mib', 2048) * 1024 * 1024;
    const refusal = checkPlan(plan, { maxBufferSize: bind, maxStorageBufferBindingSize: bind }, budget);
    out.budgetGiB = args.num('budget-gib');
    out.fits = refusal === null;
    if (refusal) out.refusal = refusal;
  }
  console.log(JSON.stringify(out, null, 2));
}
