//===- UnpackToGPU.cpp - squant.unpack to a GPU kernel --------------------===//
//
// One thread decodes one word group (1 word, or 3 words = 32 codes for
// B = 3) of `vec` channels and writes its codes:
//  * squeezellm (words [K*B/32, N]): lanes along N, 128-bit loads of four
//    channels' words, warps of a block along K;
//  * row_major (words [N, ceil(K*B/32)]): lanes along a channel's words, so
//    loads and stores are contiguous; the last group of a row may be short.
//
//===----------------------------------------------------------------------===//

#include "KernelBuilder.h"
#include "squant/Conversion/SQuantToGPU/SQuantToGPU.h"
#include "squant/Dialect/SQuant/IR/SQuantOps.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Bufferization/IR/Bufferization.h"
#include "mlir/IR/PatternMatch.h"
#include "llvm/Support/FormatVariadic.h"
#include "llvm/Support/MathExtras.h"

using namespace mlir;
using namespace mlir::squant;
using namespace mlir::squant::gpugen;

namespace {

constexpr int64_t kUnpackWarps = 8;

std::string unpackBlocker(UnpackOp op) {
  auto codesType = cast<ShapedType>(op.getInit().getType());
  if (codesType.isDynamicDim(0) || codesType.isDynamicDim(1))
    return "the GPU kernels need static N and K (codes shape)";
  if (codesType.getDimSize(0) == 0 || codesType.getDimSize(1) == 0)
    return "the GPU kernels need N > 0 and K > 0";
  for (Value v : {op.getPacked(), op.getInit()})
    if (auto mt = dyn_cast<MemRefType>(v.getType()))
      if (!mt.getLayout().isIdentity() || mt.getMemorySpace())
        return "the GPU kernels need identity-layout memrefs in the default "
               "memory space";
  return "";
}

struct UnpackPlan {
  int64_t n, k;
  unsigned bits;
  bool squeezellm;
  Type codeType;
  WordGroup wg;
  int64_t groupsK;    // word groups per channel (ceil for row_major)
  int64_t rowWords;   // row_major: words per channel
  int64_t vec = 1;
};

/// Arguments: words, codes.
void buildUnpackKernel(Emitter &e, const UnpackPlan &p, ValueRange args) {
  Value words = args[0], codes = args[1];
  Value tid = threadIdX(e);
  if (p.squeezellm) {
    int64_t chans = kWarpSize * p.vec;
    Value lane = e.remu(tid, kWarpSize), warp = e.divu(tid, kWarpSize);
    Value n0 = e.add(e.mul(blockId(e, gpu::Dimension::x), chans),
                     e.mul(lane, p.vec));
    Value g = e.add(e.mul(blockId(e, gpu::Dimension::y), kUnpackWarps), warp);
    Value active = e.ult(g, p.groupsK);
    if (p.n % chans)
      active = e.andi(active, e.ult(n0, p.n));
    e.ifThen(active, [&]() {
      auto vt = VectorType::get({p.vec}, e.b.getI32Type());
      SmallVector<Value> rows;
      for (unsigned w = 0; w < p.wg.words; ++w) {
        Value row = e.add(e.mul(g, p.wg.words), w);
        rows.push_back(e.vload(words, e.add(e.mul(row, p.n), n0), vt, 4 * p.vec));
      }
      Value k0 = e.mul(g, p.wg.codes);
      for (int64_t j = 0; j < p.vec; ++j) {
        SmallVector<Value> w;
        for (Value r : rows)
          w.push_back(e.extract(r, j));
        Value base = e.add(e.mul(e.add(n0, j), p.k), k0);
        for (unsigned i = 0; i < p.wg.codes; ++i) {
          Value c = extractCode(e, w, p.bits, i);
          e.store(arith::TruncIOp::create(e.b, e.loc, p.codeType, c), codes,
                  e.add(base, i));
        }
      }
    });
    return;
  }
  // row_major: thread per (channel, word group), lanes along the row.
  Value t = e.add(e.mul(blockId(e, gpu::Dimension::x), kUnpackWarps * kWarpSize),
                  tid);
  Value n = e.divu(t, p.groupsK), g = e.remu(t, p.groupsK);
  e.ifThen(e.ult(n, p.n), [&]() {
    SmallVector<Value> w;
    bool shortLast = p.groupsK * p.wg.words != p.rowWords;
    for (unsigned wi = 0; wi < p.wg.words; ++wi) {
      Value at = e.add(e.mul(g, p.wg.words), wi);
      if (!shortLast) {
        w.push_back(e.load(words, e.add(e.mul(n, p.rowWords), at)));
        continue;
      }
      // Words past the row end do not exist: read a valid word, use zero.
      Value inRow = e.ult(at, p.rowWords);
      Value v = e.load(words, e.add(e.mul(n, p.rowWords),
                                    e.minu(at, p.rowWords - 1)));
      w.push_back(e.select(inRow, v, e.i32(0)));
    }
    Value k0 = e.mul(g, p.wg.codes);
    Value base = e.add(e.mul(n, p.k), k0);
    for (unsigned i = 0; i < p.wg.codes; ++i) {
      Value c = extractCode(e, w, p.bits, i);
      auto st = [&]() {
        e.store(arith::TruncIOp::create(e.b, e.loc, p.codeType, c), codes,
                e.add(base, i));
      };
      if (p.k % p.wg.codes)
        e.ifThen(e.ult(e.add(k0, i), p.k), st);
      else
        st();
    }
  });
}

struct UnpackToGPU : OpRewritePattern<UnpackOp> {
  using OpRewritePattern::OpRewritePattern;

