//===- SQuantKVCacheOps.td - quantized KV cache ------------*- tablegen -*-===//
//
// Quantize-on-append into a preallocated cache, dequantization of a token
// range, and fused decode attention over the quantized cache. The formats,
// bit layouts and the exact arithmetic are in docs/kv-cache.md.
//
//===----------------------------------------------------------------------===//

#ifndef SQUANT_DIALECT_SQUANT_IR_SQUANTKVCACHEOPS_TD
#define SQUANT_DIALECT_SQUANT_IR_SQUANTKVCACHEOPS_TD

/// A KV-cache op: the cache is a variadic list of tensors (or memrefs) whose
/// order and shapes follow the op's #squant.kv_format. Destination style:
/// the ops that write (kv_append writes the cache, the others their `outs`)
/// return one tensor per written operand on tensors and nothing on memrefs.
class SQuant_KVOp<string mnemonic, list<Trait> traits = []>
    : SQuant_Op<mnemonic, !listconcat([
        AttrSizedOperandSegments,
        DestinationStyleOpInterface,
        DeclareOpInterfaceMethods<MemoryEffectsOpInterface>], traits)> {
  let results = (outs Variadic<AnyRankedTensor>:$results);
  let hasVerifier = 1;
}

//===----------------------------------------------------------------------===//
// kv_append
//===----------------------------------------------------------------------===//

def SQuant_KVAppendOp : SQuant_KVOp<"kv_append"> {
  let summary = "Quantize new tokens' keys and values into a KV cache in place";
  let description = [{
    Appends `n` tokens for all KV heads: `keys` and `values` are
    `[Bt, H, n, D]` (batch, KV heads, new tokens, head dim) and token `i`
    becomes cache token `position + i`. The cache operands (the destination)
    are updated in place; on tensors the op returns the updated cache.
    Appending `n` tokens is exactly `n` single-token appends in order, and a
    cache that holds `len` tokens is the result of appending tokens
    `0 .. len-1` in order (in any chunking) into a zero-filled cache:
    `position` must equal the number of tokens already appended. Tokens at
    positions `>= L` are dropped.

    The cache tensors, in operand order (`Bt` batch, `H` KV heads, `L` token
    slots (Lmax), `D` head dim, `B` bits, `S` sink, `R` residual, `G` group,
    `O` outlier slots; codes are `i8` bytes, the other floats are f16, bf16
    or f32 and outlier indices i8, i16 or i32 (read unsigned)):

    | format     | tensors |
    |------------|---------|
    | `kvquant`  | `key_codes [Bt,H,L,D*B/8]`, `value_codes [Bt,H,L,D*B/8]`, `value_scale [Bt,H,L]`; if O > 0: `key_outlier_values`, `key_outlier_indices`, `value_outlier_values`, `value_outlier_indices`, each `[Bt,H,L,O]`; if S > 0: `key_sink`, `value_sink` `[Bt,H,S,D]` |
    | `kivi`     | `key_codes`, `value_codes`, `key_scale`, `key_zero` `[Bt,H,(L-S)/G,D]`, `value_scale`, `value_zero` `[Bt,H,L,D/G]`; if S > 0: `key_sink`, `value_sink`; `key_residual`, `value_residual` `[Bt,H,R,D]` |

    `kvquant` also takes two per-layer tables: `key_lut [H, D, 2^B]` (one
    non-uniform codebook per channel, scale and offset folded in) and
    `value_lut [2^B]` (shared by every token, multiplied by the token's
    scale). Codes of a token vector are packed little-endian: code `d`
    occupies bits `[d*B, d*B+B)` of the vector's `D*B/8` bytes, bit `j` being
    bit `j % 8` of byte `j / 8`.

    Appending token `t`, per batch row and KV head:

    * `t < S` (both methods): the key and value vectors are stored in the
      sinks (converted to their element type).
    * `kvquant`: key channel `d` gets the code `c` nearest to `k[d]` in
      `key_lut[h, d, :]` (first on ties) with error `e[d] = |k[d] - lut[c]|`;
      the O channels of largest `e` (lower channel first on ties) become
      outlier slots `0 .. O-1` in that order (value kept, index stored; their
      dense code is the clamped nearest code). Values: the O channels of
      largest `|v[d]|` become outliers; the token's scale is the largest
      `|v[d]|` of the other channels (0 if none), stored rounded to
      `value_scale`'s type (`value_lut` is a codebook for `v / scale`, in
      [-1, 1]); the code of channel `d` is the nearest
      `value_lut[c] * scale` (with the stored scale).
    * `kivi`: the key and value vectors go to slot `(t - S) mod R` of the
      residual buffers. Before that, if `t >= S + R`, the value of token
      `t - R` (which leaves the window) is quantized from its residual slot:
      per group of G channels `s = (max - min) / (2^B - 1)`, `z = min`
      (stored rounded), `code = clamp(floor((x - z) / s + 0.5), 0, 2^B - 1)`
      (0 when `s == 0`). When `t - S + 1` is a multiple of R, the R residual
      keys (tokens `t-R+1 .. t`) are quantized the same way per channel in
      groups of G tokens and the residual restarts.

    All arithmetic is f32 with the inputs converted to f32; the layout, the
    tie rules and every rounding step are specified in docs/kv-cache.md and
    reproduced exactly by `squant-decompose`.

    Example:

    ```mlir
    %c:9 = squant.kv_append #squant.kv_format<kvquant, bits = 3, sink = 1, outliers = 2>
             keys(%k : tensor<1x8x1x128xf16>) values(%v : tensor<1x8x1x128xf16>) at(%pos)
             tables(%klut, %vlut : tensor<8x128x8xf32>, tensor<8xf32>)
             cache(%kc, %vc, %vs, %kov, %koi, %vov, %voi, %ks, %vsk
                   : tensor<1x8x4096x48xi8>, tensor<1x8x4096x48xi8>, tensor<1x8x4096xf16>,
                     tensor<1x8x4096x2xf16>, tensor<1x8x4096x2xi8>,
                     tensor<1x8x4096x2xf16>, tensor<1x8x4096x2xi8>,
                     tensor<1x8x1x128xf16>, tensor<1x8x1x128xf16>)
             -> tensor<1x8x4096x48xi8>, ...
    ```
  }];
  let arguments = (ins SQuant_KVCacheFormatAttr:$format,
                       SQuant_Shaped:$keys, SQuant_Shaped:$values,
                       Index:$position,
                       Variadic<SQuant_Shaped>:$tables,
                       Variadic<SQuant_Shaped>:$cache);
  let assemblyFormat = [{
    qualified($format) `keys` `(` $keys `:` type($keys) `)`
    `values` `(` $values `:` type($values) `)` `at` `(` $position `)`
    (`tables` `(` $tables^ `:` type($tables) `)`)?
    `cache` `(` $cache `:` type($cache) `)` attr-dict (`->` type($results)^)?
  }];
  let extraClassDeclaration = [{
    ::mlir::MutableOperandRange getDpsInitsMutable() {
      return getCacheMutable();
    }
  }];
}

