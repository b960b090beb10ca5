//===- GPUPipeline.cpp - squant-gpu-pipeline ------------------------------===//
//
// func + squant ops on tensors
//   -> squant-gpu-check-target        chip / format / CUDA tools, or an error
//   -> convert-squant-to-gpu          fused kernels + launches (ops without
//                                     one: their linalg decomposition)
//   -> sparsification-and-bufferization, buffer deallocation (host side)
//   -> squant-gpu-map-linalg          the rest of the graph (linalg on
//                                     buffers, copies) -> gpu.launch
//   -> squant-gpu-expand-math{intrinsics=false}
//                                     polynomial math in kernels
//   -> gpu-kernel-outlining
//      [host-emulation: squant-gpu-launch-to-loops, then the CPU tail to
//       the LLVM dialect; stop]
//   -> squant-gpu-host-buffers        host allocations in device memory
//   -> gpu-async-region
//   -> the upstream NVVM lowering (the passes of gpu-lower-to-nvvm-pipeline,
//      with the PTX version the chip needs), plus squant-gpu-expand-math
//      (sqrt, floor, ... as NVPTX-native intrinsics, not libdevice),
//      squant-nvvm-exp2               math.exp2 -> ex2.approx.f32 and
//      squant-nvvm-invariant-loads    read-only buffers through ld.global.nc
//   -> gpu-module-to-binary{format}   PTX (isa), cubin (bin) or fatbin
//   -> host LLVM dialect calling the mgpu* runtime.
//
//===----------------------------------------------------------------------===//

#include "squant/Conversion/Passes.h"
#include "squant/Conversion/SQuantToGPU/GPUTarget.h"
#include "squant/Dialect/SQuant/Transforms/Passes.h"
#include "squant/Pipelines/Pipelines.h"

#include "mlir/Conversion/AffineToStandard/AffineToStandard.h"
#include "mlir/Conversion/BufferizationToMemRef/BufferizationToMemRef.h"
#include "mlir/Conversion/ArithToLLVM/ArithToLLVM.h"
#include "mlir/Conversion/FuncToLLVM/ConvertFuncToLLVMPass.h"
#include "mlir/Conversion/GPUCommon/GPUCommonPass.h"
#include "mlir/Conversion/GPUToNVVM/GPUToNVVMPass.h"
#include "mlir/Conversion/IndexToLLVM/IndexToLLVM.h"
#include "mlir/Conversion/MathToLLVM/MathToLLVM.h"
#include "mlir/Conversion/NVVMToLLVM/NVVMToLLVM.h"
#include "mlir/Conversion/ReconcileUnrealizedCasts/ReconcileUnrealizedCasts.h"
#include "mlir/Conversion/SCFToControlFlow/SCFToControlFlow.h"
#include "mlir/Conversion/VectorToSCF/VectorToSCF.h"
#include "mlir/Dialect/Bufferization/Pipelines/Passes.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/GPU/Transforms/Passes.h"
#include "mlir/Dialect/LLVMIR/Transforms/OptimizeForNVVM.h"
#include "mlir/Dialect/Linalg/Passes.h"
#include "mlir/Dialect/MemRef/Transforms/Passes.h"
#include "mlir/Dialect/SparseTensor/Transforms/Passes.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Pass/PassRegistry.h"
#include "mlir/Transforms/Passes.h"

using namespace mlir;

