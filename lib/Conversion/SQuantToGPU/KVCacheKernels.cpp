//===- KVCacheKernels.cpp - shared code of the KV-cache kernels -----------===//

#include "KVCacheKernels.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Bufferization/IR/Bufferization.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include "mlir/Interfaces/LoopLikeInterface.h"
#include "llvm/Support/FormatVariadic.h"
#include "llvm/Support/raw_ostream.h"

#include <cmath>
#include <cstring>

using namespace mlir;
using namespace mlir::squant;
using namespace mlir::squant::gpugen;

//===----------------------------------------------------------------------===//
// KVLayout
//===----------------------------------------------------------------------===//

static Type elementTypeOf(Value v) {
  return cast<ShapedType>(v.getType()).getElementType();
}

std::string mlir::squant::gpugen::checkMemrefOperands(ValueRange values) {
  for (Value v : values)
    if (auto mt = dyn_cast<MemRefType>(v.getType()))
      if (!mt.getLayout().isIdentity() || mt.getMemorySpace())
        return "the GPU kernels need identity-layout memrefs in the default "
               "memory space";
  return "";
}

FailureOr<KVLayout> KVLayout::get(KVCacheFormatAttr format, ValueRange tables,
                                  ValueRange cache, int64_t headDim,
                                  std::string &reason) {
  KVLayout lay;
  lay.format = format;
  lay.kivi = format.getMethod() == KVMethod::KIVI;
  lay.bits = format.getBits();
  lay.levels = format.getNumLevels();
  lay.group = format.getGroup();
  lay.sink = format.getSink();
  lay.residual = format.getResidual();
  lay.outliers = format.getOutliers();
  lay.headDim = headDim;
  lay.packed = format.getPackedBytes(headDim);
  lay.kinds = format.getComponents();
  if (cache.size() != lay.kinds.size()) {
    reason = "unexpected number of cache tensors";
    return failure();
  }
  for (Value v : cache)
    lay.types.push_back(elementTypeOf(v));
  auto keyCodes = cast<ShapedType>(cache[0].getType());
  if (keyCodes.isDynamicDim(1)) {
    reason = "the GPU kernels need a static number of KV heads (key_codes "
             "dimension 1)";
    return failure();
  }
  lay.heads = keyCodes.getDimSize(1);
  lay.slots = keyCodes.getDimSize(2);
  if (lay.heads <= 0) {
    reason = "the GPU kernels need at least one KV head";
    return failure();
  }
  if (tables.size() == 2) {
    lay.keyLutType = elementTypeOf(tables[0]);
    lay.valueLutType = elementTypeOf(tables[1]);
  }
  reason = checkMemrefOperands(cache);
  if (reason.empty())
    reason = checkMemrefOperands(tables);
  if (!reason.empty())
    return failure();
  return lay;
}

unsigned KVLayout::index(KVComponent c) const {
  auto it = llvm::find(kinds, c);
  assert(it != kinds.end() && "component not in this cache");
  return it - kinds.begin();
}

static char shortType(Type t) {
  if (t.isF32())
    return 'f';
  if (t.isF16())
    return 'h';
  if (t.isBF16())
    return 'b';
  if (t.isInteger(8))
    return '1';
  if (t.isInteger(16))
    return '2';
  if (t.isInteger(32))
    return '4';
  return 'x';
}

std::string KVLayout::tag() const {
  std::string types_;
  for (Type t : types)
    types_ += shortType(t);
  if (keyLutType) {
    types_ += 'l';
    types_ += shortType(keyLutType);
    types_ += shortType(valueLutType);
  }
  std::string l = ShapedType::isDynamic(slots) ? std::string("dyn")
                                               : std::to_string(slots);
  return llvm::formatv("{0}_b{1}_g{2}_s{3}_r{4}_o{5}_d{6}_h{7}_l{8}_t{9}",
                       kivi ? "kivi" : "kvq", bits, group, sink, residual,
                       outliers, headDim, heads, l, types_);
}

//===----------------------------------------------------------------------===//
// Host side
//===----------------------------------------------------------------------===//