//===----------------------------------------------------------------------===//
// kv_dequantize
//===----------------------------------------------------------------------===//

def SQuant_KVDequantizeOp : SQuant_KVOp<"kv_dequantize"> {
  let summary = "Dequantize a range of tokens of a KV cache";
  let description = [{
    Writes the keys and values that a cache holding `len` tokens represents
    for tokens `start .. start+n-1` into `outs` (`[Bt, H, n, D]` each, f16,
    bf16 or f32): `out[b, h, i, :]` is token `t = start + i`, or zeros when
    `t < 0` or `t >= min(len, L)`. Keys are pre-RoPE (as appended). The cache operands
    and tables are those of `squant.kv_append` for the same format.

    A token is read from the sink when `t < S`; for `kivi`, keys from the
    residual when `t >= S + R * floor((len - S) / R)` and values when
    `t >= max(S, len - R)`, otherwise from the codes as
    `code * scale + zero`; for `kvquant`, keys as `key_lut[h, d, code]` and
    values as `value_lut[code] * value_scale`, with every outlier slot
    replacing its channel (a later slot wins over an earlier one). All in
    f32, converted to the `outs` type.

    Example:

    ```mlir
    %k, %v = squant.kv_dequantize #squant.kv_format<kivi, bits = 2, group = 32, residual = 128>
               cache(%kc, %vc, %ks, %kz, %vs, %vz, %kr, %vr : ...)
               start(%c0) len(%len)
               outs(%ik, %iv : tensor<1x8x64x128xf32>, tensor<1x8x64x128xf32>)
               -> tensor<1x8x64x128xf32>, tensor<1x8x64x128xf32>
    ```
  }];
  let arguments = (ins SQuant_KVCacheFormatAttr:$format,
                       Variadic<SQuant_Shaped>:$tables,
                       Variadic<SQuant_Shaped>:$cache,
                       Index:$start, Index:$len,
                       SQuant_Shaped:$key_init, SQuant_Shaped:$value_init);
  let assemblyFormat = [{
    qualified($format) (`tables` `(` $tables^ `:` type($tables) `)`)?
    `cache` `(` $cache `:` type($cache) `)`
    `start` `(` $start `)` `len` `(` $len `)`
    `outs` `(` $key_init `,` $value_init `:` type($key_init) `,`
               type($value_init) `)` attr-dict (`->` type($results)^)?
  }];
  let extraClassDeclaration = [{
    ::mlir::MutableOperandRange getDpsInitsMutable() {
      return ::mlir::MutableOperandRange(getOperation(),
                                         getOperation()->getNumOperands() - 2,
                                         2);
    }
  }];
}

