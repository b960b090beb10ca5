//===- KVCacheAccess.cpp - reading and writing a KV cache in a kernel -----===//
//
// Scalar decoding follows docs/kv-cache.md operation by operation (f32
// arithmetic, no fused multiply-add, stored values read back rounded), so
// that kernels built on it reproduce squant-decompose bit for bit.
//
//===----------------------------------------------------------------------===//

#include "KVCacheAccess.h"

#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"

using namespace mlir;
using namespace mlir::squant;
using namespace mlir::squant::cpu;

Value mlir::squant::cpu::cF32(ImplicitLocOpBuilder &b, float v) {
  return arith::ConstantOp::create(b, b.getF32Type(), b.getF32FloatAttr(v));
}

Value mlir::squant::cpu::cI32(ImplicitLocOpBuilder &b, int32_t v) {
  return arith::ConstantIntOp::create(b, b.getI32Type(), v);
}

Value mlir::squant::cpu::loadF32(ImplicitLocOpBuilder &b, Value memref,
                                 ValueRange indices) {
  return convertFloat(b, memref::LoadOp::create(b, memref, indices),
                      b.getF32Type());
}

KVCacheAccess::KVCacheAccess(ImplicitLocOpBuilder &b, KVCacheFormatAttr format,
                             int64_t headDim, ValueRange tables,
                             ValueRange cache)
    : format(format), D(headDim), bits(format.getBits()),
      levels(format.getNumLevels()), packed(format.getPackedBytes(headDim)),
      sink(format.getSink()), residual(format.getResidual()),
      group(format.getGroup()), outliers(format.getOutliers()),
      kivi(format.getMethod() == KVMethod::KIVI),
      kinds(format.getComponents()), values(cache.begin(), cache.end()) {
  if (tables.size() == 2) {
    keyLut = tables[0];
    valueLut = tables[1];
  }
  Value keyCodes = get(KVComponent::KeyCodes);
  batch = dimOf(b, keyCodes, 0);
  heads = dimOf(b, keyCodes, 1);
  slots = dimOf(b, keyCodes, 2);
  auto meta = [&](Value codes) {
    auto md = memref::ExtractStridedMetadataOp::create(b, codes);
    Value ptr = memref::ExtractAlignedPointerAsIndexOp::create(
        b, md.getBaseBuffer());
    Value base = arith::IndexCastOp::create(
        b, b.getI64Type(), arith::AddIOp::create(b, ptr, md.getOffset()));
    return CodeMeta{base, SmallVector<Value>(md.getStrides())};
  };
  keyMeta = meta(keyCodes);
  valueMeta = meta(get(KVComponent::ValueCodes));
}

Value KVCacheAccess::get(KVComponent c) const {
  auto it = llvm::find(kinds, c);
  assert(it != kinds.end() && "component not in this format");
  return values[it - kinds.begin()];
}

KVCacheAccess::Bounds KVCacheAccess::bounds(ImplicitLocOpBuilder &b,
                                            Value len) const {
  Value n = arith::MinSIOp::create(
      b, arith::MaxSIOp::create(b, len, cIdx(b, 0)), slots);
  Bounds r{n, Value(), Value()};
  if (!kivi)
    return r;
  Value s = cIdx(b, sink), rr = cIdx(b, residual);
  Value past =
      arith::SubIOp::create(b, arith::MaxSIOp::create(b, n, s), s);
  r.keyEnd = arith::AddIOp::create(
      b, s,
      arith::MulIOp::create(b, arith::DivUIOp::create(b, past, rr), rr));
  r.valueEnd =
      arith::MaxSIOp::create(b, s, arith::SubIOp::create(b, n, rr));
  return r;
}