FailureOr<SmallVector<Value>>
mlir::squant::gpugen::getFlatInputs(OpBuilder &b, Location loc,
                                    ValueRange values, std::string &reason) {
  SmallVector<Value> out;
  for (Value v : values) {
    FailureOr<Value> buf = getInputBuffer(b, loc, v, reason);
    if (failed(buf))
      return failure();
    out.push_back(flatten(b, loc, *buf));
  }
  return out;
}

/// Whether a kernel may write the buffer of cache tensor `v` in place: `v`
/// is one operand of `op` only, every other use of the old value comes
/// before `op` in its block, and `v` is not a function argument marked
/// non-writable. (One-Shot Bufferize still copies where it must.)
static bool canUpdateInPlace(Value v, Operation *op) {
  if (auto arg = dyn_cast<BlockArgument>(v))
    if (auto func = dyn_cast<func::FuncOp>(arg.getOwner()->getParentOp()))
      if (auto w = func.getArgAttrOfType<BoolAttr>(arg.getArgNumber(),
                                                   "bufferization.writable"))
        if (!w.getValue())
          return false;
  if (llvm::count(op->getOperands(), v) != 1)
    return false;
  for (OpOperand &use : v.getUses()) {
    Operation *user = use.getOwner();
    if (user == op)
      continue;
    Operation *anc = op->getBlock()->findAncestorOpInBlock(*user);
    if (!anc || anc == op || !anc->isBeforeInBlock(op))
      return false;
  }
  return true;
}

/// A loop-carried cache: the updated tensor must bufferize to the same
/// buffer for the loop to yield it.
static bool isLoopCarried(Value v) {
  auto arg = dyn_cast<BlockArgument>(v);
  return arg && isa<LoopLikeOpInterface>(arg.getOwner()->getParentOp());
}

FailureOr<InPlaceCache> InPlaceCache::create(OpBuilder &b, Location loc,
                                             Operation *op, ValueRange cache,
                                             std::string &reason) {
  InPlaceCache c;
  c.tensorForm = isa<RankedTensorType>(cache.front().getType());
  for (Value v : cache) {
    if (auto mt = dyn_cast<MemRefType>(v.getType())) {
      if (!mt.getLayout().isIdentity() || mt.getMemorySpace()) {
        reason = "the GPU kernels need identity-layout memrefs in the default "
                 "memory space";
        return failure();
      }
      c.full.push_back(v);
      c.inPlace.push_back(true);
    } else {
      auto tt = cast<RankedTensorType>(v.getType());
      auto bufType = MemRefType::get(tt.getShape(), tt.getElementType());
      bool inPlace = canUpdateInPlace(v, op);
      Value buf;
      if (inPlace) {
        // One-Shot Bufferize writes this tensor's buffer in place, or
        // copies it if the old value is still needed.
        buf = bufferization::ToBufferOp::create(b, loc, bufType, v,
                                                /*read_only=*/false);
      } else {
        // The old cache is still needed: update a copy.
        Value old = bufferization::ToBufferOp::create(b, loc, bufType, v,
                                                      /*read_only=*/true);
        buf = allocLike(b, loc, v, tt.getElementType());
        memref::CopyOp::create(b, loc, old, buf);
      }
      c.full.push_back(buf);
      c.tensors.push_back(v);
      c.inPlace.push_back(inPlace && isLoopCarried(v));
    }
    c.buffers.push_back(flatten(b, loc, c.full.back()));
  }
  return c;
}

SmallVector<Value> InPlaceCache::finish(OpBuilder &b, Location loc) const {
  SmallVector<Value> results;
  for (auto [i, t] : llvm::enumerate(tensors)) {
    Value updated = bufferization::ToTensorOp::create(
        b, loc, t.getType(), full[i], /*restrict=*/true, /*writable=*/true);
    if (inPlace[i])
      updated = bufferization::MaterializeInDestinationOp::create(b, loc,
                                                                  updated, t)
                    .getResult();
    results.push_back(updated);
  }
  return results;
}

//===----------------------------------------------------------------------===//
// Kernel side
//===----------------------------------------------------------------------===//

Value KVCacheView::row(Emitter &e, Value b, Value h, Value rows,
                       Value r) const {
  return e.add(e.mul(e.add(e.mul(b, lay->heads), h), rows), r);
}

