//===- LutMatmulKernel.h - the lut_matmul CPU kernel ------------*- C++ -*-===//

#ifndef SQUANT_LIB_CONVERSION_SQUANTTOCPU_LUTMATMULKERNEL_H
#define SQUANT_LIB_CONVERSION_SQUANTTOCPU_LUTMATMULKERNEL_H

#include "KernelBuilder.h"

#include "mlir/IR/BuiltinTypes.h"

namespace mlir::squant::cpu {

/// Everything that distinguishes one lut_matmul kernel from another. The
/// kernel takes (x, w, lut, [pos, crd, val,] y) as memrefs and overwrites y;
/// with `affine`, (x, w, scale, zero, [pos, crd, val,] y): the table is the
/// one `squant.build_lut affine` would build, lut[.., q] = scale * (q - zero),
/// computed in registers instead of read.
struct LutMatmulSpec {
  CPUTarget target = CPUTarget::Generic; // never Auto
  unsigned threads = 0;
  unsigned bits = 4;
  /// w holds row_major packed words [N, ceil(K*B/32)] x i32 (one bit stream
  /// per output channel); otherwise w is the codes [N, K] x iB.
  bool packedWords = false;
  /// The table's type; with `affine` it is not an argument, only its shape
  /// (table groups) and element type (the rounding of an entry) matter.
  MemRefType x, w, lut, y;
  /// Affine tables: scale and zero, of the table's shape without its last
  /// dimension (null otherwise).
  MemRefType scale, zero;
  /// CSR buffers of the outliers (all null without outliers).
  MemRefType pos, crd, val;

  bool hasOutliers() const { return static_cast<bool>(pos); }
  bool affine() const { return static_cast<bool>(scale); }
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
