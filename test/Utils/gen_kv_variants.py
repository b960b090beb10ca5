#!/usr/bin/env python3
"""Emits an MLIR module with kv_append, kv_dequantize and kv_attention on
several KV-cache variants (formats, bits, head dims, GQA ratios, RoPE styles,
storage types, static and dynamic shapes), for the ptxas checks of the
KV-cache GPU kernels and for bench/gpu_static.

  gen_kv_variants.py [--set tests|llama7b] > out.mlir

Each variant is `method:bits:heads:qheads:dim:slots[:key=value...]` with
keys g (group), s (sink), r (residual), o (outliers), rope, st (storage
dtype f16/bf16/f32), dyn (1: dynamic batch and slots), ops (a: append,
d: dequantize, t: attention; default adt).
"""
import argparse

TESTS = [
    "kvquant:3:2:8:40:26:o=2:rope=interleaved:st=f32",
    "kvquant:2:1:4:72:40:s=2:o=2:st=f32",
    "kvquant:3:3:3:24:64:st=bf16:rope=none",
    "kvquant:4:2:4:64:96:s=1:o=1:dyn=1",
    "kvquant:4:1:8:256:64:o=3",
    "kivi:2:1:4:32:48:g=8:r=16",
    "kivi:3:2:2:24:50:g=8:r=16:s=3:st=bf16",
    "kivi:4:1:2:8:20:g=4:r=4:s=2:rope=none:st=f32",
    "kivi:2:2:2:48:104:g=16:r=32:rope=interleaved:st=f32",
    "kivi:3:1:2:40:30:g=8:r=16:s=2:dyn=1",
]

# LLaMA-7B: 32 heads x 128 (and the GQA variant with 8 KV heads), 4k and
# 32k contexts, 2/3/4 bits; kvquant with a sink and 1% outliers (2 slots),
# kivi with G = 32, R = 128.
LLAMA = ["%s:%d:%d:32:128:%d%s" % (m, b, h, l, extra)
         for m, extra in (("kvquant", ":s=1:o=2"), ("kivi", ":g=32:r=128"))
         for b in (2, 3, 4) for h in (32, 8) for l in (4096, 32768)]


def parse(spec):
    parts = spec.split(":")
    v = dict(method=parts[0], bits=int(parts[1]), heads=int(parts[2]),
             qheads=int(parts[3]), dim=int(parts[4]), slots=int(parts[5]),
             g=0, s=0, r=0, o=0, rope="half", st="f16", dyn=0, ops="adt")
    for kv in parts[6:]:
        k, x = kv.split("=")
        v[k] = x if k in ("rope", "st", "ops") else int(x)
    return v


def fmt(v):
    s = "#squant.kv_format<%s, bits = %d" % (v["method"], v["bits"])
    for key, name in (("g", "group"), ("s", "sink"), ("r", "residual"),
                      ("o", "outliers")):
        if v[key]:
            s += ", %s = %d" % (name, v[key])
    return s + ">"