Value KVCacheView::row(Emitter &e, Value b, Value h, int64_t rows,
                       Value r) const {
  return e.add(e.mul(e.add(e.mul(b, lay->heads), h), rows), r);
}

Value KVCacheView::codesBase(Emitter &e, Value b, Value h, Value t) const {
  return e.mul(row(e, b, h, slots, t), lay->packed);
}

SmallVector<Value> mlir::squant::gpugen::loadPackedWords(Emitter &e,
                                                         Value codes,
                                                         Value base,
                                                         int64_t packed) {
  int64_t vw = 16;
  while (packed % vw != 0)
    vw /= 2;
  Type i8 = e.b.getI8Type(), i32 = e.b.getI32Type();
  SmallVector<Value> words;
  if (vw >= 4) {
    for (int64_t off = 0; off < packed; off += vw) {
      Value v = e.vload(codes, e.add(base, off), VectorType::get({vw}, i8), vw);
      Value w = vector::BitCastOp::create(
          e.b, e.loc, VectorType::get({vw / 4}, i32), v);
      for (int64_t k = 0; k < vw / 4; ++k)
        words.push_back(e.extract(w, k));
    }
  } else {
    SmallVector<Value> bytes;
    for (int64_t off = 0; off < packed; off += vw) {
      if (vw == 1) {
        bytes.push_back(e.load(codes, e.add(base, off)));
        continue;
      }
      Value v = e.vload(codes, e.add(base, off), VectorType::get({vw}, i8), vw);
      for (int64_t k = 0; k < vw; ++k)
        bytes.push_back(e.extract(v, k));
    }
    for (int64_t w = 0; w * 4 < packed; ++w) {
      Value word;
      for (int64_t k = 0; k < 4 && 4 * w + k < packed; ++k) {
        Value byte = arith::ExtUIOp::create(e.b, e.loc, i32, bytes[4 * w + k]);
        if (k)
          byte = e.shl(byte, e.i32(8 * k));
        word = word ? e.ori(word, byte) : byte;
      }
      words.push_back(word);
    }
  }
  words.push_back(e.i32(0));
  return words;
}

Value mlir::squant::gpugen::codeOf(Emitter &e, ArrayRef<Value> words,
                                   unsigned bits, int64_t c) {
  return extractCode(e, words, bits, c);
}

Value mlir::squant::gpugen::codeAt(Emitter &e, Value codes, Value base,
                                   Value c, unsigned bits, int64_t packed) {
  Value bit = e.mul(c, int64_t(bits));
  Value byte = e.divu(bit, 8);
  Value shift = e.toI32(e.remu(bit, 8));
  Type i32 = e.b.getI32Type();
  Value b0 = arith::ExtUIOp::create(e.b, e.loc, i32,
                                    e.load(codes, e.add(base, byte)));
  Value next = e.minu(e.add(byte, 1), packed - 1);
  Value b1 = arith::ExtUIOp::create(e.b, e.loc, i32,
                                    e.load(codes, e.add(base, next)));
  Value x = e.ori(b0, e.shl(b1, e.i32(8)));
  return e.andi(e.shru(x, shift), e.i32((1 << bits) - 1));
}

FloatRow::FloatRow(Emitter &e, Value buffer, Value base, int64_t len)
    : e(e), buffer(buffer), base(base),
      elt(cast<MemRefType>(buffer.getType()).getElementType()), len(len) {
  int64_t bytes = elt.getIntOrFloatBitWidth() / 8;
  chunk = 16 / bytes;
  while (chunk > 1 && len % chunk != 0)
    chunk /= 2;
}

Value FloatRow::get(int64_t c) {
  int64_t k = c / chunk;
  Value &v = chunks[k];
  if (!v) {
    if (chunk == 1) {
      v = e.load(buffer, e.add(base, k));
    } else {
      int64_t bytes = elt.getIntOrFloatBitWidth() / 8;
      v = e.vload(buffer, e.add(base, k * chunk),
                  VectorType::get({chunk}, elt),
                  std::min<int64_t>(16, chunk * bytes));
    }
  }
  Value x = chunk == 1 ? v : e.extract(v, c % chunk);
  return e.toF32(x);
}

