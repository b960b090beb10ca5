//===- InitSQuant.h - register squant with a tool ---------------*- C++ -*-===//
//
// One registration header shared by every tool.
//
//===----------------------------------------------------------------------===//

#ifndef SQUANT_INITSQUANT_H
#define SQUANT_INITSQUANT_H

namespace mlir {
class DialectRegistry;

namespace squant {
/// The squant dialect, its external interface models, and the upstream
/// dialects and extensions that squant pipelines produce and consume.
void registerSQuantDialects(DialectRegistry &registry);

/// squant passes and pipelines (not the upstream ones).
void registerSQuantPassesAndPipelines();
} // namespace squant
} // namespace mlir

#endif // SQUANT_INITSQUANT_H
