#!/usr/bin/env python3
"""Assembles PTX with `ptxas -v` and reports per-kernel resources.

  ptxas_report.py --ptxas PATH --arch sm_90 IN.ptx [--no-spill]

Prints one line per kernel: "<kernel>: <N> registers, <S> bytes spilled,
<F> bytes stack, <M> bytes smem". With --no-spill, exits 1 when a kernel
spills or needs a stack frame. Also used by bench/gpu_static.
"""
import argparse
import re
import subprocess
import sys
import tempfile


def parse(log):
    """ptxas -v output -> {kernel: {regs, spill_st, spill_ld, stack, smem}}."""
    stats, cur = {}, None
    for line in log.splitlines():
        m = re.search(r"Compiling entry function '(\w+)'", line)
        if m:
            cur = stats.setdefault(m.group(1), dict(regs=0, spill_st=0, spill_ld=0,
                                                    stack=0, smem=0))
            continue
        if cur is None:
            continue
        m = re.search(r"(\d+) bytes stack frame, (\d+) bytes spill stores, "
                      r"(\d+) bytes spill loads", line)
        if m:
            cur["stack"], cur["spill_st"], cur["spill_ld"] = map(int, m.groups())
        m = re.search(r"Used (\d+) registers", line)
        if m:
            cur["regs"] = int(m.group(1))
        m = re.search(r"(\d+) bytes smem", line)
        if m:
            cur["smem"] = int(m.group(1))
    return stats


def assemble(ptxas, arch, ptx_path):
    """Runs ptxas; returns (returncode, stats, log)."""
    with tempfile.NamedTemporaryFile(suffix=".cubin") as out:
        r = subprocess.run([ptxas, "-arch=%s" % arch, "-v", "-O3", ptx_path,
                            "-o", out.name], capture_output=True, text=True)
    log = r.stdout + r.stderr
    return r.returncode, parse(log), log


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--ptxas", required=True)
    p.add_argument("--arch", required=True)
    p.add_argument("--no-spill", action="store_true")
    p.add_argument("ptx")
    a = p.parse_args()
    rc, stats, log = assemble(a.ptxas, a.arch, a.ptx)
    if rc != 0:
        sys.stdout.write(log)
        print("FAIL ptxas exited with %d" % rc)
        return 1
    if not stats:
        print("FAIL no kernels")
        return 1
    bad = 0
    for name in sorted(stats):
        s = stats[name]
        spilled = s["spill_st"] + s["spill_ld"]
        print("%s: %d registers, %d bytes spilled, %d bytes stack, %d bytes smem"
              % (name, s["regs"], spilled, s["stack"], s["smem"]))
        if a.no_spill and (spilled or s["stack"]):
            print("FAIL %s spills or uses a stack frame" % name)
            bad += 1
    print("%s %d kernels assembled for %s" % ("FAIL" if bad else "OK", len(stats), a.arch))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
