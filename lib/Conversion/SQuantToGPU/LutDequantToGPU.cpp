//===- LutDequantToGPU.cpp - squant.lut_dequant to a GPU kernel -----------===//
//
// W[n, k] = lut[..., codes[n, k]]: the one squant op whose result *is* the
// dequantized matrix (for consumers that need W itself). One kernel:
//  * codes from `squant.unpack squeezellm`: a thread reads one word group of
//    two channels with a 64-bit load, decodes it in registers, looks the
//    codes up and writes each channel's run of W with 16-byte stores (with
//    four channels per thread the 3-bit kernel has 128 look-ups in flight
//    and ptxas trades spills for occupancy on sm_80);
//  * other codes: a thread per (channel, run of codes), lanes along K.
// Tables are read through the read-only cache (each entry is used by one
// thread per run; staging them in shared memory would not pay off).
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
#include "llvm/Support/MathExtras.h"

using namespace mlir;
using namespace mlir::squant;
using namespace mlir::squant::gpugen;

namespace {

constexpr int64_t kDequantWarps = 8;

std::string dequantBlocker(LutDequantOp op) {
  auto codesType = cast<ShapedType>(op.getCodes().getType());
  if (codesType.isDynamicDim(0) || codesType.isDynamicDim(1))
    return "the GPU kernels need static N and K (codes shape)";
  if (codesType.getDimSize(0) == 0 || codesType.getDimSize(1) == 0)
    return "the GPU kernels need N > 0 and K > 0";
  auto lutType = cast<ShapedType>(op.getLut().getType());
  if (lutType.getRank() == 3 && lutType.isDynamicDim(1))
    return "the GPU kernels need a static number of table groups";
  for (Value v : {op.getCodes(), op.getLut(), op.getInit()})
    if (auto mt = dyn_cast<MemRefType>(v.getType()))
      if (!mt.getLayout().isIdentity() || mt.getMemorySpace())
        return "the GPU kernels need identity-layout memrefs in the default "
               "memory space";
  return "";
}

struct DequantPlan {
  int64_t n, k, entries, groups = 1, lutRank;
  unsigned bits;
  bool packed;
  Type outType, lutType, codeType;
  int64_t vec = 1, codesPerGroup, wordsPerGroup = 0, groupsK;
  int64_t storeChunk = 1;
};

/// Arguments: words|codes, lut, W.
void buildDequantKernel(Emitter &e, const DequantPlan &p, ValueRange args) {
  Value src = args[0], lut = args[1], out = args[2];
  Value tid = threadIdX(e);
  int64_t groupSize = p.k / p.groups;

  auto lookup = [&](Value n, Value code, Value k) -> Value {
    Value c = arith::IndexCastUIOp::create(e.b, e.loc, e.b.getIndexType(), code);
    Value at = c;
    if (p.lutRank == 2)
      at = e.add(e.mul(n, p.entries), c);
    else if (p.lutRank == 3)
      at = e.add(e.mul(e.add(e.mul(n, p.groups), e.divu(k, groupSize)), p.entries), c);
    Value v = e.load(lut, at);
    if (v.getType() == p.outType)
      return v;
    return e.fromF32(e.toF32(v), p.outType);
  };
  // Writes `vals` (consecutive k from `at`) with vector stores of storeChunk.
  auto storeRun = [&](ArrayRef<Value> vals, Value at) {
    int64_t chunk = p.storeChunk;
    if (chunk == 1) {
      for (auto [i, v] : llvm::enumerate(vals))
        e.store(v, out, e.add(at, i));
      return;
    }
    auto vt = VectorType::get({chunk}, p.outType);
    int64_t bytes = chunk * p.outType.getIntOrFloatBitWidth() / 8;
    for (int64_t c = 0; c < int64_t(vals.size()) / chunk; ++c) {
      Value v = vector::FromElementsOp::create(e.b, e.loc, vt,
                                               vals.slice(c * chunk, chunk));
      e.vstore(v, out, e.add(at, c * chunk), bytes);
    }
  };

  if (p.packed) {
    int64_t chans = kWarpSize * p.vec;
    Value lane = e.remu(tid, kWarpSize), warp = e.divu(tid, kWarpSize);
    Value n0 = e.add(e.mul(blockId(e, gpu::Dimension::x), chans),
                     e.mul(lane, p.vec));
    Value g = e.add(e.mul(blockId(e, gpu::Dimension::y), kDequantWarps), warp);
    Value active = e.ult(g, p.groupsK);
    if (p.n % chans)
      active = e.andi(active, e.ult(n0, p.n));
    e.ifThen(active, [&]() {
      auto vt = VectorType::get({p.vec}, e.b.getI32Type());
      SmallVector<Value> rows;
      for (int64_t w = 0; w < p.wordsPerGroup; ++w) {
        Value row = e.add(e.mul(g, p.wordsPerGroup), w);
        rows.push_back(e.vload(src, e.add(e.mul(row, p.n), n0), vt, 4 * p.vec));
      }
      Value k0 = e.mul(g, p.codesPerGroup);
      for (int64_t j = 0; j < p.vec; ++j) {
        SmallVector<Value> words;
        for (Value r : rows)
          words.push_back(e.extract(r, j));
        Value n = e.add(n0, j);
        SmallVector<Value> vals;
        for (int64_t i = 0; i < p.codesPerGroup; ++i)
          vals.push_back(lookup(n, extractCode(e, words, p.bits, i), e.add(k0, i)));
        storeRun(vals, e.add(e.mul(n, p.k), k0));
      }
    });
    return;
  }
  // Unpacked codes: thread per (channel, run), lanes along K.
  Value t = e.add(e.mul(blockId(e, gpu::Dimension::x), kDequantWarps * kWarpSize),
                  tid);
  Value n = e.divu(t, p.groupsK), g = e.remu(t, p.groupsK);
  e.ifThen(e.ult(n, p.n), [&]() {
    Value k0 = e.mul(g, p.codesPerGroup);
    Value base = e.add(e.mul(n, p.k), k0);
    SmallVector<Value> vals;
    for (int64_t i = 0; i < p.codesPerGroup; ++i) {
      Value code = arith::ExtUIOp::create(e.b, e.loc, e.b.getI32Type(),
                                          e.load(src, e.add(base, i)));
      vals.push_back(lookup(n, code, e.add(k0, i)));
    }
    storeRun(vals, base);
  });
}

struct LutDequantToGPU : OpRewritePattern<LutDequantOp> {
  LutDequantToGPU(MLIRContext *ctx)
      : OpRewritePattern(ctx, /*benefit=*/2) {}

