//===- InitSQuant.cpp - register squant with a tool -----------------------===//

#include "squant/InitSQuant.h"
#include "squant/Conversion/Passes.h"
#include "squant/Conversion/SQuantToGPU/SQuantToGPU.h"
#include "squant/Dialect/SQuant/IR/SQuantDialect.h"
#include "squant/Dialect/SQuant/Transforms/BufferizableOpInterfaceImpl.h"
#include "squant/Dialect/SQuant/Transforms/Passes.h"
#include "squant/Pipelines/Pipelines.h"

#include "mlir/IR/DialectRegistry.h"
#include "mlir/InitAllDialects.h"
#include "mlir/InitAllExtensions.h"
#include "mlir/Target/LLVMIR/Dialect/Builtin/BuiltinToLLVMIRTranslation.h"
#include "mlir/Target/LLVMIR/Dialect/GPU/GPUToLLVMIRTranslation.h"
#include "mlir/Target/LLVMIR/Dialect/LLVMIR/LLVMToLLVMIRTranslation.h"
#include "mlir/Target/LLVMIR/Dialect/NVVM/NVVMToLLVMIRTranslation.h"

void mlir::squant::registerSQuantDialects(DialectRegistry &registry) {
  registry.insert<SQuantDialect>();
  registerBufferizableOpInterfaceExternalModels(registry);
  registerGPULaunchMemoryEffects(registry);
  // Our pipelines run upstream passes on every upstream dialect they touch
  // (and convert-to-llvm needs the interface extensions): register them all.
  registerAllDialects(registry);
  registerAllExtensions(registry);
  // gpu-module-to-binary (squant-gpu-pipeline) translates kernels to LLVM IR.
  registerBuiltinDialectTranslation(registry);
  registerGPUDialectTranslation(registry);
  registerLLVMDialectTranslation(registry);
  registerNVVMDialectTranslation(registry);
}

void mlir::squant::registerSQuantPassesAndPipelines() {
  registerSQuantPasses();
  registerSQuantConversionPasses();
  registerSQuantPipelines();
}
