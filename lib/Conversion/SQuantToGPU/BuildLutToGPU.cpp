//===- BuildLutToGPU.cpp - squant.build_lut to a GPU kernel ---------------===//
//
// One thread per table entry: lut[s, q] = scale[s] * (q - zero[s]) (affine)
// or scale[s] * codebook[q] (NF4, FP4 e2m1, IQ4_NL; a select chain over the
// 16 constants), computed in f32 and converted to the table's type.
//
//===----------------------------------------------------------------------===//

#include "KernelBuilder.h"
#include "squant/Conversion/SQuantToGPU/SQuantToGPU.h"
#include "squant/Dialect/SQuant/IR/SQuantOps.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Bufferization/IR/Bufferization.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/IR/PatternMatch.h"
#include "llvm/Support/FormatVariadic.h"

using namespace mlir;
using namespace mlir::squant;
using namespace mlir::squant::gpugen;

namespace {

constexpr int64_t kBuildLutThreads = 256;

std::string buildLutBlocker(BuildLutOp op) {
  auto outType = cast<ShapedType>(op.getInit().getType());
  if (!outType.hasStaticShape())
    return "the GPU kernels need a static table shape";
  if (outType.getNumElements() == 0)
    return "the GPU kernels need a non-empty table";
  SmallVector<Value> operands = {op.getScale(), op.getInit()};
  if (op.getZero())
    operands.push_back(op.getZero());
  for (Value v : operands)
    if (auto mt = dyn_cast<MemRefType>(v.getType()))
      if (!mt.getLayout().isIdentity() || mt.getMemorySpace())
        return "the GPU kernels need identity-layout memrefs in the default "
               "memory space";
  return "";
}

struct BuildLutToGPU : OpRewritePattern<BuildLutOp> {
  using OpRewritePattern::OpRewritePattern;

  LogicalResult matchAndRewrite(BuildLutOp op,
                                PatternRewriter &rewriter) const override {
    std::string reason = buildLutBlocker(op);
    if (!reason.empty())
      return rewriter.notifyMatchFailure(op, reason);
    Location loc = op.getLoc();
    auto outType = cast<ShapedType>(op.getInit().getType());
    int64_t entries = outType.getShape().back();
    int64_t total = outType.getNumElements();
    Type outElt = outType.getElementType();
    Type scaleElt = cast<ShapedType>(op.getScale().getType()).getElementType();
    Type zeroElt = op.getZero()
                       ? cast<ShapedType>(op.getZero().getType()).getElementType()
                       : Type();
    TableFormat format = op.getFormat();
    ArrayRef<float> book = BuildLutOp::getCodebook(format);

    rewriter.setInsertionPoint(op);
    Emitter e{rewriter, loc};
    SmallVector<Value> args;
    SmallVector<Value> inputs = {op.getScale()};
    if (op.getZero())
      inputs.push_back(op.getZero());
    for (Value v : inputs) {
      FailureOr<Value> buf = getInputBuffer(rewriter, loc, v, reason);
      if (failed(buf))
        return rewriter.notifyMatchFailure(op, reason);
      // Rank-0 scales: view as one element.
      Value b = *buf;
      if (cast<MemRefType>(b.getType()).getRank() == 0)
        b = memref::ExpandShapeOp::create(
            rewriter, loc, MemRefType::get({1}, cast<MemRefType>(b.getType()).getElementType()),
            b, ArrayRef<ReassociationIndices>{});
      args.push_back(flatten(rewriter, loc, b));
    }
    bool tensorForm = op.hasPureTensorSemantics();
    Value out = tensorForm ? allocLike(rewriter, loc, op.getInit(), outElt)
                           : op.getInit();
    args.push_back(flatten(rewriter, loc, out));

    KernelSpec spec;
    spec.name = llvm::formatv("build_lut_{0}_n{1}_e{2}_s{3}{4}_t{5}",
                              stringifyTableFormat(format), total, entries,
                              typeTag(scaleElt),
                              zeroElt ? "_z" + typeTag(zeroElt) : std::string(),
                              typeTag(outElt));
    for (Value a : args)
      spec.argTypes.push_back(a.getType());
    spec.readOnly.assign(args.size(), true);
    spec.readOnly.back() = false;
    spec.block = {int32_t(kBuildLutThreads), 1, 1};
    int64_t blocks = ceilDiv(total, kBuildLutThreads);
    spec.grid = std::array<int32_t, 3>{int32_t(blocks), 1, 1};
    spec.strategy = "thread per table entry";
    gpu::GPUFuncOp kernel = getOrCreateKernel(
        op->getParentOfType<ModuleOp>(), spec,
        [&](Emitter &ke, ValueRange kargs, ValueRange) {
          Value i = ke.add(ke.mul(blockId(ke, gpu::Dimension::x), kBuildLutThreads),
                           threadIdX(ke));
          ke.ifThen(ke.ult(i, total), [&]() {
            Value s = ke.divu(i, entries), q = ke.remu(i, entries);
            Value scale = ke.toF32(ke.load(kargs[0], s));
            Type f32 = ke.b.getF32Type();
            Value level;
            if (format == TableFormat::Affine) {
              Value qi = arith::IndexCastUIOp::create(ke.b, ke.loc,
                                                      ke.b.getI32Type(), q);
              Value qf = arith::UIToFPOp::create(ke.b, ke.loc, f32, qi);
              Value zero = ke.load(kargs[1], s);
              if (isa<IntegerType>(zero.getType()))
                zero = arith::SIToFPOp::create(ke.b, ke.loc, f32, zero);
              else
                zero = ke.toF32(zero);
              level = arith::SubFOp::create(ke.b, ke.loc, qf, zero);
            } else {
              level = ke.f32(book[0]);
              for (unsigned c = 1; c < book.size(); ++c)
                level = ke.select(
                    arith::CmpIOp::create(ke.b, ke.loc, arith::CmpIPredicate::eq,
                                          q, ke.idx(c)),
                    ke.f32(book[c]), level);
            }
            Value v = arith::MulFOp::create(ke.b, ke.loc, scale, level);
            ke.store(ke.fromF32(v, outElt), kargs.back(), i);
          });
        });
    launchKernel(rewriter, loc, kernel, {e.idx(blocks), e.idx(1), e.idx(1)},
                 args);
    if (tensorForm)
      rewriter.replaceOp(op, bufferization::ToTensorOp::create(
                                 rewriter, loc, op->getResult(0).getType(), out,
                                 /*restrict=*/true, /*writable=*/true));
    else
      rewriter.eraseOp(op);
    return success();
  }
};

} // namespace

void mlir::squant::populateBuildLutToGPUPatterns(RewritePatternSet &patterns,
                                                 const SQuantToGPUOptions &) {
  patterns.add<BuildLutToGPU>(patterns.getContext());
}

std::string mlir::squant::getBuildLutGPUBlocker(Operation *op) {
  return buildLutBlocker(cast<BuildLutOp>(op));
}
