//===- SQuantKVCacheOps.cpp - quantized KV cache ops ----------------------===//
//
// The #squant.kv_format attribute (parameter checks, component list) and
// the verifiers and memory effects of kv_append, kv_dequantize and
// kv_attention. Every verifier branch has a case in
// test/Dialect/SQuant/kv-cache-invalid.mlir.
//
//===----------------------------------------------------------------------===//

#include "VerifyUtils.h"
#include "squant/Dialect/SQuant/IR/SQuantOps.h"

#include "mlir/IR/Matchers.h"
#include "llvm/ADT/StringExtras.h"

using namespace mlir;
using namespace mlir::squant;
using namespace mlir::squant::detail;

//===----------------------------------------------------------------------===//
// Components
//===----------------------------------------------------------------------===//

StringRef mlir::squant::getKVComponentName(KVComponent component) {
  switch (component) {
  case KVComponent::KeyCodes:
    return "key_codes";
  case KVComponent::ValueCodes:
    return "value_codes";
  case KVComponent::KeyScale:
    return "key_scale";
  case KVComponent::KeyZero:
    return "key_zero";
  case KVComponent::ValueScale:
    return "value_scale";
  case KVComponent::ValueZero:
    return "value_zero";
  case KVComponent::KeyOutlierValues:
    return "key_outlier_values";
  case KVComponent::KeyOutlierIndices:
    return "key_outlier_indices";
  case KVComponent::ValueOutlierValues:
    return "value_outlier_values";
  case KVComponent::ValueOutlierIndices:
    return "value_outlier_indices";
  case KVComponent::KeySink:
    return "key_sink";
  case KVComponent::ValueSink:
    return "value_sink";
  case KVComponent::KeyResidual:
    return "key_residual";
  case KVComponent::ValueResidual:
    return "value_residual";
  }
  return "unknown";
}

SmallVector<KVComponent> KVCacheFormatAttr::getComponents() const {
  using C = KVComponent;
  SmallVector<KVComponent> list = {C::KeyCodes, C::ValueCodes};
  if (getMethod() == KVMethod::KVQuant) {
    list.push_back(C::ValueScale);
    if (getOutliers() > 0)
      list.append({C::KeyOutlierValues, C::KeyOutlierIndices,
                   C::ValueOutlierValues, C::ValueOutlierIndices});
    if (getSink() > 0)
      list.append({C::KeySink, C::ValueSink});
    return list;
  }
  list.append({C::KeyScale, C::KeyZero, C::ValueScale, C::ValueZero});
  if (getSink() > 0)
    list.append({C::KeySink, C::ValueSink});
  list.append({C::KeyResidual, C::ValueResidual});
  return list;
}

double KVCacheMemory::perTokenTotal() const {
  double sum = 0;
  for (const Part &p : perToken)
    sum += p.bytes;
  return sum;
}

double KVCacheMemory::fixedTotal() const {
  double sum = 0;
  for (const Part &p : fixed)
    sum += p.bytes;
  return sum;
}

KVCacheMemory mlir::squant::getKVCacheMemory(KVCacheFormatAttr format,
                                             int64_t heads, int64_t headDim,
                                             ArrayRef<Type> componentTypes,
                                             ArrayRef<Type> tableTypes) {
  auto size = [](Type t) { return double(t.getIntOrFloatBitWidth()) / 8.0; };
  double h = double(heads), d = double(headDim);
  double group = format.getGroup(), levels = double(format.getNumLevels());
  KVCacheMemory m;
  for (auto [component, type] :
       llvm::zip(format.getComponents(), componentTypes)) {
    double s = size(type);
    switch (component) {
    case KVComponent::KeyCodes:
    case KVComponent::ValueCodes:
      m.perToken.push_back(
          {component, h * double(format.getPackedBytes(headDim))});
      break;
    case KVComponent::KeyScale:
    case KVComponent::KeyZero:
      m.perToken.push_back({component, h * d * s / group});
      break;
    case KVComponent::ValueScale:
    case KVComponent::ValueZero:
      m.perToken.push_back({component, format.getMethod() == KVMethod::KVQuant
                                           ? h * s
                                           : h * (d / group) * s});
      break;
    case KVComponent::KeyOutlierValues:
    case KVComponent::KeyOutlierIndices:
    case KVComponent::ValueOutlierValues:
    case KVComponent::ValueOutlierIndices:
      m.perToken.push_back({component, h * double(format.getOutliers()) * s});
      break;
    case KVComponent::KeySink:
    case KVComponent::ValueSink:
      m.fixed.push_back({component, h * double(format.getSink()) * d * s});
      break;
    case KVComponent::KeyResidual:
    case KVComponent::ValueResidual:
      m.fixed.push_back({component, h * double(format.getResidual()) * d * s});
      break;
    }
  }
  if (tableTypes.size() == 2)
    m.tables =
        h * d * levels * size(tableTypes[0]) + levels * size(tableTypes[1]);
  m.fp16PerToken = 2 * h * d * 2;
  return m;
}

