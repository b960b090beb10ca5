//===- LlamaBuilder.cpp - LLaMA decoder graph as MLIR ---------------------===//
//
// Activations are f32 [T, H] with a dynamic token count T (prefill and
// decode share the code). Dense weights are consumed by linalg.generic
// matmuls that widen to f32; quantized weights by squant ops:
//   SqueezeLLM  squant.unpack squeezellm + squant.lut_matmul (+ CSR outliers
//               built with sparse_tensor.assemble)
//   ggml Q4_x   squant.build_lut affine (scale, zero per 32-group) +
//   / Q8_0      squant.unpack row_major + squant.lut_matmul
// so that the fast CPU and GPU lowerings of those ops apply unchanged.
//
//===----------------------------------------------------------------------===//

#include "squant/Import/LlamaBuilder.h"
#include "squant/Dialect/SQuant/IR/SQuantOps.h"
#include "squant/Import/KVCacheGraph.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Bufferization/IR/Bufferization.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/SparseTensor/IR/SparseTensor.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/IR/Verifier.h"
#include "llvm/ADT/StringMap.h"
#include "llvm/Support/FormatVariadic.h"

#include <map>

#include <cmath>

using namespace mlir;
using namespace mlir::squant;
using namespace mlir::squant::import;
using runtime::DType;

namespace {

constexpr int64_t kDyn = ShapedType::kDynamic;

Type elementType(MLIRContext *ctx, DType d) {
  Builder b(ctx);
  switch (d) {
  case DType::F32: return b.getF32Type();
  case DType::F16: return b.getF16Type();
  case DType::BF16: return b.getBF16Type();
  case DType::I32: return b.getI32Type();
  case DType::I64: return b.getI64Type();
  default: return Type();
  }
}

SmallVector<utils::IteratorType> iters(StringRef spec) {
  SmallVector<utils::IteratorType> out;
  for (char c : spec)
    out.push_back(c == 'p' ? utils::IteratorType::parallel
                           : utils::IteratorType::reduction);
  return out;
}

/// Emits IR for one function body; `T` is the dynamic token count.
class Emitter {
public:
  Emitter(OpBuilder &b, Location loc, const LlamaConfig &c)
      : b(b), loc(loc), c(c), ctx(b.getContext()), f32(b.getF32Type()) {}

  OpBuilder &b;
  Location loc;
  const LlamaConfig &c;
  MLIRContext *ctx;
  Type f32;
  Value T; // index

  Value idx(int64_t v) { return arith::ConstantIndexOp::create(b, loc, v); }
  Value fconst(OpBuilder &bb, double v) {
    return arith::ConstantOp::create(bb, loc, f32,
                                     bb.getF32FloatAttr(float(v)));
  }

  static Value toF32(OpBuilder &bb, Location l, Value v) {
    Type t = v.getType();
    if (t.isF32())
      return v;
    if (isa<FloatType>(t))
      return arith::ExtFOp::create(bb, l, bb.getF32Type(), v);
    return arith::SIToFPOp::create(bb, l, bb.getF32Type(), v);
  }

  /// tensor.empty with dynamic sizes for kDyn dims (taken from `dyn`).
  Value empty(ArrayRef<int64_t> shape, Type elt, ValueRange dyn = {}) {
    return tensor::EmptyOp::create(b, loc, shape, elt, dyn);
  }
  Value filled(ArrayRef<int64_t> shape, double v, ValueRange dyn = {}) {
    Value e = empty(shape, f32, dyn);
    return linalg::FillOp::create(b, loc, ValueRange{fconst(b, v)},
                                  ValueRange{e})
        .getResult(0);
  }

  /// linalg.generic with maps written as lists of dim positions.
  Value generic(ValueRange ins, Value out, unsigned numDims,
                ArrayRef<SmallVector<unsigned>> maps, StringRef iterSpec,
                function_ref<void(OpBuilder &, Location, ValueRange)> body) {
    SmallVector<AffineMap> affineMaps;
    for (const SmallVector<unsigned> &m : maps) {
      SmallVector<AffineExpr> exprs;
      for (unsigned d : m)
        exprs.push_back(getAffineDimExpr(d, ctx));
      affineMaps.push_back(AffineMap::get(numDims, 0, exprs, ctx));
    }
    return linalg::GenericOp::create(b, loc, TypeRange{out.getType()}, ins,
                                     ValueRange{out}, affineMaps,
                                     iters(iterSpec), body)
        .getResult(0);
  }

  //===--------------------------------------------------------------------===//
  // Building blocks
  //===--------------------------------------------------------------------===//

