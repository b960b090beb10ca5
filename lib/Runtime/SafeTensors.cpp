//===- SafeTensors.cpp - safetensors reader and writer --------------------===//

#include "squant/Runtime/SafeTensors.h"
#include "squant/Runtime/MappedFile.h"

#include "llvm/ADT/STLExtras.h"
#include "llvm/Support/Endian.h"
#include "llvm/Support/FileOutputBuffer.h"
#include "llvm/Support/FormatVariadic.h"
#include "llvm/Support/JSON.h"
#include "llvm/Support/MathExtras.h"

#include <algorithm>
#include <cstring>

using namespace llvm;
using namespace mlir::squant::runtime;

namespace {
struct DTypeInfo {
  DType dtype;
  const char *name;
  unsigned size;
};
constexpr DTypeInfo kDTypes[] = {
    {DType::F64, "F64", 8},       {DType::F32, "F32", 4},
    {DType::F16, "F16", 2},       {DType::BF16, "BF16", 2},
    {DType::F8E4M3, "F8_E4M3", 1}, {DType::F8E5M2, "F8_E5M2", 1},
    {DType::I64, "I64", 8},       {DType::I32, "I32", 4},
    {DType::I16, "I16", 2},       {DType::I8, "I8", 1},
    {DType::U64, "U64", 8},       {DType::U32, "U32", 4},
    {DType::U16, "U16", 2},       {DType::U8, "U8", 1},
    {DType::Bool, "BOOL", 1}};

/// The safetensors reference implementation rejects headers over 100 MB.
constexpr uint64_t kMaxHeaderBytes = 100u * 1000u * 1000u;

Error fail(StringRef file, const Twine &msg) {
  return createStringError(inconvertibleErrorCode(), file + ": " + msg);
}
} // namespace

StringRef mlir::squant::runtime::dtypeName(DType dtype) {
  for (const DTypeInfo &info : kDTypes)
    if (info.dtype == dtype)
      return info.name;
  return "?";
}

unsigned mlir::squant::runtime::dtypeSize(DType dtype) {
  for (const DTypeInfo &info : kDTypes)
    if (info.dtype == dtype)
      return info.size;
  return 0;
}

std::optional<DType> mlir::squant::runtime::parseDType(StringRef name) {
  for (const DTypeInfo &info : kDTypes)
    if (name == info.name)
      return info.dtype;
  return std::nullopt;
}

std::optional<int64_t>
mlir::squant::runtime::checkedNumBytes(ArrayRef<int64_t> shape,
                                       unsigned elementSize) {
  int64_t total = elementSize;
  for (int64_t d : shape) {
    if (d < 0)
      return std::nullopt;
    int64_t next;
    if (MulOverflow(total, d, next))
      return std::nullopt;
    total = next;
  }
  return total;
}

int64_t TensorView::numElements() const {
  int64_t n = 1;
  for (int64_t d : shape)
    n *= d; // validated against overflow when the file was opened
  return n;
}

Expected<std::unique_ptr<SafeTensorsFile>>
SafeTensorsFile::open(StringRef path) {
  auto mapping = mapFileReadOnly(
      path, 8, "a safetensors header needs 8 (length) + the JSON");
  if (!mapping)
    return mapping.takeError();
  ArrayRef<uint8_t> bytes(
      reinterpret_cast<const uint8_t *>((*mapping)->const_data()),
      (*mapping)->size());
  auto file = parse(bytes, path);
  if (!file)
    return file.takeError();
  (*file)->mapping = std::move(*mapping);
  return file;
}