def components(v):
    h, l, d, st = v["heads"], v["slots"], v["dim"], v["st"]
    p = d * v["bits"] // 8
    b = "?" if v["dyn"] else "1"
    lt = "?" if v["dyn"] else str(l)
    out = [("%sx%dx%sx%dxi8" % (b, h, lt, p)), ("%sx%dx%sx%dxi8" % (b, h, lt, p))]
    if v["method"] == "kvquant":
        out.append("%sx%dx%sx%s" % (b, h, lt, st))
        if v["o"]:
            o = v["o"]
            out += ["%sx%dx%sx%dx%s" % (b, h, lt, o, st), "%sx%dx%sx%dxi8" % (b, h, lt, o)] * 2
        if v["s"]:
            out += ["%sx%dx%dx%dx%s" % (b, h, v["s"], d, st)] * 2
        return out
    g, s, r = v["g"], v["s"], v["r"]
    rows = "?" if v["dyn"] else str((l - s) // g)
    out += ["%sx%dx%sx%dx%s" % (b, h, rows, d, st)] * 2
    out += ["%sx%dx%sx%dx%s" % (b, h, lt, d // g, st)] * 2
    if s:
        out += ["%sx%dx%dx%dx%s" % (b, h, s, d, st)] * 2
    out += ["%sx%dx%dx%dx%s" % (b, h, r, d, st)] * 2
    return out


def name(v):
    return "%s_b%d_h%d_hq%d_d%d_l%d%s%s" % (
        v["method"], v["bits"], v["heads"], v["qheads"], v["dim"], v["slots"],
        "_" + v["rope"] if v["rope"] != "half" else "", "_dyn" if v["dyn"] else "")


def emit(v):
    h, hq, d, b = v["heads"], v["qheads"], v["dim"], 1
    comps = ["tensor<%s>" % c for c in components(v)]
    names = ["%%c%d" % i for i in range(len(comps))]
    levels = 1 << v["bits"]
    args = ["%s: %s" % (n, t) for n, t in zip(names, comps)]
    tables = ""
    if v["method"] == "kvquant":
        args += ["%%klut: tensor<%dx%dx%dxf32>" % (h, d, levels), "%%vlut: tensor<%dxf32>" % levels]
        tables = "tables(%%klut, %%vlut : tensor<%dx%dx%dxf32>, tensor<%dxf32>) " % (h, d, levels, levels)
    cache = "cache(%s : %s)" % (", ".join(names), ", ".join(comps))
    kt = "tensor<%dx%dx1x%dxf16>" % (b, h, d) if not v["dyn"] else "tensor<?x%dx1x%dxf16>" % (h, d)
    qt = "tensor<%dx%dx%dxf16>" % (b, hq, d) if not v["dyn"] else "tensor<?x%dx%dxf16>" % (hq, d)
    dt = "tensor<%dx%dx64x%dxf16>" % (b, h, d) if not v["dyn"] else "tensor<?x%dx64x%dxf16>" % (h, d)
    out = []
    n = name(v)
    if "a" in v["ops"]:
        out.append("func.func @append_%s(%%k: %s, %%v: %s, %%pos: index, %s) -> (%s) {"
                   % (n, kt, kt, ", ".join(args), ", ".join(comps)))
        out.append("  %%r:%d = squant.kv_append %s keys(%%k : %s) values(%%v : %s) at(%%pos) %s%s -> %s"
                   % (len(comps), fmt(v), kt, kt, tables, cache, ", ".join(comps)))
        out.append("  return %s : %s" % (", ".join("%%r#%d" % i for i in range(len(comps))), ", ".join(comps)))
        out.append("}")
    if "d" in v["ops"]:
        out.append("func.func @dequantize_%s(%%start: index, %%len: index, %%ok: %s, %%ov: %s, %s) -> (%s, %s) {"
                   % (n, dt, dt, ", ".join(args), dt, dt))
        out.append("  %%r:2 = squant.kv_dequantize %s %s%s start(%%start) len(%%len) outs(%%ok, %%ov : %s, %s) -> %s, %s"
                   % (fmt(v), tables, cache, dt, dt, dt, dt))
        out.append("  return %%r#0, %%r#1 : %s, %s" % (dt, dt))
        out.append("}")
    if "t" in v["ops"]:
        out.append("func.func @attention_%s(%%q: %s, %%o: %s, %%len: index, %%pos: index, %s) -> %s {"
                   % (n, qt, qt, ", ".join(args), qt))
        out.append("  %%r = squant.kv_attention %s query(%%q : %s) len(%%len) position(%%pos) %s%s rope(%s) outs(%%o : %s) -> %s"
                   % (fmt(v), qt, tables, cache, v["rope"], qt, qt))
        out.append("  return %r : " + qt)
        out.append("}")
    return out


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--set", default="tests", choices=["tests", "llama7b"])
    p.add_argument("--ops", default="", help="override the ops of every variant")
    a = p.parse_args()
    lines = []
    for spec in (TESTS if a.set == "tests" else LLAMA):
        v = parse(spec)
        if a.ops:
            v["ops"] = a.ops
        lines += emit(v)
    print("\n".join(lines))


if __name__ == "__main__":
    main()
