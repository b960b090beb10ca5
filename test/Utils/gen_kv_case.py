#!/usr/bin/env python3
"""Generates one KV-cache test case: MLIR, inputs and expected outputs.

  gen_kv_case.py --prefix P --seed S --method kvquant|kivi --bits B
      [--group G] [--sink S] [--residual R] [--outliers O]
      --batch BT --heads H --qheads HQ --dim D --slots L --tokens N
      [--prefill P0] [--chunk C] [--decode] [--rope none|half|interleaved]
      [--theta T] [--store F16|BF16|F32] [--input F32|F16] [--dynamic-cache]

Writes P.mlir (function @case), P.in.safetensors, P.expected.safetensors
(the independent reference test/Utils/kv_ref.py: the raw cache bit-exact,
the dequantized cache bit-exact, attention in float64 on the dequantized
cache) and P.unquantized.safetensors (attention in float64 on the original
keys and values, to measure the quantization error).

The function creates a zero-filled cache, appends the first P0 tokens with
one kv_append, the rest in an scf.for in chunks of C (and a tail), then
dequantizes tokens [0, min(N+2, L)) (tokens past N must be zeros; a full
cache, N = L, is read to its end) and attends with len = N, position = N - 1
(or --query-position). With --decode it also attends after every token
appended one by one (P0 = 0, C = 1), query i at position i.
"""
import argparse
import random

import kv_ref as ref
import safetensors_lite as st

MLIR = {"F32": "f32", "F16": "f16", "BF16": "bf16"}


def kmeans(samples, k, iterations=8):
    """1-D k-means (Lloyd), initialized at quantiles; sorted centers."""
    xs = sorted(samples)
    n = len(xs)
    centers = [xs[min(n - 1, int((c + 0.5) * n / k))] for c in range(k)]
    for _ in range(iterations):
        centers.sort()
        bounds = [(centers[i] + centers[i + 1]) / 2 for i in range(k - 1)]
        sums, counts, j = [0.0] * k, [0] * k, 0
        for x in xs:
            while j < k - 1 and x > bounds[j]:
                j += 1
            sums[j] += x
            counts[j] += 1
        centers = [sums[i] / counts[i] if counts[i] else centers[i] for i in range(k)]
    return sorted(centers)


