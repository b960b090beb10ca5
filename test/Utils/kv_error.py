#!/usr/bin/env python3
"""Reports the attention error of a quantized KV cache against attention on
the unquantized keys and values (P.unquantized.safetensors from
gen_kv_case.py), and checks it against a loose sanity bound.

  kv_error.py OUT UNQUANTIZED --label TEXT --bound B [--name o]

Prints "LABEL: attention error vs unquantized: rel-L2 X, rel-max Y" where
rel-L2 = ||o - ref||_2 / ||ref||_2 and rel-max = max|o - ref| / max|ref|.
Exits 1 when rel-L2 > B or the output is not finite. The bound only catches
a broken format (it is several times the measured error); the measured
numbers are the point (docs/kv-cache.md).
"""
import argparse
import math
import sys

import safetensors_lite as st


def main():
    p = argparse.ArgumentParser()
    p.add_argument("out")
    p.add_argument("unquantized")
    p.add_argument("--label", required=True)
    p.add_argument("--bound", type=float, required=True)
    p.add_argument("--name", default="o")
    a = p.parse_args()
    out, _ = st.read(a.out)
    ref, _ = st.read(a.unquantized)
    (_, oshape, o), (_, rshape, r) = out[a.name], ref[a.name]
    if list(oshape) != list(rshape):
        print("FAIL %s: shape %s, expected %s" % (a.label, oshape, rshape))
        return 1
    if not all(math.isfinite(x) for x in o):
        print("FAIL %s: non-finite output" % a.label)
        return 1
    l2 = math.sqrt(sum((x - y) ** 2 for x, y in zip(o, r)))
    l2 /= math.sqrt(sum(y * y for y in r)) or 1.0
    mx = max(abs(x - y) for x, y in zip(o, r)) / (max(abs(y) for y in r) or 1.0)
    status = "OK" if l2 <= a.bound else "FAIL"
    print("%s %s: attention error vs unquantized: rel-L2 %.3e, rel-max %.3e "
          "(bound %.2g)" % (status, a.label, l2, mx, a.bound))
    return 0 if status == "OK" else 1


if __name__ == "__main__":
    sys.exit(main())
