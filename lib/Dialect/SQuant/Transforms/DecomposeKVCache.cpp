//===- DecomposeKVCache.cpp - reference lowering of the KV-cache ops ------===//
//
// squant-decompose patterns for kv_append, kv_dequantize and kv_attention:
// the executable reference semantics of the quantized KV cache
// (docs/kv-cache.md). Everything becomes linalg.generic + scf + tensor/memref
// + arith/math, on the tensor form (extract_slice / insert_slice, scf
// iter_args) or the memref form (subviews written in place):
//
// * kv_append: an scf.for over the new tokens; each token is quantized by a
//   few generics (nearest code, outlier ranks, slots, scales, packing) whose
//   results are written into one-token slices of the cache. KIVI's value
//   eviction and key-block flush are scf.if regions.
// * kv_dequantize / kv_attention: generics whose bodies read one element of
//   the cache (unpack, table or scale/zero, outlier replacement, sink and
//   residual tokens) on the fly; attention rotates keys and queries, and
//   computes scores, max, exponentials, sums and the weighted values.
//
//===----------------------------------------------------------------------===//

#include "squant/Dialect/SQuant/IR/SQuantOps.h"
#include "squant/Dialect/SQuant/Transforms/Passes.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Arith/Utils/Utils.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/Dialect/Utils/StaticValueUtils.h"
#include "mlir/IR/PatternMatch.h"

#include <cmath>

using namespace mlir;
using namespace mlir::squant;

namespace {

using BodyFn = function_ref<void(OpBuilder &, Location, ValueRange)>;

bool isTensor(Value v) { return isa<RankedTensorType>(v.getType()); }

//===----------------------------------------------------------------------===//
// Scalar helpers (usable inside generic bodies)
//===----------------------------------------------------------------------===//

Value cIndex(OpBuilder &b, Location loc, int64_t v) {
  return arith::ConstantIndexOp::create(b, loc, v);
}

Value cF32(OpBuilder &b, Location loc, float v) {
  return arith::ConstantOp::create(b, loc, b.getF32Type(),
                                   b.getF32FloatAttr(v));
}

Value cI32(OpBuilder &b, Location loc, int32_t v) {
  return arith::ConstantIntOp::create(b, loc, b.getI32Type(), v);
}

/// Reads one element (tensor.extract or memref.load).
Value load(OpBuilder &b, Location loc, Value src, ValueRange indices) {
  if (isTensor(src))
    return tensor::ExtractOp::create(b, loc, src, indices);
  return memref::LoadOp::create(b, loc, src, indices);
}

/// f16 / bf16 / f32 -> f32 (exact).
Value toF32(OpBuilder &b, Location loc, Value v) {
  if (v.getType().isF32())
    return v;
  return arith::ExtFOp::create(b, loc, b.getF32Type(), v);
}

/// f32 -> f16 / bf16 / f32, rounding to nearest even.
Value fromF32(OpBuilder &b, Location loc, Value v, Type dst) {
  if (dst.isF32())
    return v;
  return arith::TruncFOp::create(b, loc, dst, v);
}

Value loadF32(OpBuilder &b, Location loc, Value src, ValueRange indices) {
  return toF32(b, loc, load(b, loc, src, indices));
}

Type elementType(Value v) {
  return cast<ShapedType>(v.getType()).getElementType();
}

Value addI(OpBuilder &b, Location loc, Value x, Value y) {
  return arith::AddIOp::create(b, loc, x, y);
}
Value subI(OpBuilder &b, Location loc, Value x, Value y) {
  return arith::SubIOp::create(b, loc, x, y);
}
Value mulI(OpBuilder &b, Location loc, Value x, Value y) {
  return arith::MulIOp::create(b, loc, x, y);
}
Value divI(OpBuilder &b, Location loc, Value x, Value y) {
  return arith::DivUIOp::create(b, loc, x, y);
}
Value remI(OpBuilder &b, Location loc, Value x, Value y) {
  return arith::RemUIOp::create(b, loc, x, y);
}
Value cmpI(OpBuilder &b, Location loc, arith::CmpIPredicate p, Value x,
           Value y) {
  return arith::CmpIOp::create(b, loc, p, x, y);
}
Value select(OpBuilder &b, Location loc, Value c, Value x, Value y) {
  return arith::SelectOp::create(b, loc, c, x, y);
}

/// scf.if with one f32 (or other scalar) result.
Value ifScalar(OpBuilder &b, Location loc, Value cond,
               function_ref<Value(OpBuilder &, Location)> thenFn,
               function_ref<Value(OpBuilder &, Location)> elseFn) {
  auto ifOp = scf::IfOp::create(
      b, loc, cond,
      [&](OpBuilder &nb, Location nl) {
        scf::YieldOp::create(nb, nl, thenFn(nb, nl));
      },
      [&](OpBuilder &nb, Location nl) {
        scf::YieldOp::create(nb, nl, elseFn(nb, nl));
      });
  return ifOp.getResult(0);
}

/// Code of channel `d` of the token vector at `prefix` (b, h, t) of packed
/// `codes` [Bt, H, L, D*B/8] x i8: bits [d*B, d*B+B), little-endian.
Value unpackCode(OpBuilder &b, Location loc, Value codes, ValueRange prefix,
                 Value d, unsigned bits) {
  Type i32 = b.getI32Type();
  Value bit = mulI(b, loc, d, cIndex(b, loc, bits));
  Value byte = divI(b, loc, bit, cIndex(b, loc, 8));
  Value shift = remI(b, loc, bit, cIndex(b, loc, 8));
  auto loadByte = [&](Value index) -> Value {
    SmallVector<Value, 4> idx(prefix.begin(), prefix.end());
    idx.push_back(index);
    return arith::ExtUIOp::create(b, loc, i32, load(b, loc, codes, idx));
  };
  Value word = loadByte(byte);
  if (8 % bits != 0) {
    // The code may straddle into the next byte.
    Value end = addI(b, loc, shift, cIndex(b, loc, bits));
    Value straddles =
        cmpI(b, loc, arith::CmpIPredicate::ugt, end, cIndex(b, loc, 8));
    Value next = addI(b, loc, byte, cIndex(b, loc, 1));
    Value hiByte = select(b, loc, straddles, next, byte);
    Value hi = arith::ShLIOp::create(b, loc, loadByte(hiByte), cI32(b, loc, 8));
    word = arith::OrIOp::create(b, loc, word, hi);
  }
  Value sh = arith::IndexCastUIOp::create(b, loc, i32, shift);
  Value code = arith::ShRUIOp::create(b, loc, word, sh);
  return arith::AndIOp::create(b, loc, code, cI32(b, loc, (1 << bits) - 1));
}

/// Byte `j` of a packed token vector whose i32 codes are read by
/// `codeAt(k)` (k < D): the OR of the codes overlapping bits [8j, 8j+8).
Value packByte(OpBuilder &b, Location loc, Value j, int64_t headDim,
               unsigned bits, function_ref<Value(Value)> codeAt) {
  Type i32 = b.getI32Type();
  Value base = mulI(b, loc, j, cIndex(b, loc, 8));
  Value kLo = divI(b, loc, base, cIndex(b, loc, bits));
  Value kMax = cIndex(b, loc, headDim - 1);
  Value byteEnd = addI(b, loc, base, cIndex(b, loc, 8));
  Value zero = cI32(b, loc, 0);
  Value acc = zero;
  // A byte overlaps at most floor(7 / B) + 2 codes.
  for (unsigned m = 0, e = 7 / bits + 2; m < e; ++m) {
    Value k = addI(b, loc, kLo, cIndex(b, loc, m));
    Value start = mulI(b, loc, k, cIndex(b, loc, bits));
    Value valid = arith::AndIOp::create(
        b, loc, cmpI(b, loc, arith::CmpIPredicate::ult, start, byteEnd),
        cmpI(b, loc, arith::CmpIPredicate::ult, k, cIndex(b, loc, headDim)));
    Value code = codeAt(arith::MinUIOp::create(b, loc, k, kMax));
    // Offset of the code's bit 0 from the byte's bit 0 (may be negative).
    Value off =
        arith::IndexCastOp::create(b, loc, i32, subI(b, loc, start, base));
    Value neg = cmpI(b, loc, arith::CmpIPredicate::slt, off, zero);
    Value negOff = subI(b, loc, zero, off);
    Value left =
        arith::ShLIOp::create(b, loc, code, select(b, loc, neg, zero, off));
    Value right =
        arith::ShRUIOp::create(b, loc, code, select(b, loc, neg, negOff, zero));
    Value part = select(b, loc, neg, right, left);
    acc = arith::OrIOp::create(b, loc, acc, select(b, loc, valid, part, zero));
  }
  return arith::TruncIOp::create(b, loc, b.getI8Type(), acc);
}

/// KIVI code of x with stored scale s and zero z (f32):
/// s > 0 ? clamp(floor((x - z) / s + 0.5), 0, 2^B - 1) : 0.
Value quantizeUniform(OpBuilder &b, Location loc, Value x, Value s, Value z,
                      int64_t levels) {
  Value q =
      arith::DivFOp::create(b, loc, arith::SubFOp::create(b, loc, x, z), s);
  q = math::FloorOp::create(
      b, loc, arith::AddFOp::create(b, loc, q, cF32(b, loc, 0.5f)));
  q = arith::MaximumFOp::create(b, loc, q, cF32(b, loc, 0.0f));
  q = arith::MinimumFOp::create(b, loc, q, cF32(b, loc, float(levels - 1)));
  Value code = arith::FPToSIOp::create(b, loc, b.getI32Type(), q);
  Value positive = arith::CmpFOp::create(b, loc, arith::CmpFPredicate::OGT, s,
                                         cF32(b, loc, 0.0f));
  return select(b, loc, positive, code, cI32(b, loc, 0));
}

/// KIVI dequantization: code * s + z.
Value dequantizeUniform(OpBuilder &b, Location loc, Value code, Value s,
                        Value z) {
  Value c = arith::UIToFPOp::create(b, loc, b.getF32Type(), code);
  return arith::AddFOp::create(b, loc, arith::MulFOp::create(b, loc, c, s), z);
}

/// Index of the nearest entry: argmin_c |x - entry(c)|, first on ties.
/// Returns (code as i32, error).
std::pair<Value, Value> nearest(OpBuilder &b, Location loc, Value x,
                                int64_t levels,
                                function_ref<Value(int64_t)> entry) {
  Value best =
      math::AbsFOp::create(b, loc, arith::SubFOp::create(b, loc, x, entry(0)));
  Value code = cI32(b, loc, 0);
  for (int64_t c = 1; c < levels; ++c) {
    Value e = math::AbsFOp::create(b, loc,
                                   arith::SubFOp::create(b, loc, x, entry(c)));
    Value better =
        arith::CmpFOp::create(b, loc, arith::CmpFPredicate::OLT, e, best);
    best = select(b, loc, better, e, best);
    code = select(b, loc, better, cI32(b, loc, c), code);
  }
  return {code, best};
}

//===----------------------------------------------------------------------===//
// The cache
//===----------------------------------------------------------------------===//

/// A KV cache as values of the op being lowered, plus its static parameters.
struct Cache {
  KVCacheFormatAttr format;
  SmallVector<KVComponent> kinds;
  SmallVector<Value> values;
  Value keyLut, valueLut;
  int64_t headDim, levels, packed;
  unsigned bits;
  int64_t sink, residual, group, outliers;