Value KVCacheAccess::code(ImplicitLocOpBuilder &b, bool key, Value bi, Value h,
                          Value t, Value d) const {
  Value codes = get(codesOf(key));
  Type i32 = b.getI32Type();
  Value bit = arith::MulIOp::create(b, d, cIdx(b, bits));
  Value byte = arith::DivUIOp::create(b, bit, cIdx(b, 8));
  Value shift = arith::RemUIOp::create(b, bit, cIdx(b, 8));
  auto loadByte = [&](Value index) -> Value {
    return arith::ExtUIOp::create(
        b, i32, memref::LoadOp::create(b, codes, ValueRange{bi, h, t, index}));
  };
  Value word = loadByte(byte);
  if (8 % bits != 0) {
    // The code may straddle into the next byte (never past the row).
    Value end = arith::AddIOp::create(b, shift, cIdx(b, bits));
    Value straddles =
        arith::CmpIOp::create(b, arith::CmpIPredicate::ugt, end, cIdx(b, 8));
    Value next = arith::AddIOp::create(b, byte, cIdx(b, 1));
    Value hi = loadByte(arith::SelectOp::create(b, straddles, next, byte));
    word = arith::OrIOp::create(b, word,
                                arith::ShLIOp::create(b, hi, cI32(b, 8)));
  }
  Value sh = arith::IndexCastUIOp::create(b, i32, shift);
  Value c = arith::ShRUIOp::create(b, word, sh);
  return arith::AndIOp::create(b, c, cI32(b, int32_t(levels - 1)));
}

Value KVCacheAccess::quantized(ImplicitLocOpBuilder &b, bool key, Value bi,
                               Value h, Value t, Value d) const {
  Value c = code(b, key, bi, h, t, d);
  if (kivi) {
    Value g = cIdx(b, group);
    SmallVector<Value, 4> at;
    if (key)
      at = {bi, h,
            arith::DivUIOp::create(
                b, arith::SubIOp::create(b, t, cIdx(b, sink)), g),
            d};
    else
      at = {bi, h, t, arith::DivUIOp::create(b, d, g)};
    Value s = loadF32(
        b, get(key ? KVComponent::KeyScale : KVComponent::ValueScale), at);
    Value z = loadF32(
        b, get(key ? KVComponent::KeyZero : KVComponent::ValueZero), at);
    Value cf = arith::UIToFPOp::create(b, b.getF32Type(), c);
    return arith::AddFOp::create(b, arith::MulFOp::create(b, cf, s), z);
  }
  Value ci = arith::IndexCastUIOp::create(b, b.getIndexType(), c);
  if (key)
    return loadF32(b, keyLut, ValueRange{h, d, ci});
  Value s = loadF32(b, get(KVComponent::ValueScale), ValueRange{bi, h, t});
  return arith::MulFOp::create(b, loadF32(b, valueLut, ValueRange{ci}), s);
}

void KVCacheAccess::forEachOutlier(
    ImplicitLocOpBuilder &b, bool key, Value bi, Value h, Value t,
    llvm::function_ref<void(ImplicitLocOpBuilder &, Value, Value)> fn) const {
  if (kivi || outliers == 0)
    return;
  Value idxs = get(key ? KVComponent::KeyOutlierIndices
                       : KVComponent::ValueOutlierIndices);
  Value vals = get(key ? KVComponent::KeyOutlierValues
                       : KVComponent::ValueOutlierValues);
  for (int64_t s = 0; s < outliers; ++s) {
    Value slot = cIdx(b, s);
    Value idx = memref::LoadOp::create(b, idxs, ValueRange{bi, h, t, slot});
    Value channel = arith::IndexCastUIOp::create(b, b.getIndexType(), idx);
    fn(b, channel, loadF32(b, vals, ValueRange{bi, h, t, slot}));
  }
}

