//===- KVDequantizeToGPU.cpp - squant.kv_dequantize to a GPU kernel -------===//
//
// Writes the keys and values a cache represents for tokens start .. start+n-1
// (docs/kv-cache.md, kv_dequantize), bit-exactly. One kernel, a thread per
// (batch row, KV head, token): it reads the token's packed codes with the
// widest aligned loads (16 bytes when D*B/8 allows), decodes the D channels
// in registers (constant shifts and masks), dequantizes them (kvquant:
// per-channel key table / value table times the token's scale, outlier
// slots applied in order; kivi: code * scale + zero; sinks and the kivi
// residual window read as floats) and stores the row with 16-byte stores.
// Grid (ceil(n / 64), H, Bt).
//
//===----------------------------------------------------------------------===//

#include "KVCacheKernels.h"
#include "squant/Conversion/SQuantToGPU/SQuantToGPU.h"

#include "mlir/Dialect/Bufferization/IR/Bufferization.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include "llvm/Support/FormatVariadic.h"

using namespace mlir;
using namespace mlir::squant;
using namespace mlir::squant::gpugen;

namespace {

constexpr int64_t kDequantThreads = 64;

std::string dequantBlocker(KVDequantizeOp op) {
  std::string reason = checkMemrefOperands(op->getOperands());
  if (!reason.empty())
    return reason;
  int64_t d = cast<ShapedType>(op.getKeyInit().getType()).getDimSize(3);
  if (failed(KVLayout::get(op.getFormat(), op.getTables(), op.getCache(), d,
                           reason)))
    return reason;
  return "";
}

/// Stores the D values of `elem` (converted to the element type of `out`) at
/// element offset `base`, in aligned vector chunks.
void storeRow(Emitter &e, Value out, Value base, int64_t d,
              const ElementFn &elem) {
  Type elt = cast<MemRefType>(out.getType()).getElementType();
  int64_t bytes = elt.getIntOrFloatBitWidth() / 8;
  int64_t chunk = 16 / bytes;
  while (chunk > 1 && d % chunk != 0)
    chunk /= 2;
  for (int64_t c0 = 0; c0 < d; c0 += chunk) {
    SmallVector<Value> vals;
    for (int64_t c = c0; c < c0 + chunk; ++c)
      vals.push_back(e.fromF32(elem(c), elt));
    if (chunk == 1) {
      e.store(vals[0], out, e.add(base, c0));
      continue;
    }
    Value v = vector::FromElementsOp::create(
        e.b, e.loc, VectorType::get({chunk}, elt), vals);
    e.vstore(v, out, e.add(base, c0), std::min<int64_t>(16, chunk * bytes));
  }
}

/// Arguments: [key_lut, value_lut,] cache..., key_out, value_out, start,
/// len, L, n.
void buildDequantKernel(Emitter &e, const KVLayout &lay, ValueRange args) {
  unsigned a = 0;
  KVCacheView view;
  view.lay = &lay;
  if (!lay.kivi) {
    view.keyLut = args[a++];
    view.valueLut = args[a++];
  }
  for (size_t i = 0; i < lay.kinds.size(); ++i)
    view.comps.push_back(args[a++]);
  Value keyOut = args[a++], valueOut = args[a++];
  Value start = args[a++], len = args[a++], slots = args[a++], n = args[a++];
  view.slots = ShapedType::isDynamic(lay.slots) ? slots : e.idx(lay.slots);
  if (lay.kivi)
    view.keyRows = e.divu(e.sub(view.slots, e.idx(lay.sink)), lay.group);
  int64_t d = lay.headDim;

  Value tid = threadIdX(e);
  Value i = e.add(e.mul(blockId(e, gpu::Dimension::x), kDequantThreads), tid);
  Value h = blockId(e, gpu::Dimension::y);
  Value b = blockId(e, gpu::Dimension::z);
  e.ifThen(e.ult(i, n), [&]() {
    Value t = e.add(start, i);
    KVBounds bounds = computeBounds(e, lay, len, view.slots);
    Value inRange = e.andi(e.sle(e.idx(0), t), e.slt(t, bounds.n));
    Value outBase = e.mul(e.add(e.mul(e.add(e.mul(b, lay.heads), h), n), i), d);
    Value zero = e.f32(0.0);
    ElementFn zeros = [&](int64_t) { return zero; };
    e.ifThenElse(
        inRange, TypeRange{},
        [&]() -> SmallVector<Value> {
          for (bool key : {true, false}) {
            Value out = key ? keyOut : valueOut;
            Value lutBase = lay.kivi ? Value() : e.mul(h, d * lay.levels);
            forTokenSource(e, view, key, b, h, t, bounds, TypeRange{},
                           view.keyLut, lutBase, /*withOutliers=*/true,
                           [&](const ElementFn &elem, QuantTokenReader *) {
                             storeRow(e, out, outBase, d, elem);
                             return SmallVector<Value>{};
                           });
          }
          return {};
        },
        [&]() -> SmallVector<Value> {
          storeRow(e, keyOut, outBase, d, zeros);
          storeRow(e, valueOut, outBase, d, zeros);
          return {};
        });
  });
}

struct KVDequantizeToGPU : OpRewritePattern<KVDequantizeOp> {
  using OpRewritePattern::OpRewritePattern;