  Cache(KVCacheFormatAttr format, ValueRange cache, ValueRange tables,
        int64_t headDim)
      : format(format), kinds(format.getComponents()),
        values(cache.begin(), cache.end()), headDim(headDim),
        levels(format.getNumLevels()), packed(format.getPackedBytes(headDim)),
        bits(format.getBits()), sink(format.getSink()),
        residual(format.getResidual()), group(format.getGroup()),
        outliers(format.getOutliers()) {
    if (tables.size() == 2) {
      keyLut = tables[0];
      valueLut = tables[1];
    }
  }
  bool kivi() const { return format.getMethod() == KVMethod::KIVI; }
  unsigned indexOf(KVComponent c) const {
    return std::find(kinds.begin(), kinds.end(), c) - kinds.begin();
  }
  Value get(KVComponent c) const { return values[indexOf(c)]; }
  void set(KVComponent c, Value v) { values[indexOf(c)] = v; }
};

/// Token boundaries of a cache holding `avail` = min(len, L) tokens: KIVI
/// keys of tokens >= keyEnd and values of tokens >= valueEnd are in the
/// residual buffers.
struct Boundaries {
  Value avail, keyEnd, valueEnd;
};

/// The f32 value the cache represents for channel `d` of the key (or value)
/// of token `t` (t < avail).
Value readElement(OpBuilder &b, Location loc, const Cache &c,
                  const Boundaries &bounds, bool key, Value bi, Value h,
                  Value t, Value d) {
  auto quantized = [&](OpBuilder &b, Location loc) -> Value {
    if (c.kivi()) {
      Value end = key ? bounds.keyEnd : bounds.valueEnd;
      Value inResidual = cmpI(b, loc, arith::CmpIPredicate::sge, t, end);
      return ifScalar(
          b, loc, inResidual,
          [&](OpBuilder &b, Location loc) {
            Value slot = remI(b, loc, subI(b, loc, t, cIndex(b, loc, c.sink)),
                              cIndex(b, loc, c.residual));
            return loadF32(b, loc,
                           c.get(key ? KVComponent::KeyResidual
                                     : KVComponent::ValueResidual),
                           {bi, h, slot, d});
          },
          [&](OpBuilder &b, Location loc) {
            Value code = unpackCode(
                b, loc,
                c.get(key ? KVComponent::KeyCodes : KVComponent::ValueCodes),
                {bi, h, t}, d, c.bits);
            Value g = cIndex(b, loc, c.group);
            SmallVector<Value, 4> idx;
            if (key)
              idx = {bi, h,
                     divI(b, loc, subI(b, loc, t, cIndex(b, loc, c.sink)), g),
                     d};
            else
              idx = {bi, h, t, divI(b, loc, d, g)};
            Value s = loadF32(
                b, loc,
                c.get(key ? KVComponent::KeyScale : KVComponent::ValueScale),
                idx);
            Value z = loadF32(
                b, loc,
                c.get(key ? KVComponent::KeyZero : KVComponent::ValueZero),
                idx);
            return dequantizeUniform(b, loc, code, s, z);
          });
    }
    Value code = unpackCode(
        b, loc, c.get(key ? KVComponent::KeyCodes : KVComponent::ValueCodes),
        {bi, h, t}, d, c.bits);
    Value ci = arith::IndexCastUIOp::create(b, loc, b.getIndexType(), code);
    Value v;
    if (key) {
      v = loadF32(b, loc, c.keyLut, {h, d, ci});
    } else {
      Value s = loadF32(b, loc, c.get(KVComponent::ValueScale), {bi, h, t});
      v = arith::MulFOp::create(b, loc, loadF32(b, loc, c.valueLut, {ci}), s);
    }
    // Outlier slots replace their channel; a later slot wins.
    for (int64_t s = 0; s < c.outliers; ++s) {
      Value slot = cIndex(b, loc, s);
      Value idx = load(b, loc,
                       c.get(key ? KVComponent::KeyOutlierIndices
                                 : KVComponent::ValueOutlierIndices),
                       {bi, h, t, slot});
      Value channel =
          arith::IndexCastUIOp::create(b, loc, b.getIndexType(), idx);
      Value val = loadF32(b, loc,
                          c.get(key ? KVComponent::KeyOutlierValues
                                    : KVComponent::ValueOutlierValues),
                          {bi, h, t, slot});
      v = select(b, loc, cmpI(b, loc, arith::CmpIPredicate::eq, channel, d),
                 val, v);
    }
    return v;
  };
  if (c.sink == 0)
    return quantized(b, loc);
  Value isSink =
      cmpI(b, loc, arith::CmpIPredicate::slt, t, cIndex(b, loc, c.sink));
  return ifScalar(
      b, loc, isSink,
      [&](OpBuilder &b, Location loc) {
        return loadF32(
            b, loc, c.get(key ? KVComponent::KeySink : KVComponent::ValueSink),
            {bi, h, t, d});
      },
      quantized);
}

//===----------------------------------------------------------------------===//
// Building blocks that work on tensors and memrefs
//===----------------------------------------------------------------------===//

class Emitter {
public:
  Emitter(OpBuilder &b, Location loc, bool tensorForm)
      : b(b), loc(loc), tensorForm(tensorForm) {}

