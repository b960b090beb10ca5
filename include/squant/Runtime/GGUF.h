//===- GGUF.h - GGUF reader and ggml block re-layout ------------*- C++ -*-===//
//
// Reads GGUF files (versions 2 and 3: magic, counts, typed metadata, tensor
// infos, aligned data section) through a read-only memory mapping, validating
// every length, count, dimension and offset against the file before anything
// is handed out. ggml block formats (Q4_0, Q4_1, Q8_0) are re-laid out once
// at load time into the parameters of squant ops: codes packed `row_major`
// in i32 words, per-32-group scales (f16) and zero points (f32), so that
// `squant.build_lut affine` + `squant.lut_matmul` compute them.
//
//===----------------------------------------------------------------------===//

#ifndef SQUANT_RUNTIME_GGUF_H
#define SQUANT_RUNTIME_GGUF_H

#include "llvm/ADT/ArrayRef.h"
#include "llvm/ADT/SmallVector.h"
#include "llvm/ADT/StringMap.h"
#include "llvm/ADT/StringRef.h"
#include "llvm/Support/Error.h"
#include "llvm/Support/FileSystem.h"

#include <cstdint>
#include <memory>
#include <string>
#include <variant>
#include <vector>

namespace mlir::squant::runtime {

/// ggml tensor types that squant reads.
enum class GGMLType : uint32_t {
  F32 = 0,
  F16 = 1,
  Q4_0 = 2,
  Q4_1 = 3,
  Q8_0 = 8,
  BF16 = 30,
};

/// "Q4_1" etc., or nullptr for a type squant does not read.
const char *ggmlTypeName(uint32_t type);
/// Elements per block and bytes per block (1 and the element size for the
/// float types); false for unsupported types.
bool ggmlBlockInfo(uint32_t type, int64_t &blockElems, int64_t &blockBytes);

/// One metadata value. Arrays hold strings, integers or floats.
struct GGUFValue {
  std::variant<int64_t, uint64_t, double, bool, std::string,
               std::vector<std::string>, std::vector<int64_t>,
               std::vector<double>>
      value;
  uint32_t type = 0; // GGUF value type (arrays: 9)
};

struct GGUFTensor {
  std::string name;
  uint32_t type;
  /// Row-major shape (GGUF stores ne[0] = the fastest dimension first; this
  /// is reversed: a weight [N, K] has ne = {K, N}).
  llvm::SmallVector<int64_t> shape;
  llvm::ArrayRef<uint8_t> data;

  int64_t numElements() const;
};

class GGUFFile {
public:
  static llvm::Expected<std::unique_ptr<GGUFFile>> open(llvm::StringRef path);
  static llvm::Expected<std::unique_ptr<GGUFFile>>
  parse(llvm::ArrayRef<uint8_t> bytes, llvm::StringRef name);

  const GGUFTensor *lookup(llvm::StringRef name) const;
  llvm::ArrayRef<GGUFTensor> tensors() const { return tensorList; }
  const GGUFValue *get(llvm::StringRef key) const;
  /// Typed accessors: nullopt when missing or of another type.
  std::optional<int64_t> getInt(llvm::StringRef key) const;
  std::optional<double> getFloat(llvm::StringRef key) const;
  std::optional<std::string> getString(llvm::StringRef key) const;
  const std::vector<std::string> *getStrings(llvm::StringRef key) const;
  const std::vector<int64_t> *getInts(llvm::StringRef key) const;
  const std::vector<double> *getFloats(llvm::StringRef key) const;
  llvm::ArrayRef<std::string> keys() const { return keyList; }
  llvm::StringRef path() const { return filePath; }
  uint32_t version() const { return fileVersion; }

private:
  GGUFFile() = default;
  std::string filePath;
  uint32_t fileVersion = 0;
  std::unique_ptr<llvm::sys::fs::mapped_file_region> mapping;
  std::vector<GGUFTensor> tensorList;
  llvm::StringMap<size_t> index;
  llvm::StringMap<GGUFValue> meta;
  std::vector<std::string> keyList;
};

/// The squant parameters of a ggml block-quantized [N, K] tensor.
struct GGMLBlockParams {
  unsigned bits = 0;            // 4 or 8
  std::vector<uint32_t> codes;  // [N, K*bits/32], row_major packing
  std::vector<uint16_t> scale;  // [N, K/32] f16 bits
  std::vector<float> zero;      // [N, K/32] (Q4_1 only; Q4_0: 8, Q8_0: 128)
};

/// Splits a Q4_0 / Q4_1 / Q8_0 tensor into codes, scales and zero points such
/// that `scale * (code - zero)` is the ggml dequantized value (Q4_1:
/// `d*q + m` with zero = -m/d, and scale 1, zero -m where d == 0).
llvm::Expected<GGMLBlockParams> relayoutGGMLBlocks(const GGUFTensor &t);

/// ggml's reference dequantization (d*q + m etc.) in f32, for checks.
llvm::Expected<std::vector<float>> dequantizeGGML(const GGUFTensor &t);

/// IEEE half <-> float.
float halfToFloat(uint16_t h);
uint16_t floatToHalf(float f);
float bf16ToFloat(uint16_t h);

} // namespace mlir::squant::runtime

#endif // SQUANT_RUNTIME_GGUF_H
