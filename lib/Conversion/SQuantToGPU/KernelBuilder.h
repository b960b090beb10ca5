//===- KernelBuilder.h - building squant GPU kernels ------------*- C++ -*-===//
//
// Infrastructure shared by every op family of convert-squant-to-gpu (and by
// the KV-cache kernels to come):
//
//  * the host side: operands as flat device buffers (`memref<?xT>`, through
//    `bufferization.to_buffer` on tensors), output buffers, workspaces, and
//    the `gpu.launch_func`;
//  * the kernel module `@squant_kernels`: kernels are named after everything
//    their body depends on and created once, so identical layers share one
//    kernel;
//  * kernel-side helpers: index arithmetic, scf loops/ifs, vector loads,
//    warp butterfly reductions, and extraction of B-bit codes from 32-bit
//    words (including 3-bit codes that straddle words).
//
// Kernel bodies obey one structural rule so that squant-gpu-launch-to-loops
// can run them on the host: every gpu.barrier and gpu.shuffle sits at the
// top level of the gpu.func body (not inside scf.for/scf.if), and all lanes
// reach it. Loops and branches in between are free.
//
//===----------------------------------------------------------------------===//

#ifndef SQUANT_LIB_CONVERSION_SQUANTTOGPU_KERNELBUILDER_H
#define SQUANT_LIB_CONVERSION_SQUANTTOGPU_KERNELBUILDER_H

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/PatternMatch.h"
#include "llvm/ADT/STLFunctionalExtras.h"

#include <array>
#include <optional>
#include <string>

namespace mlir::squant::gpugen {

/// The gpu.module that holds every generated kernel.
inline constexpr llvm::StringLiteral kKernelModuleName = "squant_kernels";
/// Lanes per warp (NVIDIA).
inline constexpr int64_t kWarpSize = 32;
/// Attribute recording the strategy a kernel was generated with.
inline constexpr llvm::StringLiteral kStrategyAttrName = "squant.strategy";

/// Ceil-division of non-negative integers.
inline int64_t ceilDiv(int64_t a, int64_t b) { return (a + b - 1) / b; }

/// Emission helpers bound to a builder and a location. All index arithmetic
/// is on `index`; bit manipulation on i32.
struct Emitter {
  OpBuilder &b;
  Location loc;

  Value idx(int64_t v);
  Value i32(int64_t v);
  Value f32(double v);
  Value add(Value x, Value y);
  Value add(Value x, int64_t y);
  Value sub(Value x, Value y);
  Value mul(Value x, Value y);
  Value mul(Value x, int64_t y);
  Value divu(Value x, int64_t y);
  Value remu(Value x, int64_t y);
  Value minu(Value x, Value y);
  Value minu(Value x, int64_t y);
  Value ult(Value x, Value y);
  Value ult(Value x, int64_t y);
  Value andi(Value x, Value y);
  Value select(Value c, Value t, Value f);
  /// Ceil-division of non-negative index values.
  Value ceilDiv(Value x, int64_t y);

  /// Signed comparisons (x < y, x <= y) of index or integer values.
  Value slt(Value x, Value y);
  Value sle(Value x, Value y);
  Value eq(Value x, Value y);
  Value ori(Value x, Value y);
  Value shl(Value x, Value y);
  Value shru(Value x, Value y);
  Value maxs(Value x, Value y);
  Value mins(Value x, Value y);
  /// index <-> i32 (unsigned).
  Value toIndex(Value v);
  Value toI32(Value v);

  /// f32 arithmetic, one IEEE operation each (no contraction).
  Value fadd(Value x, Value y);
  Value fsub(Value x, Value y);
  Value fmul(Value x, Value y);
  Value fdiv(Value x, Value y);
  Value fmax(Value x, Value y); // arith.maximumf
  Value fmin(Value x, Value y); // arith.minimumf
  Value fneg(Value x);
  Value fcmp(arith::CmpFPredicate p, Value x, Value y);
  /// |x|, exactly (clears the sign bit).
  Value fabs(Value x);
  /// 2^x: math.exp2 (exp2f on the host; squant-nvvm-exp2 makes it
  /// ex2.approx.f32 on NVPTX, without libdevice).
  Value exp2(Value x);
  /// Unsigned integer (i32 or index) to f32.
  Value uitofp(Value v);

  /// Converts a float scalar to f32 / from f32 to `type`.
  Value toF32(Value v);
  Value fromF32(Value v, Type type);
  /// a * b + c in f32 (math.fma).
  Value fma(Value a, Value x, Value c);

  Value load(Value memref, Value i);
  void store(Value v, Value memref, Value i);
  /// vector.load of `type` at `i`; `alignment` in bytes (0: none asserted).
  Value vload(Value memref, Value i, VectorType type, int64_t alignment);
  void vstore(Value v, Value memref, Value i, int64_t alignment);
  Value extract(Value vec, int64_t pos);

