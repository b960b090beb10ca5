#!/usr/bin/env python3
"""Generates a self-contained GPU execution test: MLIR with the data.

  gen_gpu_run_case.py --prefix P --seed S --m M --n N --k K --bits B
                      [--outliers FRAC]

Writes P.mlir and P.expected.txt. P.mlir holds the inputs as host constants,
`@layer` (squant.unpack squeezellm + squant.lut_matmul with optional CSR
outliers, on tensors: what squant-gpu-pipeline compiles to kernels), and
`@main`, which uploads the inputs to device memory (gpu.alloc + gpu.memcpy),
calls @layer, downloads y to a host buffer and prints it with
printMemrefF32. P.expected.txt holds y from squant_ref.py (float64), one
value per line; compare_printed.py checks the printed values against it.
"""
import argparse
import random

import squant_ref as ref


def dense(values, shape, fmt):
    if len(shape) == 1:
        return "[" + ", ".join(fmt(v) for v in values) + "]"
    step = len(values) // shape[0]
    return "[" + ", ".join(dense(values[i * step:(i + 1) * step], shape[1:], fmt)
                           for i in range(shape[0])) + "]"


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--prefix", required=True)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--m", type=int, required=True)
    p.add_argument("--n", type=int, required=True)
    p.add_argument("--k", type=int, required=True)
    p.add_argument("--bits", type=int, required=True)
    p.add_argument("--outliers", type=float, default=0.0)
    a = p.parse_args()
    rng = random.Random(a.seed)
    m, n, k, bits = a.m, a.n, a.k, a.bits
    entries = 1 << bits
    codes = [[rng.randrange(entries) for _ in range(k)] for _ in range(n)]
    lut = [rng.gauss(0.0, 1.0) for _ in range(n * entries)]
    x = [rng.uniform(-1.0, 1.0) for _ in range(m * k)]
    csr = None
    if a.outliers > 0:
        nnz = max(1, round(a.outliers * n * k))
        pos = sorted(rng.sample(range(n * k), nnz))
        rows = [0] * (n + 1)
        cols, vals = [], []
        for q in pos:
            rows[q // k + 1] += 1
            cols.append(q % k)
            vals.append(rng.gauss(0.0, 3.0))
        for r in range(n):
            rows[r + 1] += rows[r]
        csr = (rows, cols, vals)
    # Values as f32 (what the kernel sees), the reference in float64.
    import struct
    f32 = lambda v: struct.unpack("<f", struct.pack("<f", v))[0]
    lut = [f32(v) for v in lut]
    x = [f32(v) for v in x]
    if csr:
        csr = (csr[0], csr[1], [f32(v) for v in csr[2]])
    w = ref.dequant(codes, lut, [n, entries])
    y = ref.matmul(x, m, k, w, csr)
    words, wshape = ref.pack(codes, bits, "squeezellm")

    ffmt = lambda v: "%.9e" % v
    ifmt = lambda v: "%d" % v
    lines = ["#CSR = #sparse_tensor.encoding<{map = (d0, d1) -> (d0 : dense, "
             "d1 : compressed), posWidth = 32, crdWidth = 32}>",
             "module {"]
    globals_ = [("x", [m, k], "f32", x, ffmt), ("q", wshape, "i32", words, ifmt),
                ("lut", [n, entries], "f32", lut, ffmt)]
    if csr:
        nnz = len(csr[1])
        globals_ += [("rows", [n + 1], "i32", csr[0], ifmt),
                     ("cols", [nnz], "i32", csr[1], ifmt),
                     ("vals", [nnz], "f32", csr[2], ffmt)]
    for name, shape, t, vals, fmt in globals_:
        mt = "memref<%sx%s>" % ("x".join(map(str, shape)), t)
        lines.append('  memref.global "private" constant @%s : %s = dense<%s>'
                     % (name, mt, dense(vals, shape, fmt)))
    tt = lambda shape, t: "tensor<%sx%s>" % ("x".join(map(str, shape)), t)
    ct = tt([n, k], "i%d" % bits)
    args = [("x", [m, k], "f32"), ("q", wshape, "i32"), ("lut", [n, entries], "f32")]
    if csr:
        args += [("rows", [n + 1], "i32"), ("cols", [len(csr[1])], "i32"),
                 ("vals", [len(csr[1])], "f32")]
    yt = tt([m, n], "f32")
    lines.append("  func.func @layer(%s) -> %s {" % (
        ", ".join("%%%s: %s" % (nm, tt(s, t)) for nm, s, t in args), yt))
    lines.append("    %%ce = tensor.empty() : %s" % ct)
    lines.append("    %%codes = squant.unpack squeezellm ins(%%q : %s) outs(%%ce : %s) -> %s"
                 % (tt(wshape, "i32"), ct, ct))
    outl = ""
    if csr:
        nnz = len(csr[1])
        st = "tensor<%dx%dxf32, #CSR>" % (n, k)
        lines.append("    %%S = sparse_tensor.assemble (%%rows, %%cols), %%vals : "
                     "(tensor<%dxi32>, tensor<%dxi32>), tensor<%dxf32> to %s"
                     % (n + 1, nnz, nnz, st))
        outl = " outliers(%%S : %s)" % st
    lines.append("    %%ye = tensor.empty() : %s" % yt)
    lines.append("    %%y = squant.lut_matmul ins(%%x, %%codes, %%lut : %s, %s, %s)%s "
                 "outs(%%ye : %s) -> %s" % (tt([m, k], "f32"), ct,
                                           tt([n, entries], "f32"), outl, yt, yt))
    lines.append("    return %%y : %s" % yt)
    lines.append("  }")
    lines.append("  func.func private @printMemrefF32(memref<*xf32>)")
    lines.append("  func.func @main() {")
    operands = []
    for name, shape, t in args:
        mt = "memref<%sx%s>" % ("x".join(map(str, shape)), t)
        lines.append("    %%%s_h = memref.get_global @%s : %s" % (name, name, mt))
        lines.append("    %%%s_d = gpu.alloc () : %s" % (name, mt))
        lines.append("    gpu.memcpy %%%s_d, %%%s_h : %s, %s" % (name, name, mt, mt))
        lines.append("    %%%s_t = bufferization.to_tensor %%%s_d restrict : %s to %s"
                     % (name, name, mt, tt(shape, t)))
        operands.append("%%%s_t" % name)
    ym = "memref<%dx%dxf32>" % (m, n)
    lines.append("    %%y = call @layer(%s) : (%s) -> %s" % (
        ", ".join(operands), ", ".join(tt(s, t) for _, s, t in args), yt))
    lines.append("    %%y_d = bufferization.to_buffer %%y read_only : %s to %s" % (yt, ym))
    lines.append("    %%y_h = memref.alloca() : %s" % ym)
    lines.append("    gpu.memcpy %%y_h, %%y_d : %s, %s" % (ym, ym))
    lines.append("    %%u = memref.cast %%y_h : %s to memref<*xf32>" % ym)
    lines.append("    call @printMemrefF32(%u) : (memref<*xf32>) -> ()")
    lines.append("    return")
    lines.append("  }")
    lines.append("}")
    with open(a.prefix + ".mlir", "w") as f:
        f.write("\n".join(lines) + "\n")
    with open(a.prefix + ".expected.txt", "w") as f:
        for row in y:
            for v in row:
                f.write("%.17g\n" % v)


if __name__ == "__main__":
    main()
