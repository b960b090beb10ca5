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

static LogicalResult verifyNameAttr(Operation *op, NamedAttribute attr,
                                    StringRef what, unsigned index) {
  if (attr.getName() != SQuantDialect::kNameAttrName)
    return op->emitError() << "unknown squant attribute '" << attr.getName().getValue()
                           << "' on " << what << " #" << index;
  if (!isa<StringAttr>(attr.getValue()))
    return op->emitError() << "expected '" << SQuantDialect::kNameAttrName
                           << "' on " << what << " #" << index
                           << " to be a string, found " << attr.getValue();
  return success();
}

LogicalResult SQuantDialect::verifyRegionArgAttribute(Operation *op, unsigned,
                                                      unsigned argIndex,
                                                      NamedAttribute attr) {
  if (attr.getName() == kHostAttrName) {
    if (!isa<UnitAttr>(attr.getValue()))
      return op->emitError() << "expected '" << kHostAttrName
                             << "' on argument #" << argIndex
                             << " to be a unit attribute, found "
                             << attr.getValue();
    return success();
  }
  return verifyNameAttr(op, attr, "argument", argIndex);
}

LogicalResult SQuantDialect::verifyRegionResultAttribute(Operation *op,
                                                         unsigned,
                                                         unsigned resultIndex,
                                                         NamedAttribute attr) {
  return verifyNameAttr(op, attr, "result", resultIndex);
}