  OpBuilder &b;
  Location loc;
  bool tensorForm;

  Value idx(int64_t v) { return cIndex(b, loc, v); }

  /// Size of dimension `d` of `v`.
  OpFoldResult dim(Value v, int64_t d) {
    int64_t size = cast<ShapedType>(v.getType()).getDimSize(d);
    if (!ShapedType::isDynamic(size))
      return b.getIndexAttr(size);
    if (tensorForm)
      return tensor::DimOp::create(b, loc, v, d).getResult();
    return memref::DimOp::create(b, loc, v, d).getResult();
  }
  Value dimValue(Value v, int64_t d) {
    return getValueOrCreateConstantIndexOp(b, loc, dim(v, d));
  }

  /// A temporary (tensor.empty, or memref.alloc freed by freeTemps).
  Value temp(Type elt, ArrayRef<OpFoldResult> sizes) {
    SmallVector<int64_t> shape;
    SmallVector<Value> dynamic;
    for (OpFoldResult s : sizes) {
      if (std::optional<int64_t> c = getConstantIntValue(s)) {
        shape.push_back(*c);
      } else {
        shape.push_back(ShapedType::kDynamic);
        dynamic.push_back(cast<Value>(s));
      }
    }
    if (tensorForm)
      return tensor::EmptyOp::create(b, loc, shape, elt, dynamic);
    Value alloc =
        memref::AllocOp::create(b, loc, MemRefType::get(shape, elt), dynamic);
    temps.push_back(alloc);
    return alloc;
  }
  size_t mark() const { return temps.size(); }
  void freeTemps(size_t from) {
    for (size_t i = from; i < temps.size(); ++i)
      memref::DeallocOp::create(b, loc, temps[i]);
    temps.resize(from);
  }

  Value fill(Value init, Value scalar) {
    auto op =
        linalg::FillOp::create(b, loc, ValueRange{scalar}, ValueRange{init});
    return tensorForm ? op.getResult(0) : init;
  }

  /// linalg.generic; returns the results (tensors) or the outs (memrefs).
  SmallVector<Value> generic(ValueRange ins, ValueRange outs,
                             ArrayRef<AffineMap> maps,
                             ArrayRef<utils::IteratorType> iters, BodyFn body) {
    SmallVector<Type> types;
    if (tensorForm)
      for (Value o : outs)
        types.push_back(o.getType());
    auto op =
        linalg::GenericOp::create(b, loc, types, ins, outs, maps, iters, body);
    if (tensorForm)
      return SmallVector<Value>(op.getResults());
    return SmallVector<Value>(outs.begin(), outs.end());
  }

  /// Projection of `n` loop dimensions onto `dims`.
  AffineMap map(unsigned n, ArrayRef<unsigned> dims) {
    SmallVector<AffineExpr> exprs;
    for (unsigned d : dims)
      exprs.push_back(b.getAffineDimExpr(d));
    return AffineMap::get(n, 0, exprs, b.getContext());
  }
  AffineMap identity(unsigned n) {
    return AffineMap::getMultiDimIdentityMap(n, b.getContext());
  }
  static SmallVector<utils::IteratorType> iterators(unsigned parallel,
                                                    unsigned reduction = 0) {
    SmallVector<utils::IteratorType> it(parallel,
                                        utils::IteratorType::parallel);
    it.append(reduction, utils::IteratorType::reduction);
    return it;
  }

  /// A full-rank slice of a cache tensor that a generic overwrites, then
  /// writes back with `commit`.
  struct Slice {
    Value full, slice;
    SmallVector<OpFoldResult> offsets, sizes, strides;
  };
  Slice slice(Value full, ArrayRef<OpFoldResult> offsets,
              ArrayRef<OpFoldResult> sizes) {
    Slice s{full, Value(), SmallVector<OpFoldResult>(offsets),
            SmallVector<OpFoldResult>(sizes),
            SmallVector<OpFoldResult>(offsets.size(), b.getIndexAttr(1))};
    if (tensorForm)
      s.slice = tensor::ExtractSliceOp::create(b, loc, full, s.offsets, s.sizes,
                                               s.strides);
    else
      s.slice = memref::SubViewOp::create(b, loc, full, s.offsets, s.sizes,
                                          s.strides);
    return s;
  }
  /// The full value after writing `written` (the generic's result) into it.
  Value commit(const Slice &s, Value written) {
    if (!tensorForm)
      return s.full;
    return tensor::InsertSliceOp::create(b, loc, written, s.full, s.offsets,
                                         s.sizes, s.strides);
  }

  /// `if (cond) thenFn(cache)` on the cache state (tensor form: the if
  /// yields every cache tensor).
  void ifThen(Value cond, Cache &cache, function_ref<void(Cache &)> thenFn) {
    ifThenElse(cond, cache, thenFn, [](Cache &) {});
  }
  void ifThenElse(Value cond, Cache &cache, function_ref<void(Cache &)> thenFn,
                  function_ref<void(Cache &)> elseFn) {
    auto branch = [&](function_ref<void(Cache &)> fn) {
      return [&, fn](OpBuilder &, Location) {
        Cache copy = cache;
        size_t m = mark();
        fn(copy);
        freeTemps(m);
        scf::YieldOp::create(
            b, loc, tensorForm ? ValueRange(copy.values) : ValueRange());
      };
    };
    auto ifOp = scf::IfOp::create(b, loc, cond, branch(thenFn), branch(elseFn));
    if (tensorForm)
      cache.values.assign(ifOp.getResults().begin(), ifOp.getResults().end());
  }

