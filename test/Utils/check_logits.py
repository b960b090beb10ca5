"""Checks squant-run --logits output against the float64 reference forward
(llama_ref.py) on the prompt plus the generated tokens.

  check_logits.py MODEL_DIR LOGITS.safetensors --prompt 1,2,3 [--tol 1e-4]

Every prefill row and every decode row (the KV-cache path) must be within
`tol` normwise relative error (max|y - ref| / max|ref|) of the reference,
and the greedy tokens must be the reference's argmax where the reference's
top two logits are not a near tie.

  --kv kvquant,BITS,SINK,OUTLIERS | kivi,BITS,GROUP,RESIDUAL,SINK
      the model was compiled with that quantized KV cache: the reference's
      attention reads a kv_ref.py cache (llama_ref.KVMode).
  --kv-tables FILE   (kvquant) the tables squant-run calibrated on the
      prompt (--kv-tables). The reference repeats the calibration on its own
      float64 forward of the prompt (docs/driver.md: per-channel mean and
      standard deviation times the Lloyd-Max levels of a standard normal,
      computed here by its own iteration and checked against Max's published
      levels) and requires squant's tables to match within --tables-tol;
      both forwards then use squant's tables, so that the logits comparison
      does not depend on table rounding.
"""
import math
import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import llama_ref  # noqa: E402
import safetensors_lite as st  # noqa: E402


# Lloyd-Max levels of N(0, 1) as published by J. Max, "Quantizing for
# minimum distortion" (1960), Table I (positive half; 3 decimals).
MAX_1960 = {2: [0.4528, 1.510], 3: [0.2451, 0.7560, 1.344, 2.152],
            4: [0.1284, 0.3881, 0.6568, 0.9424, 1.256, 1.618, 2.069, 2.733]}


def lloyd_max_normal(bits):
    """Reconstruction levels of the MSE-optimal quantizer of N(0, 1)."""
    n = 1 << bits
    pdf = lambda x: math.exp(-0.5 * x * x) / math.sqrt(2 * math.pi)  # noqa
    cdf = lambda x: 0.5 * math.erfc(-x / math.sqrt(2))  # noqa: E731
    z = [-2.0 + 4.0 * (i + 0.5) / n for i in range(n)]
    for _ in range(3000):
        b = [-math.inf] + [(z[i] + z[i + 1]) / 2 for i in range(n - 1)] + [math.inf]
        z = [((pdf(b[i]) if b[i] != -math.inf else 0.0) -
              (pdf(b[i + 1]) if b[i + 1] != math.inf else 0.0)) /
             (cdf(b[i + 1]) - cdf(b[i])) for i in range(n)]
    return z


def own_tables(fmt, ks, vs, z):
    """The documented calibration on pre-RoPE keys/values [T][H][D]."""
    T, H, D = len(ks), len(ks[0]), len(ks[0][0])
    toks = range(fmt.sink, T) if T > fmt.sink else range(T)
    key_lut = []
    for h in range(H):
        rows = []
        for d in range(D):
            xs = [ks[t][h][d] for t in toks]
            mu = sum(xs) / len(xs)
            sd = math.sqrt(sum((x - mu) ** 2 for x in xs) / len(xs))
            rows.append([mu + sd * c for c in z])
        key_lut.append(rows)
    acc, cnt = 0.0, 0
    for t in toks:
        for h in range(H):
            order = sorted(range(D), key=lambda d: (-abs(vs[t][h][d]), d))
            rest = order[fmt.outliers:]
            s = max((abs(vs[t][h][d]) for d in rest), default=0.0)
            if s > 0:
                acc += sum((vs[t][h][d] / s) ** 2 for d in rest)
                cnt += len(rest)
    sv = math.sqrt(acc / cnt) if cnt else 1.0
    return key_lut, [min(max(sv * c, -1.0), 1.0) for c in z]


