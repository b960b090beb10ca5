#!/usr/bin/env python3
"""Generates one random LUT-matmul test case: MLIR, inputs, expected outputs.

  gen_lut_case.py --prefix P --seed S --m M --n N --k K --bits B
                  [--table global|channel|groups=G] [--outliers FRAC]
                  [--layout squeezellm|row_major|none]
                  [--x-dtype F32|F16|BF16] [--lut-dtype ...] [--out-dtype ...]
                  [--affine [--scale-dtype F16|...] [--zero-dtype F32|I8|...]]

Writes P.mlir (function @case), P.in.safetensors and P.expected.safetensors.
The function unpacks the packed words (unless --layout none, when codes are
an argument), re-packs them, dequantizes them and runs lut_matmul with the
optional CSR outliers; the expected values come from squant_ref.py. With
--affine the table is not an input: `squant.build_lut affine` makes it from
random scales and zero points (lut[.., q] = scale * (q - zero) in f32, rounded
to --lut-dtype), so that the fused affine kernels are exercised.
"""
import argparse
import random

import safetensors_lite as st
import squant_ref as ref

MLIR_TYPE = {"F32": "f32", "F16": "f16", "BF16": "bf16"}


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--prefix", required=True)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--m", type=int, required=True)
    p.add_argument("--n", type=int, required=True)
    p.add_argument("--k", type=int, required=True)
    p.add_argument("--bits", type=int, required=True)
    p.add_argument("--table", default="channel")
    p.add_argument("--outliers", type=float, default=0.0)
    p.add_argument("--layout", default="squeezellm")
    p.add_argument("--x-dtype", default="F32")
    p.add_argument("--lut-dtype", default="F32")
    p.add_argument("--out-dtype", default="F32")
    p.add_argument("--dynamic-m", action="store_true",
                   help="declare M as a dynamic dimension")
    p.add_argument("--affine", action="store_true",
                   help="build the table with squant.build_lut affine")
    p.add_argument("--scale-dtype", default="F16")
    p.add_argument("--zero-dtype", default="F32")
    a = p.parse_args()
    rng = random.Random(a.seed)
    m, n, k, bits = a.m, a.n, a.k, a.bits
    entries = 1 << bits

    codes = [[rng.randrange(entries) for _ in range(k)] for _ in range(n)]
    if a.table == "global":
        lut_shape = [entries]
    elif a.table == "channel":
        lut_shape = [n, entries]
    else:
        groups = int(a.table.split("=")[1])
        assert k % groups == 0
        lut_shape = [n, groups, entries]
    count = 1
    for d in lut_shape:
        count *= d
    if a.affine:
        # One (scale, zero) per table; entries as build_lut computes them.
        param_shape = lut_shape[:-1]
        tables = count // entries
        scale = [st.round_to(a.scale_dtype, rng.uniform(0.001, 0.1))
                 for _ in range(tables)]
        if a.zero_dtype.startswith("I"):
            zero = [rng.randrange(max(-128, -entries // 2), min(128, entries))
                    for _ in range(tables)]
        else:
            zero = [st.round_to(a.zero_dtype, rng.uniform(-1.0, entries))
                    for _ in range(tables)]
        f32 = lambda v: st.round_to("F32", v)
        lut = [st.round_to(a.lut_dtype, f32(scale[t] * f32(q - zero[t])))
               for t in range(tables) for q in range(entries)]
    else:
        lut = [st.round_to(a.lut_dtype, rng.gauss(0.0, 1.0))
               for _ in range(count)]
    x = [st.round_to(a.x_dtype, rng.uniform(-1.0, 1.0)) for _ in range(m * k)]

    csr = None
    if a.outliers > 0:
        nnz = max(1, round(a.outliers * n * k))
        pos = sorted(rng.sample(range(n * k), nnz))
        rows = [0] * (n + 1)
        cols, vals = [], []
        for q in pos:
            rows[q // k + 1] += 1
            cols.append(q % k)
            vals.append(st.round_to("F32", rng.gauss(0.0, 3.0)))
        for r in range(n):
            rows[r + 1] += rows[r]
        csr = (rows, cols, vals)

    w = ref.dequant(codes, lut, lut_shape)
    y = ref.matmul(x, m, k, w, csr)

    inputs = {"x": (a.x_dtype, [m, k], x)}
    if a.affine:
        inputs["scale"] = (a.scale_dtype, param_shape, scale)
        inputs["zero"] = (a.zero_dtype, param_shape, zero)
    else:
        inputs["lut"] = (a.lut_dtype, lut_shape, lut)
    expected = {"w": ("F32", [n, k], [v for row in w for v in row]),
                "y": (a.out_dtype, [m, n],
                      [st.round_to(a.out_dtype, v) for row in y for v in row])}
    if a.layout == "none":
        inputs["codes_in"] = ("U8", [n, k], [c for row in codes for c in row])
    else:
        words, wshape = ref.pack(codes, bits, a.layout)
        inputs["qweight"] = ("I32", wshape, words)
        expected["packed"] = ("I32", wshape, words)
        # squant-run writes i8 results as I8 and narrower codes as U8.
        if bits == 8:
            expected["codes"] = ("I8", [n, k], [c - 256 if c >= 128 else c
                                                for row in codes for c in row])
        else:
            expected["codes"] = ("U8", [n, k], [c for row in codes for c in row])
        # The reference unpacker must agree with its own packer.
        assert ref.unpack(words, wshape, bits, k, a.layout) == codes
    if csr:
        inputs["rows"] = ("I32", [n + 1], csr[0])
        inputs["cols"] = ("I32", [len(csr[1])], csr[1])
        inputs["vals"] = ("F32", [len(csr[2])], csr[2])
    st.write(a.prefix + ".in.safetensors", inputs)
    st.write(a.prefix + ".expected.safetensors", expected)

    # The MLIR under test.
    xt, lt, ot = MLIR_TYPE[a.x_dtype], MLIR_TYPE[a.lut_dtype], MLIR_TYPE[a.out_dtype]
    ms = "?" if a.dynamic_m else str(m)
    ct = "tensor<%dx%dxi%d>" % (n, k, bits)
    lut_t = "tensor<%sx%s>" % ("x".join(map(str, lut_shape)), lt)
    args = ['%%x: tensor<%sx%dx%s> {squant.name = "x"}' % (ms, k, xt)]
    body, results, rtypes = [], [], []
    if a.affine:
        shape = "".join("%dx" % d for d in param_shape)
        elt = lambda dt: MLIR_TYPE.get(dt) or "i%s" % dt[1:]
        st_, zt = ("tensor<%s%s>" % (shape, elt(a.scale_dtype)),
                   "tensor<%s%s>" % (shape, elt(a.zero_dtype)))
        args += ['%%scale: %s {squant.name = "scale"}' % st_,
                 '%%zero: %s {squant.name = "zero"}' % zt]
        body += ["%%le = tensor.empty() : %s" % lut_t,
                 "%%lut = squant.build_lut affine scale(%%scale : %s) "
                 "zero(%%zero : %s) outs(%%le : %s) -> %s" % (st_, zt, lut_t, lut_t)]
    else:
        args.append('%%lut: %s {squant.name = "lut"}' % lut_t)
    if a.layout == "none":
        args.insert(1, '%%codes: %s {squant.name = "codes_in"}' % ct)
    else:
        wt = "tensor<%dx%dxi32>" % tuple(wshape)
        args.insert(1, '%%qweight: %s {squant.name = "qweight"}' % wt)
        body += [
            "%%ce = tensor.empty() : %s" % ct,
            "%%codes = squant.unpack %s ins(%%qweight : %s) outs(%%ce : %s) -> %s"
            % (a.layout, wt, ct, ct),
            "%%pe = tensor.empty() : %s" % wt,
            "%%packed = squant.pack %s ins(%%codes : %s) outs(%%pe : %s) -> %s"
            % (a.layout, ct, wt, wt)]
        results += [("%codes", ct, "codes"), ("%packed", wt, "packed")]
    wtype = "tensor<%dx%dxf32>" % (n, k)
    body += ["%%we = tensor.empty() : %s" % wtype,
             "%%w = squant.lut_dequant ins(%%codes, %%lut : %s, %s) outs(%%we : %s) -> %s"
             % (ct, lut_t, wtype, wtype)]
    results.append(("%w", wtype, "w"))
    outliers = ""
    if csr:
        nnz = len(csr[1])
        args += ['%%rows: tensor<%dxi32> {squant.name = "rows"}' % (n + 1),
                 '%%cols: tensor<%dxi32> {squant.name = "cols"}' % nnz,
                 '%%vals: tensor<%dxf32> {squant.name = "vals"}' % nnz]
        st_t = "tensor<%dx%dxf32, #CSR>" % (n, k)
        body.append("%%S = sparse_tensor.assemble (%%rows, %%cols), %%vals : "
                    "(tensor<%dxi32>, tensor<%dxi32>), tensor<%dxf32> to %s"
                    % (n + 1, nnz, nnz, st_t))
        outliers = " outliers(%%S : %s)" % st_t
    yt = "tensor<%sx%dx%s>" % (ms, n, ot)
    xtt = "tensor<%sx%dx%s>" % (ms, k, xt)
    if a.dynamic_m:
        body += ["%c0 = arith.constant 0 : index",
                 "%%m = tensor.dim %%x, %%c0 : %s" % xtt,
                 "%%ye = tensor.empty(%%m) : %s" % yt]
    else:
        body.append("%%ye = tensor.empty() : %s" % yt)
    body.append("%%y = squant.lut_matmul ins(%%x, %%codes, %%lut : %s, %s, %s)%s "
                "outs(%%ye : %s) -> %s" % (xtt, ct, lut_t, outliers, yt, yt))
    results.append(("%y", yt, "y"))
    with open(a.prefix + ".mlir", "w") as f:
        f.write("#CSR = #sparse_tensor.encoding<{map = (d0, d1) -> (d0 : dense, "
                "d1 : compressed), posWidth = 32, crdWidth = 32}>\n")
        f.write("func.func @case(%s)\n    -> (%s) {\n" % (
            ", ".join(args),
            ", ".join('%s {squant.name = "%s"}' % (t, nm) for _, t, nm in results)))
        for line in body:
            f.write("  " + line + "\n")
        f.write("  return %s : %s\n}\n" % (", ".join(v for v, _, _ in results),
                                          ", ".join(t for _, t, _ in results)))


if __name__ == "__main__":
    main()
