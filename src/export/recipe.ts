// A ready-to-run recipe to continue a browser run at scale with Hugging Face TRL (SFTTrainer,
// QLoRA through bitsandbytes, multi-GPU through accelerate):
//   trl_config.yaml        `trl sft --config trl_config.yaml` (TrlParser: ScriptArguments,
//                          SFTConfig ⊃ TrainingArguments, ModelConfig)
//   accelerate_config.yaml multi-GPU DDP, passed as `--accelerate_config accelerate_config.yaml`
//   README.md              the exact commands and how the browser's settings map to TRL's.
// The YAML is JSON-compatible (every value in JSON syntax, floats always with a '.' and a
// signed exponent so PyYAML's YAML 1.1 resolver reads them as floats, not strings).
// Data: <dataDir>/{train,validation,test}.jsonl in TRL's conversational prompt-completion form
// ({"prompt": [system, user], "completion": [assistant]}) with completion_only_loss, so the loss
// covers the assistant reply and its <|eot_id|> only — the browser's labels (data/format.ts).
// Llama 3.1's chat template has no {% generation %} markers, so assistant_only_loss is off.
// Field names were checked against TRL 1.10 / transformers 5 sources (the names used exist since
// TRL 0.26, which renamed the Hub flash attention kernel to kernels-community/flash-attn2)
// (tests/unit/export-run/fixtures/trl-sft-fields.json).

import type { ChatMessage } from '../data/tokenizer';
import type { TrainConfig } from '../train/config';
import { DEFAULT_BASE_MODEL } from './peft';

export type YamlValue = string | number | boolean | null | YamlValue[] | { [k: string]: YamlValue };

/** A float PyYAML (YAML 1.1) and JSON both read as a number: 1e-8 → 1.0e-8. */
export function yamlNumber(x: number): string {
  if (!Number.isFinite(x)) throw new Error(`YAML: cannot write the number ${x}`);
  if (Number.isInteger(x) && Math.abs(x) < 1e21) return String(x);
  const s = String(x);
  if (!s.includes('e')) return s;
  const [m, e] = s.split('e');
  return `${m.includes('.') ? m : `${m}.0`}e${e.startsWith('-') || e.startsWith('+') ? e : `+${e}`}`;
}

/** One value in JSON syntax (valid YAML flow style). */
export function yamlFlow(v: YamlValue): string {
  if (v === null) return 'null';
  if (typeof v === 'number') return yamlNumber(v);
  if (typeof v === 'string' || typeof v === 'boolean') return JSON.stringify(v);
  if (Array.isArray(v)) return `[${v.map(yamlFlow).join(', ')}]`;
  return `{${Object.entries(v).map(([k, x]) => `${JSON.stringify(k)}: ${yamlFlow(x)}`).join(', ')}}`;
}

/** A block mapping of `key: <flow value>` lines; `comments[key]` goes above its key. */
export function toYaml(obj: Record<string, YamlValue>, header = '', comments: Record<string, string> = {}): string {
  const lines = header ? header.split('\n').map((l) => `# ${l}`.trimEnd()) : [];
  for (const [k, v] of Object.entries(obj)) {
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(k)) throw new Error(`YAML: key "${k}" is not a plain identifier`);
    if (comments[k]) lines.push(...comments[k].split('\n').map((l) => `# ${l}`));
    lines.push(`${k}: ${yamlFlow(v)}`);
  }
  return lines.join('\n') + '\n';
}

export interface TrlRecipeOptions {
  /** HF repo id of the base model (default meta-llama/Llama-3.1-8B-Instruct). */
  baseModel?: string;
  /** Where a tokenizer with the Llama 3.1 chat template lives; default: the base model if it is an Instruct model, else DEFAULT_BASE_MODEL. */
  chatTemplatePath?: string;
  /** Folder (relative to where `trl` runs) with train/validation/test.jsonl. Default "data". */
  dataDir?: string;
  outputDir?: string;
  /** Whether a validation split exists (evaluation every evalEvery steps). Default true. */
  hasValidation?: boolean;
  /** GPUs in accelerate_config.yaml (default 2). */
  gpus?: number;
  runId?: string;
  /** Folder of the browser's PEFT adapter in the bundle, if included (mentioned in README.md). */
  adapterDir?: string;
}

const SCHEDULER: Record<TrainConfig['schedule'], (warmup: number) => string> = {
  cosine: () => 'cosine',
  linear: () => 'linear',
  constant: (w) => (w > 0 ? 'constant_with_warmup' : 'constant'),
};

