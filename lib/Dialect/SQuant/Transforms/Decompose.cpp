//===- Decompose.cpp - squant-decompose pass ------------------------------===//
//
// Lowers squant ops to linalg.generic + tensor/memref + arith. This is the
// executable reference semantics of the dialect: simple, obviously correct
// per element, and slow (lut_matmul materializes the dequantized weights).
//
//===----------------------------------------------------------------------===//

#include "squant/Dialect/SQuant/IR/SQuantOps.h"
#include "squant/Dialect/SQuant/Transforms/Passes.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/PatternMatch.h"
#include "mlir/Transforms/DialectConversion.h"

namespace mlir::squant {
#define GEN_PASS_DEF_SQUANTDECOMPOSE
#include "squant/Dialect/SQuant/Transforms/Passes.h.inc"
} // namespace mlir::squant

using namespace mlir;
using namespace mlir::squant;

namespace {

//===----------------------------------------------------------------------===//
// Helpers that work on both the tensor and the memref forms.
//===----------------------------------------------------------------------===//

bool isTensor(Value v) { return isa<RankedTensorType>(v.getType()); }

Value indexConst(OpBuilder &b, Location loc, int64_t v) {
  return arith::ConstantIndexOp::create(b, loc, v);
}

/// Size of dimension `d` of `v` as an index value.
Value dimValue(OpBuilder &b, Location loc, Value v, int64_t d) {
  int64_t size = cast<ShapedType>(v.getType()).getDimSize(d);
  if (!ShapedType::isDynamic(size))
    return indexConst(b, loc, size);
  if (isTensor(v))
    return tensor::DimOp::create(b, loc, v, d);
  return memref::DimOp::create(b, loc, v, d);
}

/// Reads one element (tensor.extract or memref.load).
Value loadAt(OpBuilder &b, Location loc, Value src, ValueRange indices) {
  if (isTensor(src))
    return tensor::ExtractOp::create(b, loc, src, indices);
  return memref::LoadOp::create(b, loc, src, indices);
}

/// A new tensor (tensor.empty) or buffer (memref.alloc) whose dimensions are
/// taken from (value, dim) pairs.
Value createEmpty(OpBuilder &b, Location loc, bool tensorForm, Type elementType,
                  ArrayRef<std::pair<Value, int64_t>> dimsFrom) {
  SmallVector<int64_t> shape;
  SmallVector<Value> dynSizes;
  for (auto [v, d] : dimsFrom) {
    int64_t size = cast<ShapedType>(v.getType()).getDimSize(d);
    shape.push_back(size);
    if (ShapedType::isDynamic(size))
      dynSizes.push_back(dimValue(b, loc, v, d));
  }
  if (tensorForm)
    return tensor::EmptyOp::create(b, loc, shape, elementType, dynSizes);
  return memref::AllocOp::create(b, loc, MemRefType::get(shape, elementType),
                                 dynSizes);
}

/// linalg.generic on tensors (returns the result) or memrefs (returns `out`).
Value createGeneric(
    OpBuilder &b, Location loc, ValueRange ins, Value out,
    ArrayRef<AffineMap> maps, ArrayRef<utils::IteratorType> iterators,
    function_ref<void(OpBuilder &, Location, ValueRange)> body) {
  SmallVector<Type> resultTypes;
  if (isTensor(out))
    resultTypes.push_back(out.getType());
  auto generic = linalg::GenericOp::create(b, loc, resultTypes, ins, out, maps,
                                           iterators, body);
  return isTensor(out) ? generic.getResult(0) : out;
}

/// Converts a float scalar between f16, bf16 and f32.
Value convertFloat(OpBuilder &b, Location loc, Value v, Type dst) {
  Type src = v.getType();
  if (src == dst)
    return v;
  unsigned sw = src.getIntOrFloatBitWidth(), dw = dst.getIntOrFloatBitWidth();
  if (dw > sw)
    return arith::ExtFOp::create(b, loc, dst, v);
  if (dw < sw)
    return arith::TruncFOp::create(b, loc, dst, v);
  // Same width, different format (f16 <-> bf16): go through f32.
  Value wide = arith::ExtFOp::create(b, loc, b.getF32Type(), v);
  return arith::TruncFOp::create(b, loc, dst, wide);
}

SmallVector<utils::IteratorType> parallel(unsigned n) {
  return SmallVector<utils::IteratorType>(n, utils::IteratorType::parallel);
}

//===----------------------------------------------------------------------===//
// Table look-up, shared by lut_dequant and lut_matmul.
//===----------------------------------------------------------------------===//

/// Emits the generic that computes W[n, k] = lut[..., codes[n, k]] into
/// `out` (converted to its element type).
Value emitDequant(OpBuilder &b, Location loc, Value codes, Value lut,
                  Value out) {
  auto lutType = cast<ShapedType>(lut.getType());
  int64_t lutRank = lutType.getRank();
  Type outElt = cast<ShapedType>(out.getType()).getElementType();
  // Group size G = K / groups for per-group tables.
  Value groupSize;
  if (lutRank == 3)
    groupSize = arith::DivUIOp::create(b, loc, dimValue(b, loc, codes, 1),
                                       dimValue(b, loc, lut, 1));
  MLIRContext *ctx = b.getContext();
  AffineMap id = AffineMap::getMultiDimIdentityMap(2, ctx);
  return createGeneric(
      b, loc, codes, out, {id, id}, parallel(2),
      [&](OpBuilder &nb, Location nl, ValueRange args) {
        Value code = arith::IndexCastUIOp::create(nb, nl, nb.getIndexType(),
                                                  args[0]);
        SmallVector<Value, 3> idx;
        if (lutRank >= 2)
          idx.push_back(linalg::IndexOp::create(nb, nl, 0));
        if (lutRank == 3) {
          Value k = linalg::IndexOp::create(nb, nl, 1);
          idx.push_back(arith::DivUIOp::create(nb, nl, k, groupSize));
        }
        idx.push_back(code);
        Value v = loadAt(nb, nl, lut, idx);
        linalg::YieldOp::create(nb, nl, convertFloat(nb, nl, v, outElt));
      });
}

/// Replaces `op` by `result` (tensor form) or erases it (memref form).
void replaceDps(PatternRewriter &rewriter, Operation *op, Value result) {
  if (op->getNumResults() == 1)
    rewriter.replaceOp(op, result);
  else
    rewriter.eraseOp(op);
}

//===----------------------------------------------------------------------===//
// Patterns
//===----------------------------------------------------------------------===//

struct DecomposeLutDequant : OpRewritePattern<LutDequantOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(LutDequantOp op,
                                PatternRewriter &rewriter) const override {
    Value w = emitDequant(rewriter, op.getLoc(), op.getCodes(), op.getLut(),
                          op.getInit());
    replaceDps(rewriter, op, w);
    return success();
  }
};