Expected<std::unique_ptr<SafeTensorsFile>>
SafeTensorsFile::parse(ArrayRef<uint8_t> bytes, StringRef name) {
  uint64_t size = bytes.size();
  if (size < 8)
    return fail(name, formatv("file of {0} bytes is too small for a "
                              "safetensors header (8-byte length + JSON)",
                              size));
  uint64_t headerLen = support::endian::read64le(bytes.data());
  if (headerLen > kMaxHeaderBytes)
    return fail(name, formatv("header length {0} exceeds the 100 MB limit",
                              headerLen));
  if (headerLen > size - 8)
    return fail(name, formatv("header length {0} exceeds the {1} bytes that "
                              "follow it (truncated file?)",
                              headerLen, size - 8));
  StringRef headerText(reinterpret_cast<const char *>(bytes.data() + 8),
                       headerLen);
  Expected<json::Value> header = json::parse(headerText);
  if (!header)
    return fail(name, "invalid JSON header: " + toString(header.takeError()));
  const json::Object *root = header->getAsObject();
  if (!root)
    return fail(name, "JSON header is not an object");

  std::unique_ptr<SafeTensorsFile> file(new SafeTensorsFile());
  file->filePath = name.str();
  ArrayRef<uint8_t> dataSection = bytes.drop_front(8 + headerLen);
  uint64_t dataSize = dataSection.size();

  // Visit keys in sorted order so that errors are deterministic.
  SmallVector<StringRef> keys;
  for (const auto &kv : *root)
    keys.push_back(kv.first);
  llvm::sort(keys);
  for (StringRef key : keys) {
    const json::Value &value = *root->get(key);
    if (key == "__metadata__") {
      const json::Object *m = value.getAsObject();
      if (!m)
        return fail(name, "'__metadata__' is not an object");
      for (const auto &kv : *m) {
        std::optional<StringRef> s = kv.second.getAsString();
        if (!s)
          return fail(name, "'__metadata__' value of '" + kv.first.str() +
                                "' is not a string");
        file->meta[kv.first.str()] = s->str();
      }
      continue;
    }
    std::string where = ("tensor '" + key + "'").str();
    const json::Object *entry = value.getAsObject();
    if (!entry)
      return fail(name, where + ": entry is not an object");
    std::optional<StringRef> dtypeStr = entry->getString("dtype");
    if (!dtypeStr)
      return fail(name, where + ": missing string 'dtype'");
    std::optional<DType> dtype = parseDType(*dtypeStr);
    if (!dtype)
      return fail(name, where + ": unknown dtype '" + *dtypeStr + "'");
    const json::Array *shapeArr = entry->getArray("shape");
    if (!shapeArr)
      return fail(name, where + ": missing array 'shape'");
    SmallVector<int64_t> shape;
    for (const json::Value &d : *shapeArr) {
      std::optional<int64_t> v = d.getAsInteger();
      if (!v || *v < 0)
        return fail(name, where + ": shape entries must be non-negative "
                                  "integers");
      shape.push_back(*v);
    }
    const json::Array *offs = entry->getArray("data_offsets");
    if (!offs || offs->size() != 2)
      return fail(name, where + ": missing 'data_offsets' [begin, end]");
    std::optional<int64_t> begin = (*offs)[0].getAsInteger();
    std::optional<int64_t> end = (*offs)[1].getAsInteger();
    if (!begin || !end || *begin < 0 || *end < *begin)
      return fail(name, where + ": 'data_offsets' must be integers with "
                                "0 <= begin <= end");
    if (uint64_t(*end) > dataSize)
      return fail(name, formatv("{0}: data_offsets [{1}, {2}] lie outside the "
                                "{3}-byte data section (truncated file?)",
                                where, *begin, *end, dataSize));
    std::optional<int64_t> numBytes = checkedNumBytes(shape, dtypeSize(*dtype));
    if (!numBytes)
      return fail(name, where + ": shape size overflows int64");
    if (*numBytes != *end - *begin)
      return fail(name, formatv("{0}: shape and dtype {1} need {2} bytes but "
                                "data_offsets span {3}",
                                where, *dtypeStr, *numBytes,
                                *end - *begin));
    TensorView view;
    view.name = key.str();
    view.dtype = *dtype;
    view.shape = std::move(shape);
    view.data = dataSection.slice(*begin, *end - *begin);
    file->tensorList.push_back(std::move(view));
  }

  // Tensors must not overlap.
  SmallVector<const TensorView *> byOffset;
  for (const TensorView &t : file->tensorList)
    byOffset.push_back(&t);
  llvm::sort(byOffset, [](const TensorView *a, const TensorView *b) {
    return a->data.data() < b->data.data();
  });
  for (size_t i = 1; i < byOffset.size(); ++i) {
    const TensorView *prev = byOffset[i - 1], *cur = byOffset[i];
    if (prev->data.data() + prev->data.size() > cur->data.data())
      return fail(name, "tensors '" + prev->name + "' and '" + cur->name +
                            "' overlap");
  }
  for (size_t i = 0; i < file->tensorList.size(); ++i)
    file->index[file->tensorList[i].name] = i;
  return std::move(file);
}

const TensorView *SafeTensorsFile::lookup(StringRef name) const {
  auto it = index.find(name);
  return it == index.end() ? nullptr : &tensorList[it->second];
}

void SafeTensorsWriter::add(StringRef name, DType dtype,
                            ArrayRef<int64_t> shape,
                            std::vector<uint8_t> bytes) {
  entries.push_back({name.str(), dtype, SmallVector<int64_t>(shape),
                     std::move(bytes)});
}

void SafeTensorsWriter::setMetadata(StringRef key, StringRef value) {
  meta[key.str()] = value.str();
}

Error SafeTensorsWriter::write(StringRef path) const {
  json::Object root;
  uint64_t offset = 0;
  for (const Entry &e : entries) {
    json::Array shape;
    for (int64_t d : e.shape)
      shape.push_back(d);
    root[e.name] = json::Object{
        {"dtype", dtypeName(e.dtype)},
        {"shape", std::move(shape)},
        {"data_offsets", json::Array{int64_t(offset),
                                     int64_t(offset + e.bytes.size())}}};
    offset += e.bytes.size();
  }
  if (!meta.empty()) {
    json::Object m;
    for (const auto &kv : meta)
      m[kv.first] = kv.second;
    root["__metadata__"] = std::move(m);
  }
  std::string header = formatv("{0}", json::Value(std::move(root))).str();
  // Pad with spaces so that the data section starts 8-byte aligned.
  header.append((8 - header.size() % 8) % 8, ' ');

  uint64_t total = 8 + header.size() + offset;
  Expected<std::unique_ptr<FileOutputBuffer>> out =
      FileOutputBuffer::create(path, total);
  if (!out)
    return fail(path, "cannot create: " + toString(out.takeError()));
  uint8_t *p = (*out)->getBufferStart();
  support::endian::write64le(p, header.size());
  std::memcpy(p + 8, header.data(), header.size());
  p += 8 + header.size();
  for (const Entry &e : entries) {
    if (!e.bytes.empty())
      std::memcpy(p, e.bytes.data(), e.bytes.size());
    p += e.bytes.size();
  }
  if (Error err = (*out)->commit())
    return fail(path, "cannot write: " + toString(std::move(err)));
  return Error::success();
}
