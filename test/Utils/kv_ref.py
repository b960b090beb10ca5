"""Independent reference of the quantized KV cache (Python standard library).

Written from the specification in docs/kv-cache.md, sharing nothing with the
lowering under test: the cache is nested lists, tokens are appended one at a
time, outlier ranks come from sorting, codes are packed through one integer
bit stream, and attention is computed in float64.

Every f32 operation of the specification is reproduced exactly: an f32
+, -, *, / of f32 inputs equals the float64 result rounded to f32 (float64
has more than 2 * 24 + 2 bits), so `f32(a - b)` etc. below are bit-exact.
"""
import math
import struct

import safetensors_lite as st

COMPONENTS = {
    "kvquant": ["key_codes", "value_codes", "value_scale",
                "key_outlier_values", "key_outlier_indices",
                "value_outlier_values", "value_outlier_indices",
                "key_sink", "value_sink"],
    "kivi": ["key_codes", "value_codes", "key_scale", "key_zero",
             "value_scale", "value_zero", "key_sink", "value_sink",
             "key_residual", "value_residual"],
}


def f32(x):
    return struct.unpack("<f", struct.pack("<f", x))[0]


class Format:
    def __init__(self, method, bits, group=0, sink=0, residual=0, outliers=0):
        self.method, self.bits, self.group = method, bits, group
        self.sink, self.residual, self.outliers = sink, residual, outliers
        self.levels = 1 << bits

    def components(self):
        """Cache tensors in operand order (docs/kv-cache.md)."""
        names = []
        for n in COMPONENTS[self.method]:
            if "outlier" in n and self.outliers == 0:
                continue
            if "sink" in n and self.sink == 0:
                continue
            names.append(n)
        return names

    def mlir(self):
        s = "#squant.kv_format<%s, bits = %d" % (self.method, self.bits)
        for name in ("group", "sink", "residual", "outliers"):
            v = getattr(self, name)
            if v:
                s += ", %s = %d" % (name, v)
        return s + ">"