struct DecomposeLutMatmul : OpRewritePattern<LutMatmulOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(LutMatmulOp op,
                                PatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    Value x = op.getX(), codes = op.getCodes(), init = op.getInit();
    bool tensorForm = op.hasPureTensorSemantics();
    Type f32 = rewriter.getF32Type();
    Type outElt = cast<ShapedType>(init.getType()).getElementType();
    MLIRContext *ctx = rewriter.getContext();

    // W = dequant(codes, lut) in f32, materialized.
    Value w = createEmpty(rewriter, loc, tensorForm, f32,
                          {{codes, 0}, {codes, 1}});
    Value wBuf = w;
    w = emitDequant(rewriter, loc, codes, op.getLut(), w);

    // acc[m, n] = 0, in f32.
    Value acc = outElt == f32 ? init
                              : createEmpty(rewriter, loc, tensorForm, f32,
                                            {{x, 0}, {codes, 0}});
    Value accBuf = acc;
    Value zero = arith::ConstantOp::create(rewriter, loc, f32,
                                           rewriter.getF32FloatAttr(0.0f));
    auto fill = linalg::FillOp::create(rewriter, loc, ValueRange{zero},
                                       ValueRange{acc});
    if (tensorForm)
      acc = fill.getResult(0);

    // acc[m, n] += x[m, k] * W[n, k]; then the same over the sparse S.
    AffineExpr m, n, k;
    bindDims(ctx, m, n, k);
    auto mapMK = AffineMap::get(3, 0, {m, k}, ctx);
    auto mapNK = AffineMap::get(3, 0, {n, k}, ctx);
    auto mapMN = AffineMap::get(3, 0, {m, n}, ctx);
    SmallVector<utils::IteratorType> iters = {utils::IteratorType::parallel,
                                              utils::IteratorType::parallel,
                                              utils::IteratorType::reduction};
    auto multiplyAdd = [&](OpBuilder &b, Location l, ValueRange args) {
      Value a = convertFloat(b, l, args[0], f32);
      Value c = convertFloat(b, l, args[1], f32);
      Value prod = arith::MulFOp::create(b, l, a, c);
      linalg::YieldOp::create(b, l,
                              Value(arith::AddFOp::create(b, l, args[2], prod)));
    };
    acc = createGeneric(rewriter, loc, ValueRange{x, w}, acc,
                        {mapMK, mapNK, mapMN}, iters, multiplyAdd);
    if (Value s = op.getOutliers())
      acc = createGeneric(rewriter, loc, ValueRange{x, s}, acc,
                          {mapMK, mapNK, mapMN}, iters, multiplyAdd);

    // Convert the f32 sum to the result element type.
    Value result = acc;
    if (outElt != f32) {
      AffineMap id = AffineMap::getMultiDimIdentityMap(2, ctx);
      result = createGeneric(
          rewriter, loc, acc, init, {id, id}, parallel(2),
          [&](OpBuilder &b, Location l, ValueRange args) {
            linalg::YieldOp::create(b, l, convertFloat(b, l, args[0], outElt));
          });
    }
    if (!tensorForm) {
      memref::DeallocOp::create(rewriter, loc, wBuf);
      if (accBuf != init)
        memref::DeallocOp::create(rewriter, loc, accBuf);
    }
    replaceDps(rewriter, op, result);
    return success();
  }
};

