//===- SQuantAttrs.td - squant attributes ------------------*- tablegen -*-===//

#ifndef SQUANT_DIALECT_SQUANT_IR_SQUANTATTRS_TD
#define SQUANT_DIALECT_SQUANT_IR_SQUANTATTRS_TD

include "squant/Dialect/SQuant/IR/SQuantBase.td"
include "mlir/IR/EnumAttr.td"

def SQuant_PackLayout : I32EnumAttr<"PackLayout",
    "how B-bit codes are packed into 32-bit words", [
      I32EnumAttrCase<"SqueezeLLM", 0, "squeezellm">,
      I32EnumAttrCase<"RowMajor", 1, "row_major">
    ]> {
  let cppNamespace = "::mlir::squant";
  let genSpecializedAttr = 0;
}

def SQuant_PackLayoutAttr : EnumAttr<SQuant_Dialect, SQuant_PackLayout, "layout"> {
  let summary = "Packing layout of B-bit codes in 32-bit words";
  let description = [{
    Both layouts treat the K codes of one output channel as a little-endian
    bit stream: code `k` occupies bits `[k*B, k*B+B)` of the stream, least
    significant bit first, and bit `j` of the stream is bit `j % 32` of word
    `j / 32`. A 3-bit code may straddle two words.

    * `squeezellm`: words are stored `[K*B/32, N]` (word index outer, output
      channels contiguous), as SqueezeLLM's `QuantLinearLUT.pack2` writes
      `qweight`. Requires `K*B % 32 == 0`.
    * `row_major`: words are stored `[N, ceil(K*B/32)]`, each output
      channel's stream contiguous and padded with zero bits to a whole word.
  }];
}

def SQuant_TableFormat : I32EnumAttr<"TableFormat",
    "uniform or fixed-codebook format that a table is built from", [
      I32EnumAttrCase<"Affine", 0, "affine">,
      I32EnumAttrCase<"NF4", 1, "nf4">,
      I32EnumAttrCase<"FP4E2M1", 2, "fp4_e2m1">,
      I32EnumAttrCase<"IQ4NL", 3, "iq4_nl">
    ]> {
  let cppNamespace = "::mlir::squant";
  let genSpecializedAttr = 0;
}

def SQuant_TableFormatAttr : EnumAttr<SQuant_Dialect, SQuant_TableFormat,
                                      "table_format"> {
  let summary = "Format a look-up table is built from";
}

#endif // SQUANT_DIALECT_SQUANT_IR_SQUANTATTRS_TD