def shape_of(fmt, name, bt, h, slots, d):
    nb = d * fmt.bits // 8
    if name.endswith("codes"):
        return [bt, h, slots, nb]
    if name in ("key_scale", "key_zero"):
        return [bt, h, (slots - fmt.sink) // fmt.group, d]
    if name in ("value_scale", "value_zero"):
        if fmt.method == "kvquant":
            return [bt, h, slots]
        return [bt, h, slots, d // fmt.group]
    if "outlier" in name:
        return [bt, h, slots, fmt.outliers]
    if name.endswith("sink"):
        return [bt, h, fmt.sink, d]
    return [bt, h, fmt.residual, d]


def zeros(shape, value=0.0):
    if len(shape) == 1:
        return [value] * shape[0]
    return [zeros(shape[1:], value) for _ in range(shape[0])]


def flatten(x):
    if isinstance(x, list):
        out = []
        for y in x:
            out.extend(flatten(y))
        return out
    return [x]


def pack(codes, bits):
    """Little-endian bit stream: code d at bits [d*B, d*B+B) -> bytes."""
    stream = 0
    for d, c in enumerate(codes):
        assert 0 <= c < (1 << bits)
        stream |= c << (d * bits)
    return [(stream >> (8 * j)) & 0xFF for j in range(len(codes) * bits // 8)]


def unpack(data, bits, d):
    stream = 0
    for j, byte in enumerate(data):
        stream |= byte << (8 * j)
    return [(stream >> (i * bits)) & ((1 << bits) - 1) for i in range(d)]


def nearest(x, entries):
    """Index of the entry nearest to x (first on ties) and the error."""
    code, best = 0, None
    for c, e in enumerate(entries):
        err = abs(f32(x - e))
        if best is None or err < best:
            code, best = c, err
    return code, best


def top(scores, count):
    """Channels of the `count` largest scores, lower channel first on ties."""
    order = sorted(range(len(scores)), key=lambda d: (-scores[d], d))
    return order[:count]


class Cache:
    """A cache of `slots` tokens; `dtypes` maps component -> storage dtype."""

    def __init__(self, fmt, bt, h, slots, d, dtypes, key_lut=None,
                 value_lut=None):
        assert d % 8 == 0
        self.fmt, self.bt, self.h, self.slots, self.d = fmt, bt, h, slots, d
        self.dtypes = dtypes
        self.key_lut, self.value_lut = key_lut, value_lut
        self.t = {n: zeros(shape_of(fmt, n, bt, h, slots, d),
                           0 if n.endswith(("codes", "indices")) else 0.0)
                  for n in fmt.components()}
        self.length = 0

    def store(self, name, x):
        return st.round_to(self.dtypes[name], x)

    # -- appending -------------------------------------------------------

    def append(self, keys, values):
        """keys/values[b][h][d] of the next token (values already f32)."""
        t = self.length
        self.length += 1
        if t >= self.slots:
            return
        fmt = self.fmt
        for b in range(self.bt):
            for h in range(self.h):
                k, v = keys[b][h], values[b][h]
                if t < fmt.sink:
                    self.t["key_sink"][b][h][t] = [self.store("key_sink", x) for x in k]
                    self.t["value_sink"][b][h][t] = [self.store("value_sink", x) for x in v]
                elif fmt.method == "kvquant":
                    self._kvquant(b, h, t, k, v)
                else:
                    self._kivi(b, h, t, k, v)

    def _kvquant(self, b, h, t, k, v):
        fmt, d = self.fmt, self.d
        # Keys: nearest entry of the channel's table; outliers by error.
        codes, errs = [], []
        for i in range(d):
            c, e = nearest(k[i], self.key_lut[h][i])
            codes.append(c)
            errs.append(e)
        if fmt.outliers:
            for s, i in enumerate(top(errs, fmt.outliers)):
                self.t["key_outlier_values"][b][h][t][s] = self.store("key_outlier_values", k[i])
                self.t["key_outlier_indices"][b][h][t][s] = i
        self.t["key_codes"][b][h][t] = pack(codes, fmt.bits)
        # Values: outliers by magnitude, scale from the others.
        mags = [abs(x) for x in v]
        out = top(mags, fmt.outliers) if fmt.outliers else []
        if fmt.outliers:
            for s, i in enumerate(out):
                self.t["value_outlier_values"][b][h][t][s] = self.store("value_outlier_values", v[i])
                self.t["value_outlier_indices"][b][h][t][s] = i
        amax = max([mags[i] for i in range(d) if i not in out], default=0.0)
        scale = self.store("value_scale", amax)
        self.t["value_scale"][b][h][t] = scale
        entries = [f32(e * scale) for e in self.value_lut]
        self.t["value_codes"][b][h][t] = pack([nearest(x, entries)[0] for x in v],
                                              fmt.bits)

    def _group(self, xs, scale_name, zero_name):
        """KIVI min/max quantization of one group; returns (s, z, codes)."""
        mn, mx = min(xs), max(xs)
        s = self.store(scale_name, f32(f32(mx - mn) / float(self.fmt.levels - 1)))
        z = self.store(zero_name, mn)
        codes = []
        for x in xs:
            if s > 0:
                q = math.floor(f32(f32(f32(x - z) / s) + 0.5))
                q = min(max(q, 0), self.fmt.levels - 1)
            else:
                q = 0
            codes.append(q)
        return s, z, codes

    def _kivi(self, b, h, t, k, v):
        fmt, d = self.fmt, self.d
        S, R, G = fmt.sink, fmt.residual, fmt.group
        slot = (t - S) % R
        kres, vres = self.t["key_residual"][b][h], self.t["value_residual"][b][h]
        if t - S >= R:
            # Token t - R leaves the value window.
            te = t - R
            x = vres[slot]
            codes = [0] * d
            for g in range(d // G):
                s, z, cs = self._group(x[g * G:(g + 1) * G], "value_scale", "value_zero")
                self.t["value_scale"][b][h][te][g] = s
                self.t["value_zero"][b][h][te][g] = z
                codes[g * G:(g + 1) * G] = cs
            self.t["value_codes"][b][h][te] = pack(codes, fmt.bits)
        vres[slot] = [self.store("value_residual", x) for x in v]
        kres[slot] = [self.store("key_residual", x) for x in k]
        if slot == R - 1:
            start = t + 1 - R
            g0 = (start - S) // G
            token_codes = [[0] * d for _ in range(R)]
            for gi in range(R // G):
                for i in range(d):
                    xs = [kres[gi * G + j][i] for j in range(G)]
                    s, z, cs = self._group(xs, "key_scale", "key_zero")
                    self.t["key_scale"][b][h][g0 + gi][i] = s
                    self.t["key_zero"][b][h][g0 + gi][i] = z
                    for j in range(G):
                        token_codes[gi * G + j][i] = cs[j]
            for r in range(R):
                self.t["key_codes"][b][h][start + r] = pack(token_codes[r], fmt.bits)

    # -- reading ---------------------------------------------------------

    def dequantize(self, n_tokens):
        """K, V [Bt][H][n][D] (f32 values) for the first n_tokens tokens."""
        fmt, d = self.fmt, self.d
        n = min(self.length, self.slots)
        S, R, G = fmt.sink, fmt.residual, fmt.group
        if fmt.method == "kivi":
            key_end = S + R * ((max(n, S) - S) // R)
            value_end = max(S, n - R)
        keys = zeros([self.bt, self.h, n_tokens, d])
        values = zeros([self.bt, self.h, n_tokens, d])
        for b in range(self.bt):
            for h in range(self.h):
                for t in range(min(n_tokens, n)):
                    if t < S:
                        keys[b][h][t] = list(self.t["key_sink"][b][h][t])
                        values[b][h][t] = list(self.t["value_sink"][b][h][t])
                        continue
                    kc = unpack(self.t["key_codes"][b][h][t], fmt.bits, d)
                    vc = unpack(self.t["value_codes"][b][h][t], fmt.bits, d)
                    if fmt.method == "kivi":
                        slot = (t - S) % R
                        if t >= key_end:
                            keys[b][h][t] = list(self.t["key_residual"][b][h][slot])
                        else:
                            g = (t - S) // G
                            keys[b][h][t] = [
                                f32(f32(kc[i] * self.t["key_scale"][b][h][g][i])
                                    + self.t["key_zero"][b][h][g][i]) for i in range(d)]
                        if t >= value_end:
                            values[b][h][t] = list(self.t["value_residual"][b][h][slot])
                        else:
                            values[b][h][t] = [
                                f32(f32(vc[i] * self.t["value_scale"][b][h][t][i // G])
                                    + self.t["value_zero"][b][h][t][i // G]) for i in range(d)]
                        continue
                    k = [self.key_lut[h][i][kc[i]] for i in range(d)]
                    s = self.t["value_scale"][b][h][t]
                    v = [f32(self.value_lut[vc[i]] * s) for i in range(d)]
                    for j in range(fmt.outliers):
                        k[self.t["key_outlier_indices"][b][h][t][j]] = \
                            self.t["key_outlier_values"][b][h][t][j]
                        v[self.t["value_outlier_indices"][b][h][t][j]] = \
                            self.t["value_outlier_values"][b][h][t][j]
                    keys[b][h][t], values[b][h][t] = k, v
        return keys, values

    def raw(self, name):
        """Flat values of a component as squant-run writes them."""
        vals = flatten(self.t[name])
        if name.endswith("codes"):
            return [x - 256 if x >= 128 else x for x in vals]
        return vals


# -- attention -------------------------------------------------------------

def rope_vector(x, position, style, theta):
    """x rotated at `position` (angles as the specification computes them
    in f32; the rotation itself in float64)."""
    d = len(x)
    if style == "none":
        return list(x)
    out = [0.0] * d
    for i in range(d):
        if style == "half":
            pair, first = i % (d // 2), i < d // 2
            partner = i + d // 2 if first else i - d // 2
        else:
            pair, first = i // 2, i % 2 == 0
            partner = i + 1 if first else i - 1
        exponent = f32(float(2 * pair) / float(d))
        inv = f32(1.0 / f32(math.pow(f32(theta), exponent)))
        angle = f32(float(position) * inv)
        c, s = math.cos(angle), math.sin(angle)
        out[i] = x[i] * c - x[partner] * s if first else x[i] * c + x[partner] * s
    return out


def attention(q, keys, values, n, position, style, theta, scale):
    """o[b][hq][d] over the first n tokens of keys/values [Bt][H][*][D]."""
    bt, hq_count = len(q), len(q[0])
    h_count = len(keys[0])
    group = hq_count // h_count
    out = []
    for b in range(bt):
        rows = []
        for hq in range(hq_count):
            h = hq // group
            qr = rope_vector(q[b][hq], position, style, theta)
            scores = []
            for t in range(n):
                kr = rope_vector(keys[b][h][t], t, style, theta)
                scores.append(scale * sum(a * c for a, c in zip(qr, kr)))
            if not scores:
                rows.append([0.0] * len(qr))
                continue
            m = max(scores)
            p = [math.exp(s - m) for s in scores]
            total = sum(p)
            rows.append([sum(p[t] * values[b][h][t][i] for t in range(n)) / total
                         for i in range(len(qr))])
        out.append(rows)
    return out


def default_scale(d):
    return f32(1.0 / f32(math.sqrt(d)))
