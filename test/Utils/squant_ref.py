"""Independent reference for the squant LUT ops (Python standard library).

Nothing here shares code with the MLIR lowerings: packing is written as a
walk over one arbitrary-precision integer per output channel, and products
are summed in float64.
"""

NF4 = [-1.0, -0.6961928009986877, -0.5250730514526367, -0.39491748809814453,
       -0.28444138169288635, -0.18477343022823334, -0.09105003625154495, 0.0,
       0.07958029955625534, 0.16093020141124725, 0.24611230194568634,
       0.33791524171829224, 0.44070982933044434, 0.5626170039176941,
       0.7229568362236023, 1.0]
# OCP MX FP4 e2m1: bit 3 sign, bits 2..1 exponent (bias 1), bit 0 mantissa.
def _e2m1(q):
    sign = -1.0 if q & 8 else 1.0
    e, m = (q >> 1) & 3, q & 1
    mag = (m * 0.5) if e == 0 else (1.0 + 0.5 * m) * 2.0 ** (e - 1)
    return sign * mag
FP4_E2M1 = [_e2m1(q) for q in range(16)]
IQ4_NL = [-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113]


def _stream(codes_row, bits):
    """All codes of one output channel as one integer bit stream."""
    s = 0
    for k, c in enumerate(codes_row):
        assert 0 <= c < (1 << bits)
        s |= c << (k * bits)
    return s


def pack(codes, bits, layout):
    """codes: N lists of K ints -> flat row-major words and their shape."""
    n, k = len(codes), len(codes[0])
    words = (k * bits + 31) // 32
    if layout == "squeezellm":
        assert (k * bits) % 32 == 0
    per_channel = []
    for row in codes:
        s = _stream(row, bits)
        per_channel.append([(s >> (32 * w)) & 0xFFFFFFFF for w in range(words)])
    if layout == "squeezellm":
        flat = [per_channel[c][w] for w in range(words) for c in range(n)]
        shape = [words, n]
    else:
        flat = [per_channel[c][w] for c in range(n) for w in range(words)]
        shape = [n, words]
    # As signed int32, the way torch stores qweight.
    return [w - (1 << 32) if w >= (1 << 31) else w for w in flat], shape


def unpack(flat, shape, bits, k, layout):
    if layout == "squeezellm":
        words, n = shape
        word = lambda c, w: flat[w * n + c]
    else:
        n, words = shape
        word = lambda c, w: flat[c * words + w]
    codes = []
    for c in range(n):
        s = 0
        for w in range(words):
            s |= (word(c, w) & 0xFFFFFFFF) << (32 * w)
        codes.append([(s >> (kk * bits)) & ((1 << bits) - 1) for kk in range(k)])
    return codes


def table_entry(lut, lut_shape, n, k, code, k_total):
    """lut is flat; granularity from the rank of lut_shape."""
    if len(lut_shape) == 1:
        return lut[code]
    if len(lut_shape) == 2:
        return lut[n * lut_shape[1] + code]
    groups, entries = lut_shape[1], lut_shape[2]
    g = k // (k_total // groups)
    return lut[(n * groups + g) * entries + code]


def dequant(codes, lut, lut_shape):
    k_total = len(codes[0])
    return [[table_entry(lut, lut_shape, n, k, c, k_total) for k, c in enumerate(row)]
            for n, row in enumerate(codes)]


def matmul(x, m, k, w, csr=None):
    """y[m][n] = sum_k x[m][k] * (w[n][k] + S[n][k]) in float64.
    x is flat [M, K]; w is N lists of K; csr = (rows, cols, vals)."""
    n = len(w)
    y = []
    for i in range(m):
        xr = x[i * k:(i + 1) * k]
        out = []
        for j in range(n):
            acc = 0.0
            wr = w[j]
            for kk in range(k):
                acc += xr[kk] * wr[kk]
            if csr is not None:
                rows, cols, vals = csr
                for p in range(rows[j], rows[j + 1]):
                    acc += xr[cols[p]] * vals[p]
            out.append(acc)
        y.append(out)
    return y


def build_table(fmt, scale, zero, entries):
    """Entries of one table for one scale (and zero)."""
    if fmt == "affine":
        return [scale * (q - zero) for q in range(entries)]
    book = {"nf4": NF4, "fp4_e2m1": FP4_E2M1, "iq4_nl": IQ4_NL}[fmt]
    return [scale * v for v in book]