Value QuantTokenReader::dense(int64_t c) {
  Value cd = code(c);
  if (!lay.kivi) {
    Value ci = e.toIndex(cd);
    if (key) {
      Value at = e.add(e.add(lutBase, c * lay.levels), ci);
      return e.toF32(e.load(lut, at));
    }
    return e.fmul(e.toF32(e.load(lut, e.add(lutBase, ci))), scale);
  }
  int64_t g = key ? c : c / lay.group;
  return e.fadd(e.fmul(e.uitofp(cd), s->get(g)), z->get(g));
}

void mlir::squant::gpugen::loadOutliers(Emitter &e, Value indices,
                                        Value values, Value base,
                                        int64_t count,
                                        SmallVectorImpl<Value> &channels,
                                        SmallVectorImpl<Value> &vals) {
  for (int64_t s = 0; s < count; ++s) {
    Value at = e.add(base, s);
    channels.push_back(e.toIndex(e.toI32(e.load(indices, at))));
    vals.push_back(e.toF32(e.load(values, at)));
  }
}

Value mlir::squant::gpugen::applyOutliers(Emitter &e, Value v, int64_t c,
                                          ArrayRef<Value> channels,
                                          ArrayRef<Value> vals) {
  for (auto [ch, val] : llvm::zip(channels, vals))
    v = e.select(e.eq(ch, e.idx(c)), val, v);
  return v;
}

KVBounds mlir::squant::gpugen::computeBounds(Emitter &e, const KVLayout &lay,
                                             Value len, Value slots) {
  KVBounds bounds;
  bounds.n = e.mins(e.maxs(len, e.idx(0)), slots);
  if (!lay.kivi)
    return bounds;
  Value s = e.idx(lay.sink);
  // keyEnd = S + R * floor((max(n, S) - S) / R); valueEnd = max(S, n - R).
  Value past = e.sub(e.maxs(bounds.n, s), s);
  bounds.keyEnd = e.add(s, e.mul(e.divu(past, lay.residual), lay.residual));
  bounds.valueEnd = e.maxs(s, e.sub(bounds.n, e.idx(lay.residual)));
  return bounds;
}

SmallVector<Value> mlir::squant::gpugen::forTokenSource(
    Emitter &e, const KVCacheView &view, bool key, Value b, Value h, Value t,
    const KVBounds &bounds, TypeRange types, Value keyLut, Value keyLutBase,
    bool withOutliers, SourceBody body) {
  const KVLayout &lay = *view.lay;
  int64_t d = lay.headDim;
  auto sinkBranch = [&]() -> SmallVector<Value> {
    FloatRow row(e, view.get(key ? KVComponent::KeySink : KVComponent::ValueSink),
                 view.rowBase(e, view.row(e, b, h, lay.sink, t)), d);
    ElementFn elem = [&](int64_t c) { return row.get(c); };
    return body(elem, nullptr);
  };
  auto residualBranch = [&]() -> SmallVector<Value> {
    Value slot = e.remu(e.sub(t, e.idx(lay.sink)), lay.residual);
    FloatRow row(e,
                 view.get(key ? KVComponent::KeyResidual
                              : KVComponent::ValueResidual),
                 view.rowBase(e, view.row(e, b, h, lay.residual, slot)), d);
    ElementFn elem = [&](int64_t c) { return row.get(c); };
    return body(elem, nullptr);
  };
  auto quantBranch = [&]() -> SmallVector<Value> {
    QuantTokenReader q{e, lay, key, {}, {}, {}, {}, std::nullopt, std::nullopt};
    Value codes = view.get(key ? KVComponent::KeyCodes : KVComponent::ValueCodes);
    q.words = loadPackedWords(e, codes, view.codesBase(e, b, h, t), lay.packed);
    SmallVector<Value> chans, vals;
    if (lay.kivi) {
      if (key) {
        Value r = e.divu(e.sub(t, e.idx(lay.sink)), lay.group);
        Value base = view.rowBase(e, view.row(e, b, h, view.keyRows, r));
        q.s.emplace(e, view.get(KVComponent::KeyScale), base, d);
        q.z.emplace(e, view.get(KVComponent::KeyZero), base, d);
      } else {
        int64_t groups = d / lay.group;
        Value base = e.mul(view.row(e, b, h, view.slots, t), groups);
        q.s.emplace(e, view.get(KVComponent::ValueScale), base, groups);
        q.z.emplace(e, view.get(KVComponent::ValueZero), base, groups);
      }
    } else {
      if (key) {
        q.lut = keyLut;
        q.lutBase = keyLutBase;
      } else {
        q.lut = view.valueLut;
        q.lutBase = e.idx(0);
        q.scale = e.toF32(e.load(view.get(KVComponent::ValueScale),
                                 view.row(e, b, h, view.slots, t)));
      }
      if (withOutliers && lay.outliers > 0)
        loadOutliers(e,
                     view.get(key ? KVComponent::KeyOutlierIndices
                                  : KVComponent::ValueOutlierIndices),
                     view.get(key ? KVComponent::KeyOutlierValues
                                  : KVComponent::ValueOutlierValues),
                     e.mul(view.row(e, b, h, view.slots, t), lay.outliers),
                     lay.outliers, chans, vals);
    }
    ElementFn elem = [&](int64_t c) {
      Value v = q.dense(c);
      if (!chans.empty())
        v = applyOutliers(e, v, c, chans, vals);
      return v;
    };
    return body(elem, &q);
  };
  auto rest = [&]() -> SmallVector<Value> {
    if (!lay.kivi)
      return quantBranch();
    Value end = key ? bounds.keyEnd : bounds.valueEnd;
    return e.ifThenElse(e.sle(end, t), types, residualBranch, quantBranch);
  };
  if (lay.sink == 0)
    return rest();
  return e.ifThenElse(e.slt(t, e.idx(lay.sink)), types, sinkBranch, rest);
}

