//===- SQuantDialect.h - squant dialect -------------------------*- C++ -*-===//

#ifndef SQUANT_DIALECT_SQUANT_IR_SQUANTDIALECT_H
#define SQUANT_DIALECT_SQUANT_IR_SQUANTDIALECT_H

#include "mlir/IR/Dialect.h"

#include "squant/Dialect/SQuant/IR/SQuantDialect.h.inc"

#endif // SQUANT_DIALECT_SQUANT_IR_SQUANTDIALECT_H
