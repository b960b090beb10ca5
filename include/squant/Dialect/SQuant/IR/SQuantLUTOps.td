//===- SQuantLUTOps.td - LUT weights and sparse outliers ---*- tablegen -*-===//

#ifndef SQUANT_DIALECT_SQUANT_IR_SQUANTLUTOPS_TD
#define SQUANT_DIALECT_SQUANT_IR_SQUANTLUTOPS_TD

//===----------------------------------------------------------------------===//
// lut_dequant
//===----------------------------------------------------------------------===//

def SQuant_LutDequantOp : SQuant_DpsOp<"lut_dequant"> {
  let summary = "Dequantize B-bit codes through a look-up table";
  let description = [{
    Computes `W[n, k] = lut[..., codes[n, k]]` converted to the element type
    of `outs`. Codes are read as unsigned. The table granularity follows the
    rank of `lut`:

    | `lut` shape        | granularity        | entry used                    |
    |--------------------|--------------------|-------------------------------|
    | `[2^B]`            | global             | `lut[c]`                      |
    | `[N, 2^B]`         | per output channel | `lut[n, c]`                   |
    | `[N, K/G, 2^B]`    | per group of G     | `lut[n, k / G, c]`            |

    Constraints: `codes` is `[N, K] x iB` with `2 <= B <= 8`; the last
    dimension of `lut` is `2^B`; `N` matches; for per-group tables the
    number of groups divides `K`; `lut` and `outs` have a float element type
    (f16, bf16 or f32); `outs` is `[N, K]`.

    Example:

    ```mlir
    %w = squant.lut_dequant ins(%codes, %lut : tensor<64x128xi4>, tensor<64x16xf32>)
           outs(%init : tensor<64x128xf32>) -> tensor<64x128xf32>
    ```
  }];
  let arguments = (ins SQuant_Shaped:$codes, SQuant_Shaped:$lut,
                       SQuant_Shaped:$init);
  let assemblyFormat = [{
    `ins` `(` $codes `,` $lut `:` type($codes) `,` type($lut) `)`
    `outs` `(` $init `:` type($init) `)` attr-dict (`->` type($result)^)?
  }];
}

//===----------------------------------------------------------------------===//
// lut_matmul
//===----------------------------------------------------------------------===//

def SQuant_LutMatmulOp : SQuant_DpsOp<"lut_matmul"> {
  let summary = "Matrix product with LUT-quantized weights and sparse outliers";
  let description = [{
    Computes `y[M, N] = x[M, K] * (W + S)^T` where
    `W = lut_dequant(codes, lut)` (see `squant.lut_dequant` for the table
    granularities) and `S` is an optional sparse outlier matrix `[N, K]` in
    CSR form (`#sparse_tensor.encoding` with a dense outer and a compressed
    inner level: rows are output channels). Products are accumulated in f32
    and the sum is converted to the element type of `outs`, which is
    overwritten (not accumulated into). `M >= 1` covers decode (M = 1) and
    prefill.

    SqueezeLLM's dense-and-sparse checkpoints store `S` as the difference
    between the outlier and the dense value at its position, so `W + S`
    reproduces the original weight there.

    Constraints: `x` is `[M, K]`, `codes` is `[N, K] x iB`, `outs` is
    `[M, N]`; `x`, `lut`, `S` and `outs` have float element types (f16,
    bf16, f32); `S` is a tensor (only the tensor form accepts outliers).

    Example:

    ```mlir
    #CSR = #sparse_tensor.encoding<{map = (d0, d1) -> (d0 : dense, d1 : compressed),
                                     posWidth = 32, crdWidth = 32}>
    %y = squant.lut_matmul ins(%x, %codes, %lut : tensor<3x128xf32>, tensor<64x128xi4>, tensor<64x16xf32>)
           outliers(%S : tensor<64x128xf32, #CSR>)
           outs(%init : tensor<3x64xf32>) -> tensor<3x64xf32>
    ```
  }];
  let arguments = (ins SQuant_Shaped:$x, SQuant_Shaped:$codes,
                       SQuant_Shaped:$lut, Optional<AnyRankedTensor>:$outliers,
                       SQuant_Shaped:$init);
  let assemblyFormat = [{
    `ins` `(` $x `,` $codes `,` $lut `:` type($x) `,` type($codes) `,` type($lut) `)`
    (`outliers` `(` $outliers^ `:` type($outliers) `)`)?
    `outs` `(` $init `:` type($init) `)` attr-dict (`->` type($result)^)?
  }];
}

//===----------------------------------------------------------------------===//
// pack / unpack
//===----------------------------------------------------------------------===//