Value mlir::squant::gpugen::roundTo(Emitter &e, Value v, Type type) {
  if (type.isF32())
    return v;
  return e.toF32(e.fromF32(v, type));
}

Value mlir::squant::gpugen::kiviCode(Emitter &e, Value x, Value s, Value z,
                                     int64_t levels) {
  Value q = e.fdiv(e.fsub(x, z), s);
  q = e.fadd(q, e.f32(0.5));
  q = e.fmin(e.fmax(q, e.f32(0.0)), e.f32(double(levels - 1)));
  Value code = arith::FPToSIOp::create(e.b, e.loc, e.b.getI32Type(), q);
  Value positive = e.fcmp(arith::CmpFPredicate::OGT, s, e.f32(0.0));
  return e.select(positive, code, e.i32(0));
}

Value mlir::squant::gpugen::packUnit(Emitter &e, Value u, int64_t unitBits,
                                     int64_t headDim, unsigned bits,
                                     llvm::function_ref<Value(Value)> codeAt) {
  Value lo = e.mul(u, unitBits);
  Value kLo = e.divu(lo, int64_t(bits));
  Value hi = e.add(lo, unitBits);
  Value acc = e.i32(0);
  Type i32 = e.b.getI32Type();
  for (int64_t m = 0, n = unitBits / bits + 2; m < n; ++m) {
    Value k = e.add(kLo, m);
    Value start = e.mul(k, int64_t(bits));
    Value valid = e.andi(e.ult(start, hi), e.ult(k, headDim));
    Value code = codeAt(e.minu(k, headDim - 1));
    // Offset of the code's bit 0 from the unit's bit 0 (negative only for
    // the first code, which may start in the previous unit).
    Value off = arith::IndexCastOp::create(e.b, e.loc, i32, e.sub(start, lo));
    Value neg = e.slt(off, e.i32(0));
    Value left = e.shl(code, e.select(neg, e.i32(0), off));
    Value right = e.shru(code, e.select(neg, e.sub(e.i32(0), off), e.i32(0)));
    Value part = e.select(neg, right, left);
    acc = e.ori(acc, e.select(valid, part, e.i32(0)));
  }
  return acc;
}