  LogicalResult matchAndRewrite(LutDequantOp op,
                                PatternRewriter &rewriter) const override {
    std::string reason = dequantBlocker(op);
    if (!reason.empty())
      return rewriter.notifyMatchFailure(op, reason);
    Location loc = op.getLoc();
    Operation *unpack = findSqueezeLLMUnpack(op.getCodes(), op);
    auto codesType = cast<ShapedType>(op.getCodes().getType());
    auto lutType = cast<ShapedType>(op.getLut().getType());
    DequantPlan p;
    p.n = codesType.getDimSize(0);
    p.k = codesType.getDimSize(1);
    p.codeType = codesType.getElementType();
    p.bits = getCodeBitWidth(p.codeType);
    p.entries = int64_t(1) << p.bits;
    p.lutRank = lutType.getRank();
    if (p.lutRank == 3)
      p.groups = lutType.getDimSize(1);
    p.lutType = lutType.getElementType();
    p.outType = cast<ShapedType>(op.getInit().getType()).getElementType();
    p.packed = unpack != nullptr;
    if (p.packed) {
      WordGroup wg = getWordGroup(p.bits);
      p.wordsPerGroup = wg.words;
      p.codesPerGroup = wg.codes;
      p.vec = p.n % 2 == 0 ? 2 : 1;
    } else {
      p.codesPerGroup = p.k % 8 == 0 ? 8 : p.k % 4 == 0 ? 4 : p.k % 2 == 0 ? 2 : 1;
    }
    p.groupsK = p.k / p.codesPerGroup;
    int64_t eltBytes = p.outType.getIntOrFloatBitWidth() / 8;
    p.storeChunk = std::min<int64_t>(16 / eltBytes, p.codesPerGroup);

    rewriter.setInsertionPoint(op);
    Emitter e{rewriter, loc};
    Value srcVal = unpack ? cast<UnpackOp>(unpack).getPacked() : op.getCodes();
    FailureOr<Value> src = getInputBuffer(rewriter, loc, srcVal, reason);
    if (failed(src))
      return rewriter.notifyMatchFailure(op, reason);
    FailureOr<Value> lut = getInputBuffer(rewriter, loc, op.getLut(), reason);
    if (failed(lut))
      return rewriter.notifyMatchFailure(op, reason);
    bool tensorForm = op.hasPureTensorSemantics();
    Value out = tensorForm ? allocLike(rewriter, loc, op.getInit(), p.outType)
                           : op.getInit();
    SmallVector<Value> args = {flatten(rewriter, loc, *src),
                               flatten(rewriter, loc, *lut),
                               flatten(rewriter, loc, out)};

    KernelSpec spec;
    spec.name = llvm::formatv("lut_dequant_b{0}_{1}_t{2}x{3}_n{4}_k{5}_l{6}_w{7}_v{8}",
                              p.bits, p.packed ? "sq" : "codes", p.lutRank,
                              p.groups, p.n, p.k, typeTag(p.lutType),
                              typeTag(p.outType), p.vec);
    for (Value a : args)
      spec.argTypes.push_back(a.getType());
    spec.readOnly = {true, true, false};
    spec.block = {int32_t(kDequantWarps * kWarpSize), 1, 1};
    std::array<int64_t, 3> grid;
    if (p.packed)
      grid = {ceilDiv(p.n, kWarpSize * p.vec),
              ceilDiv(p.groupsK, kDequantWarps), 1};
    else
      grid = {ceilDiv(p.n * p.groupsK, kDequantWarps * kWarpSize), 1, 1};
    spec.grid = std::array<int32_t, 3>{int32_t(grid[0]), int32_t(grid[1]),
                                       int32_t(grid[2])};
    spec.strategy = p.packed ? "thread per word group of 2 channels, 64-bit "
                               "loads, tables via the read-only cache"
                             : "thread per run of codes, lanes along K";
    gpu::GPUFuncOp kernel = getOrCreateKernel(
        op->getParentOfType<ModuleOp>(), spec,
        [&](Emitter &ke, ValueRange kargs, ValueRange) {
          buildDequantKernel(ke, p, kargs);
        });
    launchKernel(rewriter, loc, kernel,
                 {e.idx(grid[0]), e.idx(grid[1]), e.idx(grid[2])}, args);
    if (tensorForm)
      rewriter.replaceOp(op, bufferization::ToTensorOp::create(
                                 rewriter, loc, op->getResult(0).getType(), out,
                                 /*restrict=*/true, /*writable=*/true));
    else
      rewriter.eraseOp(op);
    eraseUnpackIfDead(rewriter, unpack);
    return success();
  }
};

} // namespace

void mlir::squant::populateLutDequantToGPUPatterns(
    RewritePatternSet &patterns, const SQuantToGPUOptions &) {
  patterns.add<LutDequantToGPU>(patterns.getContext());
}

std::string mlir::squant::getLutDequantGPUBlocker(Operation *op) {
  return dequantBlocker(cast<LutDequantOp>(op));
}
