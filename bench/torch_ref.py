"""PyTorch reference for bench/run.ts on the same GPU: one LoRA training step of a random-init
Llama-3.1-8B (the real config) with transformers + peft, r=16, alpha=32, dropout 0.05 on all
seven projections, seq 512 x batch 1 and 4, AdamW (lr 2e-4) with grad-norm clipping 1.0, no
gradient checkpointing; in bf16 and in fp32 with TF32 disabled. Plus greedy decode (KV cache,
64 new tokens after a 128-token prompt, bf16, adapter on). Prints JSON (and writes
$OUT/torch_ref.json when OUT is set).

The base weights are bf16 / fp32 here, NOT NF4: this machine has no bitsandbytes, so this is
LoRA on a 16/32-bit base, the upper bound a QLoRA run in PyTorch would approach.

Usage: python3 bench/torch_ref.py [--steps N] [--warmup N] [--skip-fp32] [--tiny]
"""
import argparse, gc, json, os, sys, time, traceback

import torch
import transformers, peft
from transformers import LlamaConfig, LlamaForCausalLM
from peft import LoraConfig, get_peft_model

ap = argparse.ArgumentParser()
ap.add_argument("--steps", type=int, default=5)
ap.add_argument("--warmup", type=int, default=2)
ap.add_argument("--seq", type=int, default=512)
ap.add_argument("--batches", default="1,4")
ap.add_argument("--prompt", type=int, default=128)
ap.add_argument("--new-tokens", type=int, default=64)
ap.add_argument("--skip-fp32", action="store_true")
ap.add_argument("--tiny", action="store_true", help="small config, to check the script")
args = ap.parse_args()

TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
REAL = dict(hidden_size=4096, intermediate_size=14336, num_hidden_layers=32, num_attention_heads=32,
            num_key_value_heads=8, vocab_size=128256)
TINY = dict(hidden_size=256, intermediate_size=512, num_hidden_layers=2, num_attention_heads=4,
            num_key_value_heads=2, vocab_size=1000)


def config():
    dims = TINY if args.tiny else REAL
    return LlamaConfig(
        **dims, hidden_act="silu", max_position_embeddings=131072, rms_norm_eps=1e-5, rope_theta=500000.0,
        rope_scaling={"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
                      "original_max_position_embeddings": 8192},
        tie_word_embeddings=False, attention_bias=False, mlp_bias=False, bos_token_id=128000 if not args.tiny else 1,
        eos_token_id=128009 if not args.tiny else 2, initializer_range=0.02, use_cache=False,
    )


def build(dtype):
    torch.manual_seed(0)
    prev = torch.get_default_dtype()
    torch.set_default_dtype(dtype)
    try:
        with torch.device("cuda"):
            model = LlamaForCausalLM(config())
    finally:
        torch.set_default_dtype(prev)
    model = model.to(dtype)
    lcfg = LoraConfig(r=16, lora_alpha=32, lora_dropout=0.05, bias="none", task_type="CAUSAL_LM", target_modules=TARGETS)
    pm = get_peft_model(model, lcfg)
    trainable = [p for p in pm.parameters() if p.requires_grad]
    return pm, trainable


def sync():
    torch.cuda.synchronize()


def train(pm, params, batch, dtype_name):
    seq = args.seq
    V = pm.config.vocab_size
    g = torch.Generator(device="cuda").manual_seed(batch)
    ids = torch.randint(0, V, (batch, seq), device="cuda", generator=g)
    pm.train()
    pm.config.use_cache = False
    opt = torch.optim.AdamW(params, lr=2e-4, weight_decay=0.0)
    torch.cuda.reset_peak_memory_stats()

    def step():
        out = pm(input_ids=ids, labels=ids)
        out.loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)
        return out.loss

    for _ in range(args.warmup):
        step()
    sync()
    times = []
    loss = None
    for _ in range(args.steps):
        t0 = time.perf_counter()
        loss = step()
        sync()
        times.append(time.perf_counter() - t0)
    ms = 1000 * sum(times) / len(times)
    tokens = batch * seq
    res = dict(dtype=dtype_name, batch=batch, seq=seq, tokens=tokens, ms_per_step=ms, tokens_per_s=tokens / (ms / 1000),
               step_ms=[1000 * t for t in times], loss=float(loss), peak_mem_bytes=torch.cuda.max_memory_allocated(),
               peak_mem_reserved_bytes=torch.cuda.max_memory_reserved())
    del opt
    for p in params:
        p.grad = None
    return res


