#!/usr/bin/env python3
"""Measures the attention error of every KV-cache format at LLaMA head
shapes, through the real pipeline.

  python3 examples/kv-cache/attention_error.py [--build build] [--tokens 256]

For each format it generates a case with test/Utils/gen_kv_case.py (head
dim 128, 2 KV heads, 8 query heads (GQA 4:1), synthetic keys with
per-channel offsets/scales and values with per-token scales, 0.5% outlier
entries 4-8x larger), appends the tokens one by one with squant-run
(squant-cpu-pipeline), checks the result against the independent Python
reference (raw and dequantized cache bit-exact, attention within 1e-5), and
prints the error of the attention output against float64 attention on the
unquantized keys and values (rel-L2 = ||o - ref|| / ||ref||, rel-max =
max|o - ref| / max|ref|) and the relative RMS error of the dequantized keys
and values, averaged over --seeds seeds.
"""
import argparse
import math
import os
import re
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
UTILS = os.path.join(ROOT, "test", "Utils")
sys.path.insert(0, UTILS)
import safetensors_lite as st  # noqa: E402

FORMATS = [
    ("fp16 (all tokens kept as sinks)", ["--method", "kvquant", "--bits", "4", "--sink", "{tokens}"]),
    ("kvquant 4-bit, 2 outliers/128, sink 1", ["--method", "kvquant", "--bits", "4", "--outliers", "2", "--sink", "1"]),
    ("kvquant 3-bit, 2 outliers/128, sink 1", ["--method", "kvquant", "--bits", "3", "--outliers", "2", "--sink", "1"]),
    ("kvquant 3-bit, no outliers, sink 1", ["--method", "kvquant", "--bits", "3", "--sink", "1"]),
    ("kvquant 2-bit, 2 outliers/128, sink 1", ["--method", "kvquant", "--bits", "2", "--outliers", "2", "--sink", "1"]),
    ("kivi 4-bit, G=32, R=32", ["--method", "kivi", "--bits", "4", "--group", "32", "--residual", "32"]),
    ("kivi 3-bit, G=32, R=32", ["--method", "kivi", "--bits", "3", "--group", "32", "--residual", "32"]),
    ("kivi 2-bit, G=32, R=32", ["--method", "kivi", "--bits", "2", "--group", "32", "--residual", "32"]),
    ("kivi 2-bit, G=32, R=128", ["--method", "kivi", "--bits", "2", "--group", "32", "--residual", "128"]),
]


def run(cmd):
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit("failed: %s\n%s%s" % (" ".join(cmd), r.stdout, r.stderr))
    return r.stdout


def reconstruction_error(prefix, tokens):
    """Relative RMS error of the dequantized keys and values."""
    out, _ = st.read(prefix + ".out.safetensors")
    inp, _ = st.read(prefix + ".in.safetensors")
    errors = []
    for deq, orig in (("k_deq", "keys"), ("v_deq", "values")):
        _, shape, x = out[deq]
        _, _, y = inp[orig]
        bt, h, n2, d = shape
        num = den = 0.0
        for bh in range(bt * h):
            for t in range(tokens):
                for i in range(d):
                    a, r = x[(bh * n2 + t) * d + i], y[(bh * tokens + t) * d + i]
                    num += (a - r) ** 2
                    den += r * r
        errors.append(math.sqrt(num / den))
    return errors


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--build", default=os.path.join(ROOT, "build"))
    p.add_argument("--tokens", type=int, default=256)
    p.add_argument("--seeds", type=int, default=3)
    a = p.parse_args()
    squant_run = os.path.join(a.build, "bin", "squant-run")
    shape = ["--batch", "1", "--heads", "2", "--qheads", "8", "--dim", "128",
             "--tokens", str(a.tokens), "--slots", str(a.tokens + 2)]
    print("| format | attention rel-L2 | attention rel-max | key rel-RMS | value rel-RMS |")
    print("|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        for label, args in FORMATS:
            args = [x.format(tokens=a.tokens) for x in args]
            l2s, maxs, kerr, verr = [], [], [], []
            for seed in range(a.seeds):
                prefix = os.path.join(tmp, "case%d" % seed)
                run([sys.executable, os.path.join(UTILS, "gen_kv_case.py"), "--prefix", prefix,
                     "--seed", str(100 + seed)] + shape + args)
                run([squant_run, prefix + ".mlir", "--function=case",
                     "--inputs=" + prefix + ".in.safetensors",
                     "--outputs=" + prefix + ".out.safetensors"])
                exact = [n for n in ("key_codes", "value_codes", "k_deq", "v_deq")]
                run([sys.executable, os.path.join(UTILS, "compare.py"), prefix + ".out.safetensors",
                     prefix + ".expected.safetensors", "--exact", ",".join(exact),
                     "--close", "o=1e-5"])
                out = run([sys.executable, os.path.join(UTILS, "kv_error.py"),
                           prefix + ".out.safetensors", prefix + ".unquantized.safetensors",
                           "--label", label, "--bound", "10"])
                m = re.search(r"rel-L2 ([0-9.e+-]+), rel-max ([0-9.e+-]+)", out)
                l2s.append(float(m.group(1)))
                maxs.append(float(m.group(2)))
                ke, ve = reconstruction_error(prefix, a.tokens)
                kerr.append(ke)
                verr.append(ve)
            mean = lambda xs: sum(xs) / len(xs)
            print("| %s | %.4f | %.4f | %.4f | %.4f |"
                  % (label, mean(l2s), mean(maxs), mean(kerr), mean(verr)))
            sys.stdout.flush()


if __name__ == "__main__":
    main()
