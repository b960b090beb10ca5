//===- SQuantOps.cpp - squant operations ----------------------------------===//
//
// Verifiers and interface methods. Every verifier branch has a case in
// test/Dialect/SQuant/invalid.mlir.
//
//===----------------------------------------------------------------------===//

#include "squant/Dialect/SQuant/IR/SQuantOps.h"
#include "VerifyUtils.h"

#include "mlir/Dialect/SparseTensor/IR/SparseTensor.h"
#include "mlir/IR/TypeUtilities.h"
#include "llvm/ADT/STLExtras.h"
#include "llvm/Support/raw_ostream.h"

using namespace mlir;
using namespace mlir::squant;
using namespace mlir::squant::detail;

unsigned mlir::squant::getCodeBitWidth(Type type) {
  auto intType = dyn_cast<IntegerType>(type);
  if (!intType || !intType.isSignless())
    return 0;
  return intType.getWidth();
}

//===----------------------------------------------------------------------===//
// Verification helpers
//===----------------------------------------------------------------------===//

namespace {
/// The tensor-or-memref discipline shared by all destination-style ops.
LogicalResult verifyDpsForm(Operation *op, Value init) {
  bool tensorForm = isa<RankedTensorType>(init.getType());
  for (OpOperand &operand : op->getOpOperands()) {
    Type t = operand.get().getType();
    if (tensorForm && isa<MemRefType>(t))
      return op->emitOpError()
             << "expected all operands to be tensors when 'outs' is a tensor, "
                "found operand #"
             << operand.getOperandNumber() << " of type " << t;
    if (!tensorForm && isa<RankedTensorType>(t))
      return op->emitOpError()
             << "expected all operands to be memrefs when 'outs' is a memref, "
                "found operand #"
             << operand.getOperandNumber() << " of type " << t;
  }
  if (tensorForm) {
    if (op->getNumResults() != 1)
      return op->emitOpError()
             << "expected one result of the type of 'outs' when 'outs' is a "
                "tensor, found "
             << op->getNumResults() << " results";
    if (op->getResult(0).getType() != init.getType())
      return op->emitOpError()
             << "expected the result type to match the type of 'outs' "
             << init.getType() << ", found " << op->getResult(0).getType();
  } else if (op->getNumResults() != 0) {
    return op->emitOpError()
           << "expected no results when 'outs' is a memref, found "
           << op->getNumResults();
  }
  return success();
}

/// Codes are [N, K] x iB with 2 <= B <= 8.
LogicalResult verifyCodes(Operation *op, StringRef name, Value codes) {
  if (failed(verifyRank(op, name, codes, 2, "[N, K]")))
    return failure();
  Type elt = shaped(codes).getElementType();
  unsigned bits = getCodeBitWidth(elt);
  if (bits < 2 || bits > 8)
    return op->emitOpError()
           << "expected '" << name
           << "' element type to be a signless integer of 2 to 8 bits, found "
           << elt;
  return success();
}

/// A table is [2^B], [N, 2^B] or [N, K/G, 2^B] for codes [N, K] x iB.
LogicalResult verifyTable(Operation *op, Value codes, Value lut) {
  if (failed(verifyFloatElement(op, "lut", lut)))
    return failure();
  ShapedType codesType = shaped(codes), lutType = shaped(lut);
  int64_t rank = lutType.getRank();
  if (rank < 1 || rank > 3)
    return op->emitOpError()
           << "expected 'lut' of rank 1 ([2^B]), 2 ([N, 2^B]) or 3 "
              "([N, K/G, 2^B]), found rank "
           << rank;
  unsigned bits = getCodeBitWidth(codesType.getElementType());
  int64_t entries = int64_t(1) << bits;
  int64_t last = lutType.getShape().back();
  if (!dimsCompatible(last, entries))
    return op->emitOpError()
           << "expected the last dimension of 'lut' to be 2^B = " << entries
           << " for " << codesType.getElementType() << " codes, found "
           << last;
  if (rank >= 2 && !dimsCompatible(lutType.getDimSize(0), codesType.getDimSize(0)))
    return op->emitOpError()
           << "expected 'lut' dimension 0 to equal N = "
           << codesType.getDimSize(0) << " (codes dimension 0), found "
           << lutType.getDimSize(0);
  if (rank == 3) {
    int64_t groups = lutType.getDimSize(1);
    int64_t k = codesType.getDimSize(1);
    if (groups == 0)
      return op->emitOpError()
             << "expected a non-zero number of groups (lut dimension 1)";
    if (!ShapedType::isDynamic(groups) && !ShapedType::isDynamic(k) &&
        k % groups != 0)
      return op->emitOpError()
             << "expected the number of groups (lut dimension 1) to divide "
                "K = "
             << k << ", found " << groups;
  }
  return success();
}

} // namespace