unsigned KVCacheFormatAttr::getNumTables() const {
  return getMethod() == KVMethod::KVQuant ? 2 : 0;
}

LogicalResult
KVCacheFormatAttr::verify(function_ref<InFlightDiagnostic()> emitError,
                          KVMethod method, unsigned bits, unsigned group,
                          unsigned sink, unsigned residual, unsigned outliers) {
  if (bits < 2 || bits > 4)
    return emitError() << "expected 2, 3 or 4 bits, found " << bits;
  if (method == KVMethod::KVQuant) {
    if (group != 0)
      return emitError() << "'group' applies to kivi only (kvquant keys use "
                            "per-channel tables, values per-token scales)";
    if (residual != 0)
      return emitError() << "'residual' applies to kivi only";
    return success();
  }
  if (group == 0)
    return emitError() << "kivi requires a group size 'group' > 0";
  if (residual == 0 || residual % group != 0)
    return emitError() << "kivi requires a 'residual' window that is a "
                          "positive multiple of the group size "
                       << group << ", found " << residual;
  if (outliers != 0)
    return emitError() << "'outliers' applies to kvquant only";
  return success();
}

//===----------------------------------------------------------------------===//
// Verification helpers
//===----------------------------------------------------------------------===//

namespace {
constexpr int64_t kDyn = ShapedType::kDynamic;

/// The dimensions a cache is built from.
struct CacheDims {
  int64_t batch = kDyn, heads = kDyn, slots = kDyn;
};

std::optional<int64_t> constantIndex(Value v) {
  APInt value;
  if (matchPattern(v, m_ConstantInt(&value)))
    return value.getSExtValue();
  return std::nullopt;
}

/// Destination-style discipline with several inits: all shaped operands are
/// tensors (one result per init, of its type) or all are memrefs (no
/// results).
LogicalResult verifyKVDpsForm(Operation *op, ValueRange inits) {
  bool tensorForm = isa<RankedTensorType>(inits.front().getType());
  StringRef form = tensorForm ? "tensors" : "memrefs";
  for (OpOperand &operand : op->getOpOperands()) {
    Type t = operand.get().getType();
    if ((tensorForm && isa<MemRefType>(t)) ||
        (!tensorForm && isa<RankedTensorType>(t)))
      return op->emitOpError()
             << "expected all shaped operands to be " << form
             << " like the destination, found operand #"
             << operand.getOperandNumber() << " of type " << t;
  }
  if (!tensorForm) {
    if (op->getNumResults() != 0)
      return op->emitOpError()
             << "expected no results when the destination is a memref, found "
             << op->getNumResults();
    return success();
  }
  if (op->getNumResults() != inits.size())
    return op->emitOpError() << "expected " << inits.size()
                             << " results (one per destination tensor), found "
                             << op->getNumResults();
  for (auto [i, init] : llvm::enumerate(inits))
    if (op->getResult(i).getType() != init.getType())
      return op->emitOpError()
             << "expected result #" << i << " to have the type of its "
             << "destination " << init.getType() << ", found "
             << op->getResult(i).getType();
  return success();
}

/// A head dimension D taken from `v`'s dimension `dim`: static, a positive
/// multiple of 8.
FailureOr<int64_t> verifyHeadDim(Operation *op, StringRef name, Value v,
                                 unsigned dim) {
  int64_t d = shaped(v).getDimSize(dim);
  if (ShapedType::isDynamic(d))
    return op->emitOpError() << "expected a static head dimension D ('" << name
                             << "' dimension " << dim << ")";
  if (d <= 0 || d % 8 != 0)
    return op->emitOpError()
           << "expected the head dimension D to be a positive multiple of 8, "
              "found "
           << d;
  return d;
}

LogicalResult verifyIndexElement(Operation *op, StringRef name, Value v,
                                 int64_t headDim) {
  Type t = shaped(v).getElementType();
  unsigned width = getCodeBitWidth(t);
  if (width != 8 && width != 16 && width != 32)
    return op->emitOpError()
           << "expected '" << name
           << "' element type to be i8, i16 or i32, found " << t;
  if (width < 32 && headDim > (int64_t(1) << width))
    return op->emitOpError()
           << "expected '" << name << "' element type to hold channel "
           << "indices below D = " << headDim << ", found " << t;
  return success();
}

/// Checks the table and cache operands of a KV op against its format and
/// head dimension, and returns the batch, head and slot dimensions.
FailureOr<CacheDims> verifyKVCache(Operation *op, KVCacheFormatAttr format,
                                   ValueRange tables, ValueRange cache,
                                   int64_t headDim) {
  int64_t bits = format.getBits(), levels = format.getNumLevels();
  int64_t group = format.getGroup(), sink = format.getSink();
  int64_t residual = format.getResidual(), outliers = format.getOutliers();
  if (format.getMethod() == KVMethod::KIVI && headDim % group != 0)
    return op->emitOpError()
           << "expected the head dimension D = " << headDim
           << " to be a multiple of the group size G = " << group;
  if (outliers > headDim)
    return op->emitOpError() << "expected at most D = " << headDim
                             << " outlier slots, found " << outliers;

  SmallVector<KVComponent> components = format.getComponents();
  if (cache.size() != components.size()) {
    std::string names;
    llvm::raw_string_ostream os(names);
    llvm::interleaveComma(components, os,
                          [&](KVComponent c) { os << getKVComponentName(c); });
    return op->emitOpError()
           << "expected " << components.size() << " cache tensors for "
           << format << " (" << names << "), found " << cache.size();
  }

  // key_codes fixes Bt, H and L.
  Value keyCodes = cache[0];
  if (failed(verifyRank(op, "key_codes", keyCodes, 4, "[Bt, H, L, D*B/8]")))
    return failure();
  CacheDims dims;
  dims.batch = shaped(keyCodes).getDimSize(0);
  dims.heads = shaped(keyCodes).getDimSize(1);
  dims.slots = shaped(keyCodes).getDimSize(2);
  int64_t bt = dims.batch, h = dims.heads, l = dims.slots;
  if (!ShapedType::isDynamic(l) && l < sink)
    return op->emitOpError()
           << "expected at least S = " << sink
           << " token slots (key_codes dimension 2), found " << l;
  int64_t keyGroups = kDyn;
  if (group > 0 && !ShapedType::isDynamic(l))
    keyGroups = (l - sink) / group;
  int64_t packed = headDim * bits / 8;

  for (auto [value, component] : llvm::zip(cache, components)) {
    SmallVector<int64_t> expected;
    StringRef dimsText;
    enum { Codes, Float, Index } kind = Float;
    switch (component) {
    case KVComponent::KeyCodes:
    case KVComponent::ValueCodes:
      expected = {bt, h, l, packed};
      dimsText = "[Bt, H, L, D*B/8]";
      kind = Codes;
      break;
    case KVComponent::KeyScale:
    case KVComponent::KeyZero:
      expected = {bt, h, keyGroups, headDim};
      dimsText = "[Bt, H, (L-S)/G, D]";
      break;
    case KVComponent::ValueScale:
    case KVComponent::ValueZero:
      if (format.getMethod() == KVMethod::KVQuant) {
        expected = {bt, h, l};
        dimsText = "[Bt, H, L]";
      } else {
        expected = {bt, h, l, headDim / group};
        dimsText = "[Bt, H, L, D/G]";
      }
      break;
    case KVComponent::KeyOutlierValues:
    case KVComponent::ValueOutlierValues:
      expected = {bt, h, l, outliers};
      dimsText = "[Bt, H, L, O]";
      break;
    case KVComponent::KeyOutlierIndices:
    case KVComponent::ValueOutlierIndices:
      expected = {bt, h, l, outliers};
      dimsText = "[Bt, H, L, O]";
      kind = Index;
      break;
    case KVComponent::KeySink:
    case KVComponent::ValueSink:
      expected = {bt, h, sink, headDim};
      dimsText = "[Bt, H, S, D]";
      break;
    case KVComponent::KeyResidual:
    case KVComponent::ValueResidual:
      expected = {bt, h, residual, headDim};
      dimsText = "[Bt, H, R, D]";
      break;
    }
    StringRef name = getKVComponentName(component);
    if (failed(verifyRank(op, name, value, expected.size(), dimsText)) ||
        failed(verifyShape(op, name, value, expected, dimsText)))
      return failure();
    if (kind == Codes) {
      Type elt = shaped(value).getElementType();
      if (!elt.isSignlessInteger(8))
        return op->emitOpError() << "expected '" << name
                                 << "' element type to be i8 (packed codes), "
                                    "found "
                                 << elt;
    } else if (kind == Index) {
      if (failed(verifyIndexElement(op, name, value, headDim)))
        return failure();
    } else if (failed(verifyFloatElement(op, name, value))) {
      return failure();
    }
  }

  unsigned numTables = format.getNumTables();
  if (tables.size() != numTables) {
    if (numTables == 0)
      return op->emitOpError() << "expected no tables for "
                               << stringifyKVMethod(format.getMethod())
                               << ", found " << tables.size();
    return op->emitOpError()
           << "expected " << numTables << " tables (key_lut, value_lut) for "
           << stringifyKVMethod(format.getMethod()) << ", found "
           << tables.size();
  }
  if (numTables == 2) {
    if (failed(verifyRank(op, "key_lut", tables[0], 3, "[H, D, 2^B]")) ||
        failed(verifyShape(op, "key_lut", tables[0], {h, headDim, levels},
                           "[H, D, 2^B]")) ||
        failed(verifyFloatElement(op, "key_lut", tables[0])) ||
        failed(verifyRank(op, "value_lut", tables[1], 1, "[2^B]")) ||
        failed(verifyShape(op, "value_lut", tables[1], {levels}, "[2^B]")) ||
        failed(verifyFloatElement(op, "value_lut", tables[1])))
      return failure();
  }
  return dims;
}

/// `[Bt, H, n, D]` operands (new tokens, dequantized outputs) against the
/// cache dimensions.
LogicalResult verifyTokens(Operation *op, StringRef name, Value v,
                           const CacheDims &dims, int64_t headDim) {
  int64_t n = shaped(v).getRank() == 4 ? shaped(v).getDimSize(2) : kDyn;
  if (failed(verifyRank(op, name, v, 4, "[Bt, H, n, D]")) ||
      failed(verifyShape(op, name, v, {dims.batch, dims.heads, n, headDim},
                         "[Bt, H, n, D]")) ||
      failed(verifyFloatElement(op, name, v)))
    return failure();
  return success();
}

/// A constant index operand must be >= 0 and, with `limit` static, at most
/// `limit` minus `extra`.
LogicalResult verifyConstantRange(Operation *op, StringRef name, Value v,
                                  int64_t extra, int64_t limit,
                                  StringRef extraText) {
  std::optional<int64_t> c = constantIndex(v);
  if (!c)
    return success();
  if (*c < 0)
    return op->emitOpError()
           << "expected a non-negative '" << name << "', found " << *c;
  // (c > limit - extra: c + extra could overflow for a huge constant.)
  if (!ShapedType::isDynamic(limit) && !ShapedType::isDynamic(extra) &&
      (extra > limit || *c > limit - extra)) {
    auto diag = op->emitOpError() << "'" << name << "' " << *c;
    if (extra != 0)
      diag << " + " << extra << " " << extraText;
    return diag << " exceeds the L = " << limit << " token slots";
  }
  return success();
}

/// The cache is read by every KV op (and written by kv_append); the other
/// inputs are read and the `outs` written.
void getKVEffects(
    Operation *op, bool cacheWritten,
    SmallVectorImpl<SideEffects::EffectInstance<MemoryEffects::Effect>>
        &effects) {
  auto dps = cast<DestinationStyleOpInterface>(op);
  for (OpOperand &operand : op->getOpOperands()) {
    if (!isa<MemRefType>(operand.get().getType()))
      continue;
    bool init = dps.isDpsInit(&operand);
    if (!init || cacheWritten)
      effects.emplace_back(MemoryEffects::Read::get(), &operand,
                           SideEffects::DefaultResource::get());
    if (init)
      effects.emplace_back(MemoryEffects::Write::get(), &operand,
                           SideEffects::DefaultResource::get());
  }
}
} // namespace