/** trl_config.yaml as an object (keys in the order they are written). */
export function trlSftConfig(cfg: TrainConfig, opts: TrlRecipeOptions = {}): Record<string, YamlValue> {
  const base = opts.baseModel ?? DEFAULT_BASE_MODEL;
  const evalOn = (opts.hasValidation ?? true) && cfg.evalEvery > 0;
  const c: Record<string, YamlValue> = {
    model_name_or_path: base,
    dataset_name: opts.dataDir ?? 'data',
    dataset_train_split: 'train',
    dataset_test_split: 'validation',
    output_dir: opts.outputDir ?? 'output',
    // Loss on the assistant reply only (prompt-completion data), as in the browser.
    completion_only_loss: true,
    assistant_only_loss: false,
    max_length: cfg.seqLen,
    packing: true,
    packing_strategy: 'bfd',
    per_device_train_batch_size: cfg.batchSize,
    per_device_eval_batch_size: cfg.batchSize,
    gradient_accumulation_steps: cfg.gradAccum,
    num_train_epochs: cfg.epochs,
    max_steps: cfg.maxSteps > 0 ? cfg.maxSteps : -1,
    learning_rate: cfg.lr,
    lr_scheduler_type: SCHEDULER[cfg.schedule](cfg.warmupSteps),
    warmup_steps: cfg.warmupSteps,
    optim: 'adamw_torch',
    weight_decay: cfg.weightDecay,
    adam_beta1: cfg.beta1,
    adam_beta2: cfg.beta2,
    adam_epsilon: cfg.eps,
    max_grad_norm: cfg.maxGradNorm,
    seed: cfg.seed,
    data_seed: cfg.seed,
    bf16: true,
    gradient_checkpointing: true,
    eval_strategy: evalOn ? 'steps' : 'no',
    ...(evalOn ? { eval_steps: cfg.evalEvery } : {}),
    save_strategy: 'steps',
    save_steps: cfg.checkpointEvery,
    save_total_limit: 2,
    logging_steps: 1,
    report_to: 'none',
    // ModelConfig: QLoRA (NF4 base, double quantization, bf16 compute) + the same LoRA.
    use_peft: true,
    lora_r: cfg.r,
    lora_alpha: cfg.alpha,
    lora_dropout: cfg.dropout,
    lora_target_modules: [...cfg.targets],
    lora_task_type: 'CAUSAL_LM',
    load_in_4bit: true,
    bnb_4bit_quant_type: 'nf4',
    use_bnb_nested_quant: true,
    dtype: 'bfloat16',
    attn_implementation: 'kernels-community/flash-attn2',
  };
  const tpl = opts.chatTemplatePath ?? (/instruct/i.test(base) ? undefined : DEFAULT_BASE_MODEL);
  if (tpl) c.chat_template_path = tpl;
  return c;
}

const COMMENTS: Record<string, string> = {
  dataset_name: 'A folder: `datasets` maps train.jsonl / validation.jsonl / test.jsonl to the splits.',
  completion_only_loss: 'Data is {"prompt": [system, user], "completion": [assistant]}: loss on the reply and its <|eot_id|>.',
  packing: 'Whole examples packed into rows of max_length tokens (bfd = best-fit decreasing; needs flash attention).',
  gradient_accumulation_steps: 'Per GPU: with N GPUs the effective batch is N times larger (see README.md).',
  use_peft: 'QLoRA: 4-bit NF4 base weights with double quantization, bf16 compute, LoRA adapters in higher precision.',
  attn_implementation: 'Flash attention from the Hub (`pip install kernels`); without it use --attn_implementation sdpa --packing false.',
};

/** accelerate_config.yaml: DDP on one machine with `gpus` processes (TRL's multi_gpu profile). */
export function accelerateConfig(gpus = 2): Record<string, YamlValue> {
  if (!Number.isInteger(gpus) || gpus < 1) throw new Error(`gpus must be a positive integer, got ${gpus}`);
  return {
    compute_environment: 'LOCAL_MACHINE', debug: false, distributed_type: gpus > 1 ? 'MULTI_GPU' : 'NO', downcast_bf16: 'no',
    gpu_ids: 'all', machine_rank: 0, main_training_function: 'main', mixed_precision: 'bf16', num_machines: 1,
    num_processes: gpus, rdzv_backend: 'static', same_network: true, tpu_env: [], tpu_use_cluster: false, tpu_use_sudo: false, use_cpu: false,
  };
}

/** TRL's conversational prompt-completion JSONL: the last (assistant) message is the completion. */
export function toPromptCompletionJsonl(examples: readonly { messages: readonly ChatMessage[] }[]): string {
  return examples.map((e, i) => {
    const last = e.messages[e.messages.length - 1];
    if (!last || last.role !== 'assistant') throw new Error(`example ${i}: the last message must be the assistant's reply`);
    return JSON.stringify({ prompt: e.messages.slice(0, -1), completion: [last] }) + '\n';
  }).join('');
}

