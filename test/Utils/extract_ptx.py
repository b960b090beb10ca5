#!/usr/bin/env python3
"""Extracts the PTX of gpu.binary ops (format=isa) from an MLIR file.

  extract_ptx.py IN.mlir -o OUT.ptx

squant-gpu-pipeline with format=isa stores the PTX text as the `assembly`
string of each #gpu.object. MLIR prints non-printable bytes as \\XX (hex) and
escapes '"' and '\\'; this undoes that. Exactly one object is expected (all
squant kernels live in one gpu.module); exits 1 otherwise.
"""
import argparse
import re
import sys


def unescape(s, i):
    """Parses an MLIR string literal body starting at s[i] (after the quote).
    Returns (text, index after the closing quote)."""
    out = bytearray()
    while i < len(s):
        c = s[i]
        if c == '"':
            return out.decode("utf-8"), i + 1
        if c == "\\":
            nxt = s[i + 1]
            if nxt in '\\"':
                out += nxt.encode()
                i += 2
            elif nxt == "n":
                out += b"\n"
                i += 2
            elif nxt == "t":
                out += b"\t"
                i += 2
            else:
                out.append(int(s[i + 1:i + 3], 16))
                i += 3
            continue
        out += c.encode("utf-8")
        i += 1
    raise ValueError("unterminated string")


def main():
    p = argparse.ArgumentParser()
    p.add_argument("input")
    p.add_argument("-o", "--output", required=True)
    a = p.parse_args()
    text = open(a.input, encoding="utf-8").read()
    objects = [m.end() for m in re.finditer(r'assembly = "', text)]
    if len(objects) != 1:
        print("extract_ptx.py: expected one PTX object (format=isa), found %d"
              % len(objects), file=sys.stderr)
        return 1
    ptx, _ = unescape(text, objects[0])
    with open(a.output, "w", encoding="utf-8") as f:
        f.write(ptx)
    return 0


if __name__ == "__main__":
    sys.exit(main())
