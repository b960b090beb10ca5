"""Minimal safetensors reader/writer on the Python standard library only.

Used by the tests to build inputs and to read results independently of the
C++ reader under test. Tensors are (dtype, shape, flat list of values).
"""
import json
import struct

# dtype -> (struct format char, size). BF16 is handled separately.
_FORMATS = {
    "F64": ("d", 8), "F32": ("f", 4), "F16": ("e", 2), "BF16": (None, 2),
    "I64": ("q", 8), "I32": ("i", 4), "I16": ("h", 2), "I8": ("b", 1),
    "U64": ("Q", 8), "U32": ("I", 4), "U16": ("H", 2), "U8": ("B", 1),
    "BOOL": ("?", 1),
}


def f32_to_bf16_bits(v):
    """Round-to-nearest-even f32 -> bf16, returned as a 16-bit integer."""
    (bits,) = struct.unpack("<I", struct.pack("<f", v))
    if (bits & 0x7F800000) == 0x7F800000 and (bits & 0x7FFFFF):
        return (bits >> 16) | 0x40  # quiet NaN
    rounding = 0x7FFF + ((bits >> 16) & 1)
    return ((bits + rounding) >> 16) & 0xFFFF


def bf16_bits_to_f32(h):
    return struct.unpack("<f", struct.pack("<I", (h & 0xFFFF) << 16))[0]


def round_to(dtype, v):
    """The value `v` takes after a round trip through `dtype`."""
    if dtype == "F32":
        return struct.unpack("<f", struct.pack("<f", v))[0]
    if dtype == "F16":
        return struct.unpack("<e", struct.pack("<e", v))[0]
    if dtype == "BF16":
        return bf16_bits_to_f32(f32_to_bf16_bits(v))
    return v


def encode(dtype, values):
    if dtype == "BF16":
        return struct.pack("<%dH" % len(values), *[f32_to_bf16_bits(v) for v in values])
    fmt, _ = _FORMATS[dtype]
    return struct.pack("<%d%s" % (len(values), fmt), *values)


def decode(dtype, data):
    if dtype == "BF16":
        return [bf16_bits_to_f32(h) for h in struct.unpack("<%dH" % (len(data) // 2), data)]
    fmt, size = _FORMATS[dtype]
    return list(struct.unpack("<%d%s" % (len(data) // size, fmt), data))


def write(path, tensors, metadata=None):
    """tensors: dict name -> (dtype, shape, flat values)."""
    header = {}
    blobs = []
    offset = 0
    for name, (dtype, shape, values) in tensors.items():
        n = 1
        for d in shape:
            n *= d
        assert len(values) == n, (name, len(values), shape)
        blob = encode(dtype, values)
        header[name] = {"dtype": dtype, "shape": list(shape),
                        "data_offsets": [offset, offset + len(blob)]}
        blobs.append(blob)
        offset += len(blob)
    if metadata:
        header["__metadata__"] = {k: str(v) for k, v in metadata.items()}
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * ((8 - len(text) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for b in blobs:
            f.write(b)


def read(path):
    """Returns (tensors, metadata); tensors: name -> (dtype, shape, values)."""
    with open(path, "rb") as f:
        data = f.read()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + n])
    body = data[8 + n:]
    meta = header.pop("__metadata__", {})
    out = {}
    for name, e in header.items():
        b, end = e["data_offsets"]
        out[name] = (e["dtype"], e["shape"], decode(e["dtype"], body[b:end]))
    return out, meta