  /// scf.if without results.
  void ifThen(Value cond, llvm::function_ref<void()> then);
  /// scf.if yielding `types`.
  SmallVector<Value> ifThenElse(Value cond, TypeRange types,
                                llvm::function_ref<SmallVector<Value>()> then,
                                llvm::function_ref<SmallVector<Value>()> otherwise);
  /// scf.for with iteration arguments; `body` returns the yielded values.
  SmallVector<Value>
  forLoop(Value lb, Value ub, Value step, ValueRange inits,
          llvm::function_ref<SmallVector<Value>(Value iv, ValueRange iters)> body);
  /// scf.for without iteration arguments.
  void forLoop(Value lb, Value ub, Value step,
               llvm::function_ref<void(Value iv)> body);
};

//===----------------------------------------------------------------------===//
// Host side
//===----------------------------------------------------------------------===//

/// The buffer behind `v`: `v` itself for a memref, a read-only
/// `bufferization.to_buffer` (identity layout) for a tensor. Fails (with a
/// reason) for memrefs that are not contiguous with an identity layout.
FailureOr<Value> getInputBuffer(OpBuilder &b, Location loc, Value v,
                                std::string &reason);

/// `memref<?xT>` view of a contiguous, identity-layout memref.
Value flatten(OpBuilder &b, Location loc, Value memref);

/// Size of dimension `d` of a tensor or memref, as an index value.
Value hostDim(OpBuilder &b, Location loc, Value shaped, int64_t d);

/// A fresh identity-layout buffer with the shape of `like` (tensor or
/// memref) and element type `elt`: `memref.alloc`.
Value allocLike(OpBuilder &b, Location loc, Value like, Type elt);

/// A flat f32 workspace of `size` elements (`memref.alloc`).
Value allocWorkspace(OpBuilder &b, Location loc, Value size);

/// One kernel of the generated module.
struct KernelSpec {
  /// Unique for the body: encodes every parameter the body depends on.
  std::string name;
  SmallVector<Type> argTypes;
  /// Per argument: the kernel only reads it (marked llvm.readonly, loads
  /// become ld.global.nc).
  SmallVector<bool> readOnly;
  /// Sizes (f32 elements) of the workgroup (shared memory) buffers.
  SmallVector<int64_t> workgroupF32;
  /// Element types of the workgroup buffers (f32 where absent); sizes are in
  /// elements of that type.
  SmallVector<Type> workgroupTypes;
  std::array<int32_t, 3> block = {1, 1, 1};
  /// Known grid, when every launch uses the same one.
  std::optional<std::array<int32_t, 3>> grid;
  /// Register budget per thread handed to ptxas (`.maxnreg`, through the
  /// nvvm.maxnreg attribute); 0: ptxas decides.
  int32_t maxRegisters = 0;
  /// Human-readable strategy (bucket, tile sizes), kept as an attribute.
  std::string strategy;
};

/// Builds a kernel body: `args` are the kernel arguments, `workgroup` the
/// shared-memory buffers of the spec, in order.
using KernelBodyFn =
    llvm::function_ref<void(Emitter &e, ValueRange args, ValueRange workgroup)>;

/// Returns kernel `spec.name` in @squant_kernels of `module`, creating the
/// module (and marking `module` a gpu.container_module) and the kernel
/// (with `body`) when absent.
gpu::GPUFuncOp getOrCreateKernel(ModuleOp module, const KernelSpec &spec,
                                 KernelBodyFn body);

/// gpu.launch_func of `kernel` with `grid` and the kernel's block size.
void launchKernel(OpBuilder &b, Location loc, gpu::GPUFuncOp kernel,
                  std::array<Value, 3> grid, ValueRange args);

//===----------------------------------------------------------------------===//
// Kernel side
//===----------------------------------------------------------------------===//

Value threadIdX(Emitter &e);
Value blockId(Emitter &e, gpu::Dimension d);

/// Sum of the f32 `v` over the 32 lanes of the warp by five xor-butterfly
/// shuffles; every lane receives the same, deterministic sum. Must be
/// emitted at the top level of the kernel body, reached by all lanes.
Value warpSum(Emitter &e, Value v);

/// The same butterfly with another associative, commutative combination
/// (e.g. arith.maximumf): every lane receives the combination of all 32.
Value warpReduce(Emitter &e, Value v,
                 llvm::function_ref<Value(Value, Value)> combine);

/// How B-bit codes sit in 32-bit words: a group of `words` consecutive words
/// of one channel holds exactly `codes` codes (B = 2: 1 word, 16 codes;
/// B = 3: 3 words, 32 codes; B = 4: 1 word, 8 codes; B = 8: 1 word, 4).
struct WordGroup {
  unsigned bits;
  unsigned words;
  unsigned codes;
};
WordGroup getWordGroup(unsigned bits);

/// Code `i` (0 <= i < codes) of a word group, from the group's i32 words, as
/// an i32: shifts and a mask, OR-ing two words when the code straddles them.
Value extractCode(Emitter &e, ArrayRef<Value> words, unsigned bits, unsigned i);

/// Short element-type names for kernel names ("f32", "f16", "bf16", "i4").
std::string typeTag(Type t);

//===----------------------------------------------------------------------===//
// squant operand analysis
//===----------------------------------------------------------------------===//

/// The `squant.unpack squeezellm` whose codes `consumer` reads as `codes`, if
/// the consumer can read the packed words instead: on tensors, the producer
/// of `codes`; on memrefs, the unpack writing the `codes` buffer earlier in
/// the same block with no other writer in between. Null otherwise.
Operation *findSqueezeLLMUnpack(Value codes, Operation *consumer);

/// Erases a `squant.unpack` whose codes nobody reads any more (tensor form:
/// no uses; memref form: only deallocations of its buffer remain).
void eraseUnpackIfDead(RewriterBase &rewriter, Operation *unpack);

} // namespace mlir::squant::gpugen

namespace mlir::squant {
/// Per-family legality (the reason an op cannot be lowered, "" if it can),
/// defined next to each family's patterns.
std::string getLutMatmulGPUBlocker(Operation *op);
std::string getLutDequantGPUBlocker(Operation *op);
std::string getUnpackGPUBlocker(Operation *op);
std::string getPackGPUBlocker(Operation *op);
std::string getBuildLutGPUBlocker(Operation *op);
std::string getKVAppendGPUBlocker(Operation *op);
std::string getKVDequantizeGPUBlocker(Operation *op);
std::string getKVAttentionGPUBlocker(Operation *op);
} // namespace mlir::squant

#endif // SQUANT_LIB_CONVERSION_SQUANTTOGPU_KERNELBUILDER_H
