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


//===----------------------------------------------------------------------===//
// KV cache
//===----------------------------------------------------------------------===//

// How a quantized KV cache stores keys and values (docs/kv-cache.md).
def SQuant_KVMethodAttr : I32EnumAttr<"KVMethod",
    "quantization method of a KV cache", [
      // Keys per channel through per-channel tables (pre-RoPE), values per
      // token through a shared table times a per-token scale, per-vector
      // dense-and-sparse outliers.
      I32EnumAttrCase<"KVQuant", 0, "kvquant">,
      // Uniform asymmetric: keys per channel in groups of G tokens, values
      // per token in groups of G channels, an fp residual window.
      I32EnumAttrCase<"KIVI", 1, "kivi">
    ]> {
  let cppNamespace = "::mlir::squant";
}

// Rotary position embedding applied by squant.kv_attention.
def SQuant_RopeStyleAttr : I32EnumAttr<"RopeStyle",
    "rotary position embedding convention", [
      // No rotation: keys are stored post-RoPE (or the model has none).
      I32EnumAttrCase<"None", 0, "none">,
      // Channel i is paired with i + D/2 (Hugging Face LLaMA "rotate_half").
      I32EnumAttrCase<"Half", 1, "half">,
      // Channel 2i is paired with 2i + 1 (Meta LLaMA, GPT-J).
      I32EnumAttrCase<"Interleaved", 2, "interleaved">
    ]> {
  let cppNamespace = "::mlir::squant";
}

def SQuant_KVCacheFormatAttr : AttrDef<SQuant_Dialect, "KVCacheFormat"> {
  let mnemonic = "kv_format";
  let summary = "Layout of a quantized KV cache";
  let description = [{
    Describes how a KV cache stores its tokens, and therefore which tensors
    make up the cache (their list and shapes are in docs/kv-cache.md and in
    the description of `squant.kv_append`).

    * `method`: `kvquant` or `kivi`.
    * `bits`: code width B, 2 to 4. Codes are packed per token vector into
      `D * B / 8` bytes (D, the head dimension, is a multiple of 8).
    * `group`: G, `kivi` only (required there): keys share a scale and zero
      point per channel over G consecutive tokens, values per token over G
      consecutive channels (G divides D).
    * `sink`: S, the first S tokens are kept unquantized (attention sink).
    * `residual`: R, `kivi` only (required there, a multiple of G): the most
      recent tokens are kept unquantized (values: the last R tokens; keys:
      until a block of R tokens is complete).
    * `outliers`: O, `kvquant` only: slots per token vector (one head, D
      channels) that keep the O worst-represented entries exactly.

    Example: `#squant.kv_format<kvquant, bits = 3, sink = 1, outliers = 2>`,
    `#squant.kv_format<kivi, bits = 2, group = 32, residual = 128>`.
  }];
  let parameters = (ins
    EnumParameter<SQuant_KVMethodAttr>:$method,
    "unsigned":$bits,
    DefaultValuedParameter<"unsigned", "0">:$group,
    DefaultValuedParameter<"unsigned", "0">:$sink,
    DefaultValuedParameter<"unsigned", "0">:$residual,
    DefaultValuedParameter<"unsigned", "0">:$outliers
  );
  let assemblyFormat =
      "`<` $method `,` struct($bits, $group, $sink, $residual, $outliers) `>`";
  let genVerifyDecl = 1;
  let extraClassDeclaration = [{
    /// 2^B, the number of code values.
    int64_t getNumLevels() const { return int64_t(1) << getBits(); }
    /// Bytes holding the packed codes of one token vector of `headDim`
    /// channels.
    int64_t getPackedBytes(int64_t headDim) const {
      return headDim * getBits() / 8;
    }
    /// The cache tensors of this format, in operand order.
    ::llvm::SmallVector<KVComponent> getComponents() const;
    /// Number of per-layer table operands (kvquant: key and value tables).
    unsigned getNumTables() const;
  }];
}

#endif // SQUANT_DIALECT_SQUANT_IR_SQUANTATTRS_TD