  /// y = x * rsqrt(mean(x^2) + eps) * w, x [T, H] f32, w [H].
  Value rmsNorm(Value x, Value w) {
    int64_t h = c.hiddenSize;
    Value ss = filled({kDyn}, 0.0, {T});
    ss = generic({x}, ss, 2, {{0, 1}, {0}}, "pr",
                 [&](OpBuilder &bb, Location l, ValueRange a) {
                   Value sq = arith::MulFOp::create(bb, l, a[0], a[0]);
                   linalg::YieldOp::create(
                       bb, l, Value(arith::AddFOp::create(bb, l, a[1], sq)));
                 });
    Value out = empty({kDyn, h}, f32, {T});
    double invH = 1.0 / double(h), eps = c.rmsNormEps;
    return generic({x, ss, w}, out, 2, {{0, 1}, {0}, {1}, {0, 1}}, "pp",
                   [&](OpBuilder &bb, Location l, ValueRange a) {
                     Value mean = arith::MulFOp::create(bb, l, a[1],
                                                        fconst(bb, invH));
                     Value v = arith::AddFOp::create(bb, l, mean,
                                                     fconst(bb, eps));
                     Value r = math::RsqrtOp::create(bb, l, v);
                     Value y = arith::MulFOp::create(bb, l, a[0], r);
                     y = arith::MulFOp::create(bb, l, y, toF32(bb, l, a[2]));
                     linalg::YieldOp::create(bb, l, y);
                   });
  }

  /// Elementwise binary op on [T, n] f32.
  Value elementwise(Value a, Value bv, int64_t n,
                    function_ref<Value(OpBuilder &, Location, Value, Value)> f) {
    Value out = empty({kDyn, n}, f32, {T});
    return generic({a, bv}, out, 2, {{0, 1}, {0, 1}, {0, 1}}, "pp",
                   [&](OpBuilder &bb, Location l, ValueRange v) {
                     linalg::YieldOp::create(bb, l, f(bb, l, v[0], v[1]));
                   });
  }
  Value add(Value a, Value bv, int64_t n) {
    return elementwise(a, bv, n, [](OpBuilder &bb, Location l, Value x,
                                    Value y) -> Value {
      return arith::AddFOp::create(bb, l, x, y);
    });
  }

  /// y [T, N] f32 = x [T, K] f32 * W^T for a weight of any format.
  Value linear(Value x, const WeightSpec &w, ValueRange args) {
    int64_t n = w.rows, k = w.cols;
    Value init = empty({kDyn, n}, f32, {T});
    switch (w.format) {
    case WeightFormat::Dense: {
      Value acc = filled({kDyn, n}, 0.0, {T});
      return generic({x, args[0]}, acc, 3, {{0, 2}, {1, 2}, {0, 1}}, "ppr",
                     [&](OpBuilder &bb, Location l, ValueRange a) {
                       Value p = arith::MulFOp::create(bb, l, a[0],
                                                       toF32(bb, l, a[1]));
                       linalg::YieldOp::create(
                           bb, l, Value(arith::AddFOp::create(bb, l, a[2], p)));
                     });
    }
    case WeightFormat::SqueezeLLM: {
      Type codeType = b.getIntegerType(w.bits);
      Value codesInit = empty({n, k}, codeType);
      Value codes =
          UnpackOp::create(b, loc, TypeRange{codesInit.getType()},
                           PackLayout::SqueezeLLM, args[0], codesInit)->getResult(0);
      Value outliers;
      if (w.outliers) {
        auto enc = sparse_tensor::SparseTensorEncodingAttr::get(
            ctx,
            {sparse_tensor::LevelFormat::Dense,
             sparse_tensor::LevelFormat::Compressed},
            AffineMap::getMultiDimIdentityMap(2, ctx), AffineMap(),
            /*posWidth=*/32, /*crdWidth=*/32);
        auto csrType = RankedTensorType::get(
            {n, k}, elementType(ctx, w.outlierDType), enc);
        outliers = sparse_tensor::AssembleOp::create(
            b, loc, csrType, ValueRange{args[2], args[3]}, args[4]);
      }
      return LutMatmulOp::create(b, loc, TypeRange{init.getType()}, x, codes,
                                 args[1], outliers, init)->getResult(0);
    }
    case WeightFormat::GGML: {
      if (w.hoistedTables) {
        Value codesInit = empty({n, k}, b.getIntegerType(w.bits));
        Value codes = UnpackOp::create(b, loc, TypeRange{codesInit.getType()},
                                       PackLayout::RowMajor, args[0],
                                       codesInit)
                          ->getResult(0);
        return LutMatmulOp::create(b, loc, TypeRange{init.getType()}, x,
                                   codes, args[1], Value(), init)
            ->getResult(0);
      }
      auto [codes, lut] = ggmlCodesAndTables(w, args, n);
      return LutMatmulOp::create(b, loc, TypeRange{init.getType()}, x, codes,
                                 lut, Value(), init)->getResult(0);
    }
    }
    return Value();
  }

  /// Codes [rows, K] iB and per-group tables [rows, K/32, 2^B] of ggml block
  /// parameters (codes words, scale and, for Q4_1, zero) of `rows` rows
  /// (a dynamic row count when rows == kDyn, with `dynRows`).
  std::pair<Value, Value> ggmlCodesAndTables(const WeightSpec &w,
                                             ValueRange args, int64_t rows,
                                             ValueRange dynRows = {}) {
    int64_t k = w.cols, groups = k / 32, entries = int64_t(1) << w.bits;
    Value zero;
    if (args.size() > 2) {
      zero = args[2];
    } else {
      // Q4_0: w = d * (q - 8); Q8_0: codes are q + 128.
      double z = w.bits == 8 ? 128.0 : 8.0;
      zero = filled({rows, groups}, z, dynRows);
    }
    Value lutInit = empty({rows, groups, entries}, f32, dynRows);
    Value lut = BuildLutOp::create(b, loc, TypeRange{lutInit.getType()},
                                   TableFormat::Affine, args[1], zero, lutInit)->getResult(0);
    Value codesInit = empty({rows, k}, b.getIntegerType(w.bits), dynRows);
    Value codes = UnpackOp::create(b, loc, TypeRange{codesInit.getType()},
                                   PackLayout::RowMajor, args[0], codesInit)->getResult(0);
    return {codes, lut};
  }