void mlir::squant::buildGPUPipeline(OpPassManager &pm,
                                    const GPUPipelineOptions &options) {
  // 0. Refuse what would abort later (unknown chip, missing ptxas).
  SQuantGPUCheckTargetOptions check;
  check.chip = options.chip;
  check.format = options.hostEmulation ? std::string("isa")
                                       : std::string(options.format);
  check.toolkit = options.toolkit;
  pm.addPass(createSQuantGPUCheckTarget(check));
  // Works around an MLIR 22 crash in expand-strided-metadata (see the pass).
  pm.addPass(createSQuantNormalizeUnitStrides());
  const GPUChipInfo *chip = lookupGPUChip(options.chip);

  // 1. squant ops -> kernels and launches.
  ConvertSQuantToGPUOptions kernels;
  kernels.numSMs = chip ? chip->numSMs : 132;
  kernels.splitK = options.splitK;
  kernels.warpsK = options.warpsK;
  kernels.decomposeUnsupported = options.decomposeUnsupported;
  kernels.kvSplits = options.kvSplits;
  pm.addPass(createConvertSQuantToGPU(kernels));
  pm.addPass(createCanonicalizerPass());

  // 2. Host side: bufferize (dense and sparse; the same sequence as
  // squant-cpu-pipeline), free temporaries, and move every host buffer to
  // device memory.
  pm.addNestedPass<func::FuncOp>(createLinalgGeneralizeNamedOpsPass());
  SparsificationOptions sparsification(
      SparseParallelizationStrategy::kNone, SparseEmitStrategy::kFunctional,
      /*enableRT=*/false);
  pm.addPass(createSparsificationAndBufferizationPass(
      getBufferizationOptionsForSparsification(/*analysisOnly=*/false),
      sparsification, /*createSparseDeallocs=*/true,
      /*enableRuntimeLibrary=*/false, /*enableBufferInitialization=*/false,
      /*vectorLength=*/0, /*enableVLAVectorization=*/false,
      /*enableSIMDIndex32=*/false, /*enableGPULibgen=*/false,
      SparseEmitStrategy::kFunctional, SparseParallelizationStrategy::kNone));
  pm.addPass(createStorageSpecifierToLLVMPass());
  pm.addNestedPass<func::FuncOp>(createCanonicalizerPass());
  bufferization::buildBufferDeallocationPipeline(pm);
  pm.addPass(createConvertBufferizationToMemRefPass());

  // 3. The rest of the graph (linalg on buffers, copies) -> kernels, so that
  // the host code only allocates, launches and frees.
  pm.addPass(createSQuantGPUMapLinalg());
  SQuantGPUExpandMathOptions approximate;
  approximate.intrinsics = false;
  pm.addPass(createSQuantGPUExpandMath(approximate));
  pm.addPass(createGpuKernelOutliningPass());
  pm.addPass(createCanonicalizerPass());
  pm.addPass(createCSEPass());

  // Testing without a GPU: the same kernels run on the host, and the module
  // is lowered like squant-cpu-pipeline's output.
  if (options.hostEmulation) {
    pm.addPass(createSQuantGPULaunchToLoops());
    pm.addPass(createCanonicalizerPass());
    buildLLVMLoweringTail(pm);
    return;
  }

  // 4. Every buffer the host code touches lives in device memory.
  pm.addPass(createSQuantGPUHostBuffers());
  pm.addNestedPass<func::FuncOp>(createGpuAsyncRegionPass());

  // 5. The upstream NVVM lowering (as gpu-lower-to-nvvm-pipeline), with the
  // chip's PTX version.
  pm.addPass(createConvertVectorToSCFPass());
  pm.addPass(createSCFToControlFlowPass());
  pm.addPass(createConvertNVVMToLLVMPass());
  pm.addPass(createConvertFuncToLLVMPass());
  pm.addPass(memref::createExpandStridedMetadataPass());
  GpuNVVMAttachTargetOptions target;
  target.chip = options.chip;
  target.features = chip ? chip->ptxFeatures.str() : "";
  target.optLevel = options.optLevel;
  pm.addPass(createGpuNVVMAttachTarget(target));
  pm.addPass(createLowerAffinePass());
  pm.addPass(createArithToLLVMConversionPass());
  ConvertIndexToLLVMPassOptions index;
  index.indexBitwidth = 64;
  pm.addPass(createConvertIndexToLLVMPass(index));
  pm.addPass(createCanonicalizerPass());
  pm.addPass(createCSEPass());

  ConvertGpuOpsToNVVMOpsOptions toNVVM;
  toNVVM.indexBitwidth = 64;
  pm.addNestedPass<gpu::GPUModuleOp>(createStripDebugInfoPass());
  // sqrt, floor, ... -> NVPTX-native LLVM intrinsics (not libdevice).
  pm.addPass(createSQuantGPUExpandMath());
  // math.exp2 (the attention softmax) -> ex2.approx.f32, no libdevice.
  pm.addPass(createSQuantNVVMExp2());
  // math.fma -> llvm.intr.fma (fma.rn.f32) before convert-gpu-to-nvvm, which
  // would call libdevice's __nv_fmaf (an unresolved extern unless libdevice
  // is linked).
  pm.addNestedPass<gpu::GPUModuleOp>(createConvertMathToLLVMPass());
  pm.addNestedPass<gpu::GPUModuleOp>(createConvertGpuOpsToNVVMOps(toNVVM));
  pm.addNestedPass<gpu::GPUModuleOp>(LLVM::createNVVMOptimizeForTargetPass());
  pm.addNestedPass<gpu::GPUModuleOp>(createCanonicalizerPass());
  pm.addNestedPass<gpu::GPUModuleOp>(createCSEPass());
  pm.addNestedPass<gpu::GPUModuleOp>(createReconcileUnrealizedCastsPass());
  pm.addPass(createSQuantNVVMInvariantLoads());

  // 6. Host code -> LLVM, kernels -> binary.
  pm.addPass(createGpuToLLVMConversionPass());
  GpuModuleToBinaryPassOptions binary;
  binary.compilationTarget = options.format;
  binary.toolkitPath =
      options.toolkit.empty() ? getDefaultCUDAToolkit()
                              : std::string(options.toolkit);
  pm.addPass(createGpuModuleToBinaryPass(binary));
  pm.addPass(createConvertMathToLLVMPass());
  pm.addPass(createCanonicalizerPass());
  pm.addPass(createCSEPass());
  pm.addPass(createReconcileUnrealizedCastsPass());
}

void mlir::squant::registerGPUPipeline() {
  PassPipelineRegistration<GPUPipelineOptions>(
      "squant-gpu-pipeline",
      "Compile func + squant ops on tensors to fused GPU kernels (PTX, "
      "cubin or fatbin in a gpu.binary) and host code calling the mgpu* "
      "CUDA runtime (squant_cuda_runtime)",
      buildGPUPipeline);
}