//===----------------------------------------------------------------------===//
// KVAppendOp
//===----------------------------------------------------------------------===//

LogicalResult KVAppendOp::verify() {
  if (failed(verifyRank(*this, "keys", getKeys(), 4, "[Bt, H, n, D]")))
    return failure();
  FailureOr<int64_t> headDim = verifyHeadDim(*this, "keys", getKeys(), 3);
  if (failed(headDim))
    return failure();
  // The cache list is checked (and known to be non-empty) before the
  // destination discipline, which looks at its first tensor.
  FailureOr<CacheDims> dims =
      verifyKVCache(*this, getFormat(), getTables(), getCache(), *headDim);
  if (failed(dims) || failed(verifyKVDpsForm(*this, getCache())) ||
      failed(verifyTokens(*this, "keys", getKeys(), *dims, *headDim)) ||
      failed(verifyTokens(*this, "values", getValues(), *dims, *headDim)))
    return failure();
  int64_t n = shaped(getKeys()).getDimSize(2);
  if (!shapesCompatible(shaped(getValues()).getShape(),
                        shaped(getKeys()).getShape()))
    return emitOpError() << "expected 'values' of the 'keys' shape "
                         << shapeStr(shaped(getKeys()).getShape()) << ", found "
                         << shapeStr(shaped(getValues()).getShape());
  return verifyConstantRange(*this, "position", getPosition(), n, dims->slots,
                             "new tokens");
}

