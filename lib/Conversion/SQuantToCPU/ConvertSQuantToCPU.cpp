//===- ConvertSQuantToCPU.cpp - convert-squant-to-cpu ---------------------===//
//
// Replaces squant.lut_matmul on tensors by calls to fused CPU kernels
// (LutMatmulKernel.cpp). Runs before bufferization, because the outlier
// operand is a sparse tensor that the dense bufferization refuses: the CSR
// buffers are taken here with sparse_tensor.positions/coordinates/values,
// the dense operands with bufferization.to_buffer, and the result is a
// fresh buffer turned back into a tensor with bufferization.to_tensor.
//
// The KV-cache ops are lowered in their memref form (squant-cpu-pipeline
// runs this pass again after bufferization): kv_append then updates the
// caches in place. Their operands are cast to the kernels' strided types
// (KVKernels.h).
//
//===----------------------------------------------------------------------===//

#include "DequantKernels.h"
#include "KVKernels.h"
#include "LutMatmulKernel.h"

#include "squant/Conversion/Passes.h"
#include "squant/Dialect/SQuant/IR/SQuantOps.h"

#include "mlir/Dialect/Bufferization/IR/Bufferization.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/SparseTensor/IR/SparseTensor.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"

#include <cmath>

namespace mlir::squant {
#define GEN_PASS_DEF_CONVERTSQUANTTOCPU
#include "squant/Conversion/Passes.h.inc"
} // namespace mlir::squant

using namespace mlir;
using namespace mlir::squant;
using namespace mlir::squant::cpu;

