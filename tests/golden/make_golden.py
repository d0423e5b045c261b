"""Golden files for the model tests: a tiny random Llama 3.1 (real config fields: llama3 rope
scaling, GQA 4:1, untied embeddings) with a PEFT LoRA (r=8, alpha=16, dropout 0, all seven
target modules, non-zero A and B), run by Hugging Face transformers + peft in float64.

Vocabulary: 512 ids (small on purpose, keeps fixtures tiny; no special tokens are involved).
All base weights are rounded to bfloat16-representable values and stored as F32, so the
project's bf16 "unquantized" path holds them exactly.

Writes to the folder given as argv[1] (default ./tiny):
  config.json, model.safetensors            the base model (HF layout)
  adapter/                                  PEFT save_pretrained output (adapter import test)
  golden.safetensors                        input_ids/labels per sequence, logits, every LoRA
                                            gradient, LoRA weights after 3 AdamW steps
  golden.json                               losses, AdamW settings, greedy generations, versions

Run on a machine with torch, transformers, peft (CPU is enough):  python3 make_golden.py tiny
"""
import json, os, sys
import torch
import transformers, peft
from transformers import LlamaConfig, LlamaForCausalLM
from peft import LoraConfig, get_peft_model
from safetensors.torch import save_file

out = sys.argv[1] if len(sys.argv) > 1 else "tiny"
os.makedirs(out, exist_ok=True)
torch.manual_seed(1234)

cfg = LlamaConfig(
    vocab_size=512, hidden_size=64, intermediate_size=172, num_hidden_layers=2,
    num_attention_heads=8, num_key_value_heads=2, head_dim=8, hidden_act="silu",
    max_position_embeddings=131072, rms_norm_eps=1e-5, rope_theta=500000.0,
    rope_scaling={"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0,
                  "high_freq_factor": 4.0, "original_max_position_embeddings": 8192},
    tie_word_embeddings=False, attention_bias=False, mlp_bias=False,
    bos_token_id=1, eos_token_id=2, initializer_range=0.02, torch_dtype="float32",
)
model = LlamaForCausalLM(cfg)
with torch.no_grad():
    for name, p in model.named_parameters():
        if "norm" in name:
            p.copy_(1.0 + 0.1 * torch.randn_like(p))  # non-trivial norm weights
        elif "lm_head" in name:
            p.copy_(0.3 * torch.randn_like(p))  # peaky logits: no near-ties in greedy decoding
        else:
            p.copy_(0.08 * torch.randn_like(p))
        p.copy_(p.to(torch.bfloat16).to(torch.float32))
model.save_pretrained(out, safe_serialization=True)

lcfg = LoraConfig(r=8, lora_alpha=16, lora_dropout=0.0, bias="none", task_type="CAUSAL_LM",
                  target_modules=["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"])
pm = get_peft_model(model, lcfg)
with torch.no_grad():
    for name, p in pm.named_parameters():
        if "lora_A" in name or "lora_B" in name:
            p.copy_(0.1 * torch.randn_like(p))
pm.save_pretrained(os.path.join(out, "adapter"))
pm = pm.double()

def lora_params():
    return {n.replace(".default", ""): p for n, p in pm.named_parameters() if "lora_" in n}

# Two sequences of different lengths, right-padded; labels -100 on prompt tokens and padding.
lens, prompts = [11, 7], [5, 3]
T = max(lens)
ids = torch.zeros(2, T, dtype=torch.long)
labels = torch.full((2, T), -100, dtype=torch.long)
mask = torch.zeros(2, T, dtype=torch.long)
for b, (L, P) in enumerate(zip(lens, prompts)):
    seq = torch.randint(3, cfg.vocab_size, (L,))
    ids[b, :L] = seq
    labels[b, P:L] = seq[P:]
    mask[b, :L] = 1

def forward():
    return pm(input_ids=ids, attention_mask=mask, labels=labels)

res = forward()
res.loss.backward()
tensors = {}
for b, L in enumerate(lens):
    tensors[f"input_ids.{b}"] = ids[b, :L].to(torch.int32).contiguous()
    tensors[f"labels.{b}"] = labels[b, :L].to(torch.int32).contiguous()
    tensors[f"logits.{b}"] = res.logits[b, :L].float().contiguous()
for n, p in lora_params().items():
    tensors[f"grad.{n}"] = p.grad.float().contiguous()

# A few AdamW steps (torch semantics), clipping the global grad norm at 1.0, same batch.
adam = dict(lr=1e-2, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.01, max_grad_norm=1.0, steps=3)
opt = torch.optim.AdamW([p for p in lora_params().values()], lr=adam["lr"], betas=adam["betas"],
                        eps=adam["eps"], weight_decay=adam["weight_decay"])
step_losses, grad_norms = [], []
opt.zero_grad()
for step in range(adam["steps"]):
    opt.zero_grad()
    r = forward()
    r.loss.backward()
    gn = torch.nn.utils.clip_grad_norm_([p for p in lora_params().values()], adam["max_grad_norm"])
    opt.step()
    step_losses.append(r.loss.item())
    grad_norms.append(gn.item())
for n, p in lora_params().items():
    tensors[f"adamw.{n}"] = p.detach().float().contiguous()
save_file(tensors, os.path.join(out, "golden.safetensors"))

# Greedy generation with the (initial) adapter: reload so AdamW steps do not leak in.
from peft import PeftModel
base = LlamaForCausalLM.from_pretrained(out, torch_dtype=torch.float64)
gm = PeftModel.from_pretrained(base, os.path.join(out, "adapter")).double().eval()
gen = []
g = torch.Generator().manual_seed(99)
for L in [4, 6, 9]:
    prompt = torch.randint(3, cfg.vocab_size, (1, L), generator=g)
    o = gm.generate(prompt, attention_mask=torch.ones_like(prompt), max_new_tokens=24, do_sample=False,
                    eos_token_id=None, pad_token_id=0, output_scores=True, return_dict_in_generate=True)
    margins = [float((s[0].topk(2).values[0] - s[0].topk(2).values[1]).item()) for s in o.scores]
    gen.append({"prompt": prompt[0].tolist(), "output": o.sequences[0, L:].tolist(),
                "min_top2_margin": min(margins)})

json.dump({
    "loss": res.loss.item(),
    "lengths": lens, "prompt_lengths": prompts,
    "lora": {"r": 8, "alpha": 16, "dropout": 0.0},
    "adamw": adam, "adamw_losses": step_losses, "adamw_grad_norms": grad_norms,
    "generate": gen,
    "versions": {"torch": torch.__version__, "transformers": transformers.__version__, "peft": peft.__version__},
}, open(os.path.join(out, "golden.json"), "w"), indent=1)
print(json.dumps({"loss": res.loss.item(), "adamw_losses": step_losses,
                  "margins": [x["min_top2_margin"] for x in gen]}))
