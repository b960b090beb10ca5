"""Independent float64 LLaMA forward on the Python standard library.

Reads config.json and model.safetensors (dense F32/F16/BF16, or SqueezeLLM
qweight/lookup_table/rows/cols/vals unpacked with squant_ref, which shares
no code with the compiler) and computes the logits of every position of a
token sequence with full causal attention (no KV cache).

  llama_ref.py MODEL_DIR --tokens 1,2,3 [--out logits.json]

With `kv` (a KVMode), attention reads a quantized KV cache kept by
kv_ref.py exactly as docs/kv-cache.md defines it: token by token, the
pre-RoPE key and value (rounded to f32, as the compiled layer produces
them) are appended, the cache is dequantized and kv_ref.attention rotates
keys and query and attends (what squant.kv_attention computes).
"""
import argparse
import json
import math
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import safetensors_lite as st  # noqa: E402
import squant_ref  # noqa: E402


class Model:
    def __init__(self, d):
        with open(os.path.join(d, "config.json")) as f:
            self.c = json.load(f)
        self.t, _ = st.read(os.path.join(d, "model.safetensors"))

    def mat(self, base):
        """A weight as N rows of K floats."""
        if base + ".weight" in self.t:
            _, shape, v = self.t[base + ".weight"]
            n, k = shape
            return [v[i * k:(i + 1) * k] for i in range(n)]
        _, qshape, q = self.t[base + ".qweight"]
        _, lshape, lut = self.t[base + ".lookup_table"]
        n = qshape[1]
        bits = {4: 2, 8: 3, 16: 4, 256: 8}[lshape[1]]
        k = qshape[0] * 32 // bits
        codes = squant_ref.unpack(q, qshape, bits, k, "squeezellm")
        w = squant_ref.dequant(codes, lut, lshape)
        if base + ".rows" in self.t:
            rows = self.t[base + ".rows"][2]
            cols = self.t[base + ".cols"][2]
            vals = self.t[base + ".vals"][2]
            for r in range(n):
                for p in range(rows[r], rows[r + 1]):
                    w[r][cols[p]] += vals[p]
        return w

    def vec(self, name):
        return self.t[name + ".weight"][2]


def linear(x, w):
    return [sum(a * b for a, b in zip(x, row)) for row in w]


def rmsnorm(x, w, eps):
    r = 1.0 / math.sqrt(sum(v * v for v in x) / len(x) + eps)
    return [v * r * g for v, g in zip(x, w)]


def rope(v, pos, d, theta, interleaved):
    out = list(v)
    half = d // 2
    for i in range(half):
        ang = pos * theta ** (-2.0 * i / d)
        c, s = math.cos(ang), math.sin(ang)
        a, b = (2 * i, 2 * i + 1) if interleaved else (i, i + half)
        out[a] = v[a] * c - v[b] * s
        out[b] = v[a] * s + v[b] * c
    return out


class KVMode:
    """A quantized cache for the forward: `fmt` a kv_ref.Format, `tables(l,
    ks, vs)` returns layer l's (key_lut, value_lut) given the layer's f32
    pre-RoPE keys and values of every token ([T][Hkv][D]), or (None, None)
    for kivi."""

    def __init__(self, fmt, tables):
        self.fmt, self.tables = fmt, tables


def kv_attention_layer(kv, l, qs, ks, vs, d, theta, interleaved):
    """Outputs [T][Hq*D] of layer l over a quantized cache; qs, ks, vs are
    the pre-RoPE q [T][Hq][D], k, v [T][Hkv][D]."""
    import kv_ref
    fmt = kv.fmt
    T, hkv = len(ks), len(ks[0])
    key_lut, value_lut = kv.tables(l, ks, vs)
    dtypes = {n: ("I8" if n.endswith(("codes", "indices")) else "F16")
              for n in fmt.components()}
    cache = kv_ref.Cache(fmt, 1, hkv, T, d, dtypes, key_lut, value_lut)
    style = "interleaved" if interleaved else "half"
    outs = []
    for t in range(T):
        cache.append([ks[t]], [vs[t]])
        keys, values = cache.dequantize(t + 1)
        o = kv_ref.attention([qs[t]], keys, values, t + 1, t, style, theta,
                             kv_ref.default_scale(d))
        outs.append([x for row in o[0] for x in row])
    return outs


