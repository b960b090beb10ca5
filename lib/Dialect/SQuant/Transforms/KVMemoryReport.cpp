//===- KVMemoryReport.cpp - squant-kv-memory-report pass ------------------===//
//
// Reports the memory of each KV cache (bytes per token per layer, fixed
// bytes, tables) as a remark at every KV-cache op. Analysis only.
//
//===----------------------------------------------------------------------===//

#include "squant/Dialect/SQuant/IR/SQuantOps.h"
#include "squant/Dialect/SQuant/Transforms/Passes.h"

#include "llvm/Support/Format.h"
#include "llvm/Support/raw_ostream.h"

namespace mlir::squant {
#define GEN_PASS_DEF_SQUANTKVMEMORYREPORT
#include "squant/Dialect/SQuant/Transforms/Passes.h.inc"
} // namespace mlir::squant

using namespace mlir;
using namespace mlir::squant;

namespace {

/// Bytes, exact when integral, else with two decimals.
std::string bytes(double b) {
  std::string s;
  llvm::raw_string_ostream os(s);
  if (b == double(int64_t(b)))
    os << int64_t(b);
  else
    os << llvm::format("%.2f", b);
  return s;
}

Type elementType(Value v) {
  return cast<ShapedType>(v.getType()).getElementType();
}

void report(Operation *op, KVCacheFormatAttr format, ValueRange tables,
            ValueRange cache, int64_t headDim) {
  int64_t heads = cast<ShapedType>(cache[0].getType()).getDimSize(1);
  if (ShapedType::isDynamic(heads)) {
    op->emitRemark() << "kv cache " << format
                     << ": the number of KV heads is dynamic, no memory "
                        "report";
    return;
  }
  SmallVector<Type> componentTypes, tableTypes;
  for (Value v : cache)
    componentTypes.push_back(elementType(v));
  for (Value v : tables)
    tableTypes.push_back(elementType(v));
  KVCacheMemory m =
      getKVCacheMemory(format, heads, headDim, componentTypes, tableTypes);
  std::string text;
  llvm::raw_string_ostream os(text);
  os << "kv cache " << format << ", H = " << heads
     << " KV heads x D = " << headDim << ": " << bytes(m.perTokenTotal())
     << " bytes/token/layer (";
  auto parts = [&](ArrayRef<KVCacheMemory::Part> list) {
    llvm::interleaveComma(list, os, [&](const KVCacheMemory::Part &p) {
      os << getKVComponentName(p.component) << " " << bytes(p.bytes);
    });
  };
  parts(m.perToken);
  os << "); fixed " << bytes(m.fixedTotal()) << " bytes/layer";
  if (!m.fixed.empty()) {
    os << " (";
    parts(m.fixed);
    os << ")";
  }
  os << "; tables " << bytes(m.tables) << " bytes/layer; fp16 cache "
     << bytes(m.fp16PerToken) << " bytes/token/layer ("
     << llvm::format("%.2f", m.fp16PerToken / m.perTokenTotal())
     << "x this cache)";
  op->emitRemark() << text;
}

struct SQuantKVMemoryReportPass
    : squant::impl::SQuantKVMemoryReportBase<SQuantKVMemoryReportPass> {
  void runOnOperation() override {
    getOperation()->walk([](Operation *op) {
      if (auto append = dyn_cast<KVAppendOp>(op))
        report(op, append.getFormat(), append.getTables(), append.getCache(),
               cast<ShapedType>(append.getKeys().getType()).getDimSize(3));
      else if (auto deq = dyn_cast<KVDequantizeOp>(op))
        report(op, deq.getFormat(), deq.getTables(), deq.getCache(),
               cast<ShapedType>(deq.getKeyInit().getType()).getDimSize(3));
      else if (auto attn = dyn_cast<KVAttentionOp>(op))
        report(op, attn.getFormat(), attn.getTables(), attn.getCache(),
               cast<ShapedType>(attn.getQuery().getType()).getDimSize(2));
    });
    markAllAnalysesPreserved();
  }
};

} // namespace
