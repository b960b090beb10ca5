//===- Pipelines.h - squant pass pipelines ----------------------*- C++ -*-===//
//
// Pipeline builders shared by squant-opt (as registered pipelines),
// squant-run and squant-compile. Tools never assemble their own copies.
//
//===----------------------------------------------------------------------===//

#ifndef SQUANT_PIPELINES_PIPELINES_H
#define SQUANT_PIPELINES_PIPELINES_H

#include "squant/Conversion/SQuantToCPU/SQuantToCPU.h"

#include "mlir/Pass/PassOptions.h"

namespace mlir {
class OpPassManager;

namespace squant {

/// How squant ops are lowered on the CPU.
enum class CPUKernels {
  /// squant-decompose: the reference semantics (materializes weights).
  Reference,
  /// convert-squant-to-cpu: fused register-table kernels (the default).
  Fast,
};

struct CPUPipelineOptions : public PassPipelineOptions<CPUPipelineOptions> {
  PassOptions::Option<CPUKernels> kernels{
      *this, "kernels",
      llvm::cl::desc("Lowering used for squant ops"),
      llvm::cl::init(CPUKernels::Fast),
      llvm::cl::values(
          clEnumValN(CPUKernels::Fast, "fast",
                     "convert-squant-to-cpu (fused CPU kernels)"),
          clEnumValN(CPUKernels::Reference, "reference",
                     "squant-decompose (reference semantics)"))};
  PassOptions::Option<CPUTarget> target{
      *this, "target",
      llvm::cl::desc("Instruction set of the fast kernels"),
      llvm::cl::init(CPUTarget::Auto),
      llvm::cl::values(
          clEnumValN(CPUTarget::Auto, "auto", "detect the host CPU"),
          clEnumValN(CPUTarget::AVX512, "avx512", "AVX-512 F/BW/VL"),
          clEnumValN(CPUTarget::AVX2, "avx2", "AVX2 + FMA"),
          clEnumValN(CPUTarget::Generic, "generic", "portable scalar code"))};
  PassOptions::Option<unsigned> threads{
      *this, "threads",
      llvm::cl::desc("Threads of the fast kernels (0: the OpenMP runtime's "
                     "default, 1: sequential, no OpenMP runtime needed)"),
      llvm::cl::init(0)};
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
