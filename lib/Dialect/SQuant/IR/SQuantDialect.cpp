//===- SQuantDialect.cpp - squant dialect ---------------------------------===//

#include "squant/Dialect/SQuant/IR/SQuantDialect.h"
#include "squant/Dialect/SQuant/IR/SQuantOps.h"

#include "mlir/IR/DialectImplementation.h"
#include "llvm/ADT/TypeSwitch.h"

using namespace mlir;
using namespace mlir::squant;

#include "squant/Dialect/SQuant/IR/SQuantDialect.cpp.inc"
#include "squant/Dialect/SQuant/IR/SQuantEnums.cpp.inc"

void SQuantDialect::initialize() {
  addOperations<
#define GET_OP_LIST
#include "squant/Dialect/SQuant/IR/SQuantOps.cpp.inc"
      >();
}