void KVCacheAccess::decodeToken(
    ImplicitLocOpBuilder &b, bool key, const Bounds &bounds, Value bi, Value h,
    Value t,
    llvm::function_ref<void(ImplicitLocOpBuilder &, Value, Value)> store)
    const {
  Value c0 = cIdx(b, 0), c1 = cIdx(b, 1), dEnd = cIdx(b, D);
  auto copyRow = [&](ImplicitLocOpBuilder &ib, Value src, Value row) {
    emitFor(ib, c0, dEnd, c1, {},
            [&](ImplicitLocOpBuilder &jb, Value d, ValueRange) {
              store(jb, d, loadF32(jb, src, ValueRange{bi, h, row, d}));
              return SmallVector<Value>();
            });
  };
  auto quantizedToken = [&](ImplicitLocOpBuilder &ib) {
    emitFor(ib, c0, dEnd, c1, {},
            [&](ImplicitLocOpBuilder &jb, Value d, ValueRange) {
              store(jb, d, quantized(jb, key, bi, h, t, d));
              return SmallVector<Value>();
            });
    forEachOutlier(ib, key, bi, h, t, store);
  };
  auto afterSink = [&](ImplicitLocOpBuilder &ib) {
    if (!kivi) {
      quantizedToken(ib);
      return;
    }
    Value end = key ? bounds.keyEnd : bounds.valueEnd;
    Value inResidual =
        arith::CmpIOp::create(ib, arith::CmpIPredicate::sge, t, end);
    scf::IfOp::create(
        ib, inResidual,
        [&](OpBuilder &nb, Location loc) {
          ImplicitLocOpBuilder jb(loc, nb);
          Value slot = arith::RemUIOp::create(
              jb, arith::SubIOp::create(jb, t, cIdx(jb, sink)),
              cIdx(jb, residual));
          copyRow(jb,
                  get(key ? KVComponent::KeyResidual
                          : KVComponent::ValueResidual),
                  slot);
          scf::YieldOp::create(jb);
        },
        [&](OpBuilder &nb, Location loc) {
          ImplicitLocOpBuilder jb(loc, nb);
          quantizedToken(jb);
          scf::YieldOp::create(jb);
        });
  };
  if (sink == 0) {
    afterSink(b);
    return;
  }
  Value isSink = arith::CmpIOp::create(b, arith::CmpIPredicate::slt, t,
                                       cIdx(b, sink));
  scf::IfOp::create(
      b, isSink,
      [&](OpBuilder &nb, Location loc) {
        ImplicitLocOpBuilder jb(loc, nb);
        copyRow(jb, get(key ? KVComponent::KeySink : KVComponent::ValueSink),
                t);
        scf::YieldOp::create(jb);
      },
      [&](OpBuilder &nb, Location loc) {
        ImplicitLocOpBuilder jb(loc, nb);
        afterSink(jb);
        scf::YieldOp::create(jb);
      });
}

void KVCacheAccess::packToken(
    ImplicitLocOpBuilder &b, bool key, Value bi, Value h, Value t,
    llvm::function_ref<Value(ImplicitLocOpBuilder &, Value)> codeAt) const {
  // Eight codes are exactly B bytes: OR them into one i32 and store its
  // low B bytes.
  Value codes = get(codesOf(key));
  Type i8 = b.getI8Type();
  emitFor(b, cIdx(b, 0), cIdx(b, D / 8), cIdx(b, 1), {},
          [&](ImplicitLocOpBuilder &ib, Value k, ValueRange) {
            Value base = arith::MulIOp::create(ib, k, cIdx(ib, 8));
            Value word = cI32(ib, 0);
            for (int64_t u = 0; u < 8; ++u) {
              Value c = codeAt(ib, arith::AddIOp::create(ib, base, cIdx(ib, u)));
              if (u)
                c = arith::ShLIOp::create(ib, c, cI32(ib, int32_t(u * bits)));
              word = arith::OrIOp::create(ib, word, c);
            }
            Value byte0 = arith::MulIOp::create(ib, k, cIdx(ib, bits));
            for (int64_t j = 0; j < bits; ++j) {
              Value v = j ? Value(arith::ShRUIOp::create(
                                ib, word, cI32(ib, int32_t(8 * j))))
                          : word;
              Value byte = arith::TruncIOp::create(ib, i8, v);
              memref::StoreOp::create(
                  ib, byte, codes,
                  ValueRange{bi, h, t,
                             arith::AddIOp::create(ib, byte0, cIdx(ib, j))});
            }
            return SmallVector<Value>();
          });
}

