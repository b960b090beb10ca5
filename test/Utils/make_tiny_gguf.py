"""Writes a tiny LLaMA GGUF model (ggml names, F32 norms, linears in F32,
F16, Q8_0, Q4_0 and Q4_1 quantized here with ggml's block formulas) and,
next to it, the same dequantized weights as Hugging Face-named safetensors
(ref/config.json + ref/model.safetensors) for test/Utils/llama_ref.py, which
must then use interleaved RoPE pairs (GGUF's q/k row order).
Python standard library only.

  make_tiny_gguf.py OUT_DIR [--break magic|version|truncate|kvcount|type|offset|dims]
"""
import argparse
import json
import os
import random
import struct
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import safetensors_lite as st  # noqa: E402

F32, F16, Q4_0, Q4_1, Q8_0 = 0, 1, 2, 3, 8


def f16(x):
    return struct.unpack("<e", struct.pack("<e", x))[0]


def quantize(values, kind):
    """(raw bytes, dequantized values) of a row-major tensor."""
    if kind == F32:
        return struct.pack("<%df" % len(values), *values), [struct.unpack("<f", struct.pack("<f", v))[0] for v in values]
    if kind == F16:
        return struct.pack("<%de" % len(values), *values), [f16(v) for v in values]
    raw, deq = bytearray(), []
    for b in range(0, len(values), 32):
        x = values[b:b + 32]
        if kind == Q8_0:
            amax = max(abs(v) for v in x)
            d = amax / 127.0
            q = [int(round(v / d)) if d else 0 for v in x]
            raw += struct.pack("<e", d) + struct.pack("<32b", *q)
            dd = f16(d)
            deq += [qq * dd for qq in q]
        elif kind == Q4_0:
            mx = max(x, key=abs)
            d = mx / -8.0
            q = [min(15, max(0, int(v / d + 8.5))) if d else 8 for v in x]
            raw += struct.pack("<e", d) + bytes(q[j] | (q[j + 16] << 4) for j in range(16))
            dd = f16(d)
            deq += [(qq - 8) * dd for qq in q]
        else:  # Q4_1
            lo, hi = min(x), max(x)
            d = (hi - lo) / 15.0
            q = [min(15, max(0, int((v - lo) / d + 0.5))) if d else 0 for v in x]
            raw += struct.pack("<ee", d, lo) + bytes(q[j] | (q[j + 16] << 4) for j in range(16))
            dd, mm = f16(d), f16(lo)
            deq += [qq * dd + mm for qq in q]
    # Round to f32 the way the C++ reference computes (f32 arithmetic).
    return bytes(raw), [struct.unpack("<f", struct.pack("<f", v))[0] for v in deq]


def gguf_string(s):
    b = s.encode()
    return struct.pack("<Q", len(b)) + b


