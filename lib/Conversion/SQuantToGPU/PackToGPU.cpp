//===- PackToGPU.cpp - squant.pack to a GPU kernel ------------------------===//
//
// The inverse of the unpack kernel: one thread assembles one word group
// (1 word, or 3 words for B = 3) of `vec` channels by shifting each code to
// its bit position (a code straddling two words contributes to both).
//  * squeezellm (words [K*B/32, N]): lanes along N, 128-bit stores of four
//    channels' words;
//  * row_major (words [N, ceil(K*B/32)]): lanes along a channel's words; the
//    last group of a row may be short (missing codes are zero bits).
//
//===----------------------------------------------------------------------===//

#include "KernelBuilder.h"
#include "squant/Conversion/SQuantToGPU/SQuantToGPU.h"
#include "squant/Dialect/SQuant/IR/SQuantOps.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Bufferization/IR/Bufferization.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include "mlir/IR/PatternMatch.h"
#include "llvm/Support/FormatVariadic.h"

using namespace mlir;
using namespace mlir::squant;
using namespace mlir::squant::gpugen;

namespace {

constexpr int64_t kPackWarps = 8;

std::string packBlocker(PackOp op) {
  auto codesType = cast<ShapedType>(op.getCodes().getType());
  if (codesType.isDynamicDim(0) || codesType.isDynamicDim(1))
    return "the GPU kernels need static N and K (codes shape)";
  if (codesType.getDimSize(0) == 0 || codesType.getDimSize(1) == 0)
    return "the GPU kernels need N > 0 and K > 0";
  for (Value v : {op.getCodes(), op.getInit()})
    if (auto mt = dyn_cast<MemRefType>(v.getType()))
      if (!mt.getLayout().isIdentity() || mt.getMemorySpace())
        return "the GPU kernels need identity-layout memrefs in the default "
               "memory space";
  return "";
}

struct PackPlan {
  int64_t n, k;
  unsigned bits;
  bool squeezellm;
  WordGroup wg;
  int64_t groupsK, rowWords, vec = 1;
};

/// The words of one group from its codes (i32, zero where absent).
SmallVector<Value> assembleWords(Emitter &e, ArrayRef<Value> codes,
                                 const WordGroup &wg) {
  SmallVector<Value> words(wg.words, e.i32(0));
  for (unsigned i = 0; i < wg.codes; ++i) {
    unsigned bit = i * wg.bits, w = bit / 32, shift = bit % 32;
    Value lo = shift ? arith::ShLIOp::create(e.b, e.loc, codes[i], e.i32(shift))
                     : codes[i];
    words[w] = arith::OrIOp::create(e.b, e.loc, words[w], lo);
    if (shift + wg.bits > 32) {
      Value hi = arith::ShRUIOp::create(e.b, e.loc, codes[i], e.i32(32 - shift));
      words[w + 1] = arith::OrIOp::create(e.b, e.loc, words[w + 1], hi);
    }
  }
  return words;
}

/// Arguments: codes, words.
void buildPackKernel(Emitter &e, const PackPlan &p, ValueRange args) {
  Value codes = args[0], words = args[1];
  Type i32 = e.b.getI32Type();
  Value tid = threadIdX(e);
  auto code = [&](Value at) -> Value {
    return arith::ExtUIOp::create(e.b, e.loc, i32, e.load(codes, at));
  };
  if (p.squeezellm) {
    int64_t chans = kWarpSize * p.vec;
    Value lane = e.remu(tid, kWarpSize), warp = e.divu(tid, kWarpSize);
    Value n0 = e.add(e.mul(blockId(e, gpu::Dimension::x), chans),
                     e.mul(lane, p.vec));
    Value g = e.add(e.mul(blockId(e, gpu::Dimension::y), kPackWarps), warp);
    Value active = e.ult(g, p.groupsK);
    if (p.n % chans)
      active = e.andi(active, e.ult(n0, p.n));
    e.ifThen(active, [&]() {
      Value k0 = e.mul(g, p.wg.codes);
      SmallVector<SmallVector<Value>> perChannel;
      for (int64_t j = 0; j < p.vec; ++j) {
        Value base = e.add(e.mul(e.add(n0, j), p.k), k0);
        SmallVector<Value> cs;
        for (unsigned i = 0; i < p.wg.codes; ++i)
          cs.push_back(code(e.add(base, i)));
        perChannel.push_back(assembleWords(e, cs, p.wg));
      }
      auto vt = VectorType::get({p.vec}, i32);
      for (unsigned w = 0; w < p.wg.words; ++w) {
        SmallVector<Value> row;
        for (int64_t j = 0; j < p.vec; ++j)
          row.push_back(perChannel[j][w]);
        Value at = e.add(e.mul(e.add(e.mul(g, p.wg.words), w), p.n), n0);
        if (p.vec == 1)
          e.store(row[0], words, at);
        else
          e.vstore(vector::FromElementsOp::create(e.b, e.loc, vt, row), words,
                   at, 4 * p.vec);
      }
    });
    return;
  }
  Value t = e.add(e.mul(blockId(e, gpu::Dimension::x), kPackWarps * kWarpSize),
                  tid);
  Value n = e.divu(t, p.groupsK), g = e.remu(t, p.groupsK);
  e.ifThen(e.ult(n, p.n), [&]() {
    Value k0 = e.mul(g, p.wg.codes);
    Value base = e.add(e.mul(n, p.k), k0);
    bool short_ = p.k % p.wg.codes != 0;
    SmallVector<Value> cs;
    for (unsigned i = 0; i < p.wg.codes; ++i) {
      if (!short_) {
        cs.push_back(code(e.add(base, i)));
        continue;
      }
      Value k = e.add(k0, i);
      Value v = code(e.add(e.mul(n, p.k), e.minu(k, p.k - 1)));
      cs.push_back(e.select(e.ult(k, p.k), v, e.i32(0)));
    }
    SmallVector<Value> ws = assembleWords(e, cs, p.wg);
    for (unsigned w = 0; w < p.wg.words; ++w) {
      Value at = e.add(e.mul(g, p.wg.words), w);
      auto st = [&]() { e.store(ws[w], words, e.add(e.mul(n, p.rowWords), at)); };
      if (p.groupsK * p.wg.words != p.rowWords)
        e.ifThen(e.ult(at, p.rowWords), st);
      else
        st();
    }
  });
}

struct PackToGPU : OpRewritePattern<PackOp> {
  using OpRewritePattern::OpRewritePattern;

