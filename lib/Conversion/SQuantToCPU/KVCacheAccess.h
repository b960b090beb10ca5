//===- KVCacheAccess.h - reading and writing a KV cache in a kernel -*- C++ -*-===//
//
// The kernel-side view of a quantized KV cache (docs/kv-cache.md): its
// tensors as kernel arguments, the scalar decoding of one element or one
// token exactly as the specification computes it (shared by kv_dequantize,
// the attention kernel's boundary tiles and the generic target), code
// packing, and raw addresses for the vector paths.
//
//===----------------------------------------------------------------------===//

#ifndef SQUANT_LIB_CONVERSION_SQUANTTOCPU_KVCACHEACCESS_H
#define SQUANT_LIB_CONVERSION_SQUANTTOCPU_KVCACHEACCESS_H

#include "KernelBuilder.h"

#include "squant/Dialect/SQuant/IR/SQuantOps.h"

namespace mlir::squant::cpu {

/// f32 constant.
Value cF32(ImplicitLocOpBuilder &b, float v);
/// i32 constant (scalar).
Value cI32(ImplicitLocOpBuilder &b, int32_t v);
/// memref.load converted to f32.
Value loadF32(ImplicitLocOpBuilder &b, Value memref, ValueRange indices);

class KVCacheAccess {
public:
  KVCacheAccess(ImplicitLocOpBuilder &b, KVCacheFormatAttr format,
                int64_t headDim, ValueRange tables, ValueRange cache);

  KVCacheFormatAttr format;
  int64_t D, bits, levels, packed, sink, residual, group, outliers;
  bool kivi;
  Value keyLut, valueLut;
  /// Batch, KV heads and token slots (from key_codes).
  Value batch, heads, slots;

  Value get(KVComponent c) const;

  /// Token boundaries of a cache holding `len` tokens: n = min(max(len, 0),
  /// L); kivi keys of tokens >= keyEnd and values of tokens >= valueEnd are
  /// in the residual buffers (null for kvquant).
  struct Bounds {
    Value n, keyEnd, valueEnd;
  };
  Bounds bounds(ImplicitLocOpBuilder &b, Value len) const;

  /// Code of channel d of token (bi, h, t) of key or value codes (i32).
  Value code(ImplicitLocOpBuilder &b, bool key, Value bi, Value h, Value t,
             Value d) const;
  /// The dense (quantized, no outliers) f32 value of channel d of token t.
  Value quantized(ImplicitLocOpBuilder &b, bool key, Value bi, Value h,
                  Value t, Value d) const;
  /// Calls fn(channel, value) for each outlier slot of the token, in slot
  /// order (kvquant with O > 0; a later slot replaces an earlier one).
  void forEachOutlier(
      ImplicitLocOpBuilder &b, bool key, Value bi, Value h, Value t,
      llvm::function_ref<void(ImplicitLocOpBuilder &, Value, Value)> fn) const;
  /// Calls store(d, value) for d = 0 .. D-1 with the key (or value) of token
  /// t < n as the specification defines it: sink, residual or quantized
  /// plus outliers (for outlier channels store is called again, later).
  void decodeToken(
      ImplicitLocOpBuilder &b, bool key, const Bounds &bounds, Value bi,
      Value h, Value t,
      llvm::function_ref<void(ImplicitLocOpBuilder &, Value, Value)> store)
      const;

  /// Packs the D i32 codes `codeAt(d)` into the bytes of token (bi, h, t)
  /// of key or value codes.
  void packToken(ImplicitLocOpBuilder &b, bool key, Value bi, Value h, Value t,
                 llvm::function_ref<Value(ImplicitLocOpBuilder &, Value)>
                     codeAt) const;

  /// Raw byte address (i64) of token (bi, h, t)'s packed codes, and the
  /// byte stride between consecutive tokens (i64).
  Value rowAddress(ImplicitLocOpBuilder &b, bool key, Value bi, Value h,
                   Value t) const;
  Value tokenStride(ImplicitLocOpBuilder &b, bool key) const;

private:
  KVComponent codesOf(bool key) const {
    return key ? KVComponent::KeyCodes : KVComponent::ValueCodes;
  }
  SmallVector<KVComponent> kinds;
  SmallVector<Value> values;
  /// Strided metadata of the code tensors: aligned base (i64 bytes incl.
  /// offset), strides (index).
  struct CodeMeta {
    Value base;
    SmallVector<Value> strides;
  } keyMeta, valueMeta;
};

/// llvm.intr.fmuladd (fused where the target has FMA, else mul + add).
Value fmuladd(ImplicitLocOpBuilder &b, Value x, Value y, Value z);

/// exp(x) for f32 scalars or vectors, x <= 0 (softmax weights): a degree-6
/// polynomial after reduction by ln 2 (relative error about 2e-7);
/// x < -87.3 (including -inf) gives 0.
Value emitExpNonPositive(ImplicitLocOpBuilder &b, Value x);

/// (sin x, cos x) for f32 vectors x >= 0: reduction by pi/4 in three parts
/// (exact for x < 2^16 * pi/4, about 51000, i.e. RoPE positions up to that
/// at the fastest frequency) and minimax polynomials on [-pi/4, pi/4]
/// (absolute error about 1e-7).
std::pair<Value, Value> emitSinCos(ImplicitLocOpBuilder &b, Value x);

} // namespace mlir::squant::cpu

#endif // SQUANT_LIB_CONVERSION_SQUANTTOCPU_KVCACHEACCESS_H
