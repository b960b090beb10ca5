//===- squant-opt.cpp - squant optimizer driver ---------------------------===//
//
// mlir-opt with the squant dialect, passes and pipelines added: every
// upstream dialect and pass stays available, so squant-opt composes our
// passes with upstream ones in one pipeline. The input is first scanned for
// text the MLIR 22 parser is known to crash on (squant/Support/ParserGuard.h).
//
//===----------------------------------------------------------------------===//

#include "squant/InitSQuant.h"
#include "squant/Support/ParserGuard.h"

#include "mlir/IR/DialectRegistry.h"
#include "mlir/InitAllPasses.h"
#include "mlir/Support/FileUtilities.h"
#include "mlir/Tools/mlir-opt/MlirOptMain.h"
#include "llvm/Support/SourceMgr.h"
#include "llvm/Support/ToolOutputFile.h"
#include "llvm/Support/raw_ostream.h"

using namespace mlir;

int main(int argc, char **argv) {
  registerAllPasses();
  squant::registerSQuantPassesAndPipelines();
  DialectRegistry registry;
  squant::registerSQuantDialects(registry);
  auto [inputFilename, outputFilename] = registerAndParseCLIOptions(
      argc, argv, "squant optimizer driver\n", registry);
  MlirOptMainConfig config = MlirOptMainConfig::createFromCLOptions();

  std::string errorMessage;
  std::unique_ptr<llvm::MemoryBuffer> file =
      openInputFile(inputFilename, &errorMessage);
  if (!file) {
    llvm::errs() << errorMessage << "\n";
    return EXIT_FAILURE;
  }
  llvm::SourceMgr guard;
  guard.AddNewSourceBuffer(
      llvm::MemoryBuffer::getMemBuffer(file->getMemBufferRef(),
                                       /*RequiresNullTerminator=*/false),
      llvm::SMLoc());
  if (squant::reportKnownParserCrash(guard))
    return EXIT_FAILURE;

  auto output = openOutputFile(outputFilename, &errorMessage);
  if (!output) {
    llvm::errs() << errorMessage << "\n";
    return EXIT_FAILURE;
  }
  if (failed(MlirOptMain(output->os(), std::move(file), registry, config)))
    return EXIT_FAILURE;
  output->keep();
  return EXIT_SUCCESS;
}
