//===- KVCacheGraph.cpp - quantized KV cache in the decoder graph ---------===//
//
// The layer function views each cache memref as a tensor
// (bufferization.to_tensor restrict writable), carries the cache through an
// scf.for over the new tokens (one squant.kv_append and one
// squant.kv_attention per token, so prefill sees exactly the cache that
// decoding would have built) and writes the result back with
// bufferization.materialize_in_destination: after bufferization the ops
// update the caches in place.
//
//===----------------------------------------------------------------------===//

#include "squant/Import/KVCacheGraph.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Bufferization/IR/Bufferization.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"

using namespace mlir;
using namespace mlir::squant;
using namespace mlir::squant::import;

static constexpr int64_t kDyn = ShapedType::kDynamic;

FailureOr<KVCacheFormatAttr>
mlir::squant::import::getKVFormatAttr(MLIRContext *ctx, Location loc,
                                      const LlamaConfig &c,
                                      const runtime::KVFormat &f) {
  KVMethod method =
      f.method == "kivi" ? KVMethod::KIVI : KVMethod::KVQuant;
  if (f.method != "kivi" && f.method != "kvquant")
    return emitError(loc) << "unknown KV cache method '" << f.method << "'";
  if (c.headDim % 8 != 0)
    return emitError(loc) << "a quantized KV cache needs a head dimension "
                             "that is a multiple of 8 (head_dim = "
                          << c.headDim << ")";
  if (f.bits < 0 || f.group < 0 || f.sink < 0 || f.residual < 0 ||
      f.outliers < 0)
    return emitError(loc) << "KV cache parameters must not be negative";
  if (f.group && c.headDim % f.group != 0)
    return emitError(loc) << "KV cache group " << f.group
                          << " does not divide the head dimension "
                          << c.headDim;
  if (f.outliers > c.headDim)
    return emitError(loc) << "KV cache outliers " << f.outliers
                          << " exceed the head dimension " << c.headDim;
  auto attr = KVCacheFormatAttr::getChecked(
      [&] { return emitError(loc); }, ctx, method, unsigned(f.bits),
      unsigned(f.group), unsigned(f.sink), unsigned(f.residual),
      unsigned(f.outliers));
  if (!attr)
    return failure();
  return attr;
}

static Type elementTypeOf(Builder &b, runtime::DType d) {
  switch (d) {
  case runtime::DType::I8: return b.getI8Type();
  case runtime::DType::I16: return b.getI16Type();
  case runtime::DType::F16: return b.getF16Type();
  default: return b.getF32Type();
  }
}

SmallVector<Type> mlir::squant::import::quantizedCacheArgTypes(
    MLIRContext *ctx, const LlamaConfig &c, const runtime::KVFormat &f) {
  Builder b(ctx);
  SmallVector<Type> types;
  // Shapes at 1 slot tell which dimension is the token dimension: every
  // per-token one (dimension 2 of codes, scales, outliers; kivi's key
  // scale/zero rows) is dynamic, the sink and residual buffers are not.
  for (const runtime::KVCacheComponent &comp :
       runtime::kvCacheComponents(f, c.numKVHeads, c.headDim, 1)) {
    SmallVector<int64_t> shape(comp.shape.begin(), comp.shape.end());
    StringRef n = comp.name;
    if (!n.ends_with("_sink") && !n.ends_with("_residual"))
      shape[2] = kDyn;
    types.push_back(MemRefType::get(shape, elementTypeOf(b, comp.dtype)));
  }
  if (f.hasTables()) {
    int64_t levels = int64_t(1) << f.bits;
    types.push_back(RankedTensorType::get({c.numKVHeads, c.headDim, levels},
                                          b.getF32Type()));
    types.push_back(RankedTensorType::get({levels}, b.getF32Type()));
  }
  return types;
}

