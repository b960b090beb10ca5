//===- SQuantBase.td - squant dialect definition -----------*- tablegen -*-===//
//
// The squant dialect: non-uniform LUT weights, sparse outliers and quantized
// KV caches for LLM inference.
//
//===----------------------------------------------------------------------===//

#ifndef SQUANT_DIALECT_SQUANT_IR_SQUANTBASE_TD
#define SQUANT_DIALECT_SQUANT_IR_SQUANTBASE_TD

include "mlir/IR/OpBase.td"
include "mlir/IR/AttrTypeBase.td"

def SQuant_Dialect : Dialect {
  let name = "squant";
  let cppNamespace = "::mlir::squant";
  let summary = "Quantized LLM inference: LUT weights, sparse outliers, KV caches";
  let description = [{
    The `squant` dialect expresses what upstream MLIR cannot: weights stored
    as small integer *codes* that index a learned look-up table (LUT) per
    output channel or per group (SqueezeLLM, and every uniform 2^B-codebook
    format such as GPTQ/AWQ int4, NF4 or FP4 e2m1 expressed as a table),
    dense-and-sparse decompositions where a few outliers are kept exactly in a
    CSR tensor, and the packing layouts real checkpoints use.

    Codes are builtin signless integer tensors `iB` (2 <= B <= 8) whose values
    are read as unsigned. Codebooks, scales and zero points are SSA operands,
    never attributes. Ops that produce a value are destination-style: they
    take an `outs` operand, work on tensors (returning one result) or on
    memrefs (returning nothing, writing the `outs` buffer), and bufferize
    through external `BufferizableOpInterface` models.

    `squant-decompose` rewrites every op to linalg/tensor/arith: that
    lowering is the executable reference semantics of the dialect.

    The discardable attribute `squant.name` (a string) names a function
    argument or result: `squant-run` binds arguments to the tensors of that
    name and writes results under it.

    The discardable unit attribute `squant.host` marks a function argument
    (a memref or tensor) that only the host code reads, e.g. a decoder
    layer's position: `squant-gpu-pipeline` keeps it in host memory.
  }];
  let hasRegionArgAttrVerify = 1;
  let hasRegionResultAttrVerify = 1;
  let extraClassDeclaration = [{
    /// Names a function argument or result (a StringAttr).
    static constexpr ::llvm::StringLiteral kNameAttrName = "squant.name";
    /// Marks a function argument read by host code only (a UnitAttr).
    static constexpr ::llvm::StringLiteral kHostAttrName = "squant.host";
  }];
  let useDefaultAttributePrinterParser = 1;
}

#endif // SQUANT_DIALECT_SQUANT_IR_SQUANTBASE_TD
