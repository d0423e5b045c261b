// TRL recipe: the YAML parses back (JSON-compatible flow values, PyYAML-safe floats), every key
// is a real field of TRL's `trl sft` dataclasses (fixture from TRL / transformers sources), and
// the values map the TrainConfig.
import { describe, expect, it } from 'vitest';
import fields from './fixtures/trl-sft-fields.json';
import { accelerateConfig, buildTrlRecipe, toPromptCompletionJsonl, toYaml, trlSftConfig, yamlNumber } from '../../../src/export/recipe';
import { DEFAULT_TRAIN_CONFIG, resolveTrainConfig } from '../../../src/train/config';

/**
 * Parse the YAML subset the recipe writes: comment lines, and `key: value` lines at column 0
 * whose value is JSON. Anything else (indentation, block sequences, plain scalars) fails.
 */
function parseFlowYaml(text: string): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [i, line] of text.split('\n').entries()) {
    if (line === '' || line.startsWith('#')) continue;
    const m = /^([A-Za-z_][A-Za-z0-9_]*): (.+)$/.exec(line);
    if (!m) throw new Error(`line ${i + 1} is not "key: <json>": ${line}`);
    if (m[1] in out) throw new Error(`duplicate key ${m[1]}`);
    out[m[1]] = JSON.parse(m[2]);
  }
  return out;
}

// PyYAML's (YAML 1.1) float and int resolvers: a number written otherwise would load as a string.
const PYYAML_FLOAT = /^[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+][0-9]+)?$/;
const PYYAML_INT = /^[-+]?(?:0|[1-9][0-9_]*)$/;
function numbersArePyYamlSafe(text: string): void {
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const value = line.slice(line.indexOf(': ') + 2);
    for (const tok of value.replace(/"(?:[^"\\]|\\.)*"/g, '""').match(/-?[0-9][0-9.eE+-]*/g) ?? [])
      expect(PYYAML_FLOAT.test(tok) || PYYAML_INT.test(tok), `${tok} in ${line}`).toBe(true);
  }
}

const TRL_KEYS = new Set([...fields.SFTConfig, ...fields._BaseConfig, ...fields.TrainingArguments, ...fields.ModelConfig, ...fields.ScriptArguments, ...fields.DatasetMixtureConfig]);
// Values TRL / transformers accept (transformers SchedulerType; SFTConfig packing_strategy and ModelConfig dtype choices).
const SCHEDULERS = ['linear', 'cosine', 'constant', 'constant_with_warmup']; // the SchedulerType values the recipe uses