  LogicalResult matchAndRewrite(KVDequantizeOp op,
                                PatternRewriter &rewriter) const override {
    std::string reason = dequantBlocker(op);
    if (!reason.empty())
      return rewriter.notifyMatchFailure(op, reason);
    Location loc = op.getLoc();
    Value keyInit = op.getKeyInit(), valueInit = op.getValueInit();
    int64_t d = cast<ShapedType>(keyInit.getType()).getDimSize(3);
    KVLayout lay =
        *KVLayout::get(op.getFormat(), op.getTables(), op.getCache(), d, reason);
    bool tensorForm = op.hasPureTensorSemantics();
    rewriter.setInsertionPoint(op);
    Emitter e{rewriter, loc};

    FailureOr<SmallVector<Value>> tables =
        getFlatInputs(rewriter, loc, op.getTables(), reason);
    FailureOr<SmallVector<Value>> cache =
        getFlatInputs(rewriter, loc, op.getCache(), reason);
    if (failed(tables) || failed(cache))
      return rewriter.notifyMatchFailure(op, reason);
    Type keyType = cast<ShapedType>(keyInit.getType()).getElementType();
    Type valueType = cast<ShapedType>(valueInit.getType()).getElementType();
    Value keyOut = tensorForm ? allocLike(rewriter, loc, keyInit, keyType)
                              : keyInit;
    Value valueOut = tensorForm
                         ? allocLike(rewriter, loc, valueInit, valueType)
                         : valueInit;
    Value n = hostDim(rewriter, loc, keyInit, 2);
    Value batch = hostDim(rewriter, loc, op.getCache()[0], 0);
    Value slots = hostDim(rewriter, loc, op.getCache()[0], 2);

    SmallVector<Value> args(tables->begin(), tables->end());
    args.append(cache->begin(), cache->end());
    args.push_back(flatten(rewriter, loc, keyOut));
    args.push_back(flatten(rewriter, loc, valueOut));
    args.append({op.getStart(), op.getLen(), slots, n});

    KernelSpec spec;
    spec.name = llvm::formatv("kv_dequantize_{0}_k{1}_v{2}", lay.tag(),
                              typeTag(keyType), typeTag(valueType));
    for (Value v : args)
      spec.argTypes.push_back(v.getType());
    spec.readOnly.assign(args.size(), true);
    spec.readOnly[tables->size() + cache->size()] = false;
    spec.readOnly[tables->size() + cache->size() + 1] = false;
    spec.block = {int32_t(kDequantThreads), 1, 1};
    // ptxas targets 48 registers for 64 threads by itself, which spills the
    // unrolled decode of kivi rows (scale and zero rows of 2 x D halves);
    // 96 does not. kvquant rows assemble without spills at ptxas's own
    // choice, but spill with a larger budget (its scheduler then hoists
    // all 2 x D table look-ups), so they get none.
    if (lay.kivi)
      spec.maxRegisters = 96;
    spec.strategy = "thread per token vector: wide loads of the packed codes, "
                    "decode in registers, 16-byte row stores";
    gpu::GPUFuncOp kernel = getOrCreateKernel(
        op->getParentOfType<ModuleOp>(), spec,
        [&](Emitter &ke, ValueRange kargs, ValueRange) {
          buildDequantKernel(ke, lay, kargs);
        });
    launchKernel(rewriter, loc, kernel,
                 {e.ceilDiv(n, kDequantThreads), e.idx(lay.heads), batch},
                 args);
    if (tensorForm) {
      Value k = bufferization::ToTensorOp::create(
          rewriter, loc, op->getResult(0).getType(), keyOut, true, true);
      Value v = bufferization::ToTensorOp::create(
          rewriter, loc, op->getResult(1).getType(), valueOut, true, true);
      rewriter.replaceOp(op, ValueRange{k, v});
    } else {
      rewriter.eraseOp(op);
    }
    return success();
  }
};

} // namespace

void mlir::squant::populateKVDequantizeToGPUPatterns(
    RewritePatternSet &patterns, const SQuantToGPUOptions &) {
  patterns.add<KVDequantizeToGPU>(patterns.getContext());
}

std::string mlir::squant::getKVDequantizeGPUBlocker(Operation *op) {
  return dequantBlocker(cast<KVDequantizeOp>(op));
}
