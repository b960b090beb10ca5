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

    With `kv-cache=false` the KV-cache ops (`kv_append`, `kv_dequantize`,
    `kv_attention`) are left alone: `squant-cpu-pipeline kernels=fast`
    bufferizes them and lowers them to fused kernels afterwards
    (`convert-squant-to-cpu`).
  }];
  let options = [
    Option<"kvCache", "kv-cache", "bool", /*default=*/"true",
           "Also lower the KV-cache ops">
  ];
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

def SQuantNormalizeUnitStrides : Pass<"squant-normalize-unit-strides"> {
  let summary = "Give size-1 dims of slices and subviews a stride of 1";
  let description = [{
    A dim of static size 1 reads or writes only its offset, so its stride
    is irrelevant; this pass sets it to 1 in `tensor.extract_slice`,
    `tensor.insert_slice` and `memref.subview`. Both squant pipelines run it
    first: MLIR 22's `expand-strided-metadata` crashes in
    `SubViewOp::getDroppedDims` on a rank-reducing subview whose dropped
    unit dim has a non-unit stride (found by the MLIR fuzz target;
    `test/Dialect/SQuant/Transforms/normalize-unit-strides.mlir`).

    Example: `tensor.extract_slice %q[0, 0, 0, 0] [1, 1, 4, 16]
    [128, 1, 1, 1]` becomes the same slice with strides `[1, 1, 1, 1]`.
  }];
  let dependentDialects = [
    "::mlir::memref::MemRefDialect",
    "::mlir::tensor::TensorDialect"
  ];
}

def SQuantKVMemoryReport : Pass<"squant-kv-memory-report"> {
  let summary = "Report the memory of every KV cache: bytes per token per layer";
  let description = [{
    Emits a remark at each `squant.kv_append`, `squant.kv_dequantize` and
    `squant.kv_attention` with the memory of its cache for one sequence
    (batch row) and one layer, computed from the `#squant.kv_format` and the
    element types of the cache tensors:

    * bytes per token: the packed key and value codes, scales and zero
      points (kivi key scales and zeros are per G tokens, amortized), and
      outlier values and channel indices;
    * fixed bytes, independent of the length: sink tokens and kivi residual
      buffers;
    * the per-layer tables (kvquant), shared by all sequences;
    * the bytes per token of an fp16 cache (`2 * H * D * 2`) and the ratio.

    The IR is not changed. Example (LLaMA-7B shapes):
    `squant-opt --squant-kv-memory-report examples/kv-cache/llama7b-memory.mlir -o /dev/null`.
  }];
}

#endif // SQUANT_DIALECT_SQUANT_TRANSFORMS_PASSES_TD