def kv(key, value):
    out = gguf_string(key)
    if isinstance(value, str):
        return out + struct.pack("<I", 8) + gguf_string(value)
    if isinstance(value, float):
        return out + struct.pack("<If", 6, value)
    return out + struct.pack("<II", 4, value)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("out")
    p.add_argument("--break", dest="brk", default="")
    p.add_argument("--tie", action="store_true")
    a = p.parse_args()
    rng = random.Random(11)
    os.makedirs(os.path.join(a.out, "ref"), exist_ok=True)
    h, inter, layers, heads, kvh, vocab = 64, 96, 2, 4, 2, 80
    d = h // heads
    meta = [("general.architecture", "llama"), ("general.alignment", 32),
            ("llama.block_count", layers), ("llama.embedding_length", h),
            ("llama.feed_forward_length", inter), ("llama.attention.head_count", heads),
            ("llama.attention.head_count_kv", kvh), ("llama.rope.freq_base", 10000.0),
            ("llama.attention.layer_norm_rms_epsilon", 1e-5),
            ("llama.context_length", 64), ("llama.vocab_size", vocab)]
    tensors = []  # (gguf name, hf name, shape [rows, cols] or [cols], kind, values)
    ref = {}

    def add(gname, hname, shape, kind, scale):
        n = shape[0] * (shape[1] if len(shape) > 1 else 1)
        vals = [1.0 + rng.uniform(-0.2, 0.2) for _ in range(n)] if len(shape) == 1 else \
            [rng.gauss(0.0, scale) for _ in range(n)]
        raw, deq = quantize(vals, kind)
        tensors.append((gname, shape, kind, raw))
        ref[hname] = ("F32", shape, deq)

    add("token_embd.weight", "model.embed_tokens.weight", [vocab, h], Q8_0, 1.0)
    kinds = [F16, Q4_1, Q8_0, Q4_0, Q4_1, Q4_1, F32]
    for i in range(layers):
        g, hf = "blk.%d." % i, "model.layers.%d." % i
        add(g + "attn_norm.weight", hf + "input_layernorm.weight", [h], F32, 0)
        add(g + "ffn_norm.weight", hf + "post_attention_layernorm.weight", [h], F32, 0)
        for j, (gn, hn, rows, cols) in enumerate((
                ("attn_q", "self_attn.q_proj", heads * d, h), ("attn_k", "self_attn.k_proj", kvh * d, h),
                ("attn_v", "self_attn.v_proj", kvh * d, h), ("attn_output", "self_attn.o_proj", h, heads * d),
                ("ffn_gate", "mlp.gate_proj", inter, h), ("ffn_up", "mlp.up_proj", inter, h),
                ("ffn_down", "mlp.down_proj", h, inter))):
            add(g + gn + ".weight", hf + hn + ".weight", [rows, cols], kinds[(j + i) % 7], cols ** -0.5)
    add("output_norm.weight", "model.norm.weight", [h], F32, 0)
    if not a.tie:
        add("output.weight", "lm_head.weight", [vocab, h], Q4_1, h ** -0.5)

    if a.brk == "type":
        name, shape, kind, raw = tensors[5]
        tensors[5] = (name, shape, 12, raw)  # Q4_K: not read by squant
    out = bytearray()
    out += b"GGUF" if a.brk != "magic" else b"GGML"
    out += struct.pack("<I", 3 if a.brk != "version" else 1)
    out += struct.pack("<QQ", len(tensors), len(meta) if a.brk != "kvcount" else 1 << 40)
    for k, v in meta:
        out += kv(k, v)
    offset = 0
    offsets = []
    for name, shape, kind, raw in tensors:
        offsets.append(offset)
        offset += (len(raw) + 31) // 32 * 32
    for (name, shape, kind, raw), off in zip(tensors, offsets):
        ne = list(reversed(shape))
        if a.brk == "dims" and name == "blk.0.attn_q.weight":
            ne = [0] + ne[1:]
        if a.brk == "offset" and name == "output_norm.weight":
            off = 1 << 30
        out += gguf_string(name) + struct.pack("<I", len(ne)) + struct.pack("<%dQ" % len(ne), *ne)
        out += struct.pack("<IQ", kind, off)
    out += b"\0" * ((32 - len(out) % 32) % 32)
    for (name, shape, kind, raw), off in zip(tensors, offsets):
        out += raw + b"\0" * ((32 - len(raw) % 32) % 32)
    if a.brk == "truncate":
        out = out[:len(out) - 200]
    with open(os.path.join(a.out, "model.gguf"), "wb") as f:
        f.write(out)
    config = {"model_type": "llama", "hidden_size": h, "intermediate_size": inter,
              "num_hidden_layers": layers, "num_attention_heads": heads,
              "num_key_value_heads": kvh, "vocab_size": vocab,
              "max_position_embeddings": 64, "rms_norm_eps": 1e-5,
              "rope_theta": 10000.0, "tie_word_embeddings": a.tie}
    with open(os.path.join(a.out, "ref", "config.json"), "w") as f:
        json.dump(config, f)
    st.write(os.path.join(a.out, "ref", "model.safetensors"), ref)


if __name__ == "__main__":
    main()