void KVAppendOp::getEffects(
    SmallVectorImpl<SideEffects::EffectInstance<MemoryEffects::Effect>>
        &effects) {
  getKVEffects(*this, /*cacheWritten=*/true, effects);
}

//===----------------------------------------------------------------------===//
// KVDequantizeOp
//===----------------------------------------------------------------------===//

LogicalResult KVDequantizeOp::verify() {
  if (failed(verifyKVDpsForm(*this, {getKeyInit(), getValueInit()})) ||
      failed(verifyRank(*this, "outs", getKeyInit(), 4, "[Bt, H, n, D]")))
    return failure();
  FailureOr<int64_t> headDim = verifyHeadDim(*this, "outs", getKeyInit(), 3);
  if (failed(headDim))
    return failure();
  FailureOr<CacheDims> dims =
      verifyKVCache(*this, getFormat(), getTables(), getCache(), *headDim);
  if (failed(dims) ||
      failed(verifyTokens(*this, "outs", getKeyInit(), *dims, *headDim)) ||
      failed(verifyTokens(*this, "outs", getValueInit(), *dims, *headDim)))
    return failure();
  int64_t n = shaped(getKeyInit()).getDimSize(2);
  if (!dimsCompatible(shaped(getValueInit()).getDimSize(2), n))
    return emitOpError() << "expected both 'outs' to hold the same number of "
                            "tokens, found "
                         << n << " and "
                         << shaped(getValueInit()).getDimSize(2);
  if (failed(verifyConstantRange(*this, "start", getStart(), n, dims->slots,
                                 "dequantized tokens")) ||
      failed(verifyConstantRange(*this, "len", getLen(), 0, dims->slots, "")))
    return failure();
  return success();
}

