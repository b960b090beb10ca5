//===- SafeTensors.h - safetensors reader and writer ------------*- C++ -*-===//
//
// Reads safetensors files (8-byte little-endian header length, JSON header,
// raw little-endian data) through a read-only memory mapping, validating
// everything before any tensor is handed out: header length against the file
// size, the JSON, dtypes, shapes (int64 overflow), data offsets inside the
// data section, sizes against shape * dtype, and overlap between tensors.
//
//===----------------------------------------------------------------------===//

#ifndef SQUANT_RUNTIME_SAFETENSORS_H
#define SQUANT_RUNTIME_SAFETENSORS_H

#include "llvm/ADT/ArrayRef.h"
#include "llvm/ADT/SmallVector.h"
#include "llvm/ADT/StringMap.h"
#include "llvm/ADT/StringRef.h"
#include "llvm/Support/Error.h"
#include "llvm/Support/FileSystem.h"

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace mlir::squant::runtime {

/// Element types of the safetensors format.
enum class DType { F64, F32, F16, BF16, F8E4M3, F8E5M2, I64, I32, I16, I8,
                   U64, U32, U16, U8, Bool };

/// The format's name ("F32"), its size in bytes, and parsing.
llvm::StringRef dtypeName(DType dtype);
unsigned dtypeSize(DType dtype);
std::optional<DType> parseDType(llvm::StringRef name);

/// Product of the dimensions, or nullopt on a negative size or int64
/// overflow (also of the byte count with `elementSize`).
std::optional<int64_t> checkedNumBytes(llvm::ArrayRef<int64_t> shape,
                                       unsigned elementSize);

/// One tensor of an open file; `data` points into the mapping.
struct TensorView {
  std::string name;
  DType dtype;
  llvm::SmallVector<int64_t> shape;
  llvm::ArrayRef<uint8_t> data;

  int64_t numElements() const;
};

class SafeTensorsFile {
public:
  /// Maps and validates `path`. Errors name the file and what is wrong.
  static llvm::Expected<std::unique_ptr<SafeTensorsFile>>
  open(llvm::StringRef path);

  /// Validates an in-memory image (used by open() and by the fuzzer).
  static llvm::Expected<std::unique_ptr<SafeTensorsFile>>
  parse(llvm::ArrayRef<uint8_t> bytes, llvm::StringRef name);

  const TensorView *lookup(llvm::StringRef name) const;
  llvm::ArrayRef<TensorView> tensors() const { return tensorList; }
  const std::map<std::string, std::string> &metadata() const { return meta; }
  llvm::StringRef path() const { return filePath; }

private:
  SafeTensorsFile() = default;
  std::string filePath;
  std::unique_ptr<llvm::sys::fs::mapped_file_region> mapping;
  std::vector<TensorView> tensorList;
  llvm::StringMap<size_t> index;
  std::map<std::string, std::string> meta;
};

/// Collects tensors and writes one safetensors file.
class SafeTensorsWriter {
public:
  void add(llvm::StringRef name, DType dtype, llvm::ArrayRef<int64_t> shape,
           std::vector<uint8_t> bytes);
  void setMetadata(llvm::StringRef key, llvm::StringRef value);
  llvm::Error write(llvm::StringRef path) const;

private:
  struct Entry {
    std::string name;
    DType dtype;
    llvm::SmallVector<int64_t> shape;
    std::vector<uint8_t> bytes;
  };
  std::vector<Entry> entries;
  std::map<std::string, std::string> meta;
};

} // namespace mlir::squant::runtime

#endif // SQUANT_RUNTIME_SAFETENSORS_H
