//===- Passes.td - squant dialect transforms ---------------*- tablegen -*-===//
//
// Passes that rewrite squant ops. Grouped and alphabetical.
//
//===----------------------------------------------------------------------===//

#ifndef SQUANT_DIALECT_SQUANT_TRANSFORMS_PASSES_TD
#define SQUANT_DIALECT_SQUANT_TRANSFORMS_PASSES_TD

include "mlir/Pass/PassBase.td"

def SQuantDecompose : Pass<"squant-decompose"> {
  let summary = "Lower squant ops to linalg, tensor, memref and arith";
  let description = [{
    Rewrites every squant op into plain upstream ops: `linalg.generic` with
    `tensor.extract` / `memref.load` gathers for table look-ups, bit
    arithmetic for packing, and a sparse `linalg.generic` over the CSR
    outliers (lowered later by the sparsifier). Works on the tensor and the
    memref forms of the ops.

    This lowering is the executable reference semantics of the dialect:
    correct everywhere, materializing dequantized weights, and slow. Fast
    lowerings are tested against it.
  }];
  let dependentDialects = [
    "::mlir::arith::ArithDialect",
    "::mlir::linalg::LinalgDialect",
    "::mlir::math::MathDialect",
    "::mlir::memref::MemRefDialect",
    "::mlir::scf::SCFDialect",
    "::mlir::sparse_tensor::SparseTensorDialect",
    "::mlir::tensor::TensorDialect"
  ];
}

#endif // SQUANT_DIALECT_SQUANT_TRANSFORMS_PASSES_TD