Value KVCacheAccess::rowAddress(ImplicitLocOpBuilder &b, bool key, Value bi,
                                Value h, Value t) const {
  const CodeMeta &m = key ? keyMeta : valueMeta;
  Value off = arith::AddIOp::create(
      b,
      arith::AddIOp::create(b, arith::MulIOp::create(b, bi, m.strides[0]),
                            arith::MulIOp::create(b, h, m.strides[1])),
      arith::MulIOp::create(b, t, m.strides[2]));
  return arith::AddIOp::create(
      b, m.base, arith::IndexCastOp::create(b, b.getI64Type(), off));
}

Value KVCacheAccess::tokenStride(ImplicitLocOpBuilder &b, bool key) const {
  const CodeMeta &m = key ? keyMeta : valueMeta;
  return arith::IndexCastOp::create(b, b.getI64Type(), m.strides[2]);
}

//===----------------------------------------------------------------------===//
// Vector math
//===----------------------------------------------------------------------===//

Value mlir::squant::cpu::fmuladd(ImplicitLocOpBuilder &b, Value x, Value y,
                                 Value z) {
  return LLVM::FMulAddOp::create(b, x, y, z);
}

namespace {
/// A float constant of `type` (f32 or a vector of f32).
Value splatF(ImplicitLocOpBuilder &b, Type type, float v) {
  if (auto vt = dyn_cast<VectorType>(type))
    return arith::ConstantOp::create(
        b, vt, DenseElementsAttr::get(vt, b.getF32FloatAttr(v).getValue()));
  return cF32(b, v);
}
/// An i32 constant shaped like `type`.
Value splatI(ImplicitLocOpBuilder &b, Type type, int32_t v) {
  if (auto vt = dyn_cast<VectorType>(type)) {
    auto it = VectorType::get(vt.getShape(), b.getI32Type());
    return arith::ConstantOp::create(
        b, it, DenseElementsAttr::get(it, b.getI32IntegerAttr(v).getValue()));
  }
  return cI32(b, v);
}
Type intTypeLike(ImplicitLocOpBuilder &b, Type type) {
  if (auto vt = dyn_cast<VectorType>(type))
    return VectorType::get(vt.getShape(), b.getI32Type());
  return b.getI32Type();
}
} // namespace

Value mlir::squant::cpu::emitExpNonPositive(ImplicitLocOpBuilder &b, Value x) {
  // Cephes-style expf: n = floor(x log2 e + 1/2), r = x - n ln 2 (ln 2 in
  // two parts), exp(r) by a degree-6 polynomial, times 2^n built in the
  // exponent bits. Inputs are clamped at ln(FLT_MIN) so that 2^n stays
  // normal; anything below is 0.
  Type t = x.getType();
  Type it = intTypeLike(b, t);
  const float lo = -87.33654f;
  Value xc = arith::MaximumFOp::create(b, x, splatF(b, t, lo));
  Value fx = arith::AddFOp::create(
      b, arith::MulFOp::create(b, xc, splatF(b, t, 1.44269504088896341f)),
      splatF(b, t, 0.5f));
  // floor(fx) without SSE4.1 roundps: truncate, then step down if above.
  Value n = arith::SIToFPOp::create(b, t, arith::FPToSIOp::create(b, it, fx));
  Value above = arith::CmpFOp::create(b, arith::CmpFPredicate::OGT, n, fx);
  n = arith::SelectOp::create(
      b, above, arith::SubFOp::create(b, n, splatF(b, t, 1.0f)), n);
  Value r = arith::SubFOp::create(
      b, xc, arith::MulFOp::create(b, n, splatF(b, t, 0.693359375f)));
  r = arith::AddFOp::create(
      b, r, arith::MulFOp::create(b, n, splatF(b, t, 2.12194440e-4f)));
  Value z = arith::MulFOp::create(b, r, r);
  Value p = splatF(b, t, 1.9875691500e-4f);
  for (float c : {1.3981999507e-3f, 8.3334519073e-3f, 4.1665795894e-2f,
                  1.6666665459e-1f, 5.0000001201e-1f})
    p = fmuladd(b, p, r, splatF(b, t, c));
  Value y =
      arith::AddFOp::create(b, fmuladd(b, p, z, r), splatF(b, t, 1.0f));
  Value ni = arith::FPToSIOp::create(b, it, n);
  Value bitsV = arith::ShLIOp::create(
      b, arith::AddIOp::create(b, ni, splatI(b, t, 127)), splatI(b, t, 23));
  Value pow2 = arith::BitcastOp::create(b, t, bitsV);
  y = arith::MulFOp::create(b, y, pow2);
  Value tiny = arith::CmpFOp::create(b, arith::CmpFPredicate::OLT, x,
                                     splatF(b, t, lo));
  return arith::SelectOp::create(b, tiny, splatF(b, t, 0.0f), y);
}

