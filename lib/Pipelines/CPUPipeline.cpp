//===- CPUPipeline.cpp - squant-cpu-pipeline ------------------------------===//
//
// squant ops on tensors -> (squant-decompose | fast CPU kernels) -> sparse
// aware bufferization -> buffer deallocation -> loops -> LLVM dialect.
// The tail follows upstream's sparsifier pipeline, because the outlier
// operand of lut_matmul is a sparse_tensor CSR value.
//
//===----------------------------------------------------------------------===//

#include "squant/Pipelines/Pipelines.h"
#include "squant/Conversion/Passes.h"
#include "squant/Dialect/SQuant/Transforms/Passes.h"

#include "mlir/Conversion/ComplexToLibm/ComplexToLibm.h"
#include "mlir/Conversion/ComplexToStandard/ComplexToStandard.h"
#include "mlir/Conversion/ConvertToLLVM/ToLLVMPass.h"
#include "mlir/Conversion/MathToLLVM/MathToLLVM.h"
#include "mlir/Conversion/MathToLibm/MathToLibm.h"
#include "mlir/Conversion/ReconcileUnrealizedCasts/ReconcileUnrealizedCasts.h"
#include "mlir/Conversion/SCFToOpenMP/SCFToOpenMP.h"
#include "mlir/Conversion/SCFToControlFlow/SCFToControlFlow.h"
#include "mlir/Conversion/VectorToLLVM/ConvertVectorToLLVMPass.h"
#include "mlir/Conversion/VectorToSCF/VectorToSCF.h"
#include "mlir/Conversion/AffineToStandard/AffineToStandard.h"
#include "mlir/Conversion/BufferizationToMemRef/BufferizationToMemRef.h"
#include "mlir/Dialect/Arith/Transforms/Passes.h"
#include "mlir/Dialect/Bufferization/Pipelines/Passes.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Linalg/Passes.h"
#include "mlir/Dialect/MemRef/Transforms/Passes.h"
#include "mlir/Dialect/SparseTensor/Transforms/Passes.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Pass/PassRegistry.h"
#include "mlir/Transforms/Passes.h"

using namespace mlir;

void mlir::squant::buildCPUPipeline(OpPassManager &pm,
                                    const CPUPipelineOptions &options) {
  // Works around an MLIR 22 crash in expand-strided-metadata (see the pass).
  pm.addPass(createSQuantNormalizeUnitStrides());
  // 1. squant ops -> upstream ops on tensors.
  switch (options.kernels) {
  case CPUKernels::Reference:
    pm.addPass(createSQuantDecompose());
    break;
  case CPUKernels::Fast: {
    ConvertSQuantToCPUOptions cpu;
    cpu.target = options.target;
    cpu.threads = options.threads;
    pm.addPass(createConvertSQuantToCPU(cpu));
    // Ops without a fast kernel keep their reference lowering. The KV-cache
    // ops are bufferized first (their caches are updated in place) and get
    // their kernels after bufferization, below.
    SQuantDecomposeOptions decompose;
    decompose.kvCache = false;
    pm.addPass(createSQuantDecompose(decompose));
    break;
  }
  }
  pm.addPass(createCanonicalizerPass());
  // Elementwise arith/math on tensors (e.g. from importers) -> linalg.
  pm.addNestedPass<func::FuncOp>(createConvertElementwiseToLinalgPass());

  // 2. Sparsification and bufferization (dense and sparse in one pass).
  pm.addNestedPass<func::FuncOp>(createLinalgGeneralizeNamedOpsPass());
  pm.addNestedPass<func::FuncOp>(createLinalgElementwiseOpFusionPass());
  SparsificationOptions sparsification(
      SparseParallelizationStrategy::kNone, SparseEmitStrategy::kFunctional,
      /*enableRT=*/false);
  pm.addPass(createSparsificationAndBufferizationPass(
      getBufferizationOptionsForSparsification(
          /*analysisOnly=*/false),
      sparsification, /*createSparseDeallocs=*/true,
      /*enableRuntimeLibrary=*/false, /*enableBufferInitialization=*/false,
      /*vectorLength=*/0, /*enableVLAVectorization=*/false,
      /*enableSIMDIndex32=*/false, /*enableGPULibgen=*/false,
      SparseEmitStrategy::kFunctional, SparseParallelizationStrategy::kNone));
  pm.addPass(createStorageSpecifierToLLVMPass());
  pm.addNestedPass<func::FuncOp>(createCanonicalizerPass());

  // The KV-cache ops, now on memrefs: fused kernels that update the caches
  // in place (convert-squant-to-cpu lowers the memref forms it finds).
  if (options.kernels == CPUKernels::Fast) {
    ConvertSQuantToCPUOptions cpu;
    cpu.target = options.target;
    cpu.threads = options.threads;
    pm.addPass(createConvertSQuantToCPU(cpu));
  }

  // 3. Free the temporaries that bufferization allocated. The deallocation
  // pipeline may clone buffers it does not own (e.g. a function result that
  // is a cast of a local allocation): lower those clones to memref.
  bufferization::buildBufferDeallocationPipeline(pm);
  pm.addPass(createConvertBufferizationToMemRefPass());
  // KV-cache ops that no kernel took keep the reference lowering (its
  // memref form frees its own temporaries, so it runs after deallocation).
  if (options.kernels == CPUKernels::Fast)
    pm.addPass(createSQuantDecompose());

  // The fast kernels' row loops (scf.parallel) -> OpenMP.
  if (options.kernels == CPUKernels::Fast && options.threads != 1) {
    ConvertSCFToOpenMPPassOptions omp;
    omp.numThreads = options.threads;
    pm.addPass(createConvertSCFToOpenMPPass(omp));
    // Inlines the memref.alloca_scope that scf-to-openmp wraps around each
    // loop body (the kernels allocate nothing there).
    pm.addPass(createCanonicalizerPass());
  }

  // 4. Loops and vectors -> LLVM.
  buildLLVMLoweringTail(pm);
}

void mlir::squant::buildLLVMLoweringTail(OpPassManager &pm) {
  pm.addNestedPass<func::FuncOp>(createConvertLinalgToLoopsPass());
  pm.addNestedPass<func::FuncOp>(createConvertVectorToSCFPass());
  pm.addNestedPass<func::FuncOp>(memref::createExpandReallocPass());
  pm.addPass(memref::createExpandStridedMetadataPass());
  pm.addPass(createLowerAffinePass());
  pm.addNestedPass<func::FuncOp>(createSCFToControlFlowPass());
  pm.addPass(createConvertVectorToLLVMPass());
  pm.addNestedPass<func::FuncOp>(createConvertComplexToStandardPass());
  pm.addNestedPass<func::FuncOp>(arith::createArithExpandOpsPass());
  pm.addNestedPass<func::FuncOp>(createConvertMathToLLVMPass());
  pm.addPass(createConvertMathToLibmPass());
  pm.addPass(createConvertComplexToLibm());
  pm.addPass(createConvertToLLVMPass());
  pm.addPass(createReconcileUnrealizedCastsPass());
}

void mlir::squant::registerSQuantPipelines() {
  PassPipelineRegistration<CPUPipelineOptions>(
      "squant-cpu-pipeline",
      "Lower func + squant ops on tensors to the LLVM dialect for CPU "
      "execution (mlir-runner, squant-run)",
      buildCPUPipeline);
  registerGPUPipeline();
}