  /// `for (i = 0; i < n; ++i) fn(i, cache)`.
  void forEach(Value n, Cache &cache, function_ref<void(Value, Cache &)> fn) {
    ValueRange init = tensorForm ? ValueRange(cache.values) : ValueRange();
    auto forOp = scf::ForOp::create(
        b, loc, idx(0), n, idx(1), init,
        [&](OpBuilder &, Location, Value iv, ValueRange args) {
          Cache copy = cache;
          if (tensorForm)
            copy.values.assign(args.begin(), args.end());
          size_t m = mark();
          fn(iv, copy);
          freeTemps(m);
          scf::YieldOp::create(
              b, loc, tensorForm ? ValueRange(copy.values) : ValueRange());
        });
    if (tensorForm)
      cache.values.assign(forOp.getResults().begin(), forOp.getResults().end());
  }

private:
  SmallVector<Value> temps;
};

/// Boundaries for `len` (clamped to [0, L]).
Boundaries computeBoundaries(Emitter &e, const Cache &c, Value len) {
  OpBuilder &b = e.b;
  Location loc = e.loc;
  Value slots = e.dimValue(c.get(KVComponent::KeyCodes), 2);
  Value avail = arith::MinSIOp::create(
      b, loc, arith::MaxSIOp::create(b, loc, len, e.idx(0)), slots);
  Boundaries bounds{avail, Value(), Value()};
  if (!c.kivi())
    return bounds;
  Value s = e.idx(c.sink), r = e.idx(c.residual);
  // keyEnd = S + R * floor((max(avail, S) - S) / R)
  Value past = subI(b, loc, arith::MaxSIOp::create(b, loc, avail, s), s);
  bounds.keyEnd = addI(b, loc, s, mulI(b, loc, divI(b, loc, past, r), r));
  // valueEnd = max(S, avail - R)
  bounds.valueEnd = arith::MaxSIOp::create(b, loc, s, subI(b, loc, avail, r));
  return bounds;
}

//===----------------------------------------------------------------------===//
// kv_append
//===----------------------------------------------------------------------===//

/// rank[b, h, d] = #{e : score[e] > score[d] or (score[e] == score[d] and
/// e < d)} for score [Bt, H, D] f32.
Value emitRanks(Emitter &e, Value score, ArrayRef<OpFoldResult> bh,
                int64_t headDim) {
  OpBuilder &b = e.b;
  Value rank = e.temp(b.getI32Type(), {bh[0], bh[1], b.getIndexAttr(headDim)});
  rank = e.fill(rank, cI32(b, e.loc, 0));
  return e.generic(
      {score, score}, {rank},
      {e.map(4, {0, 1, 2}), e.map(4, {0, 1, 3}), e.map(4, {0, 1, 2})},
      Emitter::iterators(3, 1),
      [&](OpBuilder &b, Location loc, ValueRange args) {
        Value d = linalg::IndexOp::create(b, loc, 2);
        Value other = linalg::IndexOp::create(b, loc, 3);
        Value gt = arith::CmpFOp::create(b, loc, arith::CmpFPredicate::OGT,
                                         args[1], args[0]);
        Value eq = arith::CmpFOp::create(b, loc, arith::CmpFPredicate::OEQ,
                                         args[1], args[0]);
        Value lower = cmpI(b, loc, arith::CmpIPredicate::ult, other, d);
        Value before = arith::OrIOp::create(
            b, loc, gt, arith::AndIOp::create(b, loc, eq, lower));
        Value inc = arith::ExtUIOp::create(b, loc, b.getI32Type(), before);
        linalg::YieldOp::create(b, loc, addI(b, loc, args[2], inc));
      })[0];
}

/// slots[b, h, s] = the channel whose rank is s, for s < O.
Value emitSlots(Emitter &e, Value rank, ArrayRef<OpFoldResult> bh,
                int64_t outliers) {
  OpBuilder &b = e.b;
  Value slots =
      e.temp(b.getI32Type(), {bh[0], bh[1], b.getIndexAttr(outliers)});
  slots = e.fill(slots, cI32(b, e.loc, 0));
  return e.generic(
      {rank}, {slots}, {e.map(4, {0, 1, 3}), e.map(4, {0, 1, 2})},
      Emitter::iterators(3, 1),
      [&](OpBuilder &b, Location loc, ValueRange args) {
        Value s = arith::IndexCastUIOp::create(
            b, loc, b.getI32Type(), linalg::IndexOp::create(b, loc, 2));
        Value d = arith::IndexCastUIOp::create(
            b, loc, b.getI32Type(), linalg::IndexOp::create(b, loc, 3));
        Value hit = cmpI(b, loc, arith::CmpIPredicate::eq, args[0], s);
        linalg::YieldOp::create(b, loc, select(b, loc, hit, d, args[1]));
      })[0];
}

/// Writes slots [b, h, s] of token `t`: value `src[b, h, i, channel]` and
/// the channel index.
void emitOutlierWrite(Emitter &e, Cache &c, bool key, Value slots, Value src,
                      Value i, Value t, ArrayRef<OpFoldResult> bh) {
  OpBuilder &b = e.b;
  KVComponent valK =
      key ? KVComponent::KeyOutlierValues : KVComponent::ValueOutlierValues;
  KVComponent idxK =
      key ? KVComponent::KeyOutlierIndices : KVComponent::ValueOutlierIndices;
  SmallVector<OpFoldResult> offsets = {b.getIndexAttr(0), b.getIndexAttr(0), t,
                                       b.getIndexAttr(0)};
  SmallVector<OpFoldResult> sizes = {bh[0], bh[1], b.getIndexAttr(1),
                                     b.getIndexAttr(c.outliers)};
  Emitter::Slice vals = e.slice(c.get(valK), offsets, sizes);
  Emitter::Slice idxs = e.slice(c.get(idxK), offsets, sizes);
  Type valType = elementType(vals.full), idxType = elementType(idxs.full);
  SmallVector<Value> written = e.generic(
      {slots}, {vals.slice, idxs.slice},
      {e.map(4, {0, 1, 3}), e.identity(4), e.identity(4)},
      Emitter::iterators(4), [&](OpBuilder &b, Location loc, ValueRange args) {
        Value bi = linalg::IndexOp::create(b, loc, 0);
        Value h = linalg::IndexOp::create(b, loc, 1);
        Value d =
            arith::IndexCastUIOp::create(b, loc, b.getIndexType(), args[0]);
        Value x = loadF32(b, loc, src, {bi, h, i, d});
        Value index = arith::IndexCastUIOp::create(b, loc, idxType, d);
        linalg::YieldOp::create(b, loc,
                                ValueRange{fromF32(b, loc, x, valType), index});
      });
  c.set(valK, e.commit(vals, written[0]));
  c.set(idxK, e.commit(idxs, written[1]));
}

/// Packs i32 codes, [Bt, H, n, D] (or [Bt, H, D] for one token), into
/// `component` tokens [t0, t0 + n).
void emitPack(Emitter &e, Cache &c, KVComponent component, Value codes,
              Value t0, OpFoldResult n, ArrayRef<OpFoldResult> bh) {
  bool perToken = cast<ShapedType>(codes.getType()).getRank() == 4;
  OpBuilder &b = e.b;
  Emitter::Slice dst =
      e.slice(c.get(component),
              {b.getIndexAttr(0), b.getIndexAttr(0), t0, b.getIndexAttr(0)},
              {bh[0], bh[1], n, b.getIndexAttr(c.packed)});
  Value written = e.generic(
      {}, {dst.slice}, {e.identity(4)}, Emitter::iterators(4),
      [&](OpBuilder &b, Location loc, ValueRange) {
        Value bi = linalg::IndexOp::create(b, loc, 0);
        Value h = linalg::IndexOp::create(b, loc, 1);
        Value r = linalg::IndexOp::create(b, loc, 2);
        Value j = linalg::IndexOp::create(b, loc, 3);
        linalg::YieldOp::create(
            b, loc, packByte(b, loc, j, c.headDim, c.bits, [&](Value k) {
              return perToken ? load(b, loc, codes, {bi, h, r, k})
                              : load(b, loc, codes, {bi, h, k});
            }));
      })[0];
  c.set(component, e.commit(dst, written));
}

/// Copies token `i` of `src` [Bt, H, n, D] into slot `slot` of `component`
/// [Bt, H, *, D] (a sink or a residual buffer).
void emitCopyToken(Emitter &e, Cache &c, KVComponent component, Value src,
                   Value i, Value slot, ArrayRef<OpFoldResult> bh) {
  OpBuilder &b = e.b;
  Emitter::Slice dst =
      e.slice(c.get(component),
              {b.getIndexAttr(0), b.getIndexAttr(0), slot, b.getIndexAttr(0)},
              {bh[0], bh[1], b.getIndexAttr(1), b.getIndexAttr(c.headDim)});
  Type elt = elementType(dst.full);
  Value written = e.generic(
      {}, {dst.slice}, {e.identity(4)}, Emitter::iterators(4),
      [&](OpBuilder &b, Location loc, ValueRange) {
        Value bi = linalg::IndexOp::create(b, loc, 0);
        Value h = linalg::IndexOp::create(b, loc, 1);
        Value d = linalg::IndexOp::create(b, loc, 3);
        linalg::YieldOp::create(
            b, loc, fromF32(b, loc, loadF32(b, loc, src, {bi, h, i, d}), elt));
      })[0];
  c.set(component, e.commit(dst, written));
}

/// KVQuant: quantizes token `i` of keys/values into cache token `t`.
void emitKVQuantToken(Emitter &e, Cache &c, Value keys, Value values, Value i,
                      Value t, ArrayRef<OpFoldResult> bh) {
  OpBuilder &b = e.b;
  Type f32 = b.getF32Type(), i32 = b.getI32Type();
  OpFoldResult one = b.getIndexAttr(1);
  SmallVector<OpFoldResult> vecSizes = {bh[0], bh[1],
                                        b.getIndexAttr(c.headDim)};

  // Keys: nearest per-channel table entry and its error.
  Value keyCode = e.temp(i32, vecSizes);
  Value keyErr = e.temp(f32, vecSizes);
  SmallVector<Value> kq = e.generic(
      {}, {keyCode, keyErr}, {e.identity(3), e.identity(3)},
      Emitter::iterators(3), [&](OpBuilder &b, Location loc, ValueRange) {
        Value bi = linalg::IndexOp::create(b, loc, 0);
        Value h = linalg::IndexOp::create(b, loc, 1);
        Value d = linalg::IndexOp::create(b, loc, 2);
        Value x = loadF32(b, loc, keys, {bi, h, i, d});
        auto [code, err] = nearest(b, loc, x, c.levels, [&](int64_t k) {
          return loadF32(b, loc, c.keyLut, {h, d, cIndex(b, loc, k)});
        });
        linalg::YieldOp::create(b, loc, ValueRange{code, err});
      });
  keyCode = kq[0];
  keyErr = kq[1];
  if (c.outliers > 0) {
    Value rank = emitRanks(e, keyErr, bh, c.headDim);
    Value slots = emitSlots(e, rank, bh, c.outliers);
    emitOutlierWrite(e, c, /*key=*/true, slots, keys, i, t, bh);
  }
  emitPack(e, c, KVComponent::KeyCodes, keyCode, t, one, bh);

  // Values: outliers by magnitude, per-token scale from the others.
  Value magnitude = e.temp(f32, vecSizes);
  magnitude = e.generic({}, {magnitude}, {e.identity(3)}, Emitter::iterators(3),
                        [&](OpBuilder &b, Location loc, ValueRange) {
                          Value bi = linalg::IndexOp::create(b, loc, 0);
                          Value h = linalg::IndexOp::create(b, loc, 1);
                          Value d = linalg::IndexOp::create(b, loc, 2);
                          Value x = loadF32(b, loc, values, {bi, h, i, d});
                          linalg::YieldOp::create(
                              b, loc, Value(math::AbsFOp::create(b, loc, x)));
                        })[0];
  Value amax = e.temp(f32, {bh[0], bh[1]});
  amax = e.fill(amax, cF32(b, e.loc, 0.0f));
  if (c.outliers > 0) {
    Value rank = emitRanks(e, magnitude, bh, c.headDim);
    Value slots = emitSlots(e, rank, bh, c.outliers);
    emitOutlierWrite(e, c, /*key=*/false, slots, values, i, t, bh);
    amax = e.generic(
        {rank, magnitude}, {amax},
        {e.identity(3), e.identity(3), e.map(3, {0, 1})},
        Emitter::iterators(2, 1),
        [&](OpBuilder &b, Location loc, ValueRange args) {
          Value dense = cmpI(b, loc, arith::CmpIPredicate::uge, args[0],
                             cI32(b, loc, c.outliers));
          Value m = arith::MaximumFOp::create(b, loc, args[2], args[1]);
          linalg::YieldOp::create(b, loc, select(b, loc, dense, m, args[2]));
        })[0];
  } else {
    amax = e.generic({magnitude}, {amax}, {e.identity(3), e.map(3, {0, 1})},
                     Emitter::iterators(2, 1),
                     [&](OpBuilder &b, Location loc, ValueRange args) {
                       linalg::YieldOp::create(b, loc,
                                               Value(arith::MaximumFOp::create(
                                                   b, loc, args[1], args[0])));
                     })[0];
  }

  // scale = amax (the table is a codebook for v / scale in [-1, 1]),
  // stored rounded.
  Emitter::Slice scale =
      e.slice(c.get(KVComponent::ValueScale),
              {b.getIndexAttr(0), b.getIndexAttr(0), t}, {bh[0], bh[1], one});
  Type scaleType = elementType(scale.full);
  Value written = e.generic(
      {amax}, {scale.slice}, {e.map(3, {0, 1}), e.identity(3)},
      Emitter::iterators(3), [&](OpBuilder &b, Location loc, ValueRange args) {
        linalg::YieldOp::create(b, loc, fromF32(b, loc, args[0], scaleType));
      })[0];
  c.set(KVComponent::ValueScale, e.commit(scale, written));

  // Value codes against the stored scale.
  Value valueScale = c.get(KVComponent::ValueScale);
  Value valueCode = e.temp(i32, vecSizes);
  valueCode =
      e.generic({}, {valueCode}, {e.identity(3)}, Emitter::iterators(3),
                [&](OpBuilder &b, Location loc, ValueRange) {
                  Value bi = linalg::IndexOp::create(b, loc, 0);
                  Value h = linalg::IndexOp::create(b, loc, 1);
                  Value d = linalg::IndexOp::create(b, loc, 2);
                  Value x = loadF32(b, loc, values, {bi, h, i, d});
                  Value s = loadF32(b, loc, valueScale, {bi, h, t});
                  Value code =
                      nearest(b, loc, x, c.levels, [&](int64_t k) {
                        Value entry =
                            loadF32(b, loc, c.valueLut, {cIndex(b, loc, k)});
                        return Value(arith::MulFOp::create(b, loc, entry, s));
                      }).first;
                  linalg::YieldOp::create(b, loc, code);
                })[0];
  emitPack(e, c, KVComponent::ValueCodes, valueCode, t, one, bh);
}

/// KIVI: quantizes `n` stored vectors of `src` [Bt, H, *, D] in groups of
/// G, writing scale/zero into `scaleK`/`zeroK` and packed codes into
/// `codesK`.
///   keys (alongTokens): src tokens r in [0, R) -> cache tokens t0 + r;
///     groups of G tokens per channel, scale/zero at groups g0 + r / G.
///   values: the one src slot `srcSlot` -> cache token t0; groups of G
///     channels.
void emitKIVIQuantize(Emitter &e, Cache &c, bool keys, Value src, Value srcSlot,
                      Value t0, Value g0, ArrayRef<OpFoldResult> bh) {
  OpBuilder &b = e.b;
  Type f32 = b.getF32Type(), i32 = b.getI32Type();
  int64_t g = c.group;
  KVComponent scaleK = keys ? KVComponent::KeyScale : KVComponent::ValueScale;
  KVComponent zeroK = keys ? KVComponent::KeyZero : KVComponent::ValueZero;
  KVComponent codesK = keys ? KVComponent::KeyCodes : KVComponent::ValueCodes;
  float inf = std::numeric_limits<float>::infinity();

  // Groups: keys [Bt, H, R/G, D] (over G tokens), values [Bt, H, 1, D/G]
  // (over G channels). Reduction loop dims (b, h, x, y, j).
  SmallVector<OpFoldResult> groupSizes =
      keys ? SmallVector<OpFoldResult>{bh[0], bh[1],
                                       b.getIndexAttr(c.residual / g),
                                       b.getIndexAttr(c.headDim)}
           : SmallVector<OpFoldResult>{bh[0], bh[1], b.getIndexAttr(1),
                                       b.getIndexAttr(c.headDim / g)};
  Value mn = e.fill(e.temp(f32, groupSizes), cF32(b, e.loc, inf));
  Value mx = e.fill(e.temp(f32, groupSizes), cF32(b, e.loc, -inf));
  // The reduction over the G members of a group takes its extent from an
  // otherwise unused [G] operand.
  Value extent = e.temp(b.getI8Type(), {b.getIndexAttr(g)});
  SmallVector<Value> range = e.generic(
      {extent}, {mn, mx},
      {e.map(5, {4}), e.map(5, {0, 1, 2, 3}), e.map(5, {0, 1, 2, 3})},
      Emitter::iterators(4, 1),
      [&](OpBuilder &b, Location loc, ValueRange args) {
        Value bi = linalg::IndexOp::create(b, loc, 0);
        Value h = linalg::IndexOp::create(b, loc, 1);
        Value x2 = linalg::IndexOp::create(b, loc, 2);
        Value x3 = linalg::IndexOp::create(b, loc, 3);
        Value j = linalg::IndexOp::create(b, loc, 4);
        Value gj =
            addI(b, loc, mulI(b, loc, keys ? x2 : x3, cIndex(b, loc, g)), j);
        Value x = keys ? loadF32(b, loc, src, {bi, h, gj, x3})
                       : loadF32(b, loc, src, {bi, h, srcSlot, gj});
        linalg::YieldOp::create(
            b, loc,
            ValueRange{Value(arith::MinimumFOp::create(b, loc, args[1], x)),
                       Value(arith::MaximumFOp::create(b, loc, args[2], x))});
      });

  SmallVector<OpFoldResult> offsets =
      keys ? SmallVector<OpFoldResult>{b.getIndexAttr(0), b.getIndexAttr(0), g0,
                                       b.getIndexAttr(0)}
           : SmallVector<OpFoldResult>{b.getIndexAttr(0), b.getIndexAttr(0), t0,
                                       b.getIndexAttr(0)};
  Emitter::Slice scale = e.slice(c.get(scaleK), offsets, groupSizes);
  Emitter::Slice zero = e.slice(c.get(zeroK), offsets, groupSizes);
  Type scaleType = elementType(scale.full), zeroType = elementType(zero.full);
  SmallVector<Value> sz = e.generic(
      {range[0], range[1]}, {scale.slice, zero.slice},
      {e.identity(4), e.identity(4), e.identity(4), e.identity(4)},
      Emitter::iterators(4), [&](OpBuilder &b, Location loc, ValueRange args) {
        Value s = arith::DivFOp::create(
            b, loc, arith::SubFOp::create(b, loc, args[1], args[0]),
            cF32(b, loc, float(c.levels - 1)));
        linalg::YieldOp::create(b, loc,
                                ValueRange{fromF32(b, loc, s, scaleType),
                                           fromF32(b, loc, args[0], zeroType)});
      });
  c.set(scaleK, e.commit(scale, sz[0]));
  c.set(zeroK, e.commit(zero, sz[1]));

  // Codes against the stored scale and zero: [Bt, H, n, D].
  Value storedScale = c.get(scaleK), storedZero = c.get(zeroK);
  OpFoldResult n = keys ? b.getIndexAttr(c.residual) : b.getIndexAttr(1);
  Value codes = e.temp(i32, {bh[0], bh[1], n, b.getIndexAttr(c.headDim)});
  codes = e.generic({}, {codes}, {e.identity(4)}, Emitter::iterators(4),
                    [&](OpBuilder &b, Location loc, ValueRange) {
                      Value bi = linalg::IndexOp::create(b, loc, 0);
                      Value h = linalg::IndexOp::create(b, loc, 1);
                      Value r = linalg::IndexOp::create(b, loc, 2);
                      Value d = linalg::IndexOp::create(b, loc, 3);
                      Value cg = cIndex(b, loc, g);
                      Value x;
                      SmallVector<Value, 4> at;
                      if (keys) {
                        x = loadF32(b, loc, src, {bi, h, r, d});
                        at = {bi, h, addI(b, loc, g0, divI(b, loc, r, cg)), d};
                      } else {
                        x = loadF32(b, loc, src, {bi, h, srcSlot, d});
                        at = {bi, h, t0, divI(b, loc, d, cg)};
                      }
                      Value s = loadF32(b, loc, storedScale, at);
                      Value z = loadF32(b, loc, storedZero, at);
                      linalg::YieldOp::create(
                          b, loc, quantizeUniform(b, loc, x, s, z, c.levels));
                    })[0];
  emitPack(e, c, codesK, codes, t0, n, bh);
}

/// KIVI: appends token `i` of keys/values as cache token `t`.
void emitKIVIToken(Emitter &e, Cache &c, Value keys, Value values, Value i,
                   Value t, ArrayRef<OpFoldResult> bh) {
  OpBuilder &b = e.b;
  Location loc = e.loc;
  Value s = e.idx(c.sink), r = e.idx(c.residual);
  Value past = subI(b, loc, t, s);
  Value slot = remI(b, loc, past, r);
  // The value of token t - R leaves the window: quantize it first.
  Value evict = cmpI(b, loc, arith::CmpIPredicate::sge, past, r);
  e.ifThen(evict, c, [&](Cache &c) {
    emitKIVIQuantize(e, c, /*keys=*/false, c.get(KVComponent::ValueResidual),
                     slot, subI(b, loc, t, r), Value(), bh);
  });
  emitCopyToken(e, c, KVComponent::ValueResidual, values, i, slot, bh);
  emitCopyToken(e, c, KVComponent::KeyResidual, keys, i, slot, bh);
  // A complete block of R keys is quantized per channel in groups of G.
  Value full =
      cmpI(b, loc, arith::CmpIPredicate::eq, slot, e.idx(c.residual - 1));
  e.ifThen(full, c, [&](Cache &c) {
    Value start = subI(b, loc, addI(b, loc, t, e.idx(1)), r);
    Value g0 = divI(b, loc, subI(b, loc, start, s), e.idx(c.group));
    emitKIVIQuantize(e, c, /*keys=*/true, c.get(KVComponent::KeyResidual),
                     Value(), start, g0, bh);
  });
}

struct DecomposeKVAppend : OpRewritePattern<KVAppendOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(KVAppendOp op,
                                PatternRewriter &rewriter) const override {
    Value keys = op.getKeys(), values = op.getValues();
    int64_t headDim = cast<ShapedType>(keys.getType()).getDimSize(3);
    Cache cache(op.getFormat(), op.getCache(), op.getTables(), headDim);
    Emitter e(rewriter, op.getLoc(), isTensor(op.getCache()[0]));
    Value keyCodes = cache.get(KVComponent::KeyCodes);
    SmallVector<OpFoldResult> bh = {e.dim(keyCodes, 0), e.dim(keyCodes, 1)};
    Value slots = e.dimValue(keyCodes, 2);
    Value n = e.dimValue(keys, 2);
    Value position = op.getPosition();
    e.forEach(n, cache, [&](Value i, Cache &c) {
      OpBuilder &b = e.b;
      Location loc = e.loc;
      Value t = addI(b, loc, position, i);
      Value inRange = cmpI(b, loc, arith::CmpIPredicate::ult, t, slots);
      e.ifThen(inRange, c, [&](Cache &c) {
        auto quantize = [&](Cache &c) {
          if (c.kivi())
            emitKIVIToken(e, c, keys, values, i, t, bh);
          else
            emitKVQuantToken(e, c, keys, values, i, t, bh);
        };
        if (c.sink == 0) {
          quantize(c);
          return;
        }
        Value isSink =
            cmpI(b, loc, arith::CmpIPredicate::ult, t, e.idx(c.sink));
        e.ifThenElse(
            isSink, c,
            [&](Cache &c) {
              emitCopyToken(e, c, KVComponent::KeySink, keys, i, t, bh);
              emitCopyToken(e, c, KVComponent::ValueSink, values, i, t, bh);
            },
            quantize);
      });
    });
    if (e.tensorForm)
      rewriter.replaceOp(op, cache.values);
    else
      rewriter.eraseOp(op);
    return success();
  }
};