struct DecomposeUnpack : OpRewritePattern<UnpackOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(UnpackOp op,
                                PatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    Value packed = op.getPacked(), init = op.getInit();
    Type codeType = cast<ShapedType>(init.getType()).getElementType();
    unsigned bits = getCodeBitWidth(codeType);
    bool squeezellm = op.getLayout() == PackLayout::SqueezeLLM;
    AffineMap id = AffineMap::getMultiDimIdentityMap(2, rewriter.getContext());
    Value result = createGeneric(
        rewriter, loc, ValueRange{}, init, {id}, parallel(2),
        [&](OpBuilder &b, Location l, ValueRange) {
          Type i64 = b.getI64Type();
          Value n = linalg::IndexOp::create(b, l, 0);
          Value k = linalg::IndexOp::create(b, l, 1);
          // Code k occupies stream bits [k*B, k*B + B).
          Value bitPos = arith::MulIOp::create(b, l, k, indexConst(b, l, bits));
          Value c32 = indexConst(b, l, 32);
          Value word = arith::DivUIOp::create(b, l, bitPos, c32);
          Value shift = arith::RemUIOp::create(b, l, bitPos, c32);
          auto loadWord = [&](Value w) -> Value {
            Value v = squeezellm ? loadAt(b, l, packed, {w, n})
                                 : loadAt(b, l, packed, {n, w});
            return arith::ExtUIOp::create(b, l, i64, v);
          };
          Value stream = loadWord(word);
          if (32 % bits != 0) {
            // The code may straddle into the next word.
            Value end = arith::AddIOp::create(b, l, shift, indexConst(b, l, bits));
            Value straddles = arith::CmpIOp::create(
                b, l, arith::CmpIPredicate::ugt, end, c32);
            Value next = arith::AddIOp::create(b, l, word, indexConst(b, l, 1));
            Value hiWord = arith::SelectOp::create(b, l, straddles, next, word);
            Value hi = arith::ShLIOp::create(
                b, l, loadWord(hiWord),
                arith::ConstantIntOp::create(b, l, i64, 32));
            stream = arith::OrIOp::create(b, l, stream, hi);
          }
          Value sh = arith::IndexCastUIOp::create(b, l, i64, shift);
          Value bitsOut = arith::ShRUIOp::create(b, l, stream, sh);
          linalg::YieldOp::create(
              b, l, Value(arith::TruncIOp::create(b, l, codeType, bitsOut)));
        });
    replaceDps(rewriter, op, result);
    return success();
  }
};

