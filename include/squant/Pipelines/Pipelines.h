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

struct GPUPipelineOptions : public PassPipelineOptions<GPUPipelineOptions> {
  PassOptions::Option<std::string> chip{
      *this, "chip",
      llvm::cl::desc("Target chip: sm_75, sm_80, sm_86, sm_87, sm_89, sm_90, "
                     "sm_90a, sm_100, sm_100a, sm_120, sm_120a"),
      llvm::cl::init("sm_80")};
  PassOptions::Option<std::string> format{
      *this, "format",
      llvm::cl::desc("Kernel binary format: isa (PTX text), bin (cubin, "
                     "needs ptxas) or fatbin (needs ptxas and fatbinary)"),
      llvm::cl::init("isa")};
  PassOptions::Option<std::string> toolkit{
      *this, "toolkit",
      llvm::cl::desc("CUDA toolkit root (default: $PATH, $CUDA_ROOT, "
                     "$CUDA_HOME, $CUDA_PATH, /usr/local/cuda)"),
      llvm::cl::init("")};
  PassOptions::Option<unsigned> optLevel{
      *this, "opt-level",
      llvm::cl::desc("Optimization level of the NVPTX backend and ptxas"),
      llvm::cl::init(3)};
  PassOptions::Option<int64_t> splitK{
      *this, "split-k",
      llvm::cl::desc("Force the K split of lut_matmul kernels (0: per shape)"),
      llvm::cl::init(0)};
  PassOptions::Option<int64_t> warpsK{
      *this, "warps-k",
      llvm::cl::desc("Force the warps per block along K (0: per M bucket)"),
      llvm::cl::init(0)};
  PassOptions::Option<int64_t> kvSplits{
      *this, "kv-splits",
      llvm::cl::desc("Force the token splits of kv_attention (0: per shape)"),
      llvm::cl::init(0)};
};

/// func + squant ops on tensors -> fused GPU kernels (convert-squant-to-gpu)
/// -> NVVM -> PTX/cubin/fatbin in a gpu.binary, and the host code -> LLVM
/// dialect calling the mgpu* runtime (squant_cuda_runtime). Host functions
/// take and return device buffers. The first pass rejects unknown chips,
/// formats and missing CUDA tools with an error.
void buildGPUPipeline(OpPassManager &pm, const GPUPipelineOptions &options);

/// Registers `squant-cpu-pipeline` (and later pipelines) with the pass
/// registry.
void registerSQuantPipelines();

/// Registers `squant-gpu-pipeline` (called by registerSQuantPipelines).
void registerGPUPipeline();

} // namespace squant
} // namespace mlir

#endif // SQUANT_PIPELINES_PIPELINES_H