  /// Gathers rows tokens[t] of a [V, W] tensor into [T, W] (element type
  /// kept).
  Value gatherRows(Value tokens, Value table) {
    auto tt = cast<RankedTensorType>(table.getType());
    int64_t width = tt.getDimSize(1);
    Value out = empty({kDyn, width}, tt.getElementType(), {T});
    return generic({tokens}, out, 2, {{0}, {0, 1}}, "pp",
                   [&](OpBuilder &bb, Location l, ValueRange a) {
                     Value row = arith::IndexCastOp::create(
                         bb, l, bb.getIndexType(), a[0]);
                     Value col = linalg::IndexOp::create(bb, l, 1);
                     linalg::YieldOp::create(
                         bb, l,
                         Value(tensor::ExtractOp::create(bb, l, table,
                                                         ValueRange{row, col})));
                   });
  }

  /// x [T, H] f32 = embedding rows of `tokens`.
  Value embed(Value tokens, const WeightSpec &w, ValueRange args) {
    int64_t h = w.cols;
    if (w.format == WeightFormat::Dense) {
      Value rows = gatherRows(tokens, args[0]);
      Value out = empty({kDyn, h}, f32, {T});
      return generic({rows}, out, 2, {{0, 1}, {0, 1}}, "pp",
                     [&](OpBuilder &bb, Location l, ValueRange a) {
                       linalg::YieldOp::create(bb, l, toF32(bb, l, a[0]));
                     });
    }
    // ggml: gather the token rows of every parameter, then dequantize only
    // those rows (squant.build_lut + squant.unpack + squant.lut_dequant).
    SmallVector<Value> gathered;
    for (Value a : args)
      gathered.push_back(gatherRows(tokens, a));
    auto [codes, lut] = ggmlCodesAndTables(w, gathered, kDyn, {T});
    Value init = empty({kDyn, h}, f32, {T});
    return LutDequantOp::create(b, loc, TypeRange{init.getType()}, codes, lut,
                                init)->getResult(0);
  }

  /// Applies rotary embeddings to x [T, heads, D] at positions pos + t.
  Value rope(Value x, int64_t heads, Value pos) {
    int64_t d = c.headDim, half = d / 2;
    // inv_freq[i] = theta^(-2i/D), computed as Hugging Face does in f32.
    SmallVector<float> invFreq;
    for (int64_t i = 0; i < half; ++i)
      invFreq.push_back(
          float(1.0 / std::pow(c.ropeTheta, double(2 * i) / double(d))));
    auto freqType = RankedTensorType::get({half}, f32);
    Value freqs = arith::ConstantOp::create(
        b, loc, DenseElementsAttr::get(freqType, ArrayRef<float>(invFreq)));
    bool interleaved = c.ropeStyle == import::RopeStyle::Interleaved;
    Value out = empty({kDyn, heads, d}, f32, {T});
    return generic(
        {x}, out, 3, {{0, 1, 2}, {0, 1, 2}}, "ppp",
        [&](OpBuilder &bb, Location l, ValueRange a) {
          Value t = linalg::IndexOp::create(bb, l, 0);
          Value hh = linalg::IndexOp::create(bb, l, 1);
          Value dd = linalg::IndexOp::create(bb, l, 2);
          auto ic = [&](int64_t v) -> Value {
            return arith::ConstantIndexOp::create(bb, l, v);
          };
          Value i, partner, first;
          if (interleaved) {
            i = arith::DivUIOp::create(bb, l, dd, ic(2));
            Value odd = arith::RemUIOp::create(bb, l, dd, ic(2));
            first = arith::CmpIOp::create(bb, l, arith::CmpIPredicate::eq, odd,
                                          ic(0));
            Value up = arith::AddIOp::create(bb, l, dd, ic(1));
            Value down = arith::SubIOp::create(bb, l, dd, ic(1));
            partner = arith::SelectOp::create(bb, l, first, up, down);
          } else {
            first = arith::CmpIOp::create(bb, l, arith::CmpIPredicate::ult, dd,
                                          ic(half));
            Value up = arith::AddIOp::create(bb, l, dd, ic(half));
            Value down = arith::SubIOp::create(bb, l, dd, ic(half));
            partner = arith::SelectOp::create(bb, l, first, up, down);
            i = arith::SelectOp::create(bb, l, first, dd, down);
          }
          Value xp = tensor::ExtractOp::create(bb, l, x,
                                               ValueRange{t, hh, partner});
          Value f = tensor::ExtractOp::create(bb, l, freqs, ValueRange{i});
          Value p = arith::AddIOp::create(bb, l, pos, t);
          Value pi = arith::IndexCastOp::create(bb, l, bb.getI64Type(), p);
          Value pf = arith::SIToFPOp::create(bb, l, bb.getF32Type(), pi);
          Value ang = arith::MulFOp::create(bb, l, pf, f);
          Value cs = math::CosOp::create(bb, l, ang);
          Value sn = math::SinOp::create(bb, l, ang);
          Value xc = arith::MulFOp::create(bb, l, a[0], cs);
          Value xs = arith::MulFOp::create(bb, l, xp, sn);
          Value minus = arith::SubFOp::create(bb, l, xc, xs);
          Value plus = arith::AddFOp::create(bb, l, xc, xs);
          linalg::YieldOp::create(
              bb, l, Value(arith::SelectOp::create(bb, l, first, minus, plus)));
        });
  }

