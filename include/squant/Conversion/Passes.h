//===- Passes.h - squant conversion passes ----------------------*- C++ -*-===//

#ifndef SQUANT_CONVERSION_PASSES_H
#define SQUANT_CONVERSION_PASSES_H

#include "squant/Conversion/SQuantToCPU/SQuantToCPU.h"

#include "mlir/Pass/Pass.h"

namespace mlir::squant {

#define GEN_PASS_DECL
#include "squant/Conversion/Passes.h.inc"

#define GEN_PASS_REGISTRATION
#include "squant/Conversion/Passes.h.inc"

} // namespace mlir::squant

#endif // SQUANT_CONVERSION_PASSES_H
