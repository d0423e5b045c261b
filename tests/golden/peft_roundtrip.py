"""PEFT round trip: load the adapter this project exported (tests/golden/roundtrip/adapter) with
PeftModel.from_pretrained on the golden tiny base model, run the golden batch in float64, and
compare logits with the logits this project computed (our_logits.safetensors).
Writes result.json: max absolute and relative logit difference and library versions.
Run from tests/golden:  python3 peft_roundtrip.py > roundtrip/result.json
"""
import json
import torch, transformers, peft
from safetensors.torch import load_file
from transformers import LlamaForCausalLM
from peft import PeftModel

base = LlamaForCausalLM.from_pretrained("tiny", torch_dtype=torch.float64)
model = PeftModel.from_pretrained(base, "roundtrip/adapter").double().eval()
golden = load_file("tiny/golden.safetensors")
ours = load_file("roundtrip/our_logits.safetensors")
max_abs, scale = 0.0, 0.0
for b in range(2):
    ids = golden[f"input_ids.{b}"].long()[None]
    with torch.no_grad():
        ref = model(input_ids=ids).logits[0]
    diff = (ref - ours[f"logits.{b}"].double()).abs().max().item()
    max_abs = max(max_abs, diff)
    scale = max(scale, ref.abs().max().item())
print(json.dumps({"max_abs_diff": max_abs, "max_rel_diff": max_abs / scale, "logit_scale": scale,
                  "adapter_config": json.load(open("roundtrip/adapter/adapter_config.json")),
                  "versions": {"torch": torch.__version__, "transformers": transformers.__version__, "peft": peft.__version__}}, indent=1))
