#!/usr/bin/env python3
"""Static quality of the squant GPU kernels for LLaMA-7B-class layers.

No GPU is needed: every layer is compiled with squant-gpu-pipeline
(format=isa), its PTX assembled with `ptxas -v`, and the report gives per
kernel the registers, spills, shared memory and an occupancy estimate, and
per layer the bytes moved per weight and the projected (bandwidth-bound)
time at the HBM bandwidth of an RTX A6000, an A100 and an H100, next to an
fp16 matvec/GEMM reading the same activations.

  gpu_static.py [--squant-opt PATH] [--ptxas PATH] [--chips sm_80,sm_86,sm_90]
                [--write-docs docs/gpu-kernels.md] [--check]
                [--emit-mlir FILE]

--check exits 1 when any kernel spills or uses a stack frame, or when a
packed-weight kernel lacks 128-bit read-only loads (the lit test uses it).

Layers: y[M, N] = x[M, K] * W^T with W given as SqueezeLLM-packed B-bit codes
and a per-channel fp16 table (x, y fp16), B in {3, 4}, M in {1, 16}, and
optionally CSR outliers (--outliers FRACTION).
"""
import argparse
import os
import re
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "test", "Utils"))
import extract_ptx  # noqa: E402
import ptxas_report  # noqa: E402

# (N, K): out x in. LLaMA-7B q/k/v/o, gate/up, down; Mistral/LLaMA-3 down.
SHAPES = [(4096, 4096), (11008, 4096), (4096, 11008), (4096, 14336)]
BITS = [3, 4]
MS = [1, 16]

# Per chip: the part whose HBM bandwidth and SM resources we project for.
CHIPS = {
    "sm_86": dict(part="RTX A6000", bw=768e9, sms=84, threads=1536, blocks=16,
                  smem=100 * 1024, regs=65536),
    "sm_80": dict(part="A100", bw=2.0e12, sms=108, threads=2048, blocks=32,
                  smem=164 * 1024, regs=65536),
    "sm_90": dict(part="H100", bw=3.35e12, sms=132, threads=2048, blocks=32,
                  smem=228 * 1024, regs=65536),
}
BANDWIDTHS = [("A6000", 768e9), ("A100", 2.0e12), ("H100", 3.35e12)]


def func_name(n, k, bits, m, outl):
    return "layer_n%d_k%d_b%d_m%d%s" % (n, k, bits, m, "_csr" if outl else "")


def emit_mlir(configs, outliers):
    out = ["#CSR = #sparse_tensor.encoding<{map = (d0, d1) -> (d0 : dense, "
           "d1 : compressed), posWidth = 32, crdWidth = 32}>"]
    for n, k, bits, m in configs:
        words = k * bits // 32
        name = func_name(n, k, bits, m, outliers > 0)
        ct = "tensor<%dx%dxi%d>" % (n, k, bits)
        qt = "tensor<%dx%dxi32>" % (words, n)
        lt = "tensor<%dx%dxf16>" % (n, 1 << bits)
        xt = "tensor<%dx%dxf16>" % (m, k)
        yt = "tensor<%dx%dxf16>" % (m, n)
        args = ["%%x: %s" % xt, "%%q: %s" % qt, "%%lut: %s" % lt]
        outl = ""
        body = []
        if outliers > 0:
            args += ["%%rows: tensor<%dxi32>" % (n + 1), "%cols: tensor<?xi32>",
                     "%vals: tensor<?xf32>"]
            st = "tensor<%dx%dxf32, #CSR>" % (n, k)
            body.append("  %%S = sparse_tensor.assemble (%%rows, %%cols), %%vals : "
                        "(tensor<%dxi32>, tensor<?xi32>), tensor<?xf32> to %s"
                        % (n + 1, st))
            outl = " outliers(%%S : %s)" % st
        out.append("func.func @%s(%s) -> %s {" % (name, ", ".join(args), yt))
        out.append("  %%ce = tensor.empty() : %s" % ct)
        out.append("  %%codes = squant.unpack squeezellm ins(%%q : %s) outs(%%ce : %s) -> %s"
                   % (qt, ct, ct))
        out += body
        out.append("  %%ye = tensor.empty() : %s" % yt)
        out.append("  %%y = squant.lut_matmul ins(%%x, %%codes, %%lut : %s, %s, %s)%s "
                   "outs(%%ye : %s) -> %s" % (xt, ct, lt, outl, yt, yt))
        out.append("  return %%y : %s" % yt)
        out.append("}")
    return "\n".join(out) + "\n"


def run(cmd, **kw):
    r = subprocess.run(cmd, capture_output=True, text=True, **kw)
    if r.returncode != 0:
        sys.stderr.write("command failed: %s\n%s" % (" ".join(cmd), r.stderr[-4000:]))
        sys.exit(1)
    return r