void KVDequantizeOp::getEffects(
    SmallVectorImpl<SideEffects::EffectInstance<MemoryEffects::Effect>>
        &effects) {
  getKVEffects(*this, /*cacheWritten=*/false, effects);
}

//===----------------------------------------------------------------------===//
// KVAttentionOp
//===----------------------------------------------------------------------===//

LogicalResult KVAttentionOp::verify() {
  if (failed(verifyKVDpsForm(*this, getInit())) ||
      failed(verifyRank(*this, "query", getQuery(), 3, "[Bt, Hq, D]")) ||
      failed(verifyFloatElement(*this, "query", getQuery())) ||
      failed(verifyFloatElement(*this, "outs", getInit())))
    return failure();
  FailureOr<int64_t> headDim = verifyHeadDim(*this, "query", getQuery(), 2);
  if (failed(headDim))
    return failure();
  if (failed(verifyShape(*this, "outs", getInit(),
                         shaped(getQuery()).getShape(), "[Bt, Hq, D]")))
    return failure();
  FailureOr<CacheDims> dims =
      verifyKVCache(*this, getFormat(), getTables(), getCache(), *headDim);
  if (failed(dims))
    return failure();
  int64_t batch = shaped(getQuery()).getDimSize(0);
  int64_t qHeads = shaped(getQuery()).getDimSize(1);
  if (!dimsCompatible(batch, dims->batch))
    return emitOpError() << "expected 'query' dimension 0 to equal the cache "
                            "batch Bt = "
                         << dims->batch << ", found " << batch;
  if (!ShapedType::isDynamic(qHeads) && !ShapedType::isDynamic(dims->heads) &&
      (qHeads == 0 || dims->heads == 0 || qHeads % dims->heads != 0))
    return emitOpError() << "expected the number of query heads Hq = " << qHeads
                         << " to be a positive multiple of the number of KV "
                            "heads H = "
                         << dims->heads;
  if (getRope() != RopeStyle::None && !(getRopeTheta().convertToFloat() > 0.0f))
    return emitOpError() << "expected a positive 'rope_theta', found "
                         << getRopeTheta().convertToFloat();
  if (failed(verifyConstantRange(*this, "len", getLen(), 0, dims->slots, "")) ||
      failed(
          verifyConstantRange(*this, "position", getPosition(), 0, kDyn, "")))
    return failure();
  return success();
}

void KVAttentionOp::getEffects(
    SmallVectorImpl<SideEffects::EffectInstance<MemoryEffects::Effect>>
        &effects) {
  getKVEffects(*this, /*cacheWritten=*/false, effects);
}