describe('recipe YAML', () => {
  it('yamlNumber writes floats PyYAML reads as floats and JSON reads back exactly', () => {
    for (const x of [2e-4, 1e-8, 1.5e-7, 0.05, 3e-3, 1e21, -2.5e-10, 0.999, 42, 0, -1]) {
      const s = yamlNumber(x);
      expect(JSON.parse(s)).toBe(x);
      expect(PYYAML_FLOAT.test(s) || PYYAML_INT.test(s), s).toBe(true);
    }
    expect(yamlNumber(1e-8)).toBe('1.0e-8');
    expect(() => yamlNumber(NaN)).toThrow(/cannot write/);
    expect(() => toYaml({ 'bad key': 1 })).toThrow(/plain identifier/);
  });

  it('trl_config.yaml: every key is a TRL sft field; values map the TrainConfig', () => {
    const cfg = resolveTrainConfig({ r: 8, alpha: 16, dropout: 0.1, targets: ['q_proj', 'v_proj'], lr: 1.5e-4, schedule: 'constant', warmupSteps: 5,
      seqLen: 384, batchSize: 2, gradAccum: 8, epochs: 2, maxSteps: 0, seed: 7, weightDecay: 0.01, maxGradNorm: 0.5, eps: 1e-8, evalEvery: 20, checkpointEvery: 40 });
    const files = buildTrlRecipe(cfg, { runId: 'run-1' });
    const text = files['trl_config.yaml'];
    const y = parseFlowYaml(text);
    numbersArePyYamlSafe(text);
    expect(y).toEqual(trlSftConfig(cfg, {}));
    for (const k of Object.keys(y)) expect(TRL_KEYS.has(k), `unknown TRL field ${k}`).toBe(true);
    expect(y).toMatchObject({
      model_name_or_path: 'meta-llama/Llama-3.1-8B-Instruct', dataset_name: 'data', dataset_train_split: 'train', dataset_test_split: 'validation',
      per_device_train_batch_size: 2, gradient_accumulation_steps: 8, learning_rate: 1.5e-4, lr_scheduler_type: 'constant_with_warmup',
      warmup_steps: 5, num_train_epochs: 2, max_steps: -1, max_length: 384, packing: true, completion_only_loss: true, assistant_only_loss: false,
      use_peft: true, lora_r: 8, lora_alpha: 16, lora_dropout: 0.1, lora_target_modules: ['q_proj', 'v_proj'], load_in_4bit: true,
      bnb_4bit_quant_type: 'nf4', seed: 7, data_seed: 7, bf16: true, weight_decay: 0.01, max_grad_norm: 0.5, adam_epsilon: 1e-8,
      eval_strategy: 'steps', eval_steps: 20, save_steps: 40,
    });
    expect(SCHEDULERS).toContain(y.lr_scheduler_type);
    expect(['bfd', 'bfd_split', 'wrapped']).toContain(y.packing_strategy);
    expect(['auto', 'bfloat16', 'float16', 'float32']).toContain(y.dtype);
    expect(text).toMatch(/^# trl sft --config trl_config\.yaml/);
    expect(text).not.toMatch(/chat_template_path/); // Instruct model has the template
  });

  it('maps maxSteps, schedules, no validation, and a base (non-Instruct) model', () => {
    const y = trlSftConfig({ ...DEFAULT_TRAIN_CONFIG, maxSteps: 30, schedule: 'cosine' }, { baseModel: 'meta-llama/Llama-3.1-8B', hasValidation: false });
    expect(y).toMatchObject({ max_steps: 30, lr_scheduler_type: 'cosine', eval_strategy: 'no', chat_template_path: 'meta-llama/Llama-3.1-8B-Instruct' });
    expect('eval_steps' in y).toBe(false);
    expect(trlSftConfig({ ...DEFAULT_TRAIN_CONFIG, schedule: 'constant', warmupSteps: 0 }).lr_scheduler_type).toBe('constant');
    expect(trlSftConfig({ ...DEFAULT_TRAIN_CONFIG, schedule: 'linear' }).lr_scheduler_type).toBe('linear');
    for (const k of Object.keys(y)) expect(TRL_KEYS.has(k), k).toBe(true);
  });

  it('accelerate_config.yaml has the keys of TRL\'s multi_gpu profile', () => {
    const files = buildTrlRecipe(DEFAULT_TRAIN_CONFIG, { gpus: 4 });
    const y = parseFlowYaml(files['accelerate_config.yaml']);
    expect(Object.keys(y).sort()).toEqual([...fields.accelerate_multi_gpu_yaml_keys].sort());
    expect(y).toMatchObject({ distributed_type: 'MULTI_GPU', num_processes: 4, mixed_precision: 'bf16', downcast_bf16: 'no' });
    expect(accelerateConfig(1).distributed_type).toBe('NO');
    expect(() => accelerateConfig(0)).toThrow(/positive integer/);
  });

  it('README gives the commands and the per-GPU accumulation table', () => {
    const md = buildTrlRecipe({ ...DEFAULT_TRAIN_CONFIG, gradAccum: 16, batchSize: 1 }, { runId: 'r9', adapterDir: 'adapter' })['README.md'];
    expect(md).toContain('trl sft --config trl_config.yaml\n');
    expect(md).toContain('trl sft --config trl_config.yaml --accelerate_config accelerate_config.yaml --num_processes 2 --gradient_accumulation_steps 8');
    expect(md).toContain('| 4 | `--num_processes 4 --gradient_accumulation_steps 4` | 1 × 4 × 4 = 16 rows of 512 tokens |');
    expect(md).toContain('pip install "trl[peft]>=0.26" bitsandbytes kernels');
    expect(md).toContain('PeftModel.from_pretrained(model, "adapter", is_trainable=True)');
    expect(md).toContain('Run `r9`');
  });

  it('prompt-completion JSONL splits off the assistant reply', () => {
    const msgs = [{ role: 'system', content: 'S' }, { role: 'user', content: 'প্রশ্ন' }, { role: 'assistant', content: 'উত্তর' }] as const;
    const line = JSON.parse(toPromptCompletionJsonl([{ messages: [...msgs] }]).trim());
    expect(line).toEqual({ prompt: [msgs[0], msgs[1]], completion: [msgs[2]] });
    expect(() => toPromptCompletionJsonl([{ messages: [msgs[0], msgs[1]] }])).toThrow(/example 0: the last message/);
  });
});