def forward(m, tokens, interleaved=False, kv=None):
    c = m.c
    h, nl = c["hidden_size"], c["num_hidden_layers"]
    hq, hkv = c["num_attention_heads"], c.get("num_key_value_heads", c["num_attention_heads"])
    d = c.get("head_dim") or h // hq
    eps, theta = c.get("rms_norm_eps", 1e-6), c.get("rope_theta", 10000.0)
    emb = m.mat("model.embed_tokens")
    xs = [list(emb[t]) for t in tokens]
    T = len(tokens)
    for l in range(nl):
        pre = "model.layers.%d." % l
        wq, wk, wv, wo = (m.mat(pre + "self_attn.%s_proj" % p) for p in "qkvo")
        wg, wu, wd = (m.mat(pre + "mlp.%s_proj" % p) for p in ("gate", "up", "down"))
        n1, n2 = m.vec(pre + "input_layernorm"), m.vec(pre + "post_attention_layernorm")
        qs, ks, vs = [], [], []
        for t in range(T):
            xn = rmsnorm(xs[t], n1, eps)
            q, k, v = linear(xn, wq), linear(xn, wk), linear(xn, wv)
            qs.append([rope(q[i * d:(i + 1) * d], t, d, theta, interleaved) for i in range(hq)])
            ks.append([rope(k[i * d:(i + 1) * d], t, d, theta, interleaved) for i in range(hkv)])
            vs.append([v[i * d:(i + 1) * d] for i in range(hkv)])
        g = hq // hkv
        if kv is not None:
            import kv_ref
            r32 = lambda vec: [kv_ref.f32(x) for x in vec]  # noqa: E731
            pre_q, pre_k, pre_v = [], [], []
            for t in range(T):
                xn = rmsnorm(xs[t], n1, eps)
                q, k, v = linear(xn, wq), linear(xn, wk), linear(xn, wv)
                pre_q.append([r32(q[i * d:(i + 1) * d]) for i in range(hq)])
                pre_k.append([r32(k[i * d:(i + 1) * d]) for i in range(hkv)])
                pre_v.append([r32(v[i * d:(i + 1) * d]) for i in range(hkv)])
            attn_rows = kv_attention_layer(kv, l, pre_q, pre_k, pre_v, d,
                                           theta, interleaved)
        for t in range(T):
            o = []
            for i in range(hq if kv is None else 0):
                kvh = i // g
                sc = [sum(a * b for a, b in zip(qs[t][i], ks[j][kvh])) / math.sqrt(d)
                      for j in range(t + 1)]
                mx = max(sc)
                p = [math.exp(s - mx) for s in sc]
                z = sum(p)
                o += [sum(p[j] * vs[j][kvh][e] for j in range(t + 1)) / z for e in range(d)]
            attn = linear(o if kv is None else attn_rows[t], wo)
            x1 = [a + b for a, b in zip(xs[t], attn)]
            xn2 = rmsnorm(x1, n2, eps)
            gt, up = linear(xn2, wg), linear(xn2, wu)
            hid = [a / (1.0 + math.exp(-a)) * b for a, b in zip(gt, up)]
            xs[t] = [a + b for a, b in zip(x1, linear(hid, wd))]
    fn = m.vec("model.norm")
    head = m.mat("lm_head") if ("lm_head.weight" in m.t or "lm_head.qweight" in m.t) else m.mat("model.embed_tokens")
    return [linear(rmsnorm(x, fn, eps), head) for x in xs]


def main():
    p = argparse.ArgumentParser()
    p.add_argument("model")
    p.add_argument("--tokens", required=True)
    p.add_argument("--out", default="")
    a = p.parse_args()
    logits = forward(Model(a.model), [int(t) for t in a.tokens.split(",")])
    text = json.dumps(logits)
    if a.out:
        with open(a.out, "w") as f:
            f.write(text)
    else:
        print(text)


if __name__ == "__main__":
    main()