def kv_mode(a, model, prompt):
    import kv_ref
    f = a.kv.split(",")
    if f[0] == "kvquant":
        fmt = kv_ref.Format("kvquant", int(f[1]), sink=int(f[2]), outliers=int(f[3]))
    else:
        fmt = kv_ref.Format("kivi", int(f[1]), group=int(f[2]), residual=int(f[3]),
                            sink=int(f[4]))
    if fmt.method == "kivi":
        return llama_ref.KVMode(fmt, lambda l, ks, vs: (None, None)), \
            "kv: %s (no tables)" % fmt.mlir()
    z = lloyd_max_normal(fmt.bits)
    for mine, pub in zip(z[len(z) // 2:], MAX_1960[fmt.bits]):
        if abs(mine - pub) > 1.5e-3:
            print("FAIL Lloyd-Max level %.5f differs from Max's %.4f" % (mine, pub))
            return None, ""
    t, _ = st.read(a.kv_tables)
    levels = 1 << fmt.bits
    squant = {}
    for name, (_, shape, vals) in t.items():
        l = int(name.rsplit("_", 1)[1])
        if name.startswith("key_lut"):
            H, D = shape[0], shape[1]
            squant.setdefault(l, [None, None])[0] = [
                [vals[(h * D + d) * levels:(h * D + d + 1) * levels] for d in range(D)]
                for h in range(H)]
        else:
            squant.setdefault(l, [None, None])[1] = vals
    worst = [0.0]

    def calibrate(l, ks, vs):
        klut, vlut = own_tables(fmt, ks, vs, z)
        sk, sv = squant[l]
        for h in range(len(klut)):
            for d in range(len(klut[h])):
                scale = max(abs(x) for x in klut[h][d]) + 1e-6
                for x, y in zip(klut[h][d], sk[h][d]):
                    worst[0] = max(worst[0], abs(x - y) / scale)
        for x, y in zip(vlut, sv):
            worst[0] = max(worst[0], abs(x - y))
        return sk, sv

    llama_ref.forward(model, prompt, a.interleaved, llama_ref.KVMode(fmt, calibrate))
    if worst[0] > a.tables_tol:
        print("FAIL kv tables differ from the reference calibration by %.3g > %g"
              % (worst[0], a.tables_tol))
        return None, ""
    if len(squant) != model.c["num_hidden_layers"]:
        print("FAIL kv tables for %d layers" % len(squant))
        return None, ""
    return (llama_ref.KVMode(fmt, lambda l, ks, vs: tuple(squant[l])),
            "kv: %s, tables match the reference calibration within %.3g (tol %g)"
            % (fmt.mlir(), worst[0], a.tables_tol))


def main():
    p = argparse.ArgumentParser()
    p.add_argument("model")
    p.add_argument("logits")
    p.add_argument("--prompt", required=True)
    p.add_argument("--tol", type=float, default=1e-4)
    p.add_argument("--interleaved", action="store_true")
    p.add_argument("--kv", default="")
    p.add_argument("--kv-tables", default="")
    p.add_argument("--tables-tol", type=float, default=1e-4)
    a = p.parse_args()
    t, _ = st.read(a.logits)
    prompt = [int(x) for x in a.prompt.split(",")]
    gen = t["tokens"][2]
    _, pshape, pv = t["prefill_logits"]
    _, dshape, dv = t["decode_logits"]
    T, V = pshape
    seq = prompt + gen[:dshape[0]]
    model = llama_ref.Model(a.model)
    kv = None
    if a.kv:
        kv, note = kv_mode(a, model, prompt)
        if kv is None:
            return 1
        print(note)
    ref = llama_ref.forward(model, seq, a.interleaved, kv)
    rows = [pv[i * V:(i + 1) * V] for i in range(T)] + \
           [dv[i * V:(i + 1) * V] for i in range(dshape[0])]
    worst = 0.0
    for i, row in enumerate(rows):
        r = ref[i]
        err = max(abs(x - y) for x, y in zip(row, r)) / max(abs(y) for y in r)
        worst = max(worst, err)
        if err > a.tol:
            print("FAIL row %d (%s): relative error %.3g > %g" %
                  (i, "prefill" if i < T else "decode", err, a.tol))
            return 1
    for i, g in enumerate(gen):
        r = ref[T - 1 + i]
        top = sorted(range(V), key=lambda j: -r[j])
        if g != top[0] and r[top[0]] - r[top[1]] > 1e-3 * abs(r[top[0]]):
            print("FAIL generated token %d is %d, reference argmax %d" % (i, g, top[0]))
            return 1
    print("OK %d prefill + %d decode rows: max relative error %.3g (tol %g); "
          "%d greedy tokens match" % (T, dshape[0], worst, a.tol, len(gen)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
