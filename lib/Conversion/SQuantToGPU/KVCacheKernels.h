//===- KVCacheKernels.h - shared code of the KV-cache kernels ---*- C++ -*-===//
//
// What the three KV-cache op families of convert-squant-to-gpu
// (KVAppendToGPU.cpp, KVDequantizeToGPU.cpp, KVAttentionToGPU.cpp) share:
//
//  * KVLayout: the static description of a cache (format, head dim, heads,
//    element types of every component), checked once per op, and the tag
//    that makes kernel names unique;
//  * the host side: the cache and table operands as flat device buffers,
//    and kv_append's in-place update of a cache given as tensors;
//  * the kernel side: indexing into the flattened cache tensors, packed
//    token vectors read with the widest aligned loads and decoded from
//    32-bit words, chunked float rows, the dequantization of one element
//    (docs/kv-cache.md, "Semantics"), packing codes back into words, and
//    an f32 sine/cosine that needs no libdevice.
//
//===----------------------------------------------------------------------===//

#ifndef SQUANT_LIB_CONVERSION_SQUANTTOGPU_KVCACHEKERNELS_H
#define SQUANT_LIB_CONVERSION_SQUANTTOGPU_KVCACHEKERNELS_H

#include "KernelBuilder.h"
#include "squant/Dialect/SQuant/IR/SQuantOps.h"

#include "llvm/ADT/DenseMap.h"

#include <functional>

namespace mlir::squant::gpugen {

/// The static description of a KV cache: its format, D, H, L (static or
/// dynamic) and the element type of every component and table.
struct KVLayout {
  KVCacheFormatAttr format;
  bool kivi = false;
  unsigned bits = 0;
  int64_t levels = 0, group = 0, sink = 0, residual = 0, outliers = 0;
  int64_t headDim = 0; // D
  int64_t heads = 0;   // H (static)
  int64_t packed = 0;  // P = D * B / 8 bytes per token vector
  int64_t slots = ShapedType::kDynamic; // L
  SmallVector<KVComponent> kinds;
  SmallVector<Type> types; // element type per component
  Type keyLutType, valueLutType;

  /// Checks what the GPU kernels need (static H, identity layouts) and
  /// fills the layout; returns a reason on failure.
  static FailureOr<KVLayout> get(KVCacheFormatAttr format, ValueRange tables,
                                 ValueRange cache, int64_t headDim,
                                 std::string &reason);

  bool has(KVComponent c) const { return llvm::is_contained(kinds, c); }
  unsigned index(KVComponent c) const;
  Type type(KVComponent c) const { return types[index(c)]; }
  /// Words (i32) holding a packed token vector: ceil(P / 4).
  int64_t packedWords() const { return (packed + 3) / 4; }
  /// Unique tag of everything a kernel body depends on (for its name).
  std::string tag() const;
};

//===----------------------------------------------------------------------===//
// Host side
//===----------------------------------------------------------------------===//

/// Flat buffers of `values` (tensors through read-only to_buffer, memrefs as
/// they are); fails with `reason` for non-identity layouts.
FailureOr<SmallVector<Value>> getFlatInputs(OpBuilder &b, Location loc,
                                            ValueRange values,
                                            std::string &reason);

/// Why a memref operand cannot be used by a kernel ("" if it can).
std::string checkMemrefOperands(ValueRange values);

/// A KV cache written in place by a kernel. Memref form: the buffers
/// themselves. Tensor form: the tensors' buffers (bufferization.to_buffer,
/// which One-Shot Bufferize writes in place, or copies where the old value
/// is still needed) when the old cache values have no later use; a cache
/// carried by a loop is also materialized in its tensor (the loop yields
/// the same buffer). Otherwise the kernel updates a copy.
struct InPlaceCache {
  SmallVector<Value> buffers; // flat, for the kernels
  SmallVector<Value> full;    // identity-layout buffers
  SmallVector<Value> tensors; // tensor form: the cache operands
  SmallVector<bool> inPlace; // materialize the result in the operand
  bool tensorForm = false;

