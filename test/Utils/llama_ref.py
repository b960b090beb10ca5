"""Independent float64 LLaMA forward on the Python standard library.

Reads config.json and model.safetensors (dense F32/F16/BF16, or SqueezeLLM
qweight/lookup_table/rows/cols/vals unpacked with squant_ref, which shares
no code with the compiler) and computes the logits of every position of a
token sequence with full causal attention (no KV cache).

  llama_ref.py MODEL_DIR --tokens 1,2,3 [--out logits.json]
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


def forward(m, tokens, interleaved=False):
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
        for t in range(T):
            o = []
            for i in range(hq):
                kvh = i // g
                sc = [sum(a * b for a, b in zip(qs[t][i], ks[j][kvh])) / math.sqrt(d)
                      for j in range(t + 1)]
                mx = max(sc)
                p = [math.exp(s - mx) for s in sc]
                z = sum(p)
                o += [sum(p[j] * vs[j][kvh][e] for j in range(t + 1)) / z for e in range(d)]
            attn = linear(o, wo)
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