//===----------------------------------------------------------------------===//
// kv_dequantize
//===----------------------------------------------------------------------===//

struct DecomposeKVDequantize : OpRewritePattern<KVDequantizeOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(KVDequantizeOp op,
                                PatternRewriter &rewriter) const override {
    Value keyInit = op.getKeyInit(), valueInit = op.getValueInit();
    int64_t headDim = cast<ShapedType>(keyInit.getType()).getDimSize(3);
    Cache c(op.getFormat(), op.getCache(), op.getTables(), headDim);
    Emitter e(rewriter, op.getLoc(), isTensor(keyInit));
    Boundaries bounds = computeBoundaries(e, c, op.getLen());
    Value start = op.getStart();
    Type keyType = elementType(keyInit), valueType = elementType(valueInit);
    SmallVector<Value> results = e.generic(
        {}, {keyInit, valueInit}, {e.identity(4), e.identity(4)},
        Emitter::iterators(4), [&](OpBuilder &b, Location loc, ValueRange) {
          Value bi = linalg::IndexOp::create(b, loc, 0);
          Value h = linalg::IndexOp::create(b, loc, 1);
          Value t = addI(b, loc, start, linalg::IndexOp::create(b, loc, 2));
          Value d = linalg::IndexOp::create(b, loc, 3);
          Value inRange =
              cmpI(b, loc, arith::CmpIPredicate::ult, t, bounds.avail);
          auto read = [&](bool key) {
            return ifScalar(
                b, loc, inRange,
                [&](OpBuilder &b, Location loc) {
                  return readElement(b, loc, c, bounds, key, bi, h, t, d);
                },
                [&](OpBuilder &b, Location loc) { return cF32(b, loc, 0.0f); });
          };
          linalg::YieldOp::create(
              b, loc,
              ValueRange{fromF32(b, loc, read(true), keyType),
                         fromF32(b, loc, read(false), valueType)});
        });
    if (e.tensorForm)
      rewriter.replaceOp(op, results);
    else
      rewriter.eraseOp(op);
    return success();
  }
};