  static FailureOr<InPlaceCache> create(OpBuilder &b, Location loc,
                                        Operation *op, ValueRange cache,
                                        std::string &reason);
  /// Tensor form: the updated cache tensors (one per cache operand).
  SmallVector<Value> finish(OpBuilder &b, Location loc) const;
};

//===----------------------------------------------------------------------===//
// Kernel side
//===----------------------------------------------------------------------===//

/// The cache seen from a kernel: flat buffers per component and tables,
/// and the index arithmetic of the cache tensors.
struct KVCacheView {
  const KVLayout *lay = nullptr;
  Value keyLut, valueLut;   // kvquant tables (flat), else null
  SmallVector<Value> comps; // flat buffers, in lay->kinds order
  Value slots;              // L (index)
  Value keyRows;            // kivi: (L - S) / G

  Value get(KVComponent c) const { return comps[lay->index(c)]; }

  /// (b * H + h) * rows + r: the row of a [Bt, H, rows, ...] tensor.
  Value row(Emitter &e, Value b, Value h, Value rows, Value r) const;
  Value row(Emitter &e, Value b, Value h, int64_t rows, Value r) const;
  /// Byte offset of token t's packed vector in key/value codes.
  Value codesBase(Emitter &e, Value b, Value h, Value t) const;
  /// Element offset of the first channel of a [.., D] row.
  Value rowBase(Emitter &e, Value row) const { return e.mul(row, lay->headDim); }
};

/// The P bytes at byte offset `base` (a multiple of P) of an i8 buffer as
/// little-endian i32 words, loaded with the widest vector loads that P and
/// the alignment allow (16 bytes when P % 16 == 0), plus one zero word so
/// that codes can always be read from two consecutive words.
SmallVector<Value> loadPackedWords(Emitter &e, Value codes, Value base,
                                   int64_t packed);

/// Code `c` (static) of a token vector held as words.
Value codeOf(Emitter &e, ArrayRef<Value> words, unsigned bits, int64_t c);

/// Code of channel `c` (dynamic index) of a packed token vector in global
/// memory (two byte loads).
Value codeAt(Emitter &e, Value codes, Value base, Value c, unsigned bits,
             int64_t packed);

/// A row of `len` floats read lazily in aligned vector chunks; `get(c)`
/// (static c) returns channel c as f32. Create it where its values are used
/// (loaded chunks are reused within the same region only).
class FloatRow {
public:
  FloatRow(Emitter &e, Value buffer, Value base, int64_t len);
  Value get(int64_t c);

private:
  Emitter &e;
  Value buffer, base;
  Type elt;
  int64_t len, chunk;
  llvm::DenseMap<int64_t, Value> chunks;
};

/// Static element reader: channel (static) -> f32.
using ElementFn = std::function<Value(int64_t)>;

/// The dense (outliers not applied) dequantized value of channel c of a
/// quantized token: kvquant keys `lut[h, c, code]` (from `lut` at
/// `lutBase + c * 2^B`), kvquant values `vlut[code] * scale`, kivi
/// `code * s[c] + z[c]` (keys: s, z rows per channel; values: per group).
struct QuantTokenReader {
  Emitter &e;
  const KVLayout &lay;
  bool key;
  SmallVector<Value> words;
  // kvquant
  Value lut, lutBase, scale;
  // kivi
  std::optional<FloatRow> s, z;

