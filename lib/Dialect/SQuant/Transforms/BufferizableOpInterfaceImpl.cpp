//===- BufferizableOpInterfaceImpl.cpp - squant bufferization -------------===//
//
// External BufferizableOpInterface models: every squant op is
// destination-style, so it reads its inputs, writes its `outs` operands in
// place, and each tensor result aliases (is equivalent to) its `outs`
// operand (kv_append: the cache). Bufferizing re-creates the op on memrefs
// with no results.
//
//===----------------------------------------------------------------------===//

#include "squant/Dialect/SQuant/Transforms/BufferizableOpInterfaceImpl.h"
#include "squant/Dialect/SQuant/IR/SQuantOps.h"

#include "mlir/Dialect/Bufferization/IR/BufferizableOpInterface.h"
#include "mlir/Dialect/Bufferization/IR/DstBufferizableOpInterfaceImpl.h"
#include "mlir/Dialect/SparseTensor/IR/SparseTensor.h"
#include "mlir/IR/DialectRegistry.h"

using namespace mlir;
using namespace mlir::bufferization;
using namespace mlir::squant;

namespace {
template <typename ConcreteModel, typename OpTy>
struct SQuantBufferizationBase
    : DstBufferizableOpInterfaceExternalModel<ConcreteModel, OpTy> {
  LogicalResult bufferize(Operation *op, RewriterBase &rewriter,
                          const BufferizationOptions &options,
                          BufferizationState &state) const {
    SmallVector<Value> buffers;
    for (Value operand : op->getOperands()) {
      if (!isa<TensorType>(operand.getType())) {
        buffers.push_back(operand);
        continue;
      }
      if (sparse_tensor::getSparseTensorEncoding(operand.getType()))
        return op->emitOpError()
               << "cannot bufferize sparse outliers: lower the op first "
                  "(squant-decompose or a squant-cpu-pipeline kernel)";
      FailureOr<Value> buffer = getBuffer(rewriter, operand, options, state);
      if (failed(buffer))
        return failure();
      buffers.push_back(*buffer);
    }
    rewriter.setInsertionPoint(op);
    OperationState bufferized(op->getLoc(), op->getName(), buffers,
                              TypeRange{}, op->getAttrs());
    Operation *newOp = rewriter.create(bufferized);
    SmallVector<Value> inits =
        cast<DestinationStyleOpInterface>(newOp).getDpsInits();
    replaceOpWithBufferizedValues(rewriter, op, inits);
    return success();
  }
};

template <typename OpTy>
struct SQuantOpBufferization
    : SQuantBufferizationBase<SQuantOpBufferization<OpTy>, OpTy> {};

/// KV-cache ops: kv_append reads and writes its cache (the destination);
/// kv_dequantize and kv_attention overwrite their `outs` without reading
/// them.
template <typename OpTy>
struct SQuantKVOpBufferization
    : SQuantBufferizationBase<SQuantKVOpBufferization<OpTy>, OpTy> {
  bool bufferizesToMemoryRead(Operation *op, OpOperand &opOperand,
                              const AnalysisState &state) const {
    return isa<KVAppendOp>(op) ||
           !cast<DestinationStyleOpInterface>(op).isDpsInit(&opOperand);
  }
};

template <typename... OpTys>
void attachModels(MLIRContext *ctx) {
  (OpTys::template attachInterface<SQuantOpBufferization<OpTys>>(*ctx), ...);
}

template <typename... OpTys>
void attachKVModels(MLIRContext *ctx) {
  (OpTys::template attachInterface<SQuantKVOpBufferization<OpTys>>(*ctx),
   ...);
}
} // namespace

void mlir::squant::registerBufferizableOpInterfaceExternalModels(
    DialectRegistry &registry) {
  registry.addExtension(+[](MLIRContext *ctx, SQuantDialect *) {
    attachModels<BuildLutOp, LutDequantOp, LutMatmulOp, PackOp, UnpackOp>(ctx);
    attachKVModels<KVAppendOp, KVAttentionOp, KVDequantizeOp>(ctx);
  });
}