def tensor_type(shape, elt):
    return "tensor<%sx%s>" % ("x".join(str(s) for s in shape), elt)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--prefix", required=True)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--method", required=True, choices=["kvquant", "kivi"])
    p.add_argument("--bits", type=int, required=True)
    p.add_argument("--group", type=int, default=0)
    p.add_argument("--sink", type=int, default=0)
    p.add_argument("--residual", type=int, default=0)
    p.add_argument("--outliers", type=int, default=0)
    p.add_argument("--batch", type=int, default=1)
    p.add_argument("--heads", type=int, required=True)
    p.add_argument("--qheads", type=int, required=True)
    p.add_argument("--dim", type=int, required=True)
    p.add_argument("--slots", type=int, required=True)
    p.add_argument("--tokens", type=int, required=True)
    p.add_argument("--prefill", type=int, default=0)
    p.add_argument("--chunk", type=int, default=1)
    p.add_argument("--decode", action="store_true")
    p.add_argument("--rope", default="half")
    p.add_argument("--theta", type=float, default=10000.0)
    p.add_argument("--store", default="F16")
    p.add_argument("--input", default="F32")
    p.add_argument("--spikes", type=float, default=0.005,
                   help="fraction of outlier entries in keys and values")
    p.add_argument("--calibration", type=int, default=128,
                   help="calibration samples per key channel")
    p.add_argument("--query-position", type=int, default=-1,
                   help="position of the final attention's query (default "
                        "N - 1; large values exercise RoPE at large angles)")
    p.add_argument("--dynamic-cache", action="store_true",
                   help="give the cache tensors a dynamic batch and L")
    a = p.parse_args()
    rng = random.Random(a.seed)
    fmt = ref.Format(a.method, a.bits, a.group, a.sink, a.residual, a.outliers)
    bt, h, hq, d, slots, n = a.batch, a.heads, a.qheads, a.dim, a.slots, a.tokens
    assert n <= slots and hq % h == 0
    # Tokens dequantized: two past the last when they fit (they must read
    # as zeros); a full cache (n = slots) is read up to its end.
    n_deq = min(n + 2, slots)
    assert not a.decode or (a.prefill == 0 and a.chunk == 1)

    # Keys: per-channel offsets and log-normal scales (some channels much
    # larger, as in real pre-RoPE keys); values: per-token scales. A
    # fraction --spikes of the entries are outliers 4-8x larger.
    mu = [[rng.gauss(0, 1) for _ in range(d)] for _ in range(h)]
    sig = [[rng.lognormvariate(0, 0.7) for _ in range(d)] for _ in range(h)]

    def key_sample(hh, i):
        return mu[hh][i] + sig[hh][i] * rng.gauss(0, 1)

    def spike(x):
        return x * rng.uniform(4, 8) if rng.random() < a.spikes else x

    rnd = lambda x: st.round_to(a.input, x)
    keys = [[[[rnd(spike(key_sample(hh, i))) for i in range(d)] for _ in range(n)]
             for hh in range(h)] for _ in range(bt)]
    def value_token():
        s = rng.lognormvariate(0, 0.4)
        return [spike(s * rng.gauss(0, 1)) for _ in range(d)]

    values = [[[[rnd(x) for x in value_token()] for _ in range(n)] for _ in range(h)]
              for _ in range(bt)]
    steps = n if a.decode else 1
    queries = [[[[rnd(rng.gauss(0, 1)) for _ in range(d)] for _ in range(hq)]
                for _ in range(steps)] for _ in range(bt)]  # [Bt][step][Hq][D]

    key_lut = value_lut = None
    levels = 1 << a.bits
    if a.method == "kvquant":
        # Non-uniform tables calibrated offline by 1-D k-means (as KVQuant
        # does, without its sensitivity weights): keys per channel on
        # samples of that channel, values on calibration tokens normalized
        # by the absolute maximum of their non-outlier entries.
        key_lut = [[[ref.f32(x) for x in kmeans([key_sample(hh, i) for _ in range(a.calibration)],
                                                 levels)]
                    for i in range(d)] for hh in range(h)]
        normalized = []
        for _ in range(max(1, a.calibration // d * 4)):
            tok = value_token()
            mags = sorted(abs(x) for x in tok)
            amax = mags[d - 1 - a.outliers]
            normalized += [x / amax for x in tok if abs(x) <= amax]
        value_lut = [ref.f32(x) for x in kmeans(normalized, levels)]

    dtypes = {}
    for name in fmt.components():
        if name.endswith("codes"):
            dtypes[name] = "I8"
        elif name.endswith("indices"):
            dtypes[name] = "I8"
        else:
            dtypes[name] = a.store
    cache = ref.Cache(fmt, bt, h, slots, d, dtypes, key_lut, value_lut)
    scale = ref.default_scale(d)
    step_outputs = []
    for t in range(n):
        cache.append([[keys[b][hh][t] for hh in range(h)] for b in range(bt)],
                     [[values[b][hh][t] for hh in range(h)] for b in range(bt)])
        if a.decode:
            kd, vd = cache.dequantize(t + 1)
            q = [queries[b][t] for b in range(bt)]
            step_outputs.append(ref.attention(q, kd, vd, t + 1, t, a.rope, a.theta, scale))
    kd, vd = cache.dequantize(n_deq)
    qlast = [queries[b][-1] for b in range(bt)]
    qpos = n - 1 if a.query_position < 0 else a.query_position
    o = ref.attention(qlast, kd, vd, n, qpos, a.rope, a.theta, scale)
    o_unq = ref.attention(qlast, keys, values, n, qpos, a.rope, a.theta, scale)

    flat = ref.flatten
    inputs = {"keys": (a.input, [bt, h, n, d], flat(keys)),
              "values": (a.input, [bt, h, n, d], flat(values)),
              "query": (a.input, [bt, steps, hq, d], flat(queries))}
    if key_lut:
        inputs["key_lut"] = ("F32", [h, d, levels], flat(key_lut))
        inputs["value_lut"] = ("F32", [levels], value_lut)
    st.write(a.prefix + ".in.safetensors", inputs)
    expected = {"k_deq": ("F32", [bt, h, n_deq, d], flat(kd)),
                "v_deq": ("F32", [bt, h, n_deq, d], flat(vd)),
                "o": ("F32", [bt, hq, d], flat(o))}
    for name in fmt.components():
        shape = ref.shape_of(fmt, name, bt, h, slots, d)
        expected[name] = (dtypes[name], shape, cache.raw(name))
    if a.decode:
        # o_steps[b][hq][t][d]
        steps_flat = [step_outputs[t][b][x][i] for b in range(bt) for x in range(hq)
                      for t in range(n) for i in range(d)]
        expected["o_steps"] = ("F32", [bt, hq, n, d], steps_flat)
    st.write(a.prefix + ".expected.safetensors", expected)
    st.write(a.prefix + ".unquantized.safetensors",
             {"o": ("F32", [bt, hq, d], flat(o_unq))})

    # ---- MLIR ----
    it = MLIR[a.input]
    names = fmt.components()
    types, static_types = [], []
    for name in names:
        shape = ref.shape_of(fmt, name, bt, h, slots, d)
        elt = "i8" if dtypes[name] == "I8" else MLIR[dtypes[name]]
        static_types.append(tensor_type(shape, elt))
        if a.dynamic_cache:
            # Dynamic batch, and token slots (or key groups) where they
            # depend on L.
            shape = ["?"] + shape[1:2] + (["?"] if not name.endswith(("sink", "residual"))
                                          else shape[2:3]) + shape[3:]
        types.append(tensor_type(shape, elt))
    cache_types = ", ".join(types)
    kv_t = tensor_type([bt, h, n, d], it)
    q_t = tensor_type([bt, steps, hq, d], it)
    args = ['%%keys: %s {squant.name = "keys"}' % kv_t,
            '%%values: %s {squant.name = "values"}' % kv_t,
            '%%query: %s {squant.name = "query"}' % q_t]
    tables = ""
    if key_lut:
        klt = tensor_type([h, d, levels], "f32")
        vlt = tensor_type([levels], "f32")
        args += ['%%klut: %s {squant.name = "key_lut"}' % klt,
                 '%%vlut: %s {squant.name = "value_lut"}' % vlt]
        tables = "tables(%%klut, %%vlut : %s, %s) " % (klt, vlt)
    body = ["%c0 = arith.constant 0 : index", "%c1 = arith.constant 1 : index"]
    cur = []
    for i, (name, ty, sty) in enumerate(zip(names, types, static_types)):
        elt = ty[ty.rindex("x") + 1:-1]
        zero = "0 : i8" if elt == "i8" else "0.0 : %s" % elt
        body += ["%%e%d = tensor.empty() : %s" % (i, sty),
                 "%%z%d = arith.constant %s" % (i, zero),
                 "%%init%d = linalg.fill ins(%%z%d : %s) outs(%%e%d : %s) -> %s"
                 % (i, i, elt, i, sty, sty)]
        if ty != sty:
            body += ["%%initd%d = tensor.cast %%init%d : %s to %s" % (i, i, sty, ty)]
            cur.append("%%initd%d" % i)
        else:
            cur.append("%%init%d" % i)
    fmt_s = fmt.mlir()
    counter = [0]

    def append(pos, count, cache_vals, indent=""):
        """Appends `count` tokens starting at SSA index `pos`."""
        j = counter[0]
        counter[0] += 1
        ct = tensor_type([bt, h, count, d], it)
        lines = [
            "%%ks%d = tensor.extract_slice %%keys[0, 0, %s, 0] [%d, %d, %d, %d] [1, 1, 1, 1] : %s to %s"
            % (j, pos, bt, h, count, d, kv_t, ct),
            "%%vs%d = tensor.extract_slice %%values[0, 0, %s, 0] [%d, %d, %d, %d] [1, 1, 1, 1] : %s to %s"
            % (j, pos, bt, h, count, d, kv_t, ct),
            "%%app%d:%d = squant.kv_append %s keys(%%ks%d : %s) values(%%vs%d : %s) at(%s) %scache(%s : %s) -> %s"
            % (j, len(names), fmt_s, j, ct, j, ct, pos, tables, ", ".join(cache_vals),
               cache_types, cache_types)]
        return [indent + l for l in lines], ["%%app%d#%d" % (j, i) for i in range(len(names))]

    if a.prefill > 0:
        body += ["%p0 = arith.constant 0 : index"]
        lines, cur = append("%p0", a.prefill, cur)
        body += lines
    full = (n - a.prefill) // a.chunk
    loop_end = a.prefill + full * a.chunk
    o_t = tensor_type([bt, hq, d], "f32")
    steps_t = tensor_type([bt, hq, n, d], "f32")
    q1_t = tensor_type([bt, 1, hq, d], it)
    qs_t = tensor_type([bt, hq, d], it)

    def attend(lenv, posv, cache_vals, qv, tag, indent=""):
        return [indent + l for l in [
            "%%oi%s = tensor.empty() : %s" % (tag, o_t),
            "%%o%s = squant.kv_attention %s query(%s : %s) len(%s) position(%s) %scache(%s : %s) rope(%s) outs(%%oi%s : %s) {rope_theta = %r : f32} -> %s"
            % (tag, fmt_s, qv, qs_t, lenv, posv, tables, ", ".join(cache_vals), cache_types,
               a.rope, tag, o_t, a.theta, o_t)]]

    if full > 0:
        body += ["%%lb = arith.constant %d : index" % a.prefill,
                 "%%ub = arith.constant %d : index" % loop_end,
                 "%%step = arith.constant %d : index" % a.chunk]
        iter_args = ", ".join("%%it%d = %s" % (i, v) for i, v in enumerate(cur))
        loop_types = cache_types
        if a.decode:
            body += ["%%se = tensor.empty() : %s" % steps_t]
            iter_args += ", %acc = %se"
            loop_types += ", " + steps_t
        nres = len(names) + (1 if a.decode else 0)
        body += ["%%loop:%d = scf.for %%i = %%lb to %%ub step %%step iter_args(%s) -> (%s) {"
                 % (nres, iter_args, loop_types)]
        lines, inner = append("%i", a.chunk, ["%%it%d" % i for i in range(len(names))], "  ")
        body += lines
        yields = list(inner)
        ytypes = cache_types
        if a.decode:
            body += [
                "  %%qs = tensor.extract_slice %%query[0, %%i, 0, 0] [%d, 1, %d, %d] [1, 1, 1, 1] : %s to %s"
                % (bt, hq, d, q_t, qs_t),
                "  %len = arith.addi %i, %c1 : index"]
            body += attend("%len", "%i", inner, "%qs", "s", "  ")
            body += ["  %%acc2 = tensor.insert_slice %%os into %%acc[0, 0, %%i, 0] [%d, %d, 1, %d] [1, 1, 1, 1] : %s into %s"
                     % (bt, hq, d, o_t, steps_t)]
            yields.append("%acc2")
            ytypes += ", " + steps_t
        body += ["  scf.yield %s : %s" % (", ".join(yields), ytypes), "}"]
        cur = ["%%loop#%d" % i for i in range(len(names))]
    if loop_end < n:
        body += ["%%pt = arith.constant %d : index" % loop_end]
        lines, cur = append("%pt", n - loop_end, cur)
        body += lines
    deq_t = tensor_type([bt, h, n_deq, d], "f32")
    body += [
        "%%n = arith.constant %d : index" % n,
        "%%last = arith.constant %d : index" % qpos,
        "%%ql = tensor.extract_slice %%query[0, %d, 0, 0] [%d, 1, %d, %d] [1, 1, 1, 1] : %s to %s"
        % (steps - 1, bt, hq, d, q_t, qs_t)]
    body += attend("%n", "%last", cur, "%ql", "f")
    body += [
        "%%dk = tensor.empty() : %s" % deq_t,
        "%%dv = tensor.empty() : %s" % deq_t,
        "%%deq:2 = squant.kv_dequantize %s %scache(%s : %s) start(%%c0) len(%%n) outs(%%dk, %%dv : %s, %s) -> %s, %s"
        % (fmt_s, tables, ", ".join(cur), cache_types, deq_t, deq_t, deq_t, deq_t)]
    rets = ["%deq#0", "%deq#1", "%of"] + cur
    rtypes = [deq_t, deq_t, o_t] + types
    rnames = ["k_deq", "v_deq", "o"] + names
    if a.decode:
        rets.append("%loop#" + str(len(names)))
        rtypes.append(steps_t)
        rnames.append("o_steps")
    results = ", ".join('%s {squant.name = "%s"}' % (t, nm) for t, nm in zip(rtypes, rnames))
    text = "func.func @case(%s)\n    -> (%s) {\n" % (",\n    ".join(args), results)
    text += "".join("  " + l + "\n" for l in body)
    text += "  return %s : %s\n}\n" % (", ".join(rets), ", ".join(rtypes))
    with open(a.prefix + ".mlir", "w") as f:
        f.write(text)


if __name__ == "__main__":
    main()