//===----------------------------------------------------------------------===//
// kv_attention
//===----------------------------------------------------------------------===//

/// The rotation partner of channel `d`, whether `d` is the first of its
/// pair, and its pair index.
struct RopePair {
  Value partner, first, pair;
};

RopePair ropePair(OpBuilder &b, Location loc, RopeStyle style, Value d,
                  int64_t headDim) {
  if (style == RopeStyle::Half) {
    Value half = cIndex(b, loc, headDim / 2);
    Value first = cmpI(b, loc, arith::CmpIPredicate::ult, d, half);
    Value partner =
        select(b, loc, first, addI(b, loc, d, half), subI(b, loc, d, half));
    return {partner, first, remI(b, loc, d, half)};
  }
  Value two = cIndex(b, loc, 2);
  Value first = cmpI(b, loc, arith::CmpIPredicate::eq, remI(b, loc, d, two),
                     cIndex(b, loc, 0));
  Value partner = select(b, loc, first, addI(b, loc, d, cIndex(b, loc, 1)),
                         subI(b, loc, d, cIndex(b, loc, 1)));
  return {partner, first, divI(b, loc, d, two)};
}

/// x rotated at `position`: x cos - xp sin (first of the pair) or
/// x cos + xp sin, with angle position * (1 / theta^(2i / D)) in f32.
Value rotate(OpBuilder &b, Location loc, const RopePair &p, Value x, Value xp,
             Value position, float theta, int64_t headDim) {
  Type f32 = b.getF32Type();
  Value i = arith::UIToFPOp::create(
      b, loc, f32,
      arith::IndexCastUIOp::create(b, loc, b.getI64Type(),
                                   mulI(b, loc, p.pair, cIndex(b, loc, 2))));
  Value exponent =
      arith::DivFOp::create(b, loc, i, cF32(b, loc, float(headDim)));
  Value inv = arith::DivFOp::create(
      b, loc, cF32(b, loc, 1.0f),
      math::PowFOp::create(b, loc, cF32(b, loc, theta), exponent));
  Value pos = arith::UIToFPOp::create(
      b, loc, f32,
      arith::IndexCastUIOp::create(b, loc, b.getI64Type(), position));
  Value angle = arith::MulFOp::create(b, loc, pos, inv);
  Value cos = math::CosOp::create(b, loc, angle);
  Value sin = math::SinOp::create(b, loc, angle);
  Value a = arith::MulFOp::create(b, loc, x, cos);
  Value s = arith::MulFOp::create(b, loc, xp, sin);
  return select(b, loc, p.first, arith::SubFOp::create(b, loc, a, s),
                arith::AddFOp::create(b, loc, a, s));
}