namespace {

MemRefType memrefFor(Type tensorType) {
  auto t = cast<RankedTensorType>(tensorType);
  return MemRefType::get(t.getShape(), t.getElementType());
}

/// Dynamic sizes of `v` (a ranked tensor) as index values.
SmallVector<Value> dynamicSizes(ImplicitLocOpBuilder &b, Value v) {
  SmallVector<Value> sizes;
  auto t = cast<RankedTensorType>(v.getType());
  for (int64_t d = 0; d < t.getRank(); ++d)
    if (t.isDynamicDim(d))
      sizes.push_back(tensor::DimOp::create(b, v, d));
  return sizes;
}

Value toBuffer(ImplicitLocOpBuilder &b, Value tensor) {
  return bufferization::ToBufferOp::create(b, memrefFor(tensor.getType()),
                                           tensor, /*read_only=*/true);
}

LogicalResult lowerLutMatmul(LutMatmulOp op, ModuleOp module,
                             CPUTarget target, unsigned threads) {
  OpBuilder ob(op);
  ImplicitLocOpBuilder b(op.getLoc(), ob);
  Value codes = op.getCodes();
  auto codesType = cast<RankedTensorType>(codes.getType());
  unsigned bits = getCodeBitWidth(codesType.getElementType());

  LutMatmulSpec spec;
  spec.target = target;
  spec.threads = threads;
  spec.bits = bits;

  // Codes that come from packed words are read packed. SqueezeLLM words
  // [K*B/32, N] become row_major words [N, K*B/32] (the same bit stream per
  // output channel): a transpose that depends only on the weights, i.e. the
  // load-time re-layout.
  Value weights = codes;
  auto unpack = codes.getDefiningOp<UnpackOp>();
  if (unpack && unpack.hasPureTensorSemantics() &&
      (bits == 2 || bits == 3 || bits == 4 || bits == 8)) {
    Value words = unpack.getPacked();
    if (unpack.getLayout() == PackLayout::SqueezeLLM) {
      auto wt = cast<RankedTensorType>(words.getType());
      SmallVector<Value> dyn;
      if (wt.isDynamicDim(1))
        dyn.push_back(tensor::DimOp::create(b, words, 1));
      if (wt.isDynamicDim(0))
        dyn.push_back(tensor::DimOp::create(b, words, 0));
      Value init = tensor::EmptyOp::create(
          b, ArrayRef<int64_t>{wt.getDimSize(1), wt.getDimSize(0)},
          wt.getElementType(), dyn);
      words = linalg::TransposeOp::create(b, words, init,
                                          ArrayRef<int64_t>{1, 0})
                  .getResult()[0];
    }
    weights = words;
    spec.packedWords = true;
  }

  // Affine tables are not built: the kernel takes their scale and zero and
  // computes the entries it needs (the table would be 2^B floats per group,
  // 32 bytes per weight for ggml Q8_0).
  SmallVector<Value> args = {toBuffer(b, op.getX()), toBuffer(b, weights)};
  spec.lut = memrefFor(op.getLut().getType());
  auto buildLut = op.getLut().getDefiningOp<BuildLutOp>();
  bool affine = buildLut && buildLut.getFormat() == TableFormat::Affine &&
                buildLut.getZero() && buildLut.hasPureTensorSemantics();
  if (affine) {
    args.push_back(toBuffer(b, buildLut.getScale()));
    args.push_back(toBuffer(b, buildLut.getZero()));
    spec.scale = cast<MemRefType>(args[2].getType());
    spec.zero = cast<MemRefType>(args[3].getType());
  } else {
    args.push_back(toBuffer(b, op.getLut()));
  }
  if (Value s = op.getOutliers()) {
    unsigned first = args.size();
    args.push_back(sparse_tensor::ToPositionsOp::create(b, s, 1));
    args.push_back(sparse_tensor::ToCoordinatesOp::create(b, s, 1));
    args.push_back(sparse_tensor::ToValuesOp::create(b, s));
    spec.pos = cast<MemRefType>(args[first].getType());
    spec.crd = cast<MemRefType>(args[first + 1].getType());
    spec.val = cast<MemRefType>(args[first + 2].getType());
  }
  Value init = op.getInit();
  MemRefType yType = memrefFor(init.getType());
  Value yBuf = memref::AllocOp::create(b, yType, dynamicSizes(b, init),
                                       b.getI64IntegerAttr(64));
  args.push_back(yBuf);
  spec.x = cast<MemRefType>(args[0].getType());
  spec.w = cast<MemRefType>(args[1].getType());
  spec.y = yType;

  func::FuncOp kernel = getOrCreateLutMatmulKernel(module, spec);
  func::CallOp::create(b, kernel, args);
  Value result = bufferization::ToTensorOp::create(
      b, init.getType(), yBuf, /*restrict=*/true, /*writable=*/true);
  op->getResult(0).replaceAllUsesWith(result);
  op.erase();
  // The codes are no longer needed when the kernel reads the words.
  if (spec.packedWords && unpack->use_empty())
    unpack.erase();
  if (affine && buildLut->use_empty())
    buildLut.erase();
  return success();
}

/// Replaces a DPS op on tensors by `call @kernel(inputs..., out)` on a fresh
/// buffer that becomes the result.
void replaceByKernelCall(ImplicitLocOpBuilder &b, Operation *op,
                         func::FuncOp kernel, SmallVector<Value> args,
                         Value init) {
  Value out = memref::AllocOp::create(b, memrefFor(init.getType()),
                                      dynamicSizes(b, init),
                                      b.getI64IntegerAttr(64));
  args.push_back(out);
  func::CallOp::create(b, kernel, args);
  Value result = bufferization::ToTensorOp::create(
      b, init.getType(), out, /*restrict=*/true, /*writable=*/true);
  op->getResult(0).replaceAllUsesWith(result);
  op->erase();
}

MemRefType memrefTypeOf(Value v) { return cast<MemRefType>(v.getType()); }

CodeLayout layoutOf(PackLayout layout) {
  return layout == PackLayout::SqueezeLLM ? CodeLayout::SqueezeLLMWords
                                          : CodeLayout::RowMajorWords;
}

void lowerLutDequant(LutDequantOp op, ModuleOp module, unsigned threads) {
  OpBuilder ob(op);
  ImplicitLocOpBuilder b(op.getLoc(), ob);
  Value codes = op.getCodes();
  LutDequantSpec spec;
  spec.threads = threads;
  spec.bits = getCodeBitWidth(
      cast<RankedTensorType>(codes.getType()).getElementType());
  // Read the words of an unpack directly, in their own layout.
  auto unpack = codes.getDefiningOp<UnpackOp>();
  Value source = codes;
  if (unpack && unpack.hasPureTensorSemantics()) {
    source = unpack.getPacked();
    spec.layout = layoutOf(unpack.getLayout());
  }
  SmallVector<Value> args = {toBuffer(b, source), toBuffer(b, op.getLut())};
  spec.codes = memrefTypeOf(args[0]);
  spec.lut = memrefTypeOf(args[1]);
  spec.out = memrefFor(op.getInit().getType());
  func::FuncOp kernel = getOrCreateLutDequantKernel(module, spec);
  replaceByKernelCall(b, op, kernel, args, op.getInit());
  if (unpack && unpack->use_empty())
    unpack.erase();
}

void lowerUnpack(UnpackOp op, ModuleOp module, unsigned threads) {
  OpBuilder ob(op);
  ImplicitLocOpBuilder b(op.getLoc(), ob);
  UnpackSpec spec;
  spec.threads = threads;
  spec.bits = getCodeBitWidth(
      cast<RankedTensorType>(op.getInit().getType()).getElementType());
  spec.layout = layoutOf(op.getLayout());
  SmallVector<Value> args = {toBuffer(b, op.getPacked())};
  spec.words = memrefTypeOf(args[0]);
  spec.out = memrefFor(op.getInit().getType());
  func::FuncOp kernel = getOrCreateUnpackKernel(module, spec);
  replaceByKernelCall(b, op, kernel, args, op.getInit());
}

//===----------------------------------------------------------------------===//
// KV-cache ops (memref form)
//===----------------------------------------------------------------------===//

/// Whether every shaped operand of `op` is a memref the KV kernels can take
/// (a strided layout with unit innermost stride).
bool kvOperandsSupported(Operation *op) {
  for (Value v : op->getOperands()) {
    if (v.getType().isIndex())
      continue;
    auto t = dyn_cast<MemRefType>(v.getType());
    if (!t || t.getRank() == 0)
      return false;
    SmallVector<int64_t> strides;
    int64_t offset;
    if (failed(t.getStridesAndOffset(strides, offset)) || strides.back() != 1)
      return false;
  }
  return op->getNumResults() == 0;
}

Value castToKernelArg(ImplicitLocOpBuilder &b, Value v) {
  auto t = cast<MemRefType>(v.getType());
  MemRefType kt = kvKernelArgType(t.getElementType(), t.getRank());
  if (kt == t)
    return v;
  return memref::CastOp::create(b, kt, v);
}

Type elementTypeOf(Value v) {
  return cast<ShapedType>(v.getType()).getElementType();
}

template <typename OpTy>
void fillKVSpec(KVSpecBase &spec, OpTy op, CPUTarget target, unsigned threads,
                int64_t headDim) {
  spec.target = target;
  spec.threads = threads;
  spec.format = op.getFormat();
  spec.headDim = headDim;
  for (Value t : op.getTables())
    spec.tableTypes.push_back(elementTypeOf(t));
  for (Value t : op.getCache())
    spec.cacheTypes.push_back(elementTypeOf(t));
}

void lowerKVAppend(KVAppendOp op, ModuleOp module, CPUTarget target,
                   unsigned threads) {
  ImplicitLocOpBuilder b(op.getLoc(), op);
  KVAppendSpec spec;
  fillKVSpec(spec, op, target, threads,
             cast<MemRefType>(op.getKeys().getType()).getDimSize(3));
  spec.keyType = elementTypeOf(op.getKeys());
  spec.valueType = elementTypeOf(op.getValues());
  SmallVector<Value> args = {castToKernelArg(b, op.getKeys()),
                             castToKernelArg(b, op.getValues()),
                             op.getPosition()};
  for (Value v : op.getTables())
    args.push_back(castToKernelArg(b, v));
  for (Value v : op.getCache())
    args.push_back(castToKernelArg(b, v));
  func::CallOp::create(b, getOrCreateKVAppendKernel(module, spec), args);
  op.erase();
}

/// Returns false (leaving the op to squant-decompose) when the number of
/// query heads per KV head is not static.
bool lowerKVAttention(KVAttentionOp op, ModuleOp module, CPUTarget target,
                      unsigned threads) {
  auto qType = cast<MemRefType>(op.getQuery().getType());
  int64_t hq = qType.getDimSize(1);
  int64_t h = cast<MemRefType>(op.getCache()[0].getType()).getDimSize(1);
  if (ShapedType::isDynamic(hq) || ShapedType::isDynamic(h) || h == 0)
    return false;
  ImplicitLocOpBuilder b(op.getLoc(), op);
  KVAttentionSpec spec;
  int64_t headDim = qType.getDimSize(2);
  fillKVSpec(spec, op, target, threads, headDim);
  spec.groupSize = hq / h;
  spec.rope = op.getRope();
  spec.theta = op.getRopeTheta().convertToFloat();
  spec.scale = op.getScale() ? op.getScale()->convertToFloat()
                             : 1.0f / std::sqrt(float(headDim));
  spec.queryType = elementTypeOf(op.getQuery());
  spec.outType = elementTypeOf(op.getInit());
  SmallVector<Value> args = {castToKernelArg(b, op.getQuery()), op.getLen(),
                             op.getPosition()};
  for (Value v : op.getTables())
    args.push_back(castToKernelArg(b, v));
  for (Value v : op.getCache())
    args.push_back(castToKernelArg(b, v));
  args.push_back(castToKernelArg(b, op.getInit()));
  func::CallOp::create(b, getOrCreateKVAttentionKernel(module, spec), args);
  op.erase();
  return true;
}

void lowerKVDequantize(KVDequantizeOp op, ModuleOp module, CPUTarget target,
                       unsigned threads) {
  ImplicitLocOpBuilder b(op.getLoc(), op);
  KVDequantizeSpec spec;
  fillKVSpec(spec, op, target, threads,
             cast<MemRefType>(op.getKeyInit().getType()).getDimSize(3));
  spec.keyOutType = elementTypeOf(op.getKeyInit());
  spec.valueOutType = elementTypeOf(op.getValueInit());
  SmallVector<Value> args;
  for (Value v : op.getTables())
    args.push_back(castToKernelArg(b, v));
  for (Value v : op.getCache())
    args.push_back(castToKernelArg(b, v));
  args.append({op.getStart(), op.getLen(), castToKernelArg(b, op.getKeyInit()),
               castToKernelArg(b, op.getValueInit())});
  func::CallOp::create(b, getOrCreateKVDequantizeKernel(module, spec), args);
  op.erase();
}

struct ConvertSQuantToCPUPass
    : squant::impl::ConvertSQuantToCPUBase<ConvertSQuantToCPUPass> {
  using Base::Base;

  void runOnOperation() override {
    ModuleOp module = getOperation();
    CPUTarget resolved = resolveCPUTarget(target);
    SmallVector<LutMatmulOp> matmuls;
    module.walk([&](LutMatmulOp op) {
      // The memref form (no outliers) is left to squant-decompose.
      if (op.hasPureTensorSemantics())
        matmuls.push_back(op);
    });
    for (LutMatmulOp op : matmuls)
      if (failed(lowerLutMatmul(op, module, resolved, threads)))
        return signalPassFailure();
    // Then lut_dequant (fused with the unpack of its codes), then the
    // unpacks still used (e.g. codes returned to the caller).
    SmallVector<LutDequantOp> dequants;
    module.walk([&](LutDequantOp op) {
      if (op.hasPureTensorSemantics())
        dequants.push_back(op);
    });
    for (LutDequantOp op : dequants)
      lowerLutDequant(op, module, threads);
    SmallVector<UnpackOp> unpacks;
    module.walk([&](UnpackOp op) {
      if (op.hasPureTensorSemantics())
        unpacks.push_back(op);
    });
    for (UnpackOp op : unpacks) {
      if (op->use_empty())
        op.erase();
      else
        lowerUnpack(op, module, threads);
    }
    // KV-cache ops in their memref form (the tensor form waits for
    // bufferization).
    SmallVector<Operation *> kvOps;
    module.walk([&](Operation *op) {
      if (isa<KVAppendOp, KVAttentionOp, KVDequantizeOp>(op) &&
          kvOperandsSupported(op))
        kvOps.push_back(op);
    });
    for (Operation *op : kvOps) {
      if (auto append = dyn_cast<KVAppendOp>(op))
        lowerKVAppend(append, module, resolved, threads);
      else if (auto attention = dyn_cast<KVAttentionOp>(op))
        (void)lowerKVAttention(attention, module, resolved, threads);
      else
        lowerKVDequantize(cast<KVDequantizeOp>(op), module, resolved,
                          threads);
    }
  }
};

} // namespace