  Value code(int64_t c) { return codeOf(e, words, lay.bits, c); }
  Value dense(int64_t c);
};

/// Loads the O outlier slots (channel index as index, value as f32) of one
/// token vector at element offset `base` of [Bt, H, L, O].
void loadOutliers(Emitter &e, Value indices, Value values, Value base,
                  int64_t count, SmallVectorImpl<Value> &channels,
                  SmallVectorImpl<Value> &vals);

/// `v` with the outlier slots replacing channel `c` (a later slot wins).
Value applyOutliers(Emitter &e, Value v, int64_t c, ArrayRef<Value> channels,
                    ArrayRef<Value> vals);

/// Token boundaries of a cache holding n = min(max(len, 0), L) tokens: kivi
/// keys of tokens >= keyEnd and values of tokens >= valueEnd are in the
/// residual buffers (docs/kv-cache.md, kv_dequantize).
struct KVBounds {
  Value n, keyEnd, valueEnd;
};
KVBounds computeBounds(Emitter &e, const KVLayout &lay, Value len,
                       Value slots);

/// The body run for one source of a token vector: `elem(c)` reads channel
/// c as f32; `quant` is the reader of a quantized token (null for sink and
/// residual tokens).
using SourceBody = llvm::function_ref<SmallVector<Value>(
    const ElementFn &elem, QuantTokenReader *quant)>;

/// Emits `body` once per possible source of the key (or value) vector of
/// token t of (b, h) -- sink (t < S), kivi residual (t >= keyEnd or
/// valueEnd), quantized codes -- in scf.if branches yielding `types`.
/// kvquant keys are looked up in `keyLut` at `keyLutBase + c * 2^B` (the
/// global table or a copy in shared memory); with `withOutliers` the
/// elements of quantized kvquant tokens have their outlier slots applied.
SmallVector<Value> forTokenSource(Emitter &e, const KVCacheView &view,
                                  bool key, Value b, Value h, Value t,
                                  const KVBounds &bounds, TypeRange types,
                                  Value keyLut, Value keyLutBase,
                                  bool withOutliers, SourceBody body);

/// Rounds an f32 to `type` and back (the value a cache tensor of that type
/// stores).
Value roundTo(Emitter &e, Value v, Type type);

/// The KIVI code of x with stored scale s and zero z (f32), as i32:
/// s > 0 ? clamp(floor((x - z) / s + 0.5), 0, 2^B - 1) : 0, computed with
/// the same f32 operations as the specification (floor is a truncation
/// after the clamp, which is equal for the clamped range).
Value kiviCode(Emitter &e, Value x, Value s, Value z, int64_t levels);

/// Unit `u` (dynamic index) of a packed token vector: the OR of the codes
/// overlapping bits [unitBits * u, unitBits * (u + 1)), with codes read by
/// `codeAt(channel index)` (an i32). unitBits is 8 or 32.
Value packUnit(Emitter &e, Value u, int64_t unitBits, int64_t headDim,
               unsigned bits, llvm::function_ref<Value(Value)> codeAt);

/// Stores a 32-bit unit (or a byte when unitBits == 8) of packed codes at
/// byte offset `byteOffset` of an i8 buffer.
void storeUnit(Emitter &e, Value unit, Value codes, Value byteOffset,
               int64_t unitBits);

/// (sin x, cos x) in f32 for 0 <= x < 2^22: Cody-Waite reduction by pi/2
/// with three fma steps, then minimax polynomials on [-pi/4, pi/4]; about
/// 1e-7 absolute error. (math.sin/cos would need libdevice on NVPTX.)
std::pair<Value, Value> sinCos(Emitter &e, Value x);

/// RoPE: 1 / theta^(2i / D) for pair i, in f32 as docs/kv-cache.md defines
/// it (the power correctly rounded, as the Python reference computes it).
float ropeInverseFrequency(float theta, int64_t pair, int64_t headDim);

/// The two channels of RoPE pair i and whether the style has pairs.
std::pair<int64_t, int64_t> ropeChannels(RopeStyle style, int64_t pair,
                                         int64_t headDim);

/// Printable, symbol-safe form of a float (its bits) for kernel names.
std::string floatTag(float v);

} // namespace mlir::squant::gpugen

#endif // SQUANT_LIB_CONVERSION_SQUANTTOGPU_KVCACHEKERNELS_H
