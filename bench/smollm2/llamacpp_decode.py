"""Greedy decode with llama.cpp (llama-cpp-python) on a GGUF file; prints
prefill and decode tokens/s the way squant-run does.
  llamacpp_decode.py FILE.gguf --tokens 1,2,3 --max-new-tokens N --threads T
"""
import argparse
import time

import llama_cpp
import llama_cpp.llama
import numpy as np
from llama_cpp import Llama

# llama.cpp's extra weight buffer types (repacked / AMX kernels) crash in
# llama_decode on this machine class (a VM whose CPUID reports AMX_INT8), so
# the weights stay in their plain ggml layout and the ordinary CPU kernels
# run. Say so in any reported comparison.
_defaults = llama_cpp.llama_model_default_params


def _no_extra_bufts():
    params = _defaults()
    params.use_extra_bufts = False
    return params


llama_cpp.llama.llama_cpp.llama_model_default_params = _no_extra_bufts

p = argparse.ArgumentParser()
p.add_argument("gguf")
p.add_argument("--tokens", required=True)
p.add_argument("--max-new-tokens", type=int, default=32)
p.add_argument("--threads", type=int, default=1)
a = p.parse_args()
llm = Llama(model_path=a.gguf, n_ctx=512, n_batch=512, n_threads=a.threads,
            n_threads_batch=a.threads, verbose=False)
prompt = [int(t) for t in a.tokens.split(",")]
t0 = time.perf_counter()
llm.eval(prompt)
t1 = time.perf_counter()
n_vocab = llm.n_vocab()


def last_logits():
    return np.ctypeslib.as_array(
        llama_cpp.llama_get_logits_ith(llm._ctx.ctx, -1), shape=(n_vocab,))


out = [int(np.argmax(last_logits()))]
t2 = time.perf_counter()
for _ in range(a.max_new_tokens - 1):
    llm.eval([out[-1]])
    out.append(int(np.argmax(last_logits())))
t3 = time.perf_counter()
n = a.max_new_tokens - 1
print("generated token ids (%d): %s" % (len(out), " ".join(map(str, out))))
print("prefill: %d tokens in %.3f s (%.2f tokens/s)" % (len(prompt), t1 - t0, len(prompt) / (t1 - t0)))
print("decode: %d tokens in %.3f s (%.2f tokens/s)" % (n, t3 - t2, n / (t3 - t2)))
