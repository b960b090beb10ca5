"""Compares squant-run --logits output for a GGUF model with Hugging Face
transformers' LlamaForCausalLM in float32 on the same (dequantized) weights.

  check_hf_logits.py FILE.gguf LOGITS.safetensors --prompt 1,2,3 [--tol 1e-3]

transformers loads the GGUF itself (gguf_file=..., dequantizing Q4_1/Q8_0
with the gguf package and undoing the q/k row permutation that GGUF
conversion applies), so nothing is shared with squant's importer. Every
prefill row and every decode row (squant's KV-cache path) must be within
`tol` normwise relative error of transformers' full-sequence logits.
"""
import argparse
import json
import os
import struct
import sys

import numpy as np
import torch
from transformers import AutoModelForCausalLM


def read_st(path):
    data = open(path, "rb").read()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + n])
    header.pop("__metadata__", None)
    body = data[8 + n:]
    types = {"F32": np.float32, "I32": np.int32}
    return {k: np.frombuffer(body[e["data_offsets"][0]:e["data_offsets"][1]],
                             dtype=types[e["dtype"]]).reshape(e["shape"])
            for k, e in header.items()}


def main():
    p = argparse.ArgumentParser()
    p.add_argument("gguf")
    p.add_argument("logits")
    p.add_argument("--prompt", required=True)
    p.add_argument("--tol", type=float, default=1e-3)
    a = p.parse_args()
    torch.set_num_threads(2)
    mine = read_st(a.logits)
    prompt = [int(x) for x in a.prompt.split(",")]
    nd = mine["decode_logits"].shape[0]
    seq = prompt + [int(t) for t in mine["tokens"][:nd]]
    model = AutoModelForCausalLM.from_pretrained(
        os.path.dirname(a.gguf), gguf_file=os.path.basename(a.gguf),
        dtype=torch.float32)
    model.eval()
    with torch.no_grad():
        ref = model(torch.tensor([seq])).logits[0].double().numpy()
    rows = np.concatenate([mine["prefill_logits"], mine["decode_logits"]]).astype(np.float64)
    T = len(prompt)
    worst = 0.0
    for i, row in enumerate(rows):
        err = np.abs(row - ref[i]).max() / np.abs(ref[i]).max()
        worst = max(worst, err)
        if not err <= a.tol:
            print("FAIL row %d (%s): relative error %.3g > %g" %
                  (i, "prefill" if i < T else "decode", err, a.tol))
            return 1
    agree = sum(int(np.argmax(ref[T - 1 + i]) == int(t))
                for i, t in enumerate(mine["tokens"][:nd + 1]))
    print("OK %d prefill + %d decode rows vs transformers LlamaForCausalLM "
          "(float32): max relative error %.3g (tol %g); greedy tokens agree "
          "%d/%d" % (T, nd, worst, a.tol, agree, min(nd + 1, len(mine["tokens"]))))
    return 0


if __name__ == "__main__":
    sys.exit(main())