std::pair<Value, Value> mlir::squant::cpu::emitSinCos(ImplicitLocOpBuilder &b,
                                                      Value x) {
  // Octant j = 2 * round-half-up(x * 4/pi / 2) (even), r = x - j pi/4 with
  // pi/4 split into parts of at most 8 significant bits, so that j * part
  // is exact for j < 2^16 and only the subtractions round (|r| <= pi/4,
  // error about 6e-8). Then sin and cos polynomials on r (Cephes
  // sinf/cosf coefficients), swapped for odd quadrants and negated by
  // quadrant.
  Type t = x.getType();
  Type it = intTypeLike(b, t);
  Value j = arith::FPToSIOp::create(
      b, it, arith::MulFOp::create(b, x, splatF(b, t, 1.27323954473516f)));
  j = arith::AndIOp::create(b, arith::AddIOp::create(b, j, splatI(b, t, 1)),
                            splatI(b, t, ~1));
  Value y = arith::SIToFPOp::create(b, t, j);
  Value r = x;
  for (float part : {0.78515625f, 2.422332763671875e-4f,
                     -3.203749656677246e-7f, 4.960468147352515e-10f})
    r = arith::SubFOp::create(b, r,
                              arith::MulFOp::create(b, y, splatF(b, t, part)));
  Value z = arith::MulFOp::create(b, r, r);
  // sin r = r + r z (s1 + z (s2 + z s3))
  Value ps = splatF(b, t, -1.9515295891e-4f);
  ps = fmuladd(b, ps, z, splatF(b, t, 8.3321608736e-3f));
  ps = fmuladd(b, ps, z, splatF(b, t, -1.6666654611e-1f));
  ps = fmuladd(b, arith::MulFOp::create(b, ps, z), r, r);
  // cos r = 1 - z / 2 + z^2 (c1 + z (c2 + z c3))
  Value pc = splatF(b, t, 2.443315711809948e-5f);
  pc = fmuladd(b, pc, z, splatF(b, t, -1.388731625493765e-3f));
  pc = fmuladd(b, pc, z, splatF(b, t, 4.166664568298827e-2f));
  pc = arith::MulFOp::create(b, arith::MulFOp::create(b, pc, z), z);
  pc = arith::AddFOp::create(
      b, fmuladd(b, z, splatF(b, t, -0.5f), pc), splatF(b, t, 1.0f));
  auto bitSet = [&](Value v, int32_t mask) -> Value {
    return arith::CmpIOp::create(
        b, arith::CmpIPredicate::ne,
        arith::AndIOp::create(b, v, splatI(b, t, mask)), splatI(b, t, 0));
  };
  Value swap = bitSet(j, 2);
  Value s = arith::SelectOp::create(b, swap, pc, ps);
  Value c = arith::SelectOp::create(b, swap, ps, pc);
  s = arith::SelectOp::create(b, bitSet(j, 4), arith::NegFOp::create(b, s), s);
  Value j2 = arith::AddIOp::create(b, j, splatI(b, t, 2));
  c = arith::SelectOp::create(b, bitSet(j2, 4), arith::NegFOp::create(b, c),
                              c);
  return {s, c};
}
