//===- Pipelines.h - squant pass pipelines ----------------------*- C++ -*-===//
//
// Pipeline builders shared by squant-opt (as registered pipelines),
// squant-run and squant-compile. Tools never assemble their own copies.
//
//===----------------------------------------------------------------------===//

#ifndef SQUANT_PIPELINES_PIPELINES_H
#define SQUANT_PIPELINES_PIPELINES_H

#include "mlir/Pass/PassOptions.h"

namespace mlir {
class OpPassManager;

namespace squant {

/// How squant ops are lowered on the CPU.
enum class CPUKernels {
  /// squant-decompose: the reference semantics (materializes weights).
  Reference,
};

struct CPUPipelineOptions : public PassPipelineOptions<CPUPipelineOptions> {
  PassOptions::Option<CPUKernels> kernels{
      *this, "kernels",
      llvm::cl::desc("Lowering used for squant ops"),
      llvm::cl::init(CPUKernels::Reference),
      llvm::cl::values(clEnumValN(CPUKernels::Reference, "reference",
                                  "squant-decompose (reference semantics)"))};
};

/// func + squant ops on tensors -> LLVM dialect, executable by mlir-runner
/// and the ExecutionEngine (squant-run).
void buildCPUPipeline(OpPassManager &pm, const CPUPipelineOptions &options);

/// Registers `squant-cpu-pipeline` (and later pipelines) with the pass
/// registry.
void registerSQuantPipelines();

} // namespace squant
} // namespace mlir

#endif // SQUANT_PIPELINES_PIPELINES_H