  /// Writes new [T, Hkv, D] f32 rows into the cache memref at `pos`, and
  /// returns the cache rows [0, pos + T) as a tensor (cache element type).
  Value appendToCache(Value cache, Value rows, Value pos, Value len) {
    auto memType = cast<MemRefType>(cache.getType());
    Type cacheElt = memType.getElementType();
    int64_t hkv = c.numKVHeads, d = c.headDim;
    auto tensorType = RankedTensorType::get(memType.getShape(), cacheElt);
    Value whole = bufferization::ToTensorOp::create(
        b, loc, tensorType, cache, /*restrict=*/true, /*writable=*/true);
    Value converted = rows;
    if (cacheElt != f32) {
      Value out = empty({kDyn, hkv, d}, cacheElt, {T});
      converted = generic({rows}, out, 3, {{0, 1, 2}, {0, 1, 2}}, "ppp",
                          [&](OpBuilder &bb, Location l, ValueRange a) {
                            linalg::YieldOp::create(
                                bb, l,
                                Value(arith::TruncFOp::create(bb, l, cacheElt,
                                                              a[0])));
                          });
    }
    SmallVector<OpFoldResult> offsets = {pos, b.getIndexAttr(0),
                                         b.getIndexAttr(0)};
    SmallVector<OpFoldResult> sizes = {T, b.getIndexAttr(hkv),
                                       b.getIndexAttr(d)};
    SmallVector<OpFoldResult> strides(3, b.getIndexAttr(1));
    Value updated = tensor::InsertSliceOp::create(b, loc, converted, whole,
                                                  offsets, sizes, strides);
    bufferization::MaterializeInDestinationOp::create(
        b, loc, TypeRange{}, updated, cache, /*restrict=*/true,
        /*writable=*/true);
    SmallVector<OpFoldResult> readOffsets(3, b.getIndexAttr(0));
    SmallVector<OpFoldResult> readSizes = {len, b.getIndexAttr(hkv),
                                           b.getIndexAttr(d)};
    auto sliceType = RankedTensorType::get({kDyn, hkv, d}, cacheElt);
    return tensor::ExtractSliceOp::create(b, loc, sliceType, updated,
                                          readOffsets, readSizes, strides);
  }