@torch.no_grad()
def decode(pm):
    pm.eval()
    pm.config.use_cache = True
    V = pm.config.vocab_size
    g = torch.Generator(device="cuda").manual_seed(7)
    prompt = torch.randint(0, V, (1, args.prompt), device="cuda", generator=g)
    mask = torch.ones_like(prompt)

    def gen(n):
        sync()
        t0 = time.perf_counter()
        out = pm.generate(input_ids=prompt, attention_mask=mask, max_new_tokens=n, min_new_tokens=n, do_sample=False,
                          use_cache=True, pad_token_id=0)
        sync()
        return time.perf_counter() - t0, out.shape[1] - prompt.shape[1]

    gen(8)  # warm-up
    t1, n1 = gen(1)  # prefill + first token
    tn, nn = gen(args.new_tokens)
    return dict(dtype="bf16", adapter="on (unmerged)", prompt=args.prompt, new_tokens=nn, prefill_ms=1000 * t1,
                decode_tokens_per_s=(nn - n1) / (tn - t1), ms_per_token=1000 * (tn - t1) / (nn - n1), total_s=tn)


result = dict(
    device=torch.cuda.get_device_name(0), versions=dict(torch=torch.__version__, transformers=transformers.__version__, peft=peft.__version__),
    note="base weights bf16/fp32 (no bitsandbytes on this machine: not NF4); LoRA r=16 alpha=32 dropout=0.05 on all seven modules; "
         "adapter weights as peft creates them (fp32 for a bf16 base); sdpa attention; no gradient checkpointing",
    train=[], decode=None, errors=[],
)
batches = [int(b) for b in args.batches.split(",")]


def attempt(what, fn):
    try:
        return fn()
    except Exception as e:  # OOM on the smaller GPU: record and go on
        msg = f"{what}: {type(e).__name__}: {e}"
        print(msg, file=sys.stderr)
        traceback.print_exc()
        result["errors"].append(msg[:2000])
        return None


t_start = time.perf_counter()
# bf16 (TF32 irrelevant for bf16 matmuls)
pm, params = build(torch.bfloat16)
result["lora_param_dtype_bf16"] = str(params[0].dtype)
result["trainable_params"] = sum(p.numel() for p in params)
for b in batches:
    r = attempt(f"train bf16 batch {b}", lambda: train(pm, params, b, "bf16"))
    if r:
        result["train"].append(r)
        print(json.dumps(r), flush=True)
result["decode"] = attempt("decode bf16", lambda: decode(pm))
print(json.dumps(result["decode"]), flush=True)
del pm, params
gc.collect()
torch.cuda.empty_cache()

if not args.skip_fp32:
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    torch.set_float32_matmul_precision("highest")
    pm = attempt("build fp32", lambda: build(torch.float32))
    if pm:
        pm, params = pm
        for b in batches:
            r = attempt(f"train fp32 batch {b}", lambda: train(pm, params, b, "fp32-noTF32"))
            if r:
                result["train"].append(r)
                print(json.dumps(r), flush=True)
        del pm, params
        gc.collect()
        torch.cuda.empty_cache()
result["tf32_after_fp32"] = dict(matmul=torch.backends.cuda.matmul.allow_tf32, cudnn=torch.backends.cudnn.allow_tf32)
result["seconds"] = time.perf_counter() - t_start

text = json.dumps(result, indent=1)
print("TORCH_REF_JSON " + json.dumps(result))
if os.environ.get("OUT"):
    with open(os.path.join(os.environ["OUT"], "torch_ref.json"), "w") as f:
        f.write(text)
