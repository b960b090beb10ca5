#!/usr/bin/env python3
"""Compares two outputs of printMemrefF32 calls number by number.

  compare_printed_runs.py A.txt B.txt TOLERANCE

Both files must print the same memrefs (same headers, same count of
values); for each printed memref the normwise relative error
max|a - b| / max|b| must be at most TOLERANCE (an all-zero memref must be
printed as zeros in both).
"""
import re
import sys

NUM = r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?|nan|inf"


def memrefs(path):
    text = open(path).read()
    parts = text.split("Unranked Memref")[1:]
    out = []
    for p in parts:
        header, _, body = p.partition("data =")
        out.append((re.sub(r"base@ = \S+", "", header).strip(),
                    [float(v) for v in re.findall(NUM, body)]))
    return out


def main():
    a, b, tol = memrefs(sys.argv[1]), memrefs(sys.argv[2]), float(sys.argv[3])
    if len(a) != len(b) or not a:
        print("FAIL %d and %d memrefs printed" % (len(a), len(b)))
        return 1
    worst = 0.0
    for i, ((ha, va), (hb, vb)) in enumerate(zip(a, b)):
        if ha != hb or len(va) != len(vb):
            print("FAIL memref %d: %s vs %s" % (i, ha, hb))
            return 1
        scale = max(abs(v) for v in vb)
        if scale == 0:
            if any(v != 0 for v in va):
                print("FAIL memref %d: expected zeros" % i)
                return 1
            continue
        worst = max(worst, max(abs(x - y) for x, y in zip(va, vb)) / scale)
    ok = worst <= tol
    print("%s %d memrefs, relative error %.3e (tolerance %.1e)"
          % ("OK" if ok else "FAIL", len(a), worst, tol))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
