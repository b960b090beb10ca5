//===- VerifyUtils.h - shared verifier helpers (internal) -------*- C++ -*-===//
//
// Helpers shared by the verifiers of the squant ops (SQuantOps.cpp,
// SQuantKVCacheOps.cpp). Internal to the dialect library.
//
//===----------------------------------------------------------------------===//

#ifndef SQUANT_LIB_DIALECT_SQUANT_IR_VERIFYUTILS_H
#define SQUANT_LIB_DIALECT_SQUANT_IR_VERIFYUTILS_H

#include "mlir/IR/BuiltinTypes.h"
#include "mlir/IR/Operation.h"
#include "mlir/Interfaces/DestinationStyleOpInterface.h"
#include "mlir/Interfaces/SideEffectInterfaces.h"
#include "llvm/ADT/STLExtras.h"
#include "llvm/Support/raw_ostream.h"

#include <string>

namespace mlir::squant::detail {

/// Prints a shape as "[64, ?]".
inline std::string shapeStr(ArrayRef<int64_t> shape) {
  std::string s;
  llvm::raw_string_ostream os(s);
  os << '[';
  llvm::interleaveComma(shape, os, [&](int64_t d) {
    if (ShapedType::isDynamic(d))
      os << '?';
    else
      os << d;
  });
  os << ']';
  return s;
}

/// Two dimensions are compatible when either is dynamic or they are equal.
inline bool dimsCompatible(int64_t a, int64_t b) {
  return ShapedType::isDynamic(a) || ShapedType::isDynamic(b) || a == b;
}

inline bool shapesCompatible(ArrayRef<int64_t> a, ArrayRef<int64_t> b) {
  return a.size() == b.size() && llvm::all_of(llvm::zip(a, b), [](auto p) {
           return dimsCompatible(std::get<0>(p), std::get<1>(p));
         });
}

inline bool isSupportedFloat(Type t) {
  return t.isF16() || t.isBF16() || t.isF32();
}

inline ShapedType shaped(Value v) { return cast<ShapedType>(v.getType()); }

inline LogicalResult verifyFloatElement(Operation *op, StringRef name,
                                        Value v) {
  Type t = shaped(v).getElementType();
  if (!isSupportedFloat(t))
    return op->emitOpError()
           << "expected '" << name
           << "' element type to be f16, bf16 or f32, found " << t;
  return success();
}

inline LogicalResult verifyRank(Operation *op, StringRef name, Value v,
                                int64_t rank, StringRef dims) {
  int64_t found = shaped(v).getRank();
  if (found != rank)
    return op->emitOpError() << "expected '" << name << "' of rank " << rank
                             << " (" << dims << "), found rank " << found;
  return success();
}

inline LogicalResult verifyShape(Operation *op, StringRef name, Value v,
                                 ArrayRef<int64_t> expected, StringRef dims) {
  ArrayRef<int64_t> found = shaped(v).getShape();
  if (!shapesCompatible(found, expected))
    return op->emitOpError()
           << "expected '" << name << "' of shape " << dims << " = "
           << shapeStr(expected) << ", found " << shapeStr(found);
  return success();
}

/// Effects of a destination-style op on memrefs: inputs are read, the init
/// is written. Tensor forms have no memory effects.
inline void getDpsEffects(
    DestinationStyleOpInterface op,
    SmallVectorImpl<SideEffects::EffectInstance<MemoryEffects::Effect>>
        &effects) {
  for (OpOperand *operand : op.getDpsInputOperands())
    if (isa<MemRefType>(operand->get().getType()))
      effects.emplace_back(MemoryEffects::Read::get(), operand,
                           SideEffects::DefaultResource::get());
  for (OpOperand &operand : op.getDpsInitsMutable())
    if (isa<MemRefType>(operand.get().getType()))
      effects.emplace_back(MemoryEffects::Write::get(), &operand,
                           SideEffects::DefaultResource::get());
}
} // namespace mlir::squant::detail

#endif // SQUANT_LIB_DIALECT_SQUANT_IR_VERIFYUTILS_H