struct DecomposePack : OpRewritePattern<PackOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(PackOp op,
                                PatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    Value codes = op.getCodes(), init = op.getInit();
    unsigned bits =
        getCodeBitWidth(cast<ShapedType>(codes.getType()).getElementType());
    bool squeezellm = op.getLayout() == PackLayout::SqueezeLLM;
    Value kDim = dimValue(rewriter, loc, codes, 1);
    AffineMap id = AffineMap::getMultiDimIdentityMap(2, rewriter.getContext());
    // A word overlaps at most floor(31 / B) + 2 codes.
    unsigned maxCodes = 31 / bits + 2;
    Value result = createGeneric(
        rewriter, loc, ValueRange{}, init, {id}, parallel(2),
        [&](OpBuilder &b, Location l, ValueRange) {
          Type i64 = b.getI64Type();
          Value w = linalg::IndexOp::create(b, l, squeezellm ? 0 : 1);
          Value n = linalg::IndexOp::create(b, l, squeezellm ? 1 : 0);
          Value cB = indexConst(b, l, bits);
          Value base = arith::MulIOp::create(b, l, w, indexConst(b, l, 32));
          Value kLo = arith::DivUIOp::create(b, l, base, cB);
          Value kMax = arith::SubIOp::create(b, l, kDim, indexConst(b, l, 1));
          Value wordEnd = arith::AddIOp::create(b, l, base, indexConst(b, l, 32));
          Value zero64 = arith::ConstantIntOp::create(b, l, i64, 0);
          Value acc = zero64;
          for (unsigned j = 0; j < maxCodes; ++j) {
            Value kj = arith::AddIOp::create(b, l, kLo, indexConst(b, l, j));
            Value startBit = arith::MulIOp::create(b, l, kj, cB);
            Value inWord = arith::CmpIOp::create(
                b, l, arith::CmpIPredicate::ult, startBit, wordEnd);
            Value inRow = arith::CmpIOp::create(
                b, l, arith::CmpIPredicate::ult, kj, kDim);
            Value valid = arith::AndIOp::create(b, l, inWord, inRow);
            Value kc = arith::MinUIOp::create(b, l, kj, kMax);
            Value code = arith::ExtUIOp::create(b, l, i64,
                                                loadAt(b, l, codes, {n, kc}));
            // Offset of the code's bit 0 relative to the word (may be < 0).
            Value off = arith::IndexCastOp::create(
                b, l, i64, arith::SubIOp::create(b, l, startBit, base));
            Value neg = arith::CmpIOp::create(b, l, arith::CmpIPredicate::slt,
                                              off, zero64);
            Value negOff = arith::SubIOp::create(b, l, zero64, off);
            Value left = arith::ShLIOp::create(
                b, l, code, arith::SelectOp::create(b, l, neg, zero64, off));
            Value right = arith::ShRUIOp::create(
                b, l, code, arith::SelectOp::create(b, l, neg, negOff, zero64));
            Value part = arith::SelectOp::create(b, l, neg, right, left);
            part = arith::SelectOp::create(b, l, valid, part, zero64);
            acc = arith::OrIOp::create(b, l, acc, part);
          }
          linalg::YieldOp::create(
              b, l, Value(arith::TruncIOp::create(b, l, b.getI32Type(), acc)));
        });
    replaceDps(rewriter, op, result);
    return success();
  }
};

