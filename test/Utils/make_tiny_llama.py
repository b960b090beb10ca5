"""Writes a tiny LLaMA-family model (config.json + model.safetensors) with
deterministic random weights, on the Python standard library only.

  make_tiny_llama.py OUT_DIR [--layers N] [--hidden H] [--inter I]
      [--heads Q] [--kv-heads KV] [--head-dim D] [--vocab V] [--dtype F32]
      [--tie] [--sqllm BITS] [--outliers FRACTION] [--vectors DIR]
      [--break missing|shape|dtype|truncate|config|csr|lut|partial]
      (csr, lut and partial need --sqllm B --outliers F)

--sqllm quantizes every linear of every layer into the SqueezeLLM format
(random codes packed with squant_ref.pack, random per-channel tables, and
CSR outliers when --outliers > 0). --vectors puts the project's SqueezeLLM
test vectors (64x128, 3 and 4 bits, packed by the reference packer) into
layer 0's q_proj and k_proj (needs hidden 128 and 2x32 q/kv heads).
--break writes a deliberately broken model for the error tests.
"""
import argparse
import json
import os
import random
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import safetensors_lite as st  # noqa: E402
import squant_ref  # noqa: E402


def main():
    p = argparse.ArgumentParser()
    p.add_argument("out")
    p.add_argument("--layers", type=int, default=2)
    p.add_argument("--hidden", type=int, default=64)
    p.add_argument("--inter", type=int, default=96)
    p.add_argument("--heads", type=int, default=4)
    p.add_argument("--kv-heads", type=int, default=2)
    p.add_argument("--head-dim", type=int, default=0)
    p.add_argument("--vocab", type=int, default=96)
    p.add_argument("--dtype", default="F32")
    p.add_argument("--tie", action="store_true")
    p.add_argument("--sqllm", type=int, default=0)
    p.add_argument("--outliers", type=float, default=0.0)
    p.add_argument("--vectors", default="")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--break", dest="brk", default="")
    a = p.parse_args()
    rng = random.Random(a.seed)
    os.makedirs(a.out, exist_ok=True)
    hd = a.head_dim or a.hidden // a.heads
    config = {
        "architectures": ["LlamaForCausalLM"], "model_type": "llama",
        "hidden_size": a.hidden, "intermediate_size": a.inter,
        "num_hidden_layers": a.layers, "num_attention_heads": a.heads,
        "num_key_value_heads": a.kv_heads, "head_dim": hd,
        "vocab_size": a.vocab, "max_position_embeddings": 64,
        "rms_norm_eps": 1e-5, "rope_theta": 10000.0,
        "tie_word_embeddings": a.tie, "bos_token_id": 1, "eos_token_id": 2,
        "hidden_act": "silu", "rope_scaling": None,
    }
    if a.brk == "config":
        config["num_key_value_heads"] = 3  # does not divide the heads
    with open(os.path.join(a.out, "config.json"), "w") as f:
        json.dump(config, f, indent=1)

    tensors = {}

    def dense(name, rows, cols, scale):
        vals = [rng.gauss(0.0, scale) for _ in range(rows * cols)]
        tensors[name + ".weight"] = (a.dtype, [rows, cols] if rows else [cols], vals)

    def norm(name, n):
        tensors[name + ".weight"] = (a.dtype, [n], [1.0 + rng.uniform(-0.2, 0.2) for _ in range(n)])

    def sqllm(name, rows, cols, bits, scale):
        codes = [[rng.randrange(1 << bits) for _ in range(cols)] for _ in range(rows)]
        words, shape = squant_ref.pack(codes, bits, "squeezellm")
        tensors[name + ".qweight"] = ("I32", shape, words)
        lut = []
        for _ in range(rows):
            lut += sorted(rng.gauss(0.0, scale) for _ in range(1 << bits))
        tensors[name + ".lookup_table"] = ("F32", [rows, 1 << bits], lut)
        if a.outliers > 0:
            rows_ptr, cols_idx, vals = [0], [], []
            for _ in range(rows):
                picked = sorted(rng.sample(range(cols), max(1, int(cols * a.outliers))))
                cols_idx += picked
                vals += [rng.gauss(0.0, 4 * scale) for _ in picked]
                rows_ptr.append(len(cols_idx))
            tensors[name + ".rows"] = ("I32", [rows + 1], rows_ptr)
            tensors[name + ".cols"] = ("I32", [len(cols_idx)], cols_idx)
            tensors[name + ".vals"] = ("F32", [len(vals)], vals)

    def from_vector(name, path):
        vt, _ = st.read(path)
        for part in ("qweight", "lookup_table", "rows", "cols", "vals"):
            tensors[name + "." + part] = vt["layer." + part]

    h, q, kv = a.hidden, a.heads * hd, a.kv_heads * hd
    dense("model.embed_tokens", a.vocab, h, 1.0)
    for i in range(a.layers):
        pre = "model.layers.%d." % i
        norm(pre + "input_layernorm", h)
        norm(pre + "post_attention_layernorm", h)
        for role, rows, cols in (("self_attn.q_proj", q, h), ("self_attn.k_proj", kv, h),
                                 ("self_attn.v_proj", kv, h), ("self_attn.o_proj", h, q),
                                 ("mlp.gate_proj", a.inter, h), ("mlp.up_proj", a.inter, h),
                                 ("mlp.down_proj", h, a.inter)):
            scale = 1.0 / cols ** 0.5
            if a.vectors and i == 0 and role in ("self_attn.q_proj", "self_attn.k_proj"):
                bits = 3 if role == "self_attn.q_proj" else 4
                m = 1 if bits == 3 else 3
                from_vector(pre + role, os.path.join(
                    a.vectors, "sqllm_w%d_n64_k128_m%d.safetensors" % (bits, m)))
            elif a.sqllm:
                sqllm(pre + role, rows, cols, a.sqllm, scale)
            else:
                dense(pre + role, rows, cols, scale)
    norm("model.norm", h)
    if not a.tie:
        dense("lm_head", a.vocab, h, 1.0 / h ** 0.5)

    if a.brk == "missing":
        del tensors["model.layers.1.mlp.up_proj.weight"]
    elif a.brk == "shape":
        d, s, v = tensors["model.layers.0.mlp.down_proj.weight"]
        tensors["model.layers.0.mlp.down_proj.weight"] = (d, [s[1], s[0]], v)
    elif a.brk == "dtype":
        d, s, v = tensors["model.layers.0.mlp.gate_proj.weight"]
        tensors["model.layers.0.mlp.gate_proj.weight"] = ("I32", s, [int(x * 100) for x in v])
    elif a.brk == "csr":  # an outlier column outside the row
        d, s, v = tensors["model.layers.1.self_attn.v_proj.cols"]
        tensors["model.layers.1.self_attn.v_proj.cols"] = (d, s, [v[0] + 1000] + v[1:])
    elif a.brk == "lut":  # 5 table entries: not 2^bits
        d, s, v = tensors["model.layers.0.mlp.up_proj.lookup_table"]
        tensors["model.layers.0.mlp.up_proj.lookup_table"] = (d, [s[0], 5], v[:s[0] * 5])
    elif a.brk == "partial":  # rows without cols/vals
        del tensors["model.layers.0.mlp.down_proj.vals"]
    path = os.path.join(a.out, "model.safetensors")
    st.write(path, tensors)
    if a.brk == "truncate":
        size = os.path.getsize(path)
        with open(path, "r+b") as f:
            f.truncate(size - 100)


if __name__ == "__main__":
    main()
