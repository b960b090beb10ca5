//===- NormalizeUnitStrides.cpp - squant-normalize-unit-strides pass ------===//
//
// A dim of static size 1 touches only its offset: its stride can be 1. Slices
// and subviews with another stride there crash MLIR 22's
// expand-strided-metadata (SubViewOp::getDroppedDims) when the dim is
// dropped, so the squant pipelines normalize them first.
//
//===----------------------------------------------------------------------===//

#include "squant/Dialect/SQuant/Transforms/Passes.h"

#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/PatternMatch.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"

namespace mlir::squant {
#define GEN_PASS_DEF_SQUANTNORMALIZEUNITSTRIDES
#include "squant/Dialect/SQuant/Transforms/Passes.h.inc"
} // namespace mlir::squant

using namespace mlir;

namespace {

/// The op's mixed strides with the stride of every static size-1 dim set to
/// 1; failure when nothing changes.
FailureOr<SmallVector<OpFoldResult>>
normalizedStrides(OffsetSizeAndStrideOpInterface op, Builder &b) {
  SmallVector<OpFoldResult> strides = op.getMixedStrides();
  SmallVector<OpFoldResult> sizes = op.getMixedSizes();
  bool changed = false;
  for (auto [size, stride] : llvm::zip_equal(sizes, strides)) {
    std::optional<int64_t> sz = getConstantIntValue(size);
    std::optional<int64_t> st = getConstantIntValue(stride);
    if (sz == 1 && st != 1) {
      stride = b.getIndexAttr(1);
      changed = true;
    }
  }
  if (!changed)
    return failure();
  return strides;
}

/// Rebuilds a tensor slice op with the normalized strides (same operands
/// and result type otherwise).
Operation *withStrides(PatternRewriter &rewriter, tensor::ExtractSliceOp op,
                       ArrayRef<OpFoldResult> strides) {
  return tensor::ExtractSliceOp::create(
      rewriter, op.getLoc(), op.getType(), op.getSource(), op.getMixedOffsets(),
      op.getMixedSizes(), strides);
}
Operation *withStrides(PatternRewriter &rewriter, tensor::InsertSliceOp op,
                       ArrayRef<OpFoldResult> strides) {
  return tensor::InsertSliceOp::create(rewriter, op.getLoc(), op.getSource(),
                                       op.getDest(), op.getMixedOffsets(),
                                       op.getMixedSizes(), strides);
}

template <typename SliceOp>
struct TensorSlicePattern : OpRewritePattern<SliceOp> {
  using OpRewritePattern<SliceOp>::OpRewritePattern;
  LogicalResult matchAndRewrite(SliceOp op,
                                PatternRewriter &rewriter) const override {
    auto strides = normalizedStrides(op, rewriter);
    if (failed(strides))
      return rewriter.notifyMatchFailure(op, "no size-1 dim with a stride");
    rewriter.replaceOp(op, withStrides(rewriter, op, *strides));
    return success();
  }
};

struct SubViewPattern : OpRewritePattern<memref::SubViewOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(memref::SubViewOp op,
                                PatternRewriter &rewriter) const override {
    auto strides = normalizedStrides(op, rewriter);
    if (failed(strides))
      return rewriter.notifyMatchFailure(op, "no size-1 dim with a stride");
    // A kept size-1 dim carries its stride into the result layout; the
    // rewrite only applies where the result type stays the same (dropped
    // dims, or tensors before bufferization, which covers the pipelines).
    auto newType = memref::SubViewOp::inferRankReducedResultType(
        op.getType().getShape(), op.getSourceType(), op.getMixedOffsets(),
        op.getMixedSizes(), *strides);
    if (newType != op.getType())
      return rewriter.notifyMatchFailure(op, "the result layout would change");
    Value v = memref::SubViewOp::create(
        rewriter, op.getLoc(), op.getType(), op.getSource(),
        op.getMixedOffsets(), op.getMixedSizes(), *strides);
    rewriter.replaceOp(op, v);
    return success();
  }
};

struct SQuantNormalizeUnitStridesPass
    : squant::impl::SQuantNormalizeUnitStridesBase<
          SQuantNormalizeUnitStridesPass> {
  void runOnOperation() override {
    RewritePatternSet patterns(&getContext());
    patterns.add<TensorSlicePattern<tensor::ExtractSliceOp>,
                 TensorSlicePattern<tensor::InsertSliceOp>, SubViewPattern>(
        &getContext());
    if (failed(applyPatternsGreedily(getOperation(), std::move(patterns))))
      signalPassFailure();
  }
};

} // namespace
