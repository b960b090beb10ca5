"""Checks squant's GGUF reading against PyPI's `gguf` reader.

  check_gguf.py FILE.gguf DUMP.txt [--exported X.safetensors]
        [--compiled Y.safetensors --tensor NAME]

DUMP.txt is `squant-run --gguf=FILE` output: every metadata key/value and
every tensor's type and shape must equal what gguf.GGUFReader reads. The
exported re-layout (codes/scale/zero) is checked bit-exactly against codes
decoded here from the raw ggml blocks, the runtime's reference
dequantization against gguf.quants.dequantize (bit-exact), and the
dequantization computed by compiled squant code (build_lut affine + unpack
+ lut_dequant) within 1e-6 of max|w| (Q4_1's affine table computes
d*(q - (-m/d)) rather than d*q + m).
"""
import argparse
import sys

import numpy as np
from gguf import GGUFReader, GGUFValueType
from gguf.quants import dequantize



def field_value(f):
    t = f.types[0]
    if t == GGUFValueType.STRING:
        return "str", bytes(f.parts[f.data[0]]).decode().split("\n")[0]
    if t == GGUFValueType.ARRAY:
        items = [f.parts[i] for i in f.data]
        if f.types[1] == GGUFValueType.STRING:
            items = [bytes(x).decode() for x in items]
        else:
            items = [x[0].item() for x in items]
        return "array", items
    v = f.parts[f.data[0]][0].item()
    if t == GGUFValueType.BOOL:
        return "bool", int(v)
    if t in (GGUFValueType.FLOAT32, GGUFValueType.FLOAT64):
        return "float", v
    return "int", v


def raw_codes(t):
    """Codes of every element, decoded here from the raw ggml blocks."""
    raw = np.asarray(t.data).reshape(-1)
    if t.tensor_type.name == "Q8_0":
        blocks = raw.view(np.uint8).reshape(-1, 34)
        return (blocks[:, 2:].view(np.int8).astype(np.int32) + 128).reshape(-1)
    blocks = raw.view(np.uint8).reshape(-1, 20 if t.tensor_type.name == "Q4_1" else 18)
    qs = blocks[:, 4:] if t.tensor_type.name == "Q4_1" else blocks[:, 2:]
    return np.concatenate([qs & 15, qs >> 4], axis=1).astype(np.int32).reshape(-1)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("gguf")
    p.add_argument("dump")
    p.add_argument("--exported", default="")
    p.add_argument("--compiled", default="")
    p.add_argument("--tensor", action="append", default=[])
    a = p.parse_args()
    r = GGUFReader(a.gguf)
    lines = open(a.dump).read().splitlines()
    meta = {}
    tensors = {}
    for line in lines:
        if line.startswith("meta "):
            k, v = line[5:].split(" = ", 1)
            meta[k] = v
        elif line.startswith("tensor "):
            parts = line.split()
            tensors[parts[1]] = (parts[2], [int(x) for x in parts[3:]])
    n = 0
    for k, f in r.fields.items():
        if k.startswith("GGUF."):
            continue
        kind, v = field_value(f)
        got = meta.get(k)
        if kind == "array":
            want = "array:%d" % len(v)
            if got is None or not got.startswith(want):
                print("FAIL meta %s: %s, gguf has %d items" % (k, got, len(v)))
                return 1
            if v:
                rest = got[len(want):].split()
                if kind and isinstance(v[0], float):
                    ok = abs(float(rest[0]) - v[0]) <= 1e-6 * abs(v[0])
                else:
                    ok = got[len(want):] == " %s %s" % (v[0], v[-1])
                if not ok:
                    print("FAIL meta %s: first/last %r, gguf %r %r" % (k, got, v[0], v[-1]))
                    return 1
        elif kind == "float":
            if got is None or abs(float(got.split(":", 1)[1]) - v) > 1e-6 * abs(v):
                print("FAIL meta %s: %s, gguf %r" % (k, got, v))
                return 1
        elif got != "%s:%s" % (kind, v):
            print("FAIL meta %s: %s, gguf %s:%s" % (k, got, kind, v))
            return 1
        n += 1
    if len(meta) != n:
        print("FAIL %d metadata keys, gguf has %d" % (len(meta), n))
        return 1
    for t in r.tensors:
        shape = [int(x) for x in reversed(t.shape.tolist())]
        if tensors.get(t.name) != (t.tensor_type.name, shape):
            print("FAIL tensor %s: %s, gguf %s %s" % (t.name, tensors.get(t.name),
                                                     t.tensor_type.name, shape))
            return 1
    if len(tensors) != len(r.tensors):
        print("FAIL %d tensors, gguf has %d" % (len(tensors), len(r.tensors)))
        return 1
    print("OK metadata: %d keys, %d tensors equal" % (n, len(tensors)))

    by_name = {t.name: t for t in r.tensors}
    if a.exported:
        ex = read_np(a.exported)
        for name in a.tensor:
            t = by_name[name]
            ref = dequantize(t.data, t.tensor_type).astype(np.float32).reshape(-1)
            mine = ex[name + ".reference"].reshape(-1)
            if not np.array_equal(ref.view(np.uint32), mine.view(np.uint32)):
                print("FAIL %s: runtime reference dequantization differs (max %g)"
                      % (name, np.abs(ref - mine).max()))
                return 1
            bits = 8 if t.tensor_type.name == "Q8_0" else 4
            words = ex[name + ".codes"].view(np.uint32)
            rows = words.shape[0]
            per_word = 32 // bits
            codes = np.stack([(words >> (bits * j)) & ((1 << bits) - 1)
                              for j in range(per_word)], axis=-1).reshape(rows, -1)
            if not np.array_equal(codes.reshape(-1).astype(np.int32), raw_codes(t)):
                print("FAIL %s: re-laid out codes differ from the ggml blocks" % name)
                return 1
            print("OK %s (%s): %d codes bit-exact, reference dequantization "
                  "bit-exact with gguf" % (name, t.tensor_type.name, codes.size))
    if a.compiled:
        comp = read_np(a.compiled)
        for name in a.tensor:
            t = by_name[name]
            ref = dequantize(t.data, t.tensor_type).astype(np.float32)
            w = comp["w"].reshape(ref.shape)
            err = np.abs(w.astype(np.float64) - ref).max() / np.abs(ref).max()
            if not err <= 1e-6:
                print("FAIL %s: compiled dequantization error %g of max|w|" % (name, err))
                return 1
            print("OK %s: compiled squant dequantization within %.2g of max|w|" % (name, err))
    return 0


def read_np(path):
    import json
    import struct
    data = open(path, "rb").read()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + n])
    header.pop("__metadata__", None)
    body = data[8 + n:]
    types = {"F32": np.float32, "F16": np.float16, "I32": np.int32, "U8": np.uint8}
    out = {}
    for k, e in header.items():
        b, end = e["data_offsets"]
        out[k] = np.frombuffer(body[b:end], dtype=types[e["dtype"]]).reshape(e["shape"])
    return out


if __name__ == "__main__":
    sys.exit(main())
