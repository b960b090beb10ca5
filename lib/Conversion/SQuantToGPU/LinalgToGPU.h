//===- LinalgToGPU.h - linalg on buffers to GPU launches --------*- C++ -*-===//
//
// Internal interface of squant-gpu-map-linalg (GPUMapLinalg.cpp): the
// cooperative mapping of reductions (LinalgReductionToGPU.cpp). Everything
// else goes through upstream's linalg -> scf.parallel -> gpu.launch path.
//
//===----------------------------------------------------------------------===//

#ifndef SQUANT_LIB_CONVERSION_SQUANTTOGPU_LINALGTOGPU_H
#define SQUANT_LIB_CONVERSION_SQUANTTOGPU_LINALGTOGPU_H

#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/IR/PatternMatch.h"

#include <optional>
#include <string>

namespace mlir::squant::gpugen {

/// Threads per block of the cooperative reduction kernels (8 warps).
inline constexpr int64_t kReductionThreads = 256;
/// Reductions of at most this many (static) elements give each output one
/// warp; longer or dynamic ones give each output a whole block.
inline constexpr int64_t kWarpReductionMax = 256;

/// How the threads of a block share a reduction.
enum class ReductionMapping {
  /// One warp per output, lanes stride over the reduction dim; 8 outputs per
  /// block. Short reductions (static size <= kWarpReductionMax).
  Warp,
  /// One block per output, its 256 threads stride over the reduction dim;
  /// warp butterflies, then the 8 warp sums in shared memory.
  Block,
  /// Lanes along the output's innermost dim `columnDim` (which is also the
  /// innermost dim of a streamed operand, so a warp's loads are contiguous),
  /// the 8 warps split the reduction; partial sums meet in shared memory.
  Column,
};

/// A linalg.generic on buffers that computes, for every point p of its
/// parallel dims, out[p] = combine(out[p], f(inputs at (p, r))) over one
/// reduction dim r, with an associative and commutative f32 `combine`
/// (addf, mulf, maximumf, minimumf, maxnumf, minnumf).
struct ReductionMatch {
  linalg::GenericOp op;
  unsigned reductionDim = 0;
  /// The combining op inside the body and which of its operands is f(...).
  Operation *combiner = nullptr;
  unsigned contribution = 0;
  ReductionMapping mapping = ReductionMapping::Block;
  unsigned columnDim = 0;
};

/// Matches a reduction the cooperative kernels can compute, or std::nullopt
/// (the op then takes the generic path: a thread per output).
std::optional<ReductionMatch> matchReduction(linalg::GenericOp op);

/// Short name of a mapping for kernel names ("warp", "block", "column").
llvm::StringRef getMappingName(ReductionMapping mapping);

/// Replaces the reduction by a gpu.launch named `function` in `module`. When
/// `fill` is set (a linalg.fill of the whole output right before the op),
/// its value is used as the initial value and the fill is erased.
void emitReductionLaunch(RewriterBase &rewriter, const ReductionMatch &match,
                         linalg::FillOp fill, llvm::StringRef module,
                         llvm::StringRef function);

} // namespace mlir::squant::gpugen

#endif // SQUANT_LIB_CONVERSION_SQUANTTOGPU_LINALGTOGPU_H