//===----------------------------------------------------------------------===//
// kv_attention
//===----------------------------------------------------------------------===//

def SQuant_KVAttentionOp : SQuant_KVOp<"kv_attention"> {
  let summary = "Fused decode attention over a quantized KV cache";
  let description = [{
    For each batch row `b` and query head `hq` (`query` and `outs` are
    `[Bt, Hq, D]`, f16, bf16 or f32):

    ```
    h     = hq / (Hq / H)                        (GQA: Hq % H == 0)
    q'    = rope(query[b, hq], position)
    s[t]  = scale * dot(q', rope(K[b, h, t], t))  for t < n = min(len, L)
    p[t]  = exp(s[t] - max_t s)
    o     = sum_t p[t] * V[b, h, t] / sum_t p[t]  (0 when n == 0)
    ```

    where `K` and `V` are the dequantized cache exactly as
    `squant.kv_dequantize` defines them (sink and residual tokens unquantized,
    outliers restored), computed on the fly without materializing the cache.
    Keys are stored pre-RoPE: the rotation of token `t` uses its index `t` as
    its position; `query` is given pre-RoPE and rotated at `position`
    (usually `len - 1`). `rope(x, p)` with `rope = half` pairs channel `i`
    with `i + D/2`, with `rope = interleaved` channel `2i` with `2i + 1`;
    pair `i` rotates by the angle `p * f_i`,
    `f_i = 1 / rope_theta^(2i / D)`:
    `(x0, x1) -> (x0 cos - x1 sin, x1 cos + x0 sin)`. `rope = none` rotates
    nothing. `scale` defaults to `1/sqrt(D)`. Accumulation is in f32; the
    result is converted to the `outs` type.

    Example (LLaMA-7B shapes, 4:1 grouped-query attention):

    ```mlir
    %o = squant.kv_attention #squant.kv_format<kvquant, bits = 3, outliers = 2>
           query(%q : tensor<1x32x128xf16>) len(%len) position(%pos)
           tables(%klut, %vlut : tensor<8x128x8xf32>, tensor<8xf32>)
           cache(%kc, %vc, %vs, %kov, %koi, %vov, %voi : ...)
           rope(half) outs(%init : tensor<1x32x128xf32>) -> tensor<1x32x128xf32>
    ```
  }];
  let arguments = (ins SQuant_KVCacheFormatAttr:$format,
                       SQuant_Shaped:$query, Index:$len, Index:$position,
                       Variadic<SQuant_Shaped>:$tables,
                       Variadic<SQuant_Shaped>:$cache,
                       SQuant_RopeStyleAttr:$rope,
                       DefaultValuedAttr<F32Attr, "10000.0f">:$rope_theta,
                       OptionalAttr<F32Attr>:$scale,
                       SQuant_Shaped:$init);
  let assemblyFormat = [{
    qualified($format) `query` `(` $query `:` type($query) `)`
    `len` `(` $len `)` `position` `(` $position `)`
    (`tables` `(` $tables^ `:` type($tables) `)`)?
    `cache` `(` $cache `:` type($cache) `)` `rope` `(` $rope `)`
    `outs` `(` $init `:` type($init) `)` attr-dict (`->` type($results)^)?
  }];
  let extraClassDeclaration = [{
    ::mlir::MutableOperandRange getDpsInitsMutable() { return getInitMutable(); }
  }];
}

#endif // SQUANT_DIALECT_SQUANT_IR_SQUANTKVCACHEOPS_TD
