//===- Passes.td - squant conversion passes ----------------*- tablegen -*-===//
//
// Conversions out of the squant dialect (flags convert-squant-to-*), one
// .cpp per pass under lib/Conversion/<Name>/. Alphabetical.
//
//===----------------------------------------------------------------------===//

#ifndef SQUANT_CONVERSION_PASSES_TD
#define SQUANT_CONVERSION_PASSES_TD

include "mlir/Pass/PassBase.td"

def ConvertSQuantToCPU : Pass<"convert-squant-to-cpu", "::mlir::ModuleOp"> {
  let summary = "Lower squant LUT ops to fused CPU kernels (register tables for lut_matmul)";
  let description = [{
    Replaces every `squant.lut_matmul` on tensors by a call to a kernel
    function (one per distinct signature, shared by identical layers) that
    never materializes dequantized weights. When the codes come from
    `squant.unpack` with 2-, 3- or 4-bit codes, the kernel reads the packed
    words directly; SqueezeLLM words (`[K*B/32, N]`) are first transposed
    into the `row_major` layout (`[N, K*B/32]`, the same bit stream per
    output channel), a tensor op that depends only on the weights: this is
    the load-time re-layout (see docs/cpu-kernels.md).

    Kernels by `target`:

    * `avx512`: the table of a row (2^B <= 16 f32) lives in one zmm
      register; codes are broadcast from memory and shifted per lane
      (`vpsrlvd`); one `vpermps` does 16 look-ups; FMA accumulation in f32;
    * `avx2`: the 16 entries in two ymm registers, two `vpermps` and a blend
      per 8 look-ups (one `vpermps` for B <= 3);
    * `generic`: portable scalar loops (no target intrinsics);
    * `auto` (default): the best of these that the host supports, detected
      when the pass runs.

    Every kernel splits output rows across threads (`scf.parallel`, turned
    into OpenMP by `squant-cpu-pipeline`; `threads=1` emits a sequential
    loop), register-blocks M > 1 so that each decoded weight vector serves
    up to 8 rows of `x`, and adds the CSR outliers of a row in the same pass
    (`sparse_tensor.positions/coordinates/values` give the CSR buffers).
    Codes wider than 4 bits, codes that do not come from `squant.unpack`,
    K tails and per-group tables whose group is not a multiple of the
    vector width use the scalar path of the same kernel.

    `squant.lut_dequant` becomes a row-parallel kernel that reads the codes
    straight from the words of its `squant.unpack` (either layout, no codes
    tensor); an `squant.unpack` whose codes are still used gets its own
    row-parallel kernel. These inner loops are scalar.

    The pass runs on tensors, before bufferization: the kernels take
    memrefs (`bufferization.to_buffer` of the operands) and write a fresh
    buffer that becomes the result (`bufferization.to_tensor`). Target
    intrinsics are called through private declarations named after them
    (`func.call @llvm.x86.avx512.permvar.sf.512`), which keeps every op's
    memory effects known to the buffer deallocation pipeline. `pack`,
    `build_lut` and the memref forms are left for `squant-decompose`.
  }];
  let options = [
    Option<"target", "target", "::mlir::squant::CPUTarget",
           "::mlir::squant::CPUTarget::Auto",
           "Instruction set the kernels are written for",
           [{::llvm::cl::values(
             clEnumValN(::mlir::squant::CPUTarget::Auto, "auto",
                        "detect the host CPU when the pass runs"),
             clEnumValN(::mlir::squant::CPUTarget::AVX512, "avx512",
                        "AVX-512 (F, BW, VL): one zmm table per row"),
             clEnumValN(::mlir::squant::CPUTarget::AVX2, "avx2",
                        "AVX2 + FMA: two ymm tables per row"),
             clEnumValN(::mlir::squant::CPUTarget::Generic, "generic",
                        "portable scalar code"))}]>,
    Option<"threads", "threads", "unsigned", "0",
           "Threads the output rows are split across (0: the OpenMP "
           "runtime's default; 1: a sequential loop)">
  ];
  let dependentDialects = [
    "::mlir::arith::ArithDialect",
    "::mlir::bufferization::BufferizationDialect",
    "::mlir::func::FuncDialect",
    "::mlir::linalg::LinalgDialect",
    "::mlir::LLVM::LLVMDialect",
    "::mlir::memref::MemRefDialect",
    "::mlir::scf::SCFDialect",
    "::mlir::sparse_tensor::SparseTensorDialect",
    "::mlir::tensor::TensorDialect",
    "::mlir::vector::VectorDialect"
  ];
}

#endif // SQUANT_CONVERSION_PASSES_TD