struct DecomposeBuildLut : OpRewritePattern<BuildLutOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(BuildLutOp op,
                                PatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    MLIRContext *ctx = rewriter.getContext();
    Value init = op.getInit();
    auto outType = cast<ShapedType>(init.getType());
    unsigned rank = outType.getRank();
    Type outElt = outType.getElementType();
    TableFormat format = op.getFormat();
    ArrayRef<float> codebook = BuildLutOp::getCodebook(format);

    SmallVector<Value> ins = {op.getScale()};
    if (op.getZero())
      ins.push_back(op.getZero());
    AffineMap id = AffineMap::getMultiDimIdentityMap(rank, ctx);
    AffineMap dropLast =
        AffineMap::get(rank, 0, id.getResults().drop_back(), ctx);
    SmallVector<AffineMap> maps(ins.size(), dropLast);
    maps.push_back(id);
    Value result = createGeneric(
        rewriter, loc, ins, init, maps, parallel(rank),
        [&](OpBuilder &b, Location l, ValueRange args) {
          Type f32 = b.getF32Type();
          Value q = linalg::IndexOp::create(b, l, rank - 1);
          Value scale = convertFloat(b, l, args[0], f32);
          Value level;
          if (format == TableFormat::Affine) {
            Value qi = arith::IndexCastUIOp::create(b, l, b.getI32Type(), q);
            Value qf = arith::UIToFPOp::create(b, l, f32, qi);
            Value zero = args[1];
            if (isa<IntegerType>(zero.getType()))
              zero = arith::SIToFPOp::create(b, l, f32, zero);
            else
              zero = convertFloat(b, l, zero, f32);
            level = arith::SubFOp::create(b, l, qf, zero);
          } else {
            // Select chain over the 16 fixed levels.
            level = arith::ConstantOp::create(b, l, f32,
                                              b.getF32FloatAttr(codebook[0]));
            for (unsigned i = 1; i < codebook.size(); ++i) {
              Value isI = arith::CmpIOp::create(b, l, arith::CmpIPredicate::eq,
                                                q, indexConst(b, l, i));
              Value ci = arith::ConstantOp::create(
                  b, l, f32, b.getF32FloatAttr(codebook[i]));
              level = arith::SelectOp::create(b, l, isI, ci, level);
            }
          }
          Value entry = arith::MulFOp::create(b, l, scale, level);
          linalg::YieldOp::create(b, l, convertFloat(b, l, entry, outElt));
        });
    replaceDps(rewriter, op, result);
    return success();
  }
};

struct SQuantDecomposePass
    : squant::impl::SQuantDecomposeBase<SQuantDecomposePass> {
  using Base::Base;
  void runOnOperation() override {
    MLIRContext *ctx = &getContext();
    RewritePatternSet patterns(ctx);
    populateSQuantDecomposePatterns(patterns);
    ConversionTarget target(*ctx);
    target.addIllegalDialect<SQuantDialect>();
    if (!kvCache)
      target.addLegalOp<KVAppendOp, KVDequantizeOp, KVAttentionOp>();
    target.markUnknownOpDynamicallyLegal([](Operation *) { return true; });
    if (failed(applyPartialConversion(getOperation(), target,
                                      std::move(patterns))))
      signalPassFailure();
  }
};

} // namespace

void mlir::squant::populateSQuantDecomposePatterns(
    RewritePatternSet &patterns) {
  patterns.add<DecomposeBuildLut, DecomposeLutDequant, DecomposeLutMatmul,
               DecomposePack, DecomposeUnpack>(patterns.getContext());
  populateSQuantDecomposeKVCachePatterns(patterns);
}