#define SQUANT_DPS_EFFECTS(OP)                                                 \
  void OP::getEffects(                                                         \
      SmallVectorImpl<SideEffects::EffectInstance<MemoryEffects::Effect>>      \
          &effects) {                                                          \
    getDpsEffects(cast<DestinationStyleOpInterface>(getOperation()), effects); \
  }
SQUANT_DPS_EFFECTS(LutDequantOp)
SQUANT_DPS_EFFECTS(LutMatmulOp)
SQUANT_DPS_EFFECTS(PackOp)
SQUANT_DPS_EFFECTS(UnpackOp)
SQUANT_DPS_EFFECTS(BuildLutOp)
#undef SQUANT_DPS_EFFECTS

//===----------------------------------------------------------------------===//
// LutDequantOp
//===----------------------------------------------------------------------===//

LogicalResult LutDequantOp::verify() {
  if (failed(verifyDpsForm(*this, getInit())) ||
      failed(verifyCodes(*this, "codes", getCodes())) ||
      failed(verifyTable(*this, getCodes(), getLut())) ||
      failed(verifyFloatElement(*this, "outs", getInit())) ||
      failed(verifyShape(*this, "outs", getInit(),
                         shaped(getCodes()).getShape(), "[N, K]")))
    return failure();
  return success();
}

//===----------------------------------------------------------------------===//
// LutMatmulOp
//===----------------------------------------------------------------------===//

LogicalResult LutMatmulOp::verify() {
  if (failed(verifyDpsForm(*this, getInit())) ||
      failed(verifyCodes(*this, "codes", getCodes())) ||
      failed(verifyTable(*this, getCodes(), getLut())) ||
      failed(verifyRank(*this, "x", getX(), 2, "[M, K]")) ||
      failed(verifyFloatElement(*this, "x", getX())) ||
      failed(verifyFloatElement(*this, "outs", getInit())))
    return failure();
  ShapedType xType = shaped(getX()), codesType = shaped(getCodes());
  int64_t m = xType.getDimSize(0), k = xType.getDimSize(1);
  int64_t n = codesType.getDimSize(0);
  if (!dimsCompatible(k, codesType.getDimSize(1)))
    return emitOpError() << "expected 'x' dimension 1 (K) to equal codes "
                            "dimension 1 = "
                         << codesType.getDimSize(1) << ", found " << k;
  if (failed(verifyShape(*this, "outs", getInit(), {m, n}, "[M, N]")))
    return failure();
  if (Value s = getOutliers()) {
    auto enc = sparse_tensor::getSparseTensorEncoding(s.getType());
    if (!enc || enc.getLvlRank() != 2 || !enc.isIdentity() ||
        !enc.isDenseLvl(0) || !enc.isCompressedLvl(1))
      return emitOpError() << "expected 'outliers' to be a sparse tensor with "
                              "CSR encoding (identity map, dense then "
                              "compressed levels), found "
                           << s.getType();
    if (failed(verifyShape(*this, "outliers", s, codesType.getShape(),
                           "[N, K]")) ||
        failed(verifyFloatElement(*this, "outliers", s)))
      return failure();
  }
  return success();
}

//===----------------------------------------------------------------------===//
// PackOp / UnpackOp
//===----------------------------------------------------------------------===//

namespace {
/// Verifies the relation between codes [N, K] x iB and packed words.
LogicalResult verifyPacking(Operation *op, PackLayout layout, Value codes,
                            Value packed, StringRef codesName,
                            StringRef packedName) {
  if (failed(verifyRank(op, codesName, codes, 2, "[N, K]")))
    return failure();
  Type codeElt = shaped(codes).getElementType();
  unsigned bits = getCodeBitWidth(codeElt);
  if (bits != 2 && bits != 3 && bits != 4 && bits != 8)
    return op->emitOpError()
           << "expected '" << codesName
           << "' element type to be i2, i3, i4 or i8, found " << codeElt;
  if (failed(verifyRank(op, packedName, packed, 2,
                        layout == PackLayout::SqueezeLLM ? "[K*B/32, N]"
                                                         : "[N, K*B/32]")))
    return failure();
  Type wordElt = shaped(packed).getElementType();
  if (!wordElt.isSignlessInteger(32))
    return op->emitOpError() << "expected '" << packedName
                             << "' element type to be i32, found " << wordElt;
  int64_t n = shaped(codes).getDimSize(0), k = shaped(codes).getDimSize(1);
  int64_t words = ShapedType::kDynamic;
  if (!ShapedType::isDynamic(k)) {
    if (layout == PackLayout::SqueezeLLM && (k * bits) % 32 != 0)
      return op->emitOpError()
             << "squeezellm layout requires K * B to be a multiple of 32, "
                "found K = "
             << k << " with B = " << bits;
    words = getNumPackedWords(k, bits);
  }
  SmallVector<int64_t> expected = layout == PackLayout::SqueezeLLM
                                      ? SmallVector<int64_t>{words, n}
                                      : SmallVector<int64_t>{n, words};
  return verifyShape(op, packedName, packed, expected,
                     layout == PackLayout::SqueezeLLM ? "[K*B/32, N]"
                                                      : "[N, ceil(K*B/32)]");
}
} // namespace

