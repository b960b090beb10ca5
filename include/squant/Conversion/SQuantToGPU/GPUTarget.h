//===- GPUTarget.h - NVIDIA chips squant can target -------------*- C++ -*-===//
//
// One table of the chips squant-gpu-pipeline accepts, with the PTX ISA
// version each one needs (LLVM's NVPTX backend aborts when the PTX version
// is too old for the chip) and its SM count class (sizes the K split).
//
//===----------------------------------------------------------------------===//

#ifndef SQUANT_CONVERSION_SQUANTTOGPU_GPUTARGET_H
#define SQUANT_CONVERSION_SQUANTTOGPU_GPUTARGET_H

#include "llvm/ADT/StringRef.h"

#include <optional>
#include <string>

namespace mlir::squant {

struct GPUChipInfo {
  /// e.g. "sm_90a".
  llvm::StringRef chip;
  /// NVPTX feature string selecting the PTX ISA version, e.g. "+ptx80".
  llvm::StringRef ptxFeatures;
  /// SMs of a representative part (A100: 108, H100 SXM: 132, ...).
  int numSMs;
  /// A representative part, for messages and docs.
  llvm::StringRef example;
};

/// The entry for `chip`, or nullptr when squant does not support it.
const GPUChipInfo *lookupGPUChip(llvm::StringRef chip);

/// "sm_75, sm_80, ..." for diagnostics.
std::string listSupportedGPUChips();

/// Finds a CUDA tool (ptxas, fatbinary) the way MLIR's NVVM serializer does
/// (`<toolkit>/bin`, then $PATH, then the first of $CUDA_ROOT, $CUDA_HOME,
/// $CUDA_PATH that is set), then, when no toolkit was given, in
/// /usr/local/cuda, which the pipeline then passes on as the toolkit (see
/// getDefaultCUDAToolkit). Returns its path.
std::optional<std::string> findCUDATool(llvm::StringRef tool,
                                        llvm::StringRef toolkit);

/// The toolkit root to hand to gpu-module-to-binary when the user gave
/// none: empty when MLIR finds ptxas by itself, else /usr/local/cuda when it
/// has one (so a toolkit outside $PATH still works).
std::string getDefaultCUDAToolkit();

} // namespace mlir::squant

#endif // SQUANT_CONVERSION_SQUANTTOGPU_GPUTARGET_H