  LogicalResult matchAndRewrite(PackOp op,
                                PatternRewriter &rewriter) const override {
    std::string reason = packBlocker(op);
    if (!reason.empty())
      return rewriter.notifyMatchFailure(op, reason);
    Location loc = op.getLoc();
    auto codesType = cast<ShapedType>(op.getCodes().getType());
    PackPlan p;
    p.n = codesType.getDimSize(0);
    p.k = codesType.getDimSize(1);
    p.bits = getCodeBitWidth(codesType.getElementType());
    p.squeezellm = op.getLayout() == PackLayout::SqueezeLLM;
    p.wg = getWordGroup(p.bits);
    p.groupsK = ceilDiv(p.k, p.wg.codes);
    p.rowWords = getNumPackedWords(p.k, p.bits);
    if (p.squeezellm)
      p.vec = p.n % 4 == 0 ? 4 : p.n % 2 == 0 ? 2 : 1;

    rewriter.setInsertionPoint(op);
    Emitter e{rewriter, loc};
    FailureOr<Value> codes = getInputBuffer(rewriter, loc, op.getCodes(), reason);
    if (failed(codes))
      return rewriter.notifyMatchFailure(op, reason);
    bool tensorForm = op.hasPureTensorSemantics();
    Value out = tensorForm
                    ? allocLike(rewriter, loc, op.getInit(), rewriter.getI32Type())
                    : op.getInit();
    SmallVector<Value> args = {flatten(rewriter, loc, *codes),
                               flatten(rewriter, loc, out)};
    KernelSpec spec;
    spec.name = llvm::formatv("pack_{0}_b{1}_n{2}_k{3}_v{4}",
                              p.squeezellm ? "squeezellm" : "row_major", p.bits,
                              p.n, p.k, p.vec);
    spec.argTypes = {args[0].getType(), args[1].getType()};
    spec.readOnly = {true, false};
    spec.block = {int32_t(kPackWarps * kWarpSize), 1, 1};
    std::array<int64_t, 3> grid;
    if (p.squeezellm)
      grid = {ceilDiv(p.n, kWarpSize * p.vec), ceilDiv(p.groupsK, kPackWarps), 1};
    else
      grid = {ceilDiv(p.n * p.groupsK, kPackWarps * kWarpSize), 1, 1};
    spec.grid = std::array<int32_t, 3>{int32_t(grid[0]), int32_t(grid[1]),
                                       int32_t(grid[2])};
    spec.strategy = "thread per word group";
    gpu::GPUFuncOp kernel = getOrCreateKernel(
        op->getParentOfType<ModuleOp>(), spec,
        [&](Emitter &ke, ValueRange kargs, ValueRange) {
          buildPackKernel(ke, p, kargs);
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

void mlir::squant::populatePackToGPUPatterns(RewritePatternSet &patterns,
                                             const SQuantToGPUOptions &) {
  patterns.add<PackToGPU>(patterns.getContext());
}

std::string mlir::squant::getPackGPUBlocker(Operation *op) {
  return packBlocker(cast<PackOp>(op));
}
