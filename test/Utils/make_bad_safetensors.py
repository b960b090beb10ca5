#!/usr/bin/env python3
"""Writes hostile or malformed safetensors files for the reader's tests.

  make_bad_safetensors.py DIR

Each file is named after what is wrong with it. A valid file good.safetensors
holds x: F32 [1, 4] for reference.
"""
import json
import os
import struct
import sys

import safetensors_lite as st


def raw(path, header, data=b"", length=None):
    text = header if isinstance(header, bytes) else json.dumps(header).encode()
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text) if length is None else length))
        f.write(text)
        f.write(data)


def main():
    d = sys.argv[1]
    os.makedirs(d, exist_ok=True)
    p = lambda name: os.path.join(d, name + ".safetensors")
    st.write(p("good"), {"x": ("F32", [1, 4], [1.0, 2.0, 3.0, 4.0])})
    good = open(p("good"), "rb").read()
    # Cut in the middle of the data section.
    open(p("truncated"), "wb").write(good[:-5])
    # Cut inside the 8-byte length.
    open(p("tiny"), "wb").write(good[:5])
    open(p("empty"), "wb").write(b"")
    raw(p("huge_header_length"), b"{}", length=1 << 62)
    raw(p("header_past_end"), b"{}", length=1000)
    raw(p("bad_json"), b"{\"x\": {\"dtype\": ")
    raw(p("not_object"), b"[1, 2, 3]")
    raw(p("unknown_dtype"), {"x": {"dtype": "F7", "shape": [1], "data_offsets": [0, 4]}}, b"\0" * 4)
    raw(p("negative_shape"), {"x": {"dtype": "F32", "shape": [-1], "data_offsets": [0, 4]}}, b"\0" * 4)
    raw(p("overflow_shape"), {"x": {"dtype": "F32", "shape": [1 << 40, 1 << 40], "data_offsets": [0, 4]}}, b"\0" * 4)
    raw(p("size_mismatch"), {"x": {"dtype": "F32", "shape": [2], "data_offsets": [0, 4]}}, b"\0" * 4)
    raw(p("offsets_outside"), {"x": {"dtype": "F32", "shape": [1], "data_offsets": [4, 8]}}, b"\0" * 4)
    raw(p("offsets_reversed"), {"x": {"dtype": "F32", "shape": [0], "data_offsets": [4, 0]}}, b"\0" * 4)
    raw(p("overlap"), {"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},
                       "b": {"dtype": "F32", "shape": [2], "data_offsets": [4, 12]}}, b"\0" * 12)
    raw(p("missing_offsets"), {"x": {"dtype": "F32", "shape": [1]}}, b"\0" * 4)
    raw(p("bad_metadata"), {"__metadata__": {"k": 1}})
    # Well-formed files whose tensors do not fit the function.
    st.write(p("wrong_dtype"), {"x": ("F16", [1, 4], [1.0, 2.0, 3.0, 4.0])})
    st.write(p("wrong_shape"), {"x": ("F32", [2, 2], [1.0, 2.0, 3.0, 4.0])})
    st.write(p("wrong_name"), {"y": ("F32", [1, 4], [1.0, 2.0, 3.0, 4.0])})
    st.write(p("codes_out_of_range"), {"c": ("U8", [1, 4], [1, 2, 9, 3])})
    st.write(p("codes_ok"), {"c": ("U8", [1, 4], [1, 2, 7, 3])})


if __name__ == "__main__":
    main()
