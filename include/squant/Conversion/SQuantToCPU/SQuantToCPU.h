//===- SQuantToCPU.h - fast CPU kernels for squant ops ----------*- C++ -*-===//
//
// Target selection for convert-squant-to-cpu (shared with the pipeline
// options and the tools).
//
//===----------------------------------------------------------------------===//

#ifndef SQUANT_CONVERSION_SQUANTTOCPU_SQUANTTOCPU_H
#define SQUANT_CONVERSION_SQUANTTOCPU_SQUANTTOCPU_H

#include "llvm/ADT/StringRef.h"

namespace mlir::squant {

/// Instruction set the CPU kernels are written for.
enum class CPUTarget {
  /// Detect the host when the pass runs.
  Auto,
  /// AVX-512 F/BW/VL (+FMA): one zmm register holds a 16-entry f32 table.
  AVX512,
  /// AVX2 + FMA: two ymm registers hold a 16-entry f32 table.
  AVX2,
  /// Portable scalar code.
  Generic,
};

/// The best target the host CPU supports (never Auto).
CPUTarget detectHostCPUTarget();

/// Resolves Auto to the host's target; other values are returned unchanged.
CPUTarget resolveCPUTarget(CPUTarget target);

/// Whether the host CPU can run code written for `target`.
bool hostSupportsCPUTarget(CPUTarget target);

/// "avx512", "avx2", "generic" or "auto".
llvm::StringRef stringifyCPUTarget(CPUTarget target);

} // namespace mlir::squant

#endif // SQUANT_CONVERSION_SQUANTTOCPU_SQUANTTOCPU_H