LogicalResult PackOp::verify() {
  if (failed(verifyDpsForm(*this, getInit())))
    return failure();
  return verifyPacking(*this, getLayout(), getCodes(), getInit(), "codes",
                       "outs");
}

LogicalResult UnpackOp::verify() {
  if (failed(verifyDpsForm(*this, getInit())))
    return failure();
  return verifyPacking(*this, getLayout(), getInit(), getPacked(), "outs",
                       "packed");
}

//===----------------------------------------------------------------------===//
// BuildLutOp
//===----------------------------------------------------------------------===//

ArrayRef<float> BuildLutOp::getCodebook(TableFormat format) {
  // QLoRA's NF4 levels (bitsandbytes), as f32.
  static const float nf4[16] = {
      -1.0f,
      -0.6961928009986877f,
      -0.5250730514526367f,
      -0.39491748809814453f,
      -0.28444138169288635f,
      -0.18477343022823334f,
      -0.09105003625154495f,
      0.0f,
      0.07958029955625534f,
      0.16093020141124725f,
      0.24611230194568634f,
      0.33791524171829224f,
      0.44070982933044434f,
      0.5626170039176941f,
      0.7229568362236023f,
      1.0f};
  // OCP MX FP4 (e2m1): sign in bit 3, exponent bits 2..1, mantissa bit 0.
  static const float e2m1[16] = {0.0f,  0.5f,  1.0f,  1.5f,  2.0f,  3.0f,
                                 4.0f,  6.0f,  -0.0f, -0.5f, -1.0f, -1.5f,
                                 -2.0f, -3.0f, -4.0f, -6.0f};
  // ggml's kvalues_iq4nl.
  static const float iq4nl[16] = {-127, -104, -83, -65, -49, -35, -22, -10,
                                  1,    13,   25,  38,  53,  69,  89,  113};
  switch (format) {
  case TableFormat::NF4:
    return nf4;
  case TableFormat::FP4E2M1:
    return e2m1;
  case TableFormat::IQ4NL:
    return iq4nl;
  case TableFormat::Affine:
    break;
  }
  return {};
}

LogicalResult BuildLutOp::verify() {
  if (failed(verifyDpsForm(*this, getInit())) ||
      failed(verifyFloatElement(*this, "scale", getScale())) ||
      failed(verifyFloatElement(*this, "outs", getInit())))
    return failure();
  ShapedType scaleType = shaped(getScale()), outType = shaped(getInit());
  if (scaleType.getRank() > 2)
    return emitOpError() << "expected 'scale' of rank 0, 1 or 2, found rank "
                         << scaleType.getRank();
  if (outType.getRank() != scaleType.getRank() + 1)
    return emitOpError() << "expected 'outs' of rank " << scaleType.getRank() + 1
                         << " (the scale shape plus the table), found rank "
                         << outType.getRank();
  if (!shapesCompatible(outType.getShape().drop_back(), scaleType.getShape()))
    return emitOpError() << "expected the leading dimensions of 'outs' to "
                            "match the 'scale' shape "
                         << shapeStr(scaleType.getShape()) << ", found "
                         << shapeStr(outType.getShape().drop_back());
  int64_t entries = outType.getShape().back();
  TableFormat format = getFormat();
  if (format == TableFormat::Affine) {
    if (!getZero())
      return emitOpError() << "format 'affine' requires a 'zero' operand";
    if (!ShapedType::isDynamic(entries) &&
        (entries < 4 || entries > 256 || !llvm::isPowerOf2_64(entries)))
      return emitOpError() << "expected 2^B table entries with 2 <= B <= 8 "
                              "for format 'affine', found "
                           << entries;
    ShapedType zeroType = shaped(getZero());
    if (!zeroType.getElementType().isIntOrFloat())
      return emitOpError() << "expected 'zero' element type to be an integer "
                              "or float, found "
                           << zeroType.getElementType();
    if (!shapesCompatible(zeroType.getShape(), scaleType.getShape()))
      return emitOpError() << "expected 'zero' of the 'scale' shape "
                           << shapeStr(scaleType.getShape()) << ", found "
                           << shapeStr(zeroType.getShape());
    return success();
  }
  if (getZero())
    return emitOpError() << "format '" << stringifyTableFormat(format)
                         << "' takes no 'zero' operand";
  if (!dimsCompatible(entries, 16))
    return emitOpError() << "expected 16 table entries for format '"
                         << stringifyTableFormat(format) << "', found "
                         << entries;
  return success();
}

#define GET_OP_CLASSES
#include "squant/Dialect/SQuant/IR/SQuantOps.cpp.inc"
