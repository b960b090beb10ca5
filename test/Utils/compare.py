#!/usr/bin/env python3
"""Compares tensors of a result file with an expected file.

  compare.py OUT EXPECTED --exact a,b --close y=1e-5,z=1e-3

--exact: identical shape and values (bit-exact for the dtype).
--close NAME=TOL: identical shape, normwise relative error
    max|out - ref| / max|ref| <= TOL.
Exits 1 on any mismatch or missing tensor; prints one line per tensor.
"""
import argparse
import math
import sys

import safetensors_lite as st


def main():
    p = argparse.ArgumentParser()
    p.add_argument("out")
    p.add_argument("expected")
    p.add_argument("--exact", default="")
    p.add_argument("--close", default="")
    a = p.parse_args()
    out, _ = st.read(a.out)
    ref, _ = st.read(a.expected)
    ok = True
    checks = [(n, None) for n in a.exact.split(",") if n]
    for item in filter(None, a.close.split(",")):
        name, tol = item.split("=")
        checks.append((name, float(tol)))
    if not checks:
        print("compare.py: nothing to compare", file=sys.stderr)
        return 1
    for name, tol in checks:
        if name not in out or name not in ref:
            print("FAIL %s: missing in %s" % (name, a.out if name not in out else a.expected))
            ok = False
            continue
        (_, oshape, ov), (_, rshape, rv) = out[name], ref[name]
        if list(oshape) != list(rshape):
            print("FAIL %s: shape %s, expected %s" % (name, oshape, rshape))
            ok = False
            continue
        if tol is None:
            bad = [i for i, (x, y) in enumerate(zip(ov, rv)) if x != y]
            if bad:
                i = bad[0]
                print("FAIL %s: %d of %d elements differ; first at %d: %r != %r"
                      % (name, len(bad), len(rv), i, ov[i], rv[i]))
                ok = False
            else:
                print("OK %s: %d elements bit-exact" % (name, len(rv)))
        else:
            if any(not math.isfinite(x) for x in ov):
                print("FAIL %s: non-finite values" % name)
                ok = False
                continue
            scale = max((abs(y) for y in rv), default=0.0) or 1.0
            err = max((abs(x - y) for x, y in zip(ov, rv)), default=0.0) / scale
            status = "OK" if err <= tol else "FAIL"
            ok &= err <= tol
            print("%s %s: relative error %.3e (tolerance %.1e)" % (status, name, err, tol))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
