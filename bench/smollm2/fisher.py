"""SqueezeLLM's sensitivity: the diagonal Fisher information (squared
gradients of the language-model loss) of every linear weight of SmolLM2,
accumulated over calibration text, written as a safetensors file with
Hugging Face names for squant-quantize --sensitivity.

  fisher.py FILE.gguf CALIBRATION.txt OUT.safetensors [--ctx 128] [--windows 8]

Uses PyPI's transformers + torch (transformers reads the GGUF and puts the
q/k rows in Hugging Face order, as squant-quantize does). The calibration
text must be disjoint from the evaluation text.
"""
import argparse
import json
import os
import struct

import numpy as np
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

p = argparse.ArgumentParser()
p.add_argument("gguf")
p.add_argument("text")
p.add_argument("out")
p.add_argument("--ctx", type=int, default=128)
p.add_argument("--windows", type=int, default=8)
a = p.parse_args()
torch.set_num_threads(2)
d, f = os.path.dirname(a.gguf), os.path.basename(a.gguf)
tok = AutoTokenizer.from_pretrained(d, gguf_file=f)
model = AutoModelForCausalLM.from_pretrained(d, gguf_file=f, dtype=torch.float32)
model.train(False)
ids = tok(open(a.text).read(), return_tensors="pt").input_ids[0]
names = [n for n, _ in model.named_parameters() if n.endswith("_proj.weight")]
acc = {}
params = dict(model.named_parameters())
for n in names:
    acc[n] = torch.zeros_like(params[n])
windows = min(a.windows, len(ids) // a.ctx)
for w in range(windows):
    x = ids[w * a.ctx:(w + 1) * a.ctx].unsqueeze(0)
    model.zero_grad()
    loss = model(x, labels=x).loss
    loss.backward()
    for n in names:
        acc[n] += params[n].grad.detach() ** 2
    print("window %d/%d loss %.4f" % (w + 1, windows, loss.item()), flush=True)
header, blobs, off = {}, [], 0
for n in names:
    arr = (acc[n] / windows).numpy().astype(np.float32)
    b = arr.tobytes()
    header[n] = {"dtype": "F32", "shape": list(arr.shape), "data_offsets": [off, off + len(b)]}
    blobs.append(b)
    off += len(b)
h = json.dumps(header).encode()
h += b" " * ((8 - len(h) % 8) % 8)
with open(a.out, "wb") as fo:
    fo.write(struct.pack("<Q", len(h)))
    fo.write(h)
    for b in blobs:
        fo.write(b)
print("wrote %d tensors to %s" % (len(names), a.out))