  /// Causal GQA attention of q [T, Hq, D] over cached K/V [L, Hkv, D]
  /// (queries at positions pos + t see keys 0 .. pos + t). Returns [T, Hq*D].
  Value attention(Value q, Value keys, Value values, Value pos, Value len) {
    int64_t hq = c.numHeads, hkv = c.numKVHeads, g = hq / hkv, d = c.headDim;
    // q [T, Hkv, g, D]: query head h uses KV head h / g.
    auto q4Type = RankedTensorType::get({kDyn, hkv, g, d}, f32);
    Value q4 = tensor::ExpandShapeOp::create(
        b, loc, q4Type, q, SmallVector<ReassociationIndices>{{0}, {1, 2}, {3}},
        SmallVector<OpFoldResult>{T, b.getIndexAttr(hkv), b.getIndexAttr(g),
                                  b.getIndexAttr(d)});
    double scale = 1.0 / std::sqrt(double(d));
    // scores [Hkv, g, T, L] over dims (a, b, t, j, e).
    Value scores = filled({hkv, g, kDyn, kDyn}, 0.0, {T, len});
    scores = generic({q4, keys}, scores, 5,
                     {{2, 0, 1, 4}, {3, 0, 4}, {0, 1, 2, 3}}, "ppppr",
                     [&](OpBuilder &bb, Location l, ValueRange a) {
                       Value p = arith::MulFOp::create(bb, l, a[0],
                                                       toF32(bb, l, a[1]));
                       linalg::YieldOp::create(
                           bb, l, Value(arith::AddFOp::create(bb, l, a[2], p)));
                     });
    // Scale and mask: key j is visible to query t iff j <= pos + t.
    Value masked = empty({hkv, g, kDyn, kDyn}, f32, {T, len});
    masked = generic({scores}, masked, 4, {{0, 1, 2, 3}, {0, 1, 2, 3}}, "pppp",
                     [&](OpBuilder &bb, Location l, ValueRange a) {
                       Value t = linalg::IndexOp::create(bb, l, 2);
                       Value j = linalg::IndexOp::create(bb, l, 3);
                       Value last = arith::AddIOp::create(bb, l, pos, t);
                       Value ok = arith::CmpIOp::create(
                           bb, l, arith::CmpIPredicate::ule, j, last);
                       Value s = arith::MulFOp::create(bb, l, a[0],
                                                       fconst(bb, scale));
                       Value ninf = fconst(bb, -INFINITY);
                       linalg::YieldOp::create(
                           bb, l,
                           Value(arith::SelectOp::create(bb, l, ok, s, ninf)));
                     });
    // Softmax over j.
    Value mx = filled({hkv, g, kDyn}, -INFINITY, {T});
    mx = generic({masked}, mx, 4, {{0, 1, 2, 3}, {0, 1, 2}}, "pppr",
                 [&](OpBuilder &bb, Location l, ValueRange a) {
                   linalg::YieldOp::create(
                       bb, l,
                       Value(arith::MaximumFOp::create(bb, l, a[0], a[1])));
                 });
    Value probs = empty({hkv, g, kDyn, kDyn}, f32, {T, len});
    probs = generic({masked, mx}, probs, 4,
                    {{0, 1, 2, 3}, {0, 1, 2}, {0, 1, 2, 3}}, "pppp",
                    [&](OpBuilder &bb, Location l, ValueRange a) {
                      Value s = arith::SubFOp::create(bb, l, a[0], a[1]);
                      linalg::YieldOp::create(
                          bb, l, Value(math::ExpOp::create(bb, l, s)));
                    });
    Value sum = filled({hkv, g, kDyn}, 0.0, {T});
    sum = generic({probs}, sum, 4, {{0, 1, 2, 3}, {0, 1, 2}}, "pppr",
                  [&](OpBuilder &bb, Location l, ValueRange a) {
                    linalg::YieldOp::create(
                        bb, l, Value(arith::AddFOp::create(bb, l, a[0], a[1])));
                  });
    // o [T, Hkv, g, D] over dims (t, a, b, e, j).
    Value o = filled({kDyn, hkv, g, d}, 0.0, {T});
    o = generic({probs, values}, o, 5, {{1, 2, 0, 4}, {4, 1, 3}, {0, 1, 2, 3}},
                "ppppr", [&](OpBuilder &bb, Location l, ValueRange a) {
                  Value p = arith::MulFOp::create(bb, l, a[0],
                                                  toF32(bb, l, a[1]));
                  linalg::YieldOp::create(
                      bb, l, Value(arith::AddFOp::create(bb, l, a[2], p)));
                });
    Value norm = empty({kDyn, hkv, g, d}, f32, {T});
    norm = generic({o, sum}, norm, 4, {{0, 1, 2, 3}, {1, 2, 0}, {0, 1, 2, 3}},
                   "pppp", [&](OpBuilder &bb, Location l, ValueRange a) {
                     linalg::YieldOp::create(
                         bb, l, Value(arith::DivFOp::create(bb, l, a[0], a[1])));
                   });
    auto flatType = RankedTensorType::get({kDyn, hq * d}, f32);
    return tensor::CollapseShapeOp::create(
        b, loc, flatType, norm,
        SmallVector<ReassociationIndices>{{0}, {1, 2, 3}});
  }

  /// Computes `v` into its own buffer. Upstream elementwise fusion would
  /// otherwise fold a cheap-looking producer (SiLU, RMSNorm, RoPE) into the
  /// matmul or attention reduction that consumes it and recompute it for
  /// every output column (e.g. an expf per multiply-add of down_proj).
  Value materialize(Value v) {
    auto type = cast<RankedTensorType>(v.getType());
    SmallVector<Value> dyn;
    for (int64_t d = 0; d < type.getRank(); ++d)
      if (type.isDynamicDim(d))
        dyn.push_back(tensor::DimOp::create(b, loc, v, d));
    Value dest = empty(type.getShape(), type.getElementType(), dyn);
    return bufferization::MaterializeInDestinationOp::create(b, loc, v, dest)
        .getResult();
  }

