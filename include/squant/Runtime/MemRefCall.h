//===- MemRefCall.h - call JIT-compiled functions on memrefs ----*- C++ -*-===//
//
// Calls a function that the CPU pipeline lowered to LLVM, passing ranked
// memref arguments and receiving ranked memref results through the
// ExecutionEngine's packed interface (`_mlir_<name>`): each memref argument
// expands to (allocated, aligned, offset, sizes[R], strides[R]) and the
// results come back as one struct of such descriptors.
//
//===----------------------------------------------------------------------===//

#ifndef SQUANT_RUNTIME_MEMREFCALL_H
#define SQUANT_RUNTIME_MEMREFCALL_H

#include "llvm/ADT/ArrayRef.h"
#include "llvm/ADT/SmallVector.h"
#include "llvm/ADT/StringRef.h"
#include "llvm/Support/Error.h"

#include <cstdint>

namespace mlir {
class ExecutionEngine;

namespace squant::runtime {

/// A contiguous row-major buffer passed as a memref argument.
struct MemRefArg {
  void *data;
  llvm::SmallVector<int64_t> sizes;
};

/// A memref descriptor returned by the callee.
struct MemRefResult {
  void *allocated = nullptr;
  void *aligned = nullptr;
  int64_t offset = 0;
  llvm::SmallVector<int64_t> sizes, strides;

  int64_t numElements() const;
  /// Copies the elements in row-major order (honouring strides).
  std::vector<uint8_t> toContiguous(unsigned elementSize) const;
};

/// Invokes `name` with memref arguments; `resultRanks` gives the rank of each
/// memref result.
llvm::Expected<llvm::SmallVector<MemRefResult>>
callMemRefFunction(ExecutionEngine &engine, llvm::StringRef name,
                   llvm::ArrayRef<MemRefArg> args,
                   llvm::ArrayRef<unsigned> resultRanks);

/// Frees the buffers the callee allocated for its results: each distinct
/// `allocated` pointer once, except pointers in `notOwned` (arguments the
/// function returned as they were) and the sentinel upstream uses for
/// results that are global constants.
void freeResultBuffers(llvm::ArrayRef<MemRefResult> results,
                       llvm::ArrayRef<const void *> notOwned);

} // namespace squant::runtime
} // namespace mlir

#endif // SQUANT_RUNTIME_MEMREFCALL_H
