//===- SQuantOps.h - squant operations --------------------------*- C++ -*-===//

#ifndef SQUANT_DIALECT_SQUANT_IR_SQUANTOPS_H
#define SQUANT_DIALECT_SQUANT_IR_SQUANTOPS_H

#include "mlir/Bytecode/BytecodeOpInterface.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/IR/BuiltinTypes.h"
#include "mlir/IR/OpDefinition.h"
#include "mlir/IR/OpImplementation.h"
#include "mlir/Interfaces/DestinationStyleOpInterface.h"
#include "mlir/Interfaces/SideEffectInterfaces.h"

#include "squant/Dialect/SQuant/IR/SQuantDialect.h"

#include "squant/Dialect/SQuant/IR/SQuantEnums.h.inc"
#include "squant/Dialect/SQuant/IR/SQuantKVCache.h"

#define GET_ATTRDEF_CLASSES
#include "squant/Dialect/SQuant/IR/SQuantAttrs.h.inc"

#define GET_OP_CLASSES
#include "squant/Dialect/SQuant/IR/SQuantOps.h.inc"

namespace mlir::squant {

/// Number of bits of a code element type (iB), or 0 if `type` is not a
/// signless integer type.
unsigned getCodeBitWidth(Type type);

/// Number of 32-bit words that hold `k` codes of `bits` bits.
inline int64_t getNumPackedWords(int64_t k, unsigned bits) {
  return (k * bits + 31) / 32;
}

} // namespace mlir::squant

#endif // SQUANT_DIALECT_SQUANT_IR_SQUANTOPS_H
