//===- GPUCheckTarget.cpp - squant-gpu-check-target -----------------------===//
//
// Validates the target of squant-gpu-pipeline before anything can reach the
// NVPTX backend or the CUDA tools: an unknown chip, or a PTX version too old
// for it, aborts inside LLVM; a missing ptxas fails late and obscurely.
//
//===----------------------------------------------------------------------===//

#include "squant/Conversion/Passes.h"
#include "squant/Conversion/SQuantToGPU/GPUTarget.h"

#include "mlir/IR/BuiltinOps.h"

namespace mlir::squant {
#define GEN_PASS_DEF_SQUANTGPUCHECKTARGET
#include "squant/Conversion/Passes.h.inc"
} // namespace mlir::squant

using namespace mlir;
using namespace mlir::squant;

namespace {
struct SQuantGPUCheckTargetPass
    : squant::impl::SQuantGPUCheckTargetBase<SQuantGPUCheckTargetPass> {
  using Base::Base;

  void runOnOperation() override {
    ModuleOp module = getOperation();
    if (!lookupGPUChip(chip)) {
      emitError(module.getLoc()) << "squant-gpu-pipeline: unsupported chip '" << chip
                         << "'; supported chips: " << listSupportedGPUChips();
      return signalPassFailure();
    }
    if (format != "isa" && format != "bin" && format != "fatbin") {
      emitError(module.getLoc()) << "squant-gpu-pipeline: unsupported format '"
                         << format << "'; expected isa (PTX), bin (cubin) or "
                                      "fatbin";
      return signalPassFailure();
    }
    if (format == "isa")
      return;
    SmallVector<StringRef, 2> tools = {"ptxas"};
    if (format == "fatbin")
      tools.push_back("fatbinary");
    for (StringRef tool : tools) {
      if (findCUDATool(tool, toolkit))
        continue;
      emitError(module.getLoc()) << "squant-gpu-pipeline: format=" << format
                         << " needs the CUDA tool '" << tool
                         << "', which was not found in "
                         << (toolkit.empty() ? std::string("")
                                             : "'" + toolkit + "/bin', ")
                         << "$PATH, $CUDA_ROOT/$CUDA_HOME/$CUDA_PATH or "
                            "/usr/local/cuda; install the CUDA toolkit, pass "
                            "toolkit=<dir>, or use format=isa (PTX)";
      return signalPassFailure();
    }
  }
};
} // namespace
