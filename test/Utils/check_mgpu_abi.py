#!/usr/bin/env python3
"""Checks that a runtime library defines every mgpu* function that
gpu-to-llvm code calls.

  check_mgpu_abi.py --nm llvm-nm LIB.so IN.ll [IN.ll ...]

Prints each `declare ... @mgpu*` found in the LLVM IR files and whether LIB
exports it; exits 1 if one is missing (or none is declared at all).
"""
import argparse
import re
import subprocess
import sys


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--nm", default="llvm-nm")
    p.add_argument("lib")
    p.add_argument("ir", nargs="+")
    a = p.parse_args()
    decls = {}
    for path in a.ir:
        for line in open(path):
            m = re.match(r"declare .*@(mgpu\w+)\(", line)
            if m:
                decls[m.group(1)] = line.strip()
    out = subprocess.run([a.nm, "-D", "--defined-only", a.lib],
                         capture_output=True, text=True, check=True).stdout
    exported = {l.split()[-1] for l in out.splitlines() if l.strip()}
    missing = 0
    for name in sorted(decls):
        ok = name in exported
        missing += not ok
        print("%s %s" % ("OK" if ok else "MISSING", decls[name]))
    if not decls:
        print("FAIL no mgpu* declarations")
        return 1
    print("%d mgpu* functions called, %d missing from %s" % (len(decls), missing, a.lib))
    return 1 if missing else 0


if __name__ == "__main__":
    sys.exit(main())