void mlir::squant::gpugen::storeUnit(Emitter &e, Value unit, Value codes,
                                     Value byteOffset, int64_t unitBits) {
  if (unitBits == 8) {
    e.store(arith::TruncIOp::create(e.b, e.loc, e.b.getI8Type(), unit), codes,
            byteOffset);
    return;
  }
  Value v = vector::BroadcastOp::create(
      e.b, e.loc, VectorType::get({1}, e.b.getI32Type()), unit);
  Value bytes = vector::BitCastOp::create(
      e.b, e.loc, VectorType::get({4}, e.b.getI8Type()), v);
  e.vstore(bytes, codes, byteOffset, 4);
}

std::pair<Value, Value> mlir::squant::gpugen::sinCos(Emitter &e, Value x) {
  // x = j * pi/2 + r, |r| <= pi/4 (+ rounding). pi/2 = HI + MID + LO; the
  // first fma is exact (x - j * HI is a multiple of ulp(HI) below 2), the
  // others leave an absolute error near 2^-25.
  constexpr double kTwoOverPi = 0.6366197466850281;
  constexpr double kPiO2Hi = 1.5707963705062866;
  constexpr double kPiO2Mid = -4.371138828673793e-08;
  constexpr double kPiO2Lo = -1.7151245100058819e-15;
  // Minimax polynomials of sin and cos on [-pi/4, pi/4] (Cephes sinf/cosf).
  constexpr double kS1 = -1.6666654611e-1, kS2 = 8.3321608736e-3,
                   kS3 = -1.9515295891e-4;
  constexpr double kC1 = 4.166664568298827e-2, kC2 = -1.388731625493765e-3,
                   kC3 = 2.443315711809948e-5;
  Type i32 = e.b.getI32Type(), f32 = e.b.getF32Type();
  Value j = arith::FPToSIOp::create(
      e.b, e.loc, i32, e.fadd(e.fmul(x, e.f32(kTwoOverPi)), e.f32(0.5)));
  Value jf = arith::SIToFPOp::create(e.b, e.loc, f32, j);
  Value nj = e.fneg(jf);
  Value r = e.fma(nj, e.f32(kPiO2Hi), x);
  r = e.fma(nj, e.f32(kPiO2Mid), r);
  r = e.fma(nj, e.f32(kPiO2Lo), r);
  Value z = e.fmul(r, r);
  Value t = e.fma(e.f32(kS3), z, e.f32(kS2));
  t = e.fma(t, z, e.f32(kS1));
  Value sinR = e.fma(e.fmul(t, z), r, r);
  t = e.fma(e.f32(kC3), z, e.f32(kC2));
  t = e.fma(t, z, e.f32(kC1));
  Value cosR = e.fma(e.fmul(t, z), z, e.fma(e.f32(-0.5), z, e.f32(1.0)));
  // Quadrant j mod 4: (sin, cos) = (s, c), (c, -s), (-s, -c), (-c, s).
  Value q = e.andi(j, e.i32(3));
  Value swap = e.eq(e.andi(q, e.i32(1)), e.i32(1));
  Value s0 = e.select(swap, cosR, sinR);
  Value c0 = e.select(swap, sinR, cosR);
  Value sinNeg = e.eq(e.andi(q, e.i32(2)), e.i32(2));
  Value cosNeg = e.eq(e.andi(e.add(q, e.i32(1)), e.i32(2)), e.i32(2));
  Value sinX = e.select(sinNeg, e.fneg(s0), s0);
  Value cosX = e.select(cosNeg, e.fneg(c0), c0);
  return {sinX, cosX};
}

float mlir::squant::gpugen::ropeInverseFrequency(float theta, int64_t pair,
                                                 int64_t headDim) {
  float exponent = float(2 * pair) / float(headDim);
  float power = float(std::pow(double(theta), double(exponent)));
  return 1.0f / power;
}

std::pair<int64_t, int64_t>
mlir::squant::gpugen::ropeChannels(RopeStyle style, int64_t pair,
                                   int64_t headDim) {
  if (style == RopeStyle::Half)
    return {pair, pair + headDim / 2};
  return {2 * pair, 2 * pair + 1};
}

std::string mlir::squant::gpugen::floatTag(float v) {
  uint32_t bits;
  std::memcpy(&bits, &v, sizeof(bits));
  return llvm::formatv("{0:x8}", bits);
}
