//===- KernelBuilder.h - helpers for the CPU kernels ------------*- C++ -*-===//
//
// Shared by the kernel emitters of convert-squant-to-cpu (one file per op
// family: LutMatmulKernel.cpp today; the KV-cache kernels later). Kernels
// are private functions on memrefs, emitted once per distinct signature.
//
//===----------------------------------------------------------------------===//

#ifndef SQUANT_LIB_CONVERSION_SQUANTTOCPU_KERNELBUILDER_H
#define SQUANT_LIB_CONVERSION_SQUANTTOCPU_KERNELBUILDER_H

#include "squant/Conversion/SQuantToCPU/SQuantToCPU.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/ImplicitLocOpBuilder.h"

#include <functional>
#include <string>

namespace mlir::squant::cpu {

/// Index constant.
inline Value cIdx(ImplicitLocOpBuilder &b, int64_t v) {
  return arith::ConstantIndexOp::create(b, v);
}

/// Size of dimension `d` of a memref (a constant when static).
inline Value dimOf(ImplicitLocOpBuilder &b, Value memref, int64_t d) {
  auto t = cast<MemRefType>(memref.getType());
  if (!t.isDynamicDim(d))
    return cIdx(b, t.getDimSize(d));
  return memref::DimOp::create(b, memref, d);
}

/// Converts a float scalar or vector to `dst` (element type), via f32 when
/// the widths are equal (f16 <-> bf16).
Value convertFloat(ImplicitLocOpBuilder &b, Value v, Type dstElt);

/// Emits `for i in [lb, ub) step s` carrying `inits`; the body returns the
/// values to yield. Returns the loop results.
SmallVector<Value>
emitFor(ImplicitLocOpBuilder &b, Value lb, Value ub, Value step,
        ValueRange inits,
        llvm::function_ref<SmallVector<Value>(ImplicitLocOpBuilder &, Value,
                                              ValueRange)>
            body);

/// Output rows per block of emitRowBlocks.
constexpr int64_t kRowsPerBlock = 16;

/// Emits the loop over output-row blocks (kRowsPerBlock rows each): an `scf.parallel` (split across
/// threads later by scf-to-openmp) unless `threads == 1`, when it is an
/// `scf.for`. `body(rowBegin, rowEnd)` emits the work of one block.
void emitRowBlocks(ImplicitLocOpBuilder &b, Value rows, unsigned threads,
                   llvm::function_ref<void(ImplicitLocOpBuilder &, Value,
                                           Value)>
                       body);

/// Emits `for iv in [0, count)` whose iterations are independent: an
/// `scf.parallel` (split across threads by scf-to-openmp) unless
/// `threads == 1`, when it is an `scf.for`.
void emitParallelFor(ImplicitLocOpBuilder &b, Value count, unsigned threads,
                     llvm::function_ref<void(ImplicitLocOpBuilder &, Value)>
                         body);

/// A printable, symbol-safe rendering of a type ("?" -> "D").
std::string mangleType(Type t);

/// Returns the private kernel function `name` of `module`, creating it with
/// `argTypes` and `emitBody` (which receives the entry block arguments and
/// must not emit the terminator) when it does not exist yet.
func::FuncOp getOrCreateKernel(
    ModuleOp module, StringRef name, TypeRange argTypes,
    llvm::function_ref<void(ImplicitLocOpBuilder &, ValueRange)> emitBody);

/// Where the B-bit codes of a [N, K] weight matrix are read from.
enum class CodeLayout {
  /// One code per element: memref<N x K x iB>.
  Codes,
  /// Packed words, each row's bit stream contiguous: memref<N x KW x i32>.
  RowMajorWords,
  /// Packed words in SqueezeLLM's layout: memref<KW x N x i32>.
  SqueezeLLMWords,
};

/// Reads code (n, k) as an index (scalar code, any layout; codes are
/// unsigned, code k at stream bits [kB, kB + B)).
Value emitCodeAt(ImplicitLocOpBuilder &b, Value codes, CodeLayout layout,
                 unsigned bits, Value n, Value k);

/// Reads table entry lut[(n), (k / G), code] as f32 for a global [2^B],
/// per-channel [N, 2^B] or per-group [N, K/G, 2^B] table; `kDim` is K.
Value emitTableAt(ImplicitLocOpBuilder &b, Value lut, Value kDim, Value n,
                  Value k, Value code);

/// Calls the LLVM intrinsic `name` (e.g. "llvm.x86.avx512.permvar.sf.512")
/// through a private `func.func` declaration of that name, which
/// convert-to-llvm turns into the intrinsic's declaration. A plain call keeps
/// upstream passes that need known memory effects on every op (the
/// ownership-based buffer deallocation) working on the kernels, which
/// `llvm.call_intrinsic` would not.
Value callIntrinsic(ImplicitLocOpBuilder &b, ModuleOp module, StringRef name,
                    Type resultType, ValueRange args);

} // namespace mlir::squant::cpu

#endif // SQUANT_LIB_CONVERSION_SQUANTTOCPU_KERNELBUILDER_H