  Value splitHeads(Value x, int64_t heads) {
    auto type = RankedTensorType::get({kDyn, heads, c.headDim}, f32);
    return tensor::ExpandShapeOp::create(
        b, loc, type, x, SmallVector<ReassociationIndices>{{0}, {1, 2}},
        SmallVector<OpFoldResult>{T, b.getIndexAttr(heads),
                                  b.getIndexAttr(c.headDim)});
  }
};

/// Function argument types of a weight.
SmallVector<Type> weightArgTypes(MLIRContext *ctx, const WeightSpec &w) {
  Builder b(ctx);
  SmallVector<Type> types;
  auto t = [&](ArrayRef<int64_t> shape, Type elt) {
    types.push_back(RankedTensorType::get(shape, elt));
  };
  switch (w.format) {
  case WeightFormat::Dense:
    if (w.rows)
      t({w.rows, w.cols}, elementType(ctx, w.dtype));
    else
      t({w.cols}, elementType(ctx, w.dtype));
    break;
  case WeightFormat::SqueezeLLM:
    t({w.cols * w.bits / 32, w.rows}, b.getI32Type());
    t({w.rows, int64_t(1) << w.bits}, elementType(ctx, w.dtype));
    if (w.outliers) {
      t({w.rows + 1}, b.getI32Type());
      t({kDyn}, b.getI32Type());
      t({kDyn}, elementType(ctx, w.outlierDType));
    }
    break;
  case WeightFormat::GGML:
    t({w.rows, w.cols * w.bits / 32}, b.getI32Type());
    if (w.hoistedTables) {
      t({w.rows, w.cols / 32, int64_t(1) << w.bits}, b.getF32Type());
      break;
    }
    t({w.rows, w.cols / 32}, b.getF16Type());
    if (w.ggmlType == uint32_t(runtime::GGMLType::Q4_1))
      t({w.rows, w.cols / 32}, b.getF32Type());
    break;
  }
  return types;
}

/// Creates `name(fixed..., weights...) -> result` with read-only arguments
/// and the C interface, and positions `b` in its body.
func::FuncOp createFunction(OpBuilder &b, ModuleOp module, Location loc,
                            StringRef name, ArrayRef<Type> fixed,
                            ArrayRef<const WeightSpec *> weights,
                            Type result, SmallVector<Value> &fixedArgs,
                            SmallVector<SmallVector<Value>> &weightArgs) {
  MLIRContext *ctx = b.getContext();
  SmallVector<Type> inputs(fixed.begin(), fixed.end());
  SmallVector<unsigned> starts;
  for (const WeightSpec *w : weights) {
    starts.push_back(inputs.size());
    llvm::append_range(inputs, weightArgTypes(ctx, *w));
  }
  b.setInsertionPointToEnd(module.getBody());
  auto fn = func::FuncOp::create(b, loc, name,
                                 FunctionType::get(ctx, inputs, {result}));
  fn->setAttr("llvm.emit_c_interface", UnitAttr::get(ctx));
  Block *entry = fn.addEntryBlock();
  for (unsigned i = 0; i < inputs.size(); ++i)
    if (isa<RankedTensorType>(inputs[i]))
      fn.setArgAttr(i, "bufferization.writable", BoolAttr::get(ctx, false));
  fixedArgs.assign(entry->getArguments().begin(),
                   entry->getArguments().begin() + fixed.size());
  weightArgs.clear();
  for (auto [i, w] : llvm::enumerate(weights)) {
    unsigned end = i + 1 < starts.size() ? starts[i + 1] : inputs.size();
    weightArgs.push_back(SmallVector<Value>(
        entry->getArguments().begin() + starts[i],
        entry->getArguments().begin() + end));
  }
  b.setInsertionPointToStart(entry);
  return fn;
}

runtime::FunctionCall callOf(StringRef fn,
                             ArrayRef<const WeightSpec *> weights) {
  runtime::FunctionCall call;
  call.function = fn.str();
  for (const WeightSpec *w : weights)
    llvm::append_range(call.params, w->bindings);
  return call;
}

} // namespace

