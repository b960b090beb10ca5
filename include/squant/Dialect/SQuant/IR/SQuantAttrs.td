//===- SQuantAttrs.td - squant attributes ------------------*- tablegen -*-===//

#ifndef SQUANT_DIALECT_SQUANT_IR_SQUANTATTRS_TD
#define SQUANT_DIALECT_SQUANT_IR_SQUANTATTRS_TD

include "squant/Dialect/SQuant/IR/SQuantBase.td"
include "mlir/IR/EnumAttr.td"

// Packing layouts. Both treat the K codes of one output channel as a
// little-endian bit stream: code k occupies bits [k*B, k*B+B), least
// significant bit first, and bit j of the stream is bit j % 32 of word j / 32
// (a 3-bit code may straddle two words).
//   squeezellm: words stored [K*B/32, N] (SqueezeLLM's qweight).
//   row_major:  words stored [N, ceil(K*B/32)], rows padded with zero bits.
def SQuant_PackLayoutAttr : I32EnumAttr<"PackLayout",
    "packing layout of B-bit codes in 32-bit words", [
      I32EnumAttrCase<"SqueezeLLM", 0, "squeezellm">,
      I32EnumAttrCase<"RowMajor", 1, "row_major">
    ]> {
  let cppNamespace = "::mlir::squant";
}

// Formats that squant.build_lut turns into tables.
def SQuant_TableFormatAttr : I32EnumAttr<"TableFormat",
    "uniform or fixed-codebook format that a table is built from", [
      I32EnumAttrCase<"Affine", 0, "affine">,
      I32EnumAttrCase<"NF4", 1, "nf4">,
      I32EnumAttrCase<"FP4E2M1", 2, "fp4_e2m1">,
      I32EnumAttrCase<"IQ4NL", 3, "iq4_nl">
    ]> {
  let cppNamespace = "::mlir::squant";
}

#endif // SQUANT_DIALECT_SQUANT_IR_SQUANTATTRS_TD
