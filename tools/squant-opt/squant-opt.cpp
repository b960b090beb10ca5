//===- squant-opt.cpp - squant optimizer driver ---------------------------===//
//
// mlir-opt with the squant dialect, passes and pipelines added: every
// upstream dialect and pass stays available, so squant-opt composes our
// passes with upstream ones in one pipeline.
//
//===----------------------------------------------------------------------===//

#include "squant/InitSQuant.h"

#include "mlir/IR/DialectRegistry.h"
#include "mlir/InitAllPasses.h"
#include "mlir/Tools/mlir-opt/MlirOptMain.h"

int main(int argc, char **argv) {
  mlir::registerAllPasses();
  mlir::squant::registerSQuantPassesAndPipelines();
  mlir::DialectRegistry registry;
  mlir::squant::registerSQuantDialects(registry);
  return mlir::asMainReturnCode(mlir::MlirOptMain(
      argc, argv, "squant optimizer driver\n", registry));
}