struct DecomposeKVAttention : OpRewritePattern<KVAttentionOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(KVAttentionOp op,
                                PatternRewriter &rewriter) const override {
    Value query = op.getQuery(), init = op.getInit();
    int64_t headDim = cast<ShapedType>(query.getType()).getDimSize(2);
    Cache c(op.getFormat(), op.getCache(), op.getTables(), headDim);
    Emitter e(rewriter, op.getLoc(), isTensor(init));
    OpBuilder &b = e.b;
    Location loc = e.loc;
    Type f32 = b.getF32Type();
    RopeStyle style = op.getRope();
    float theta = op.getRopeTheta().convertToFloat();
    float scale = op.getScale() ? op.getScale()->convertToFloat()
                                : 1.0f / std::sqrt(float(headDim));
    Value position = op.getPosition();
    size_t mark = e.mark();

    Boundaries bounds = computeBoundaries(e, c, op.getLen());
    Value keyCodes = c.get(KVComponent::KeyCodes);
    OpFoldResult bt = e.dim(query, 0), hq = e.dim(query, 1);
    OpFoldResult n = bounds.avail, dim = b.getIndexAttr(headDim);
    Value grp = divI(b, loc, e.dimValue(query, 1), e.dimValue(keyCodes, 1));

    // q' = rope(q, position).
    Value qrot = e.temp(f32, {bt, hq, dim});
    qrot = e.generic({}, {qrot}, {e.identity(3)}, Emitter::iterators(3),
                     [&](OpBuilder &b, Location loc, ValueRange) {
                       Value bi = linalg::IndexOp::create(b, loc, 0);
                       Value h = linalg::IndexOp::create(b, loc, 1);
                       Value d = linalg::IndexOp::create(b, loc, 2);
                       Value x = loadF32(b, loc, query, {bi, h, d});
                       if (style != RopeStyle::None) {
                         RopePair p = ropePair(b, loc, style, d, headDim);
                         Value xp = loadF32(b, loc, query, {bi, h, p.partner});
                         x = rotate(b, loc, p, x, xp, position, theta, headDim);
                       }
                       linalg::YieldOp::create(b, loc, x);
                     })[0];

    // scores[b, hq, t] = scale * dot(q', rope(K[b, hq / grp, t], t)).
    Value scores = e.fill(e.temp(f32, {bt, hq, n}), cF32(b, loc, 0.0f));
    scores = e.generic(
        {qrot}, {scores}, {e.map(4, {0, 1, 3}), e.map(4, {0, 1, 2})},
        Emitter::iterators(3, 1),
        [&](OpBuilder &b, Location loc, ValueRange args) {
          Value bi = linalg::IndexOp::create(b, loc, 0);
          Value h = divI(b, loc, linalg::IndexOp::create(b, loc, 1), grp);
          Value t = linalg::IndexOp::create(b, loc, 2);
          Value d = linalg::IndexOp::create(b, loc, 3);
          Value k = readElement(b, loc, c, bounds, /*key=*/true, bi, h, t, d);
          if (style != RopeStyle::None) {
            RopePair p = ropePair(b, loc, style, d, headDim);
            Value kp = readElement(b, loc, c, bounds, /*key=*/true, bi, h, t,
                                   p.partner);
            k = rotate(b, loc, p, k, kp, t, theta, headDim);
          }
          Value prod = arith::MulFOp::create(b, loc, args[0], k);
          linalg::YieldOp::create(
              b, loc, Value(arith::AddFOp::create(b, loc, args[1], prod)));
        })[0];
    scores = e.generic({}, {scores}, {e.identity(3)}, Emitter::iterators(3),
                       [&](OpBuilder &b, Location loc, ValueRange args) {
                         linalg::YieldOp::create(
                             b, loc,
                             Value(arith::MulFOp::create(b, loc, args[0],
                                                         cF32(b, loc, scale))));
                       })[0];

    // m = max_t s; p = exp(s - m); l = sum_t p.
    float inf = std::numeric_limits<float>::infinity();
    Value mx = e.fill(e.temp(f32, {bt, hq}), cF32(b, loc, -inf));
    mx = e.generic({scores}, {mx}, {e.identity(3), e.map(3, {0, 1})},
                   Emitter::iterators(2, 1),
                   [&](OpBuilder &b, Location loc, ValueRange args) {
                     linalg::YieldOp::create(b, loc,
                                             Value(arith::MaximumFOp::create(
                                                 b, loc, args[1], args[0])));
                   })[0];
    Value probs = e.temp(f32, {bt, hq, n});
    probs = e.generic(
        {scores, mx}, {probs}, {e.identity(3), e.map(3, {0, 1}), e.identity(3)},
        Emitter::iterators(3),
        [&](OpBuilder &b, Location loc, ValueRange args) {
          Value z = arith::SubFOp::create(b, loc, args[0], args[1]);
          linalg::YieldOp::create(b, loc,
                                  Value(math::ExpOp::create(b, loc, z)));
        })[0];
    Value sum = e.fill(e.temp(f32, {bt, hq}), cF32(b, loc, 0.0f));
    sum = e.generic(
        {probs}, {sum}, {e.identity(3), e.map(3, {0, 1})},
        Emitter::iterators(2, 1),
        [&](OpBuilder &b, Location loc, ValueRange args) {
          linalg::YieldOp::create(
              b, loc, Value(arith::AddFOp::create(b, loc, args[1], args[0])));
        })[0];

    // acc[b, hq, d] = sum_t p[t] * V[b, hq / grp, t, d]; o = acc / l.
    Value acc = e.fill(e.temp(f32, {bt, hq, dim}), cF32(b, loc, 0.0f));
    acc = e.generic(
        {probs}, {acc}, {e.map(4, {0, 1, 3}), e.map(4, {0, 1, 2})},
        Emitter::iterators(3, 1),
        [&](OpBuilder &b, Location loc, ValueRange args) {
          Value bi = linalg::IndexOp::create(b, loc, 0);
          Value h = divI(b, loc, linalg::IndexOp::create(b, loc, 1), grp);
          Value d = linalg::IndexOp::create(b, loc, 2);
          Value t = linalg::IndexOp::create(b, loc, 3);
          Value v = readElement(b, loc, c, bounds, /*key=*/false, bi, h, t, d);
          Value prod = arith::MulFOp::create(b, loc, args[0], v);
          linalg::YieldOp::create(
              b, loc, Value(arith::AddFOp::create(b, loc, args[1], prod)));
        })[0];
    Type outType = elementType(init);
    Value result = e.generic(
        {acc, sum}, {init}, {e.identity(3), e.map(3, {0, 1}), e.identity(3)},
        Emitter::iterators(3),
        [&](OpBuilder &b, Location loc, ValueRange args) {
          Value positive = arith::CmpFOp::create(
              b, loc, arith::CmpFPredicate::OGT, args[1], cF32(b, loc, 0.0f));
          Value o = arith::DivFOp::create(b, loc, args[0], args[1]);
          o = select(b, loc, positive, o, cF32(b, loc, 0.0f));
          linalg::YieldOp::create(b, loc, fromF32(b, loc, o, outType));
        })[0];
    e.freeTemps(mark);
    if (e.tensorForm)
      rewriter.replaceOp(op, result);
    else
      rewriter.eraseOp(op);
    return success();
  }
};

} // namespace

void mlir::squant::populateSQuantDecomposeKVCachePatterns(
    RewritePatternSet &patterns) {
  patterns.add<DecomposeKVAppend, DecomposeKVAttention, DecomposeKVDequantize>(
      patterns.getContext());
}
