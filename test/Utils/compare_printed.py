#!/usr/bin/env python3
"""Compares values printed by printMemrefF32 with expected values.

  compare_printed.py EXPECTED.txt TOLERANCE < printed-output

Reads every number inside the "data =" brackets of the printed memref,
checks the count and the normwise relative error max|out - ref| / max|ref|.
"""
import re
import sys


def main():
    expected = [float(l) for l in open(sys.argv[1]) if l.strip()]
    tol = float(sys.argv[2])
    text = sys.stdin.read()
    if "data =" not in text:
        print("FAIL no printed memref")
        return 1
    body = text.split("data =", 1)[1]
    got = [float(v) for v in re.findall(r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?|nan|inf", body)]
    if len(got) != len(expected):
        print("FAIL %d values printed, %d expected" % (len(got), len(expected)))
        return 1
    scale = max(abs(v) for v in expected) or 1.0
    err = max(abs(a - b) for a, b in zip(got, expected)) / scale
    print("%s relative error %.3e (tolerance %.1e)" % ("OK" if err <= tol else "FAIL", err, tol))
    return 0 if err <= tol else 1


if __name__ == "__main__":
    sys.exit(main())