function readme(cfg: TrainConfig, trl: Record<string, YamlValue>, opts: TrlRecipeOptions): string {
  const ga = cfg.gradAccum, bs = cfg.batchSize;
  const dataDir = String(trl.dataset_name);
  const rows = [2, 4, 8].map((n) => {
    const g = Math.max(1, Math.round(ga / n));
    return `| ${n} | \`--num_processes ${n} --gradient_accumulation_steps ${g}\` | ${bs} × ${g} × ${n} = ${bs * g * n} rows of ${cfg.seqLen} tokens |`;
  });
  return `# Continue this run with Hugging Face TRL

${opts.runId ? `Run \`${opts.runId}\`, exported from the browser studio.\n\n` : ''}Files: \`trl_config.yaml\` (SFTTrainer + QLoRA settings), \`accelerate_config.yaml\` (multi-GPU),
\`${dataDir}/train.jsonl\`, \`${dataDir}/validation.jsonl\`, \`${dataDir}/test.jsonl\` (the browser's split, chat
prompt-completion format). Run the commands from the folder that holds these files.

## Setup (Linux, NVIDIA GPU with bf16: Ampere or newer)

\`\`\`bash
python -m venv .venv && . .venv/bin/activate
pip install "trl[peft]>=0.26" bitsandbytes kernels
hf auth login   # ${trl.model_name_or_path} is gated: accept its license on the Hub first
\`\`\`

## Train

One GPU (same effective batch as in the browser: ${bs} × ${ga} rows of ${cfg.seqLen} tokens per optimizer step):

\`\`\`bash
trl sft --config trl_config.yaml
\`\`\`

Several GPUs on one machine (DDP; each GPU holds its own 4-bit copy of the model):

\`\`\`bash
trl sft --config trl_config.yaml --accelerate_config accelerate_config.yaml --num_processes 2 --gradient_accumulation_steps ${Math.max(1, Math.round(ga / 2))}
\`\`\`

\`gradient_accumulation_steps\` is per GPU; divide it by the number of GPUs to keep the browser's effective batch:

| GPUs | flags | rows per optimizer step |
| --- | --- | --- |
${rows.join('\n')}

Without flash attention (\`kernels\` missing or an older GPU) add \`--attn_implementation sdpa --packing false\`
(each row then holds one example, padded). Any field of \`trl_config.yaml\` can be overridden the same way.
The adapter is saved to \`${trl.output_dir}/\` (\`adapter_model.safetensors\`, \`adapter_config.json\`); resume an
interrupted run with \`--resume_from_checkpoint ${trl.output_dir}/checkpoint-N\`.

## How the browser settings map

| browser (TrainConfig) | TRL |
| --- | --- |
| r ${cfg.r}, alpha ${cfg.alpha}, dropout ${cfg.dropout} | lora_r, lora_alpha, lora_dropout |
| targets ${cfg.targets.join(', ')} | lora_target_modules |
| lr ${cfg.lr}, schedule ${cfg.schedule}, warmupSteps ${cfg.warmupSteps} | learning_rate, lr_scheduler_type ${trl.lr_scheduler_type}, warmup_steps |
| seqLen ${cfg.seqLen}, batchSize ${bs} (packed micro-batch of seqLen × batchSize tokens) | max_length, packing (bfd), per_device_train_batch_size |
| gradAccum ${ga} | gradient_accumulation_steps (per GPU) |
| epochs ${cfg.epochs}, maxSteps ${cfg.maxSteps} | num_train_epochs, max_steps (${trl.max_steps}) |
| seed ${cfg.seed} | seed, data_seed |
| weightDecay ${cfg.weightDecay}, maxGradNorm ${cfg.maxGradNorm}, betas ${cfg.beta1}/${cfg.beta2}, eps ${cfg.eps} | weight_decay, max_grad_norm, adam_beta1/2, adam_epsilon (optim adamw_torch) |
| evalEvery ${cfg.evalEvery}, checkpointEvery ${cfg.checkpointEvery} | eval_strategy ${trl.eval_strategy}${trl.eval_steps !== undefined ? `, eval_steps ${trl.eval_steps}` : ''}, save_steps |
| NF4 base weights | load_in_4bit, bnb_4bit_quant_type nf4, use_bnb_nested_quant, dtype bfloat16 |

Differences: the browser's warmup reaches the full learning rate at step ${cfg.warmupSteps} starting from lr/${Math.max(1, cfg.warmupSteps)}
(transformers starts from 0); early stopping (patience ${cfg.earlyStoppingPatience}) is not part of \`trl sft\` — watch
\`eval_loss\` or add \`transformers.EarlyStoppingCallback\` in a script; WebGPU f32 kernels and CUDA bf16 kernels
round differently, so losses match closely, not exactly.
${opts.adapterDir ? `To start from the browser's adapter instead of a fresh LoRA, load \`${opts.adapterDir}/\` with
\`PeftModel.from_pretrained(model, "${opts.adapterDir}", is_trainable=True)\` in a short script and pass that model to \`SFTTrainer\`.
` : ''}`;
}

/** The recipe's files by name. */
export function buildTrlRecipe(cfg: TrainConfig, opts: TrlRecipeOptions = {}): Record<string, string> {
  const trl = trlSftConfig(cfg, opts);
  const gpus = opts.gpus ?? 2;
  return {
    'trl_config.yaml': toYaml(trl, `trl sft --config trl_config.yaml   (TRL >= 0.26; see README.md)${opts.runId ? `\nexported from run ${opts.runId}` : ''}`, COMMENTS),
    'accelerate_config.yaml': toYaml(accelerateConfig(gpus), `accelerate launch config: ${gpus} GPU processes on one machine (DDP, bf16)\ntrl sft --config trl_config.yaml --accelerate_config accelerate_config.yaml`),
    'README.md': readme(cfg, trl, opts),
  };
}
