//===- SQuantDialect.cpp - squant dialect ---------------------------------===//

#include "squant/Dialect/SQuant/IR/SQuantDialect.h"
#include "squant/Dialect/SQuant/IR/SQuantOps.h"

#include "mlir/IR/DialectImplementation.h"
#include "llvm/ADT/TypeSwitch.h"

using namespace mlir;
using namespace mlir::squant;

#include "squant/Dialect/SQuant/IR/SQuantDialect.cpp.inc"
#include "squant/Dialect/SQuant/IR/SQuantEnums.cpp.inc"

#define GET_ATTRDEF_CLASSES
#include "squant/Dialect/SQuant/IR/SQuantAttrs.cpp.inc"

void SQuantDialect::initialize() {
  addAttributes<
#define GET_ATTRDEF_LIST
#include "squant/Dialect/SQuant/IR/SQuantAttrs.cpp.inc"
      >();
  addOperations<
#define GET_OP_LIST
#include "squant/Dialect/SQuant/IR/SQuantOps.cpp.inc"
      >();
}
