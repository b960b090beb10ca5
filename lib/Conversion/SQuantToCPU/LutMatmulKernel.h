//===- LutMatmulKernel.h - the lut_matmul CPU kernel ------------*- C++ -*-===//

#ifndef SQUANT_LIB_CONVERSION_SQUANTTOCPU_LUTMATMULKERNEL_H
#define SQUANT_LIB_CONVERSION_SQUANTTOCPU_LUTMATMULKERNEL_H

#include "KernelBuilder.h"

#include "mlir/IR/BuiltinTypes.h"

namespace mlir::squant::cpu {

/// Everything that distinguishes one lut_matmul kernel from another. The
/// kernel takes (x, w, lut, [pos, crd, val,] y) as memrefs and overwrites y.
struct LutMatmulSpec {
  CPUTarget target = CPUTarget::Generic; // never Auto
  unsigned threads = 0;
  unsigned bits = 4;
  /// w holds row_major packed words [N, ceil(K*B/32)] x i32 (one bit stream
  /// per output channel); otherwise w is the codes [N, K] x iB.
  bool packedWords = false;
  MemRefType x, w, lut, y;
  /// CSR buffers of the outliers (all null without outliers).
  MemRefType pos, crd, val;

  bool hasOutliers() const { return static_cast<bool>(pos); }
  /// Codes per vector look-up on this target (0: scalar only).
  unsigned vectorWidth() const;
  /// Whether the register-table vector path is used (else scalar loops).
  bool usesVectorPath() const;
  std::string kernelName() const;
  SmallVector<Type> argTypes() const;
};

/// Returns the kernel function for `spec` in `module`, emitting it once.
func::FuncOp getOrCreateLutMatmulKernel(ModuleOp module,
                                        const LutMatmulSpec &spec);

} // namespace mlir::squant::cpu

#endif // SQUANT_LIB_CONVERSION_SQUANTTOCPU_LUTMATMULKERNEL_H
