"""Round-trip check of squant-quantize output against the original weights
(Python standard library; codes unpacked with squant_ref).

  check_quantized.py ORIG_DIR QUANT_DIR --bits B --method kmeans|rtn
                     [--outlier-fraction F]

For every linear: the SqueezeLLM tensors have the expected shapes; every
non-outlier weight is coded to the nearest entry of its channel's table;
outliers are the F largest magnitudes of the tensor and dense + sparse
reproduces them exactly (f32 rounding); tables are sorted; for kmeans each
used entry is the mean of the weights coded to it (a Lloyd fixed point),
for rtn the table is uniform from the channel's min to its max.
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import safetensors_lite as st  # noqa: E402
import squant_ref  # noqa: E402


def main():
    p = argparse.ArgumentParser()
    p.add_argument("orig")
    p.add_argument("quant")
    p.add_argument("--bits", type=int, required=True)
    p.add_argument("--method", required=True)
    p.add_argument("--outlier-fraction", type=float, default=0.0)
    p.add_argument("--sensitivity", default="")
    a = p.parse_args()
    sens = st.read(a.sensitivity)[0] if a.sensitivity else {}
    orig, _ = st.read(os.path.join(a.orig, "model.safetensors"))
    quant, _ = st.read(os.path.join(a.quant, "model.safetensors"))
    E = 1 << a.bits
    linears = sorted(n[:-len(".qweight")] for n in quant if n.endswith(".qweight"))
    if not linears:
        print("FAIL no quantized linears")
        return 1
    total_out = 0
    for base in linears:
        _, (n, k), w = orig[base + ".weight"]
        _, qshape, q = quant[base + ".qweight"]
        _, lshape, lut = quant[base + ".lookup_table"]
        if qshape != [k * a.bits // 32, n] or lshape != [n, E]:
            print("FAIL %s: shapes %s %s" % (base, qshape, lshape))
            return 1
        codes = squant_ref.unpack(q, qshape, a.bits, k, "squeezellm")
        outliers = set()
        if a.outlier_fraction > 0:
            rows = quant[base + ".rows"][2]
            cols = quant[base + ".cols"][2]
            vals = quant[base + ".vals"][2]
            want = round(a.outlier_fraction * n * k)
            if len(cols) != want:
                print("FAIL %s: %d outliers, expected %d" % (base, len(cols), want))
                return 1
            for r in range(n):
                for i in range(rows[r], rows[r + 1]):
                    c = cols[i]
                    outliers.add((r, c))
                    rec = lut[r * E + codes[r][c]] + vals[i]
                    if abs(rec - w[r * k + c]) > 1e-6 * abs(w[r * k + c]):
                        print("FAIL %s: outlier (%d,%d) reconstructs to %r, not %r"
                              % (base, r, c, rec, w[r * k + c]))
                        return 1
            smallest_out = min(abs(w[r * k + c]) for r, c in outliers)
            largest_in = max(abs(w[r * k + c]) for r in range(n) for c in range(k)
                             if (r, c) not in outliers)
            if largest_in > smallest_out:
                print("FAIL %s: outliers are not the largest magnitudes" % base)
                return 1
            total_out += len(cols)
        for r in range(n):
            t = lut[r * E:(r + 1) * E]
            if any(t[i] > t[i + 1] for i in range(E - 1)):
                print("FAIL %s: table of channel %d is not sorted" % (base, r))
                return 1
            members = [[] for _ in range(E)]
            for c in range(k):
                v = w[r * k + c]
                code = codes[r][c]
                best = min(abs(v - x) for x in t)
                if abs(v - t[code]) > best + 1e-7 * abs(v):
                    print("FAIL %s: weight (%d,%d) not coded to its nearest entry"
                          % (base, r, c))
                    return 1
                if (r, c) not in outliers:
                    s_w = sens[base + ".weight"][2][r * k + c] if sens else 1.0
                    members[code].append((v, s_w))
            inliers = [v for m in members for v, _ in m]
            if a.method == "kmeans":
                for e in range(E):
                    if members[e]:
                        mean = (sum(v * s_w for v, s_w in members[e]) /
                                sum(s_w for _, s_w in members[e]))
                        if abs(mean - t[e]) > 1e-5 * max(abs(x) for x in inliers):
                            print("FAIL %s: channel %d entry %d is %r, its members' mean %r"
                                  % (base, r, e, t[e], mean))
                            return 1
            else:
                lo, hi = min(inliers), max(inliers)
                step = (hi - lo) / (E - 1)
                for e in range(E):
                    if abs(t[e] - (lo + e * step)) > 1e-6 * max(abs(lo), abs(hi)):
                        print("FAIL %s: channel %d table is not uniform on [min, max]"
                              % (base, r))
                        return 1
    print("OK %d linears (%s %d-bit, %d outliers): nearest-entry codes, %s, "
          "exact outliers" % (len(linears), a.method, a.bits, total_out,
                              "Lloyd fixed points" if a.method == "kmeans" else
                              "uniform tables"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