  LogicalResult matchAndRewrite(UnpackOp op,
                                PatternRewriter &rewriter) const override {
    std::string reason = unpackBlocker(op);
    if (!reason.empty())
      return rewriter.notifyMatchFailure(op, reason);
    // Leave the op to fused consumers that read its packed words: they run
    // first (higher benefit) and erase it once it is dead.
    for (Operation *user : op->getUsers())
      if (isa<LutMatmulOp, LutDequantOp>(user))
        return rewriter.notifyMatchFailure(op, "consumers fuse the unpacking");

    Location loc = op.getLoc();
    auto codesType = cast<ShapedType>(op.getInit().getType());
    UnpackPlan p;
    p.n = codesType.getDimSize(0);
    p.k = codesType.getDimSize(1);
    p.codeType = codesType.getElementType();
    p.bits = getCodeBitWidth(p.codeType);
    p.squeezellm = op.getLayout() == PackLayout::SqueezeLLM;
    p.wg = getWordGroup(p.bits);
    p.groupsK = ceilDiv(p.k, p.wg.codes);
    p.rowWords = getNumPackedWords(p.k, p.bits);
    if (p.squeezellm)
      p.vec = p.n % 4 == 0 ? 4 : p.n % 2 == 0 ? 2 : 1;

    rewriter.setInsertionPoint(op);
    Emitter e{rewriter, loc};
    FailureOr<Value> words = getInputBuffer(rewriter, loc, op.getPacked(), reason);
    if (failed(words))
      return rewriter.notifyMatchFailure(op, reason);
    bool tensorForm = op.hasPureTensorSemantics();
    Value out = tensorForm ? allocLike(rewriter, loc, op.getInit(), p.codeType)
                           : op.getInit();
    SmallVector<Value> args = {flatten(rewriter, loc, *words),
                               flatten(rewriter, loc, out)};

    KernelSpec spec;
    spec.name = llvm::formatv("unpack_{0}_b{1}_n{2}_k{3}_v{4}",
                              p.squeezellm ? "squeezellm" : "row_major", p.bits,
                              p.n, p.k, p.vec);
    spec.argTypes = {args[0].getType(), args[1].getType()};
    spec.readOnly = {true, false};
    spec.block = {int32_t(kUnpackWarps * kWarpSize), 1, 1};
    std::array<int64_t, 3> grid;
    if (p.squeezellm)
      grid = {ceilDiv(p.n, kWarpSize * p.vec),
              ceilDiv(p.groupsK, kUnpackWarps), 1};
    else
      grid = {ceilDiv(p.n * p.groupsK, kUnpackWarps * kWarpSize), 1, 1};
    spec.grid = std::array<int32_t, 3>{int32_t(grid[0]), int32_t(grid[1]),
                                       int32_t(grid[2])};
    spec.strategy = p.squeezellm
                        ? llvm::formatv("thread per word group of {0} channels "
                                        "(128-bit loads when 4)",
                                        p.vec)
                              .str()
                        : "thread per word group, lanes along the row";
    gpu::GPUFuncOp kernel = getOrCreateKernel(
        op->getParentOfType<ModuleOp>(), spec,
        [&](Emitter &ke, ValueRange kargs, ValueRange) {
          buildUnpackKernel(ke, p, kargs);
        });
    launchKernel(rewriter, loc, kernel,
                 {e.idx(grid[0]), e.idx(grid[1]), e.idx(grid[2])}, args);
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

void mlir::squant::populateUnpackToGPUPatterns(
    RewritePatternSet &patterns, const SQuantToGPUOptions &) {
  patterns.add<UnpackToGPU>(patterns.getContext());
}

std::string mlir::squant::getUnpackGPUBlocker(Operation *op) {
  return unpackBlocker(cast<UnpackOp>(op));
}
