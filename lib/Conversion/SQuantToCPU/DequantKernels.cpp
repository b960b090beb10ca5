//===- DequantKernels.cpp - lut_dequant and unpack CPU kernels ------------===//
//
// Row-parallel loops that read the codes straight from the packed words (in
// either layout) and write each output element once: no intermediate codes
// tensor for lut_dequant(unpack(words)). The inner loops are scalar; they
// run at load time (re-layout, dequantization for a dense GEMM), not in the
// decode loop, which uses the lut_matmul kernels.
//
//===----------------------------------------------------------------------===//

#include "DequantKernels.h"

using namespace mlir;
using namespace mlir::squant;
using namespace mlir::squant::cpu;

static StringRef layoutName(CodeLayout layout) {
  switch (layout) {
  case CodeLayout::Codes:
    return "codes";
  case CodeLayout::RowMajorWords:
    return "rowmajor";
  case CodeLayout::SqueezeLLMWords:
    return "squeezellm";
  }
  return "";
}

std::string LutDequantSpec::kernelName() const {
  return ("__squant_cpu_lut_dequant_t" + std::to_string(threads) + "_" +
          layoutName(layout) + "_b" + std::to_string(bits) + "_" +
          mangleType(codes) + "_" + mangleType(lut) + "_" + mangleType(out))
      .str();
}

std::string UnpackSpec::kernelName() const {
  return ("__squant_cpu_unpack_t" + std::to_string(threads) + "_" +
          layoutName(layout) + "_" + mangleType(words) + "_" +
          mangleType(out))
      .str();
}

/// Row-parallel loops over an [n, k] output: `body(b, row, col)` per element.
static void emitPerElement(
    ImplicitLocOpBuilder &b, Value n, Value k, unsigned threads,
    llvm::function_ref<void(ImplicitLocOpBuilder &, Value, Value)> body) {
  emitRowBlocks(b, n, threads,
                [&](ImplicitLocOpBuilder &ib, Value begin, Value end) {
                  emitFor(ib, begin, end, cIdx(ib, 1), {},
                          [&](ImplicitLocOpBuilder &jb, Value row, ValueRange) {
                            emitFor(jb, cIdx(jb, 0), k, cIdx(jb, 1), {},
                                    [&](ImplicitLocOpBuilder &kb, Value col,
                                        ValueRange) {
                                      body(kb, row, col);
                                      return SmallVector<Value>();
                                    });
                            return SmallVector<Value>();
                          });
                });
}

func::FuncOp
mlir::squant::cpu::getOrCreateLutDequantKernel(ModuleOp module,
                                               const LutDequantSpec &spec) {
  return getOrCreateKernel(
      module, spec.kernelName(), {spec.codes, spec.lut, spec.out},
      [&](ImplicitLocOpBuilder &b, ValueRange args) {
        Value codes = args[0], lut = args[1], out = args[2];
        Value k = dimOf(b, out, 1);
        Type outElt = spec.out.getElementType();
        emitPerElement(b, dimOf(b, out, 0), k, spec.threads,
                       [&](ImplicitLocOpBuilder &kb, Value row, Value col) {
                         Value c = emitCodeAt(kb, codes, spec.layout,
                                              spec.bits, row, col);
                         Value v = emitTableAt(kb, lut, k, row, col, c);
                         memref::StoreOp::create(kb, convertFloat(kb, v, outElt),
                                                 out, ValueRange{row, col});
                       });
      });
}

func::FuncOp mlir::squant::cpu::getOrCreateUnpackKernel(ModuleOp module,
                                                        const UnpackSpec &spec) {
  return getOrCreateKernel(
      module, spec.kernelName(), {spec.words, spec.out},
      [&](ImplicitLocOpBuilder &b, ValueRange args) {
        Value words = args[0], out = args[1];
        Type codeType = spec.out.getElementType();
        emitPerElement(b, dimOf(b, out, 0), dimOf(b, out, 1), spec.threads,
                       [&](ImplicitLocOpBuilder &kb, Value row, Value col) {
                         Value c = emitCodeAt(kb, words, spec.layout,
                                              spec.bits, row, col);
                         Value v = arith::IndexCastUIOp::create(kb, codeType, c);
                         memref::StoreOp::create(kb, v, out,
                                                 ValueRange{row, col});
                       });
      });
}
