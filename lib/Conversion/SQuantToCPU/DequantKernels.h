//===- DequantKernels.h - lut_dequant and unpack CPU kernels ----*- C++ -*-===//

#ifndef SQUANT_LIB_CONVERSION_SQUANTTOCPU_DEQUANTKERNELS_H
#define SQUANT_LIB_CONVERSION_SQUANTTOCPU_DEQUANTKERNELS_H

#include "KernelBuilder.h"

#include "mlir/IR/BuiltinTypes.h"

namespace mlir::squant::cpu {

/// lut_dequant: W[n, k] = lut[.., code(n, k)] in the element type of `out`.
/// Kernel arguments: (codes, lut, out).
struct LutDequantSpec {
  unsigned threads = 0;
  unsigned bits = 4;
  CodeLayout layout = CodeLayout::Codes;
  MemRefType codes, lut, out;
  std::string kernelName() const;
};
func::FuncOp getOrCreateLutDequantKernel(ModuleOp module,
                                         const LutDequantSpec &spec);

/// unpack: codes[n, k] from packed words. Kernel arguments: (words, out).
struct UnpackSpec {
  unsigned threads = 0;
  unsigned bits = 4;
  CodeLayout layout = CodeLayout::RowMajorWords;
  MemRefType words, out;
  std::string kernelName() const;
};
func::FuncOp getOrCreateUnpackKernel(ModuleOp module, const UnpackSpec &spec);

} // namespace mlir::squant::cpu

#endif // SQUANT_LIB_CONVERSION_SQUANTTOCPU_DEQUANTKERNELS_H