def SQuant_PackOp : SQuant_DpsOp<"pack"> {
  let summary = "Pack B-bit codes into 32-bit words";
  let description = [{
    Packs codes `[N, K] x iB` (B in 2, 3, 4, 8) into `i32` words. Both
    layouts treat the K codes of one output channel as a little-endian bit
    stream: code `k` occupies bits `[k*B, k*B+B)`, least significant bit
    first, and stream bit `j` is bit `j % 32` of word `j / 32`, so a 3-bit
    code may straddle two words (SqueezeLLM packs 32 3-bit codes in 3 words
    exactly this way).

    * `squeezellm`: words stored `[K*B/32, N]` (word index outer, output
      channels contiguous), as SqueezeLLM's `QuantLinearLUT.pack2` writes
      `qweight`; requires `K*B % 32 == 0`.
    * `row_major`: words stored `[N, ceil(K*B/32)]`, each channel's stream
      contiguous; bits past the last code of a row are zero.

    Every bit of every word is written.

    Example (SqueezeLLM 3-bit: 32 codes fill 3 words):

    ```mlir
    %p = squant.pack squeezellm ins(%codes : tensor<64x128xi3>)
           outs(%init : tensor<12x64xi32>) -> tensor<12x64xi32>
    ```
  }];
  let arguments = (ins SQuant_PackLayoutAttr:$layout, SQuant_Shaped:$codes,
                       SQuant_Shaped:$init);
  let assemblyFormat = [{
    $layout `ins` `(` $codes `:` type($codes) `)`
    `outs` `(` $init `:` type($init) `)` attr-dict (`->` type($result)^)?
  }];
}

def SQuant_UnpackOp : SQuant_DpsOp<"unpack"> {
  let summary = "Unpack 32-bit words into B-bit codes";
  let description = [{
    The inverse of `squant.pack`: reads `i32` words in the given layout and
    produces codes `[N, K] x iB` (B in 2, 3, 4, 8). The shapes are related as
    for `squant.pack`. Unpacking SqueezeLLM `qweight` tensors is bit-exact
    with the reference packer.

    Example:

    ```mlir
    %c = squant.unpack squeezellm ins(%qweight : tensor<12x64xi32>)
           outs(%init : tensor<64x128xi3>) -> tensor<64x128xi3>
    ```
  }];
  let arguments = (ins SQuant_PackLayoutAttr:$layout, SQuant_Shaped:$packed,
                       SQuant_Shaped:$init);
  let assemblyFormat = [{
    $layout `ins` `(` $packed `:` type($packed) `)`
    `outs` `(` $init `:` type($init) `)` attr-dict (`->` type($result)^)?
  }];
}

//===----------------------------------------------------------------------===//
// build_lut
//===----------------------------------------------------------------------===//

def SQuant_BuildLutOp : SQuant_DpsOp<"build_lut"> {
  let summary = "Build look-up tables from a uniform or fixed-codebook format";
  let description = [{
    Turns the parameters of a uniform format into a `2^B`-entry table per
    scale, so that one op family (`lut_dequant`, `lut_matmul`) serves every
    codebook format. With `scale` of shape `S...` the result is
    `[S..., 2^B]`, so a rank-0, rank-1 `[N]` or rank-2 `[N, K/G]` scale gives
    a global, per-channel or per-group table.

    | format     | `lut[..., q]`                        | B         |
    |------------|--------------------------------------|-----------|
    | `affine`   | `scale[...] * (q - zero[...])`       | 2 ... 8   |
    | `nf4`      | `scale[...] * NF4[q]` (QLoRA)        | 4         |
    | `fp4_e2m1` | `scale[...] * E2M1[q]` (OCP MX FP4)  | 4         |
    | `iq4_nl`   | `scale[...] * IQ4NL[q]` (ggml)       | 4         |

    `affine` is GPTQ/AWQ group quantization and requires `zero` (float or
    integer elements, the same shape as `scale`); the fixed codebooks forbid
    it. `NF4` is the 16 normal-float levels in [-1, 1]; `E2M1[q]` decodes
    the 4-bit float `q` (sign in bit 3: 0, 0.5, 1, 1.5, 2, 3, 4, 6 and
    negatives); `IQ4NL` is ggml's `kvalues_iq4nl` (-127 ... 113). Entries are
    computed in f32 and converted to the element type of `outs`.

    Example (GPTQ int4, groups of 128 along K = 4096):

    ```mlir
    %lut = squant.build_lut affine scale(%s : tensor<4096x32xf32>)
             zero(%z : tensor<4096x32xf32>)
             outs(%init : tensor<4096x32x16xf32>) -> tensor<4096x32x16xf32>
    ```
  }];
  let arguments = (ins SQuant_TableFormatAttr:$format, SQuant_Shaped:$scale,
                       Optional<SQuant_Shaped>:$zero, SQuant_Shaped:$init);
  let assemblyFormat = [{
    $format `scale` `(` $scale `:` type($scale) `)`
    (`zero` `(` $zero^ `:` type($zero) `)`)?
    `outs` `(` $init `:` type($init) `)` attr-dict (`->` type($result)^)?
  }];
  let extraClassDeclaration = dpsExtraClassDeclaration # [{
    /// The fixed 16-entry codebook of a non-affine format.
    static ::llvm::ArrayRef<float> getCodebook(TableFormat format);
  }];
}

#endif // SQUANT_DIALECT_SQUANT_IR_SQUANTLUTOPS_TD