def parse_kernels(ir):
    """Kernel attributes and, per host function, the kernels it launches."""
    kernels = {}
    for m in re.finditer(r"gpu\.func @(\w+)\((.*?)\) (?:workgroup\((.*?)\) )?kernel "
                         r"attributes \{(.*?)\} \{", ir):
        name, attrs = m.group(1), m.group(4)
        blk = re.search(r"known_block_size = array<i32: (\d+), (\d+), (\d+)>", attrs)
        grd = re.search(r"known_grid_size = array<i32: (\d+), (\d+), (\d+)>", attrs)
        strat = re.search(r'squant\.strategy = "([^"]*)"', attrs)
        kernels[name] = dict(
            block=tuple(int(v) for v in blk.groups()),
            grid=tuple(int(v) for v in grd.groups()) if grd else None,
            strategy=strat.group(1) if strat else "")
    launches = {}
    for m in re.finditer(r"func\.func @(\w+)\((.*?)\n  \}", ir, re.S):
        launches[m.group(1)] = re.findall(r"gpu\.launch_func\s+@\w+::@(\w+)", m.group(2))
    return kernels, launches


def occupancy(chip, regs, smem, threads):
    c = CHIPS[chip]
    warps = (threads + 31) // 32
    regs_per_warp = ((max(regs, 1) * 32 + 255) // 256) * 256
    by_regs = (c["regs"] // regs_per_warp) // warps
    by_smem = c["smem"] // (smem + 1024) if smem else c["blocks"]
    by_threads = c["threads"] // (warps * 32)
    blocks = max(0, min(by_regs, by_smem, by_threads, c["blocks"]))
    return blocks, blocks * warps * 32 / c["threads"]


def layer_bytes(n, k, bits, m, outliers):
    """Bytes a layer reads from and writes to DRAM: packed weights, tables,
    activations, CSR outliers. Each is touched once; the tables and x are
    re-read by several blocks, but from L2."""
    weights = n * k * bits / 8
    tables = n * (1 << bits) * 2
    act = m * k * 2 + m * n * 2
    nnz = outliers * n * k
    csr = nnz * 8 + (n + 1) * 4 if outliers else 0
    return weights + tables + act + csr


def partial_bytes(n, m, split, outliers):
    """Split-K partials, written by the main kernel and read back by the
    combine kernel right away (L2-resident: at most a few MiB)."""
    return 2 * split * m * n * 4 if (split > 1 or outliers) else 0


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--squant-opt", default=os.path.join(ROOT, "build", "bin", "squant-opt"))
    p.add_argument("--ptxas", default="ptxas")
    p.add_argument("--chips", default="sm_86,sm_80,sm_90")
    p.add_argument("--outliers", type=float, default=0.0)
    p.add_argument("--write-docs")
    p.add_argument("--emit-mlir")
    p.add_argument("--check", action="store_true")
    a = p.parse_args()

    configs = [(n, k, b, m) for (n, k) in SHAPES for b in BITS for m in MS]
    mlir = emit_mlir(configs, a.outliers)
    if a.emit_mlir:
        with open(a.emit_mlir, "w") as f:
            f.write(mlir)
        return 0

    chips = a.chips.split(",")
    results = {}  # (chip, func) -> [(kernel, info, stats)]
    bad = []
    with tempfile.TemporaryDirectory() as tmp:
        src = os.path.join(tmp, "layers.mlir")
        with open(src, "w") as f:
            f.write(mlir)
        for chip in chips:
            sms = CHIPS[chip]["sms"]
            gpu_ir = run([a.squant_opt, src,
                          "--convert-squant-to-gpu=num-sms=%d" % sms]).stdout
            kernels, launches = parse_kernels(gpu_ir)
            out = os.path.join(tmp, "out_%s.mlir" % chip)
            run([a.squant_opt, src, "--squant-gpu-pipeline=chip=%s format=isa" % chip,
                 "-o", out])
            ptx = os.path.join(tmp, "k_%s.ptx" % chip)
            if subprocess.run(
                    [sys.executable, extract_ptx.__file__, out, "-o", ptx]).returncode:
                sys.exit(1)
            text = open(ptx).read()
            rc, stats, log = ptxas_report.assemble(a.ptxas, chip, ptx)
            if rc != 0:
                sys.stderr.write(log)
                return 1
            for func, names in launches.items():
                results[(chip, func)] = [(kn, kernels[kn], stats[kn]) for kn in names]
                for kn in names:
                    s = stats[kn]
                    if s["spill_st"] or s["spill_ld"] or s["stack"]:
                        bad.append("%s %s: %d/%d bytes spilled, %d bytes stack"
                                   % (chip, kn, s["spill_st"], s["spill_ld"], s["stack"]))
            # 128-bit read-only loads in every packed-weight matmul kernel.
            for kn in set(k for ks in launches.values() for k in ks):
                if not kn.startswith("lut_matmul_b"):
                    continue
                body = text.split(".entry %s(" % kn, 1)[1].split(".entry", 1)[0]
                if "ld.global.nc.v4" not in body:
                    bad.append("%s %s: no ld.global.nc.v4 load" % (chip, kn))

    # Table 1: static quality per layer and chip.
    lines = []
    lines.append("| layer (N x K) | bits | M | chip | kernels: grid x block | "
                 "regs | spill (B) | smem/block | occupancy |")
    lines.append("|---|---|---|---|---|---|---|---|---|")
    for n, k, bits, m in configs:
        func = func_name(n, k, bits, m, a.outliers > 0)
        for chip in chips:
            ks = results[(chip, func)]
            cells = {"grid": [], "regs": [], "spill": [], "smem": [], "occ": []}
            for kn, info, s in ks:
                g = info["grid"] or ("?",) * 3
                threads = info["block"][0] * info["block"][1] * info["block"][2]
                role = "main" if kn.startswith("lut_matmul_b") else "combine"
                cells["grid"].append("%s %sx%sx%s x %d" % (role, g[0], g[1], g[2], threads))
                cells["regs"].append(str(s["regs"]))
                cells["spill"].append(str(s["spill_st"] + s["spill_ld"]))
                cells["smem"].append("%d KiB" % (s["smem"] // 1024) if s["smem"] else "0")
                blocks, occ = occupancy(chip, s["regs"], s["smem"], threads)
                cells["occ"].append("%d%% (%d blk)" % (round(100 * occ), blocks))
            lines.append("| %d x %d | %d | %d | %s | %s | %s | %s | %s | %s |" % (
                n, k, bits, m, chip, "; ".join(cells["grid"]), " / ".join(cells["regs"]),
                " / ".join(cells["spill"]), " / ".join(cells["smem"]),
                " / ".join(cells["occ"])))
    table1 = "\n".join(lines)

    # Table 2: bytes per weight and projected bandwidth-bound time.
    lines = []
    lines.append("| layer (N x K) | bits | M | split-K | DRAM bytes/weight | "
                 "partials via L2 (KiB) | fp16 bytes/weight | "
                 + " | ".join("%s us (fp16 us)" % nm for nm, _ in BANDWIDTHS)
                 + " | bytes vs fp16 |")
    lines.append("|---|---|---|---|---|---|---|" + "---|" * len(BANDWIDTHS) + "---|")
    ref_chip = "sm_90" if "sm_90" in chips else chips[0]
    for n, k, bits, m in configs:
        func = func_name(n, k, bits, m, a.outliers > 0)
        main_k = results[(ref_chip, func)][0][1]
        split = main_k["grid"][1] if main_k["grid"] else 1
        total = layer_bytes(n, k, bits, m, a.outliers)
        fp16 = n * k * 2 + m * k * 2 + m * n * 2
        times = ["%.1f (%.1f)" % (total / bw * 1e6, fp16 / bw * 1e6) for _, bw in BANDWIDTHS]
        lines.append("| %d x %d | %d | %d | %d | %.3f | %d | %.3f | %s | %.2fx |" % (
            n, k, bits, m, split, total / (n * k),
            partial_bytes(n, m, split, a.outliers) // 1024, fp16 / (n * k),
            " | ".join(times), fp16 / total))
    table2 = "\n".join(lines)

    report = ("Kernels per layer (main / combine), compiled per chip "
              "(sm_86 = RTX A6000 class, sm_80 = A100, sm_90 = H100):\n\n" + table1 +
              "\n\nBytes moved per weight and projected bandwidth-bound time "
              "(DRAM bytes / bandwidth; split-K as chosen for %s):\n\n" % ref_chip
              + table2 + "\n")
    print(report)
    if a.write_docs:
        doc = open(a.write_docs).read()
        begin, end = "<!-- gpu_static:begin -->", "<!-- gpu_static:end -->"
        if begin not in doc or end not in doc:
            sys.stderr.write("%s: markers %s ... %s not found\n" % (a.write_docs, begin, end))
            return 1
        head, rest = doc.split(begin, 1)
        _, tail = rest.split(end, 1)
        with open(a.write_docs, "w") as f:
            f.write(head + begin + "\n" + report + end + tail)
    if a.check:
        for b in bad:
            print("FAIL " + b)
        if bad:
            return 1
        print("OK %d kernels: no spills, no stack, 128-bit read-only weight loads"
              % len({(c, kn) for (c, _), ks in results.items() for kn, _, _ in ks}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