FailureOr<OwningOpRef<ModuleOp>>
mlir::squant::import::buildLlamaModule(MLIRContext &context,
                                       const LlamaConfig &c,
                                       const LlamaWeights &weights,
                                       const BuildOptions &options,
                                       runtime::ModelManifest &manifest) {
  context.loadDialect<arith::ArithDialect, bufferization::BufferizationDialect,
                      func::FuncDialect, linalg::LinalgDialect,
                      math::MathDialect, memref::MemRefDialect,
                      scf::SCFDialect, sparse_tensor::SparseTensorDialect,
                      tensor::TensorDialect, SQuantDialect>();
  Location loc = NameLoc::get(StringAttr::get(&context, "llama"));
  OwningOpRef<ModuleOp> module = ModuleOp::create(loc);
  OpBuilder b(&context);
  Type f32 = b.getF32Type();
  int64_t h = c.hiddenSize, hq = c.numHeads, hkv = c.numKVHeads,
          d = c.headDim;
  auto act = RankedTensorType::get({kDyn, h}, f32);
  SmallVector<Value> fixed;
  SmallVector<SmallVector<Value>> wargs;

  manifest.hidden = h;
  manifest.numLayers = c.numLayers;
  manifest.numHeads = hq;
  manifest.numKVHeads = hkv;
  manifest.headDim = d;
  manifest.vocab = c.vocabSize;
  manifest.maxPositions = c.maxPositions;
  manifest.kvCache = options.kvCache;
  manifest.kvFormat = options.kvFormat;
  manifest.kvProject.clear();
  KVCacheFormatAttr kvFormat;
  if (options.kvFormat.quantized()) {
    auto attr = getKVFormatAttr(&context, loc, c, options.kvFormat);
    if (failed(attr))
      return failure();
    kvFormat = *attr;
  }
  manifest.bos = c.bosTokenId;
  manifest.eos = c.eosTokenIds;
  manifest.layers.clear();

  // ggml linears: tables built once at load time by prepare_<type>.
  LlamaWeights hoisted;
  const LlamaWeights *lw = &weights;
  std::map<uint32_t, const WeightSpec *> prepareTypes;
  if (options.hoistTables) {
    hoisted = weights;
    auto hoist = [&](WeightSpec &w) {
      if (w.format != WeightFormat::GGML || w.rows == 0)
        return;
      w.hoistedTables = true;
      if (!w.bindings.empty()) {
        runtime::ParamBinding lut = w.bindings[0];
        lut.part = "lut";
        lut.dtype = DType::F32;
        lut.shape = {w.rows, w.cols / 32, int64_t(1) << w.bits};
        lut.prepare = std::string("prepare_") + runtime::ggmlTypeName(w.ggmlType);
        w.bindings.resize(1);
        w.bindings.push_back(lut);
      }
      prepareTypes.emplace(w.ggmlType, &w);
    };
    for (LayerWeights &layer : hoisted.layers)
      for (WeightSpec &w : layer)
        hoist(w);
    hoist(hoisted.lmHead);
    lw = &hoisted;
  }
  const LlamaWeights &weightsUsed = *lw;

  // prepare_<type>(scale [N, G] f16[, zero [N, G] f32]) -> tables [N, G, 2^B]
  for (auto [type, w] : prepareTypes) {
    std::string name = std::string("prepare_") + runtime::ggmlTypeName(type);
    Location l = NameLoc::get(StringAttr::get(&context, name));
    SmallVector<Type> ins = {RankedTensorType::get({kDyn, kDyn}, b.getF16Type())};
    bool hasZero = type == uint32_t(runtime::GGMLType::Q4_1);
    if (hasZero)
      ins.push_back(RankedTensorType::get({kDyn, kDyn}, f32));
    int64_t entries = int64_t(1) << w->bits;
    auto tablesType = RankedTensorType::get({kDyn, kDyn, entries}, f32);
    createFunction(b, *module, l, name, ins, {}, tablesType, fixed, wargs);
    Emitter e(b, l, c);
    Value n = tensor::DimOp::create(b, l, fixed[0], 0);
    Value g = tensor::DimOp::create(b, l, fixed[0], 1);
    Value zero = hasZero ? fixed[1]
                         : e.filled({kDyn, kDyn}, w->bits == 8 ? 128.0 : 8.0,
                                    {n, g});
    Value init = e.empty({kDyn, kDyn, entries}, f32, {n, g});
    Value lut = BuildLutOp::create(b, l, TypeRange{tablesType},
                                   TableFormat::Affine, fixed[0], zero, init)
                    ->getResult(0);
    func::ReturnOp::create(b, l, lut);
  }

  // embed(tokens [T] i32, table...) -> [T, H]
  {
    Location l = NameLoc::get(StringAttr::get(&context, "embed"));
    auto tokType = RankedTensorType::get({kDyn}, b.getI32Type());
    createFunction(b, *module, l, "embed", {tokType}, {&weights.embed}, act,
                   fixed, wargs);
    Emitter e(b, l, c);
    e.T = tensor::DimOp::create(b, l, fixed[0], 0);
    Value x = e.embed(fixed[0], weights.embed, wargs[0]);
    func::ReturnOp::create(b, l, x);
    manifest.embed = callOf("embed", {&weights.embed});
  }

  // One function per distinct layer signature.
  Type cacheElt = options.kvCache == DType::F16 ? Type(b.getF16Type()) : f32;
  auto cacheType = MemRefType::get({kDyn, hkv, d}, cacheElt);
  auto posType = RankedTensorType::get({1}, b.getI64Type());
  SmallVector<Type> layerFixed = {act, posType, cacheType, cacheType};
  if (kvFormat) {
    layerFixed.resize(2);
    llvm::append_range(layerFixed, quantizedCacheArgTypes(&context, c,
                                                          options.kvFormat));
  }
  llvm::StringMap<std::string> functionOfSignature;
  llvm::StringMap<std::string> projectionOfSignature;
  for (auto [layerIndex, layer] : llvm::enumerate(weightsUsed.layers)) {
    std::string sig;
    for (const WeightSpec &w : layer)
      sig += w.key() + ";";
    SmallVector<const WeightSpec *> ws;
    for (const WeightSpec &w : layer)
      ws.push_back(&w);
    auto it = functionOfSignature.find(sig);
    if (it == functionOfSignature.end()) {
      std::string name =
          llvm::formatv("layer_{0}", functionOfSignature.size()).str();
      it = functionOfSignature.try_emplace(sig, name).first;
      Location l = NameLoc::get(StringAttr::get(&context, name));
      if (kvFormat && kvFormat.getMethod() == KVMethod::KVQuant) {
        // kv_project_<n>(x, norm, k, v) -> [2, T, Hkv*D]: the pre-RoPE keys
        // and the values, for the runtime's table calibration.
        std::string proj = llvm::formatv("kv_project_{0}",
                                         functionOfSignature.size() - 1);
        Location pl = NameLoc::get(StringAttr::get(&context, proj));
        auto kvType = RankedTensorType::get({2, kDyn, hkv * d}, f32);
        createFunction(b, *module, pl, proj, {act}, {ws[0], ws[2], ws[3]},
                       kvType, fixed, wargs);
        Emitter e(b, pl, c);
        e.T = tensor::DimOp::create(b, pl, fixed[0], 0);
        Value xn = e.materialize(e.rmsNorm(fixed[0], wargs[0][0]));
        Value both = e.empty({2, kDyn, hkv * d}, f32, {e.T});
        SmallVector<OpFoldResult> sizes = {b.getIndexAttr(1), e.T,
                                           b.getIndexAttr(hkv * d)};
        SmallVector<OpFoldResult> strides(3, b.getIndexAttr(1));
        for (int64_t which = 0; which < 2; ++which) {
          Value kv = e.linear(xn, layer[2 + which], wargs[1 + which]);
          SmallVector<OpFoldResult> offsets = {b.getIndexAttr(which),
                                               b.getIndexAttr(0),
                                               b.getIndexAttr(0)};
          both = tensor::InsertSliceOp::create(b, pl, kv, both, offsets,
                                               sizes, strides);
        }
        func::ReturnOp::create(b, pl, both);
        projectionOfSignature[it->second] = proj;
      }
      func::FuncOp fn = createFunction(b, *module, l, name, layerFixed, ws,
                                       act, fixed, wargs);
      // The position is read by the host code (cache offsets, lengths):
      // under squant-gpu-pipeline it stays in host memory.
      fn.setArgAttr(1, SQuantDialect::kHostAttrName, UnitAttr::get(&context));
      Emitter e(b, l, c);
      Value x = fixed[0];
      e.T = tensor::DimOp::create(b, l, x, 0);
      Value p64 = tensor::ExtractOp::create(b, l, fixed[1],
                                            ValueRange{e.idx(0)});
      Value pos = arith::IndexCastOp::create(b, l, b.getIndexType(), p64);
      Value len = arith::AddIOp::create(b, l, pos, e.T);
      // Attention block.
      Value xn = e.materialize(e.rmsNorm(x, wargs[0][0]));
      Value q = e.linear(xn, layer[1], wargs[1]);
      Value k = e.linear(xn, layer[2], wargs[2]);
      Value v = e.linear(xn, layer[3], wargs[3]);
      Value attn;
      if (kvFormat) {
        attn = buildQuantizedAttention(b, l, c, kvFormat, q, k, v, pos, e.T,
                                       ValueRange(fixed).drop_front(2));
      } else {
        Value qr = e.materialize(e.rope(e.splitHeads(q, hq), hq, pos));
        Value kr = e.rope(e.splitHeads(k, hkv), hkv, pos);
        Value keys = e.appendToCache(fixed[2], kr, pos, len);
        Value values =
            e.appendToCache(fixed[3], e.splitHeads(v, hkv), pos, len);
        attn = e.attention(qr, keys, values, pos, len);
      }
      Value o = e.linear(e.materialize(attn), layer[4], wargs[4]);
      Value x1 = e.add(x, o, h);
      // MLP block (SwiGLU).
      Value xn2 = e.materialize(e.rmsNorm(x1, wargs[5][0]));
      Value gate = e.linear(xn2, layer[6], wargs[6]);
      Value up = e.linear(xn2, layer[7], wargs[7]);
      Value hidden = e.elementwise(
          gate, up, c.intermediateSize,
          [&](OpBuilder &bb, Location ll, Value gv, Value uv) -> Value {
            Value neg = arith::NegFOp::create(bb, ll, gv);
            Value ex = math::ExpOp::create(bb, ll, neg);
            Value one = arith::ConstantOp::create(bb, ll, bb.getF32Type(),
                                                  bb.getF32FloatAttr(1.0f));
            Value den = arith::AddFOp::create(bb, ll, one, ex);
            Value silu = arith::DivFOp::create(bb, ll, gv, den);
            return arith::MulFOp::create(bb, ll, silu, uv);
          });
      Value down = e.linear(e.materialize(hidden), layer[8], wargs[8]);
      Value x2 = e.add(x1, down, h);
      func::ReturnOp::create(b, l, x2);
    }
    manifest.layers.push_back(callOf(it->second, ws));
    if (auto p = projectionOfSignature.find(it->second);
        p != projectionOfSignature.end())
      manifest.kvProject.push_back(callOf(p->second, {ws[0], ws[2], ws[3]}));
  }
  manifest.numLayerFunctions = functionOfSignature.size();

  // head(x [T, H], norm, lm_head...) -> logits [T, V]
  {
    Location l = NameLoc::get(StringAttr::get(&context, "head"));
    auto logitsType = RankedTensorType::get({kDyn, c.vocabSize}, f32);
    createFunction(b, *module, l, "head", {act},
                   {&weightsUsed.finalNorm, &weightsUsed.lmHead}, logitsType,
                   fixed, wargs);
    Emitter e(b, l, c);
    e.T = tensor::DimOp::create(b, l, fixed[0], 0);
    Value xn = e.materialize(e.rmsNorm(fixed[0], wargs[0][0]));
    Value logits = e.linear(xn, weightsUsed.lmHead, wargs[1]);
    func::ReturnOp::create(b, l, logits);
    manifest.head =
        callOf("head", {&weightsUsed.finalNorm, &weightsUsed.lmHead});
  }

  if (failed(verify(*module)))
    return failure();
  return module;
}