Value mlir::squant::import::buildQuantizedAttention(
    OpBuilder &b, Location loc, const LlamaConfig &c, KVCacheFormatAttr format,
    Value q, Value k, Value v, Value pos, Value numTokens,
    ValueRange cacheAndTables) {
  int64_t hq = c.numHeads, hkv = c.numKVHeads, d = c.headDim;
  Type f32 = b.getF32Type();
  bool tables = format.getMethod() == KVMethod::KVQuant;
  ValueRange caches = cacheAndTables.drop_back(tables ? 2 : 0);
  ValueRange tableArgs = cacheAndTables.take_back(tables ? 2 : 0);

  SmallVector<Value> init;
  for (Value m : caches) {
    auto mt = cast<MemRefType>(m.getType());
    auto tt = RankedTensorType::get(mt.getShape(), mt.getElementType());
    init.push_back(bufferization::ToTensorOp::create(
        b, loc, tt, m, /*restrict=*/true, /*writable=*/true));
  }
  init.push_back(tensor::EmptyOp::create(b, loc, ArrayRef<int64_t>{kDyn, hq * d},
                                         f32, ValueRange{numTokens}));
  Value c0 = arith::ConstantIndexOp::create(b, loc, 0);
  Value c1 = arith::ConstantIndexOp::create(b, loc, 1);
  auto rope = c.ropeStyle == RopeStyle::Interleaved
                  ? squant::RopeStyle::Interleaved
                  : squant::RopeStyle::Half;
  auto loop = scf::ForOp::create(
      b, loc, c0, numTokens, c1, init,
      [&](OpBuilder &bb, Location l, Value i, ValueRange iter) {
        Value p = arith::AddIOp::create(bb, l, pos, i);
        SmallVector<OpFoldResult> one(2, bb.getIndexAttr(1));
        auto row = [&](Value src, int64_t heads, ArrayRef<int64_t> shape,
                       ArrayRef<ReassociationIndices> re) -> Value {
          SmallVector<OpFoldResult> offsets = {i, bb.getIndexAttr(0)};
          SmallVector<OpFoldResult> sizes = {bb.getIndexAttr(1),
                                             bb.getIndexAttr(heads * d)};
          auto rowType = RankedTensorType::get({1, heads * d}, f32);
          Value r = tensor::ExtractSliceOp::create(bb, l, rowType, src,
                                                   offsets, sizes, one);
          return tensor::ExpandShapeOp::create(
              bb, l, RankedTensorType::get(shape, f32), r, re);
        };
        SmallVector<ReassociationIndices> kvRe = {{0}, {1, 2, 3}};
        Value kr = row(k, hkv, {1, hkv, 1, d}, kvRe);
        Value vr = row(v, hkv, {1, hkv, 1, d}, kvRe);
        ValueRange cacheIn = iter.drop_back();
        SmallVector<Type> cacheTypes(cacheIn.getTypes());
        auto append = KVAppendOp::create(bb, l, cacheTypes, format, kr, vr, p,
                                         tableArgs, cacheIn);
        SmallVector<ReassociationIndices> qRe = {{0}, {1, 2}};
        Value qr = row(q, hq, {1, hq, d}, qRe);
        Value len = arith::AddIOp::create(bb, l, p, c1);
        auto outType = RankedTensorType::get({1, hq, d}, f32);
        Value out = tensor::EmptyOp::create(bb, l, outType.getShape(), f32);
        Value o = KVAttentionOp::create(
                      bb, l, TypeRange{outType}, format, qr, len, p,
                      tableArgs, append.getResults(),
                      squant::RopeStyleAttr::get(bb.getContext(), rope),
                      bb.getF32FloatAttr(float(c.ropeTheta)), FloatAttr(),
                      out)
                      ->getResult(0);
        Value flat = tensor::CollapseShapeOp::create(
            bb, l, RankedTensorType::get({1, hq * d}, f32), o, qRe);
        SmallVector<OpFoldResult> offsets = {i, bb.getIndexAttr(0)};
        SmallVector<OpFoldResult> sizes = {bb.getIndexAttr(1),
                                           bb.getIndexAttr(hq * d)};
        Value acc = tensor::InsertSliceOp::create(bb, l, flat, iter.back(),
                                                  offsets, sizes, one);
        SmallVector<Value> yielded(append.getResults());
        yielded.push_back(acc);
        scf::YieldOp::create(bb, l, yielded);
      });
  for (auto [j, m] : llvm::enumerate(caches))
    bufferization::MaterializeInDestinationOp::create(
        b, loc, TypeRange{}, loop.getResult(j), m, /*restrict=*/true,
        /*writable=*/true);
  return loop.getResults().back();
}
