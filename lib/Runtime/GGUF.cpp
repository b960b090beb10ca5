//===- GGUF.cpp - GGUF reader and ggml block re-layout --------------------===//

#include "squant/Runtime/GGUF.h"
#include "squant/Runtime/MappedFile.h"

#include "llvm/Support/Endian.h"
#include "llvm/Support/FormatVariadic.h"
#include "llvm/Support/MathExtras.h"

#include <cmath>
#include <cstring>

using namespace llvm;
using namespace mlir::squant::runtime;

namespace {
Error fail(StringRef file, const Twine &msg) {
  return createStringError(inconvertibleErrorCode(), file + ": " + msg);
}

// GGUF metadata value types.
enum : uint32_t {
  kU8 = 0, kI8, kU16, kI16, kU32, kI32, kF32, kBool, kString, kArray, kU64,
  kI64, kF64
};

unsigned scalarSize(uint32_t t) {
  switch (t) {
  case kU8: case kI8: case kBool: return 1;
  case kU16: case kI16: return 2;
  case kU32: case kI32: case kF32: return 4;
  case kU64: case kI64: case kF64: return 8;
  default: return 0;
  }
}

/// Bounds-checked little-endian reader over the mapped bytes.
class Reader {
public:
  Reader(ArrayRef<uint8_t> bytes, StringRef file) : bytes(bytes), file(file) {}
  uint64_t pos = 0;

  Error need(uint64_t n, const Twine &what) {
    if (n > bytes.size() || pos > bytes.size() - n)
      return fail(file, llvm::formatv("truncated file: {0} needs {1} bytes at "
                                      "offset {2}, file has {3}",
                                      what.str(), n, pos, bytes.size()));
    return Error::success();
  }
  template <typename T> Expected<T> read(const Twine &what) {
    if (Error e = need(sizeof(T), what))
      return std::move(e);
    T v;
    std::memcpy(&v, bytes.data() + pos, sizeof(T));
    pos += sizeof(T);
    return support::endian::byte_swap<T>(v, llvm::endianness::little);
  }
  Expected<std::string> readString(const Twine &what) {
    auto len = read<uint64_t>(what);
    if (!len)
      return len.takeError();
    if (Error e = need(*len, what))
      return std::move(e);
    std::string s(reinterpret_cast<const char *>(bytes.data() + pos), *len);
    pos += *len;
    return s;
  }
  uint64_t remaining() const { return bytes.size() - pos; }

private:
  ArrayRef<uint8_t> bytes;
  StringRef file;
};

Expected<double> readScalarAsDouble(Reader &r, uint32_t t, const Twine &what,
                                    int64_t &asInt, bool &isInt) {
  isInt = true;
  switch (t) {
  case kU8: { auto v = r.read<uint8_t>(what); if (!v) return v.takeError(); asInt = *v; return double(*v); }
  case kI8: { auto v = r.read<int8_t>(what); if (!v) return v.takeError(); asInt = *v; return double(*v); }
  case kBool: { auto v = r.read<uint8_t>(what); if (!v) return v.takeError(); asInt = *v != 0; return double(asInt); }
  case kU16: { auto v = r.read<uint16_t>(what); if (!v) return v.takeError(); asInt = *v; return double(*v); }
  case kI16: { auto v = r.read<int16_t>(what); if (!v) return v.takeError(); asInt = *v; return double(*v); }
  case kU32: { auto v = r.read<uint32_t>(what); if (!v) return v.takeError(); asInt = *v; return double(*v); }
  case kI32: { auto v = r.read<int32_t>(what); if (!v) return v.takeError(); asInt = *v; return double(*v); }
  case kU64: { auto v = r.read<uint64_t>(what); if (!v) return v.takeError(); asInt = int64_t(*v); return double(*v); }
  case kI64: { auto v = r.read<int64_t>(what); if (!v) return v.takeError(); asInt = *v; return double(*v); }
  case kF32: { auto v = r.read<uint32_t>(what); if (!v) return v.takeError(); float f; std::memcpy(&f, &*v, 4); isInt = false; return double(f); }
  case kF64: { auto v = r.read<uint64_t>(what); if (!v) return v.takeError(); double d; std::memcpy(&d, &*v, 8); isInt = false; return d; }
  default: break;
  }
  return fail("", "bad scalar type");
}

Expected<GGUFValue> readValue(Reader &r, uint32_t type, StringRef key,
                              StringRef file) {
  GGUFValue out;
  out.type = type;
  std::string what = ("metadata '" + key + "'").str();
  if (type == kString) {
    auto s = r.readString(what);
    if (!s)
      return s.takeError();
    out.value = std::move(*s);
    return out;
  }
  if (type == kArray) {
    auto elemType = r.read<uint32_t>(what);
    if (!elemType)
      return elemType.takeError();
    auto count = r.read<uint64_t>(what);
    if (!count)
      return count.takeError();
    // Every element takes at least one byte (strings at least 8).
    uint64_t minSize = *elemType == kString ? 8 : scalarSize(*elemType);
    if (minSize == 0)
      return fail(file, llvm::formatv("metadata '{0}': unsupported array "
                                      "element type {1}",
                                      key, *elemType));
    if (*count > r.remaining() / minSize)
      return fail(file, llvm::formatv("truncated file: metadata '{0}' claims "
                                      "{1} elements",
                                      key, *count));
    if (*elemType == kString) {
      std::vector<std::string> v;
      v.reserve(*count);
      for (uint64_t i = 0; i < *count; ++i) {
        auto s = r.readString(what);
        if (!s)
          return s.takeError();
        v.push_back(std::move(*s));
      }
      out.value = std::move(v);
      return out;
    }
    std::vector<int64_t> ints;
    std::vector<double> floats;
    for (uint64_t i = 0; i < *count; ++i) {
      int64_t asInt;
      bool isInt;
      auto d = readScalarAsDouble(r, *elemType, what, asInt, isInt);
      if (!d)
        return d.takeError();
      if (isInt)
        ints.push_back(asInt);
      else
        floats.push_back(*d);
    }
    if (*elemType == kF32 || *elemType == kF64)
      out.value = std::move(floats);
    else
      out.value = std::move(ints);
    return out;
  }
  if (scalarSize(type) == 0)
    return fail(file, llvm::formatv("metadata '{0}': unknown value type {1}",
                                    key, type));
  int64_t asInt;
  bool isInt;
  auto d = readScalarAsDouble(r, type, what, asInt, isInt);
  if (!d)
    return d.takeError();
  if (type == kBool)
    out.value = asInt != 0;
  else if (!isInt)
    out.value = *d;
  else if (type == kU64)
    out.value = uint64_t(asInt);
  else
    out.value = asInt;
  return out;
}
} // namespace

const char *mlir::squant::runtime::ggmlTypeName(uint32_t type) {
  switch (GGMLType(type)) {
  case GGMLType::F32: return "F32";
  case GGMLType::F16: return "F16";
  case GGMLType::BF16: return "BF16";
  case GGMLType::Q4_0: return "Q4_0";
  case GGMLType::Q4_1: return "Q4_1";
  case GGMLType::Q8_0: return "Q8_0";
  }
  return nullptr;
}

bool mlir::squant::runtime::ggmlBlockInfo(uint32_t type, int64_t &elems,
                                          int64_t &bytes) {
  switch (GGMLType(type)) {
  case GGMLType::F32: elems = 1; bytes = 4; return true;
  case GGMLType::F16: case GGMLType::BF16: elems = 1; bytes = 2; return true;
  case GGMLType::Q4_0: elems = 32; bytes = 18; return true;
  case GGMLType::Q4_1: elems = 32; bytes = 20; return true;
  case GGMLType::Q8_0: elems = 32; bytes = 34; return true;
  }
  return false;
}

int64_t GGUFTensor::numElements() const {
  int64_t n = 1;
  for (int64_t d : shape)
    n *= d;
  return n;
}

Expected<std::unique_ptr<GGUFFile>> GGUFFile::open(StringRef path) {
  auto mapping = mapFileReadOnly(path, 24, "a GGUF header needs 24");
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

Expected<std::unique_ptr<GGUFFile>> GGUFFile::parse(ArrayRef<uint8_t> bytes,
                                                    StringRef name) {
  std::unique_ptr<GGUFFile> file(new GGUFFile());
  file->filePath = name.str();
  Reader r(bytes, name);
  auto magic = r.read<uint32_t>("magic");
  if (!magic)
    return magic.takeError();
  if (*magic != 0x46554747u) // "GGUF"
    return fail(name, "not a GGUF file (bad magic)");
  auto version = r.read<uint32_t>("version");
  if (!version)
    return version.takeError();
  if (*version != 2 && *version != 3)
    return fail(name, llvm::formatv("unsupported GGUF version {0} (2 and 3 "
                                    "are read)",
                                    *version));
  file->fileVersion = *version;
  auto tensorCount = r.read<uint64_t>("tensor count");
  if (!tensorCount)
    return tensorCount.takeError();
  auto kvCount = r.read<uint64_t>("metadata count");
  if (!kvCount)
    return kvCount.takeError();
  // Each metadata entry and tensor info takes at least 12 / 24 bytes.
  if (*kvCount > r.remaining() / 12 || *tensorCount > r.remaining() / 24)
    return fail(name, llvm::formatv("truncated file: header claims {0} "
                                    "metadata entries and {1} tensors",
                                    *kvCount, *tensorCount));
  for (uint64_t i = 0; i < *kvCount; ++i) {
    auto key = r.readString(llvm::formatv("metadata key #{0}", i));
    if (!key)
      return key.takeError();
    auto type = r.read<uint32_t>("metadata type of '" + *key + "'");
    if (!type)
      return type.takeError();
    auto value = readValue(r, *type, *key, name);
    if (!value)
      return value.takeError();
    if (file->meta.count(*key))
      return fail(name, "duplicate metadata key '" + *key + "'");
    file->keyList.push_back(*key);
    file->meta[*key] = std::move(*value);
  }
  uint64_t alignment = 32;
  if (auto a = file->getInt("general.alignment")) {
    if (*a <= 0 || !isPowerOf2_64(*a) || *a > 65536)
      return fail(name, llvm::formatv("invalid general.alignment {0}", *a));
    alignment = *a;
  }
  struct RawInfo {
    uint64_t offset, bytes;
  };
  std::vector<RawInfo> raw;
  for (uint64_t i = 0; i < *tensorCount; ++i) {
    std::string what = llvm::formatv("tensor info #{0}", i).str();
    auto tname = r.readString(what);
    if (!tname)
      return tname.takeError();
    what += " ('" + *tname + "')";
    auto ndims = r.read<uint32_t>(what);
    if (!ndims)
      return ndims.takeError();
    if (*ndims == 0 || *ndims > 4)
      return fail(name, llvm::formatv("{0}: {1} dimensions (1 to 4 allowed)",
                                      what, *ndims));
    GGUFTensor t;
    t.name = *tname;
    SmallVector<int64_t> ne;
    int64_t count = 1;
    for (uint32_t d = 0; d < *ndims; ++d) {
      auto dim = r.read<uint64_t>(what);
      if (!dim)
        return dim.takeError();
      if (*dim == 0 || *dim > (uint64_t(1) << 40) ||
          MulOverflow(count, int64_t(*dim), count))
        return fail(name, llvm::formatv("{0}: invalid dimension {1}", what,
                                        *dim));
      ne.push_back(int64_t(*dim));
    }
    t.shape.assign(ne.rbegin(), ne.rend());
    auto type = r.read<uint32_t>(what);
    if (!type)
      return type.takeError();
    t.type = *type;
    auto offset = r.read<uint64_t>(what);
    if (!offset)
      return offset.takeError();
    int64_t blockElems, blockBytes;
    uint64_t nbytes = 0;
    if (ggmlBlockInfo(t.type, blockElems, blockBytes)) {
      if (ne[0] % blockElems != 0)
        return fail(name, llvm::formatv("{0}: row length {1} is not a "
                                        "multiple of the {2} block size {3}",
                                        what, ne[0], ggmlTypeName(t.type),
                                        blockElems));
      nbytes = uint64_t(count / blockElems) * uint64_t(blockBytes);
    } else {
      // Unsupported types are listed (so errors can name them) but have no
      // data view; their size is unknown.
      nbytes = 0;
    }
    if (*offset % alignment != 0)
      return fail(name, llvm::formatv("{0}: data offset {1} is not aligned to "
                                      "{2}",
                                      what, *offset, alignment));
    raw.push_back({*offset, nbytes});
    if (file->index.count(t.name))
      return fail(name, "duplicate tensor '" + t.name + "'");
    file->index[t.name] = file->tensorList.size();
    file->tensorList.push_back(std::move(t));
  }
  uint64_t dataStart = alignTo(r.pos, alignment);
  for (size_t i = 0; i < raw.size(); ++i) {
    GGUFTensor &t = file->tensorList[i];
    uint64_t begin = raw[i].offset;
    if (dataStart > bytes.size() || begin > bytes.size() - dataStart ||
        raw[i].bytes > bytes.size() - dataStart - begin)
      return fail(name, llvm::formatv("truncated file: tensor '{0}' needs "
                                      "bytes [{1}, {2}) of the data section "
                                      "at {3}, file has {4} bytes",
                                      t.name, begin, begin + raw[i].bytes,
                                      dataStart, bytes.size()));
    t.data = bytes.slice(dataStart + begin, raw[i].bytes);
  }
  return file;
}

const GGUFTensor *GGUFFile::lookup(StringRef name) const {
  auto it = index.find(name);
  return it == index.end() ? nullptr : &tensorList[it->second];
}

const GGUFValue *GGUFFile::get(StringRef key) const {
  auto it = meta.find(key);
  return it == meta.end() ? nullptr : &it->second;
}

std::optional<int64_t> GGUFFile::getInt(StringRef key) const {
  const GGUFValue *v = get(key);
  if (!v)
    return std::nullopt;
  if (auto *i = std::get_if<int64_t>(&v->value))
    return *i;
  if (auto *u = std::get_if<uint64_t>(&v->value))
    if (*u <= uint64_t(INT64_MAX))
      return int64_t(*u);
  if (auto *b = std::get_if<bool>(&v->value))
    return int64_t(*b);
  return std::nullopt;
}

std::optional<double> GGUFFile::getFloat(StringRef key) const {
  const GGUFValue *v = get(key);
  if (!v)
    return std::nullopt;
  if (auto *d = std::get_if<double>(&v->value))
    return *d;
  if (auto i = getInt(key))
    return double(*i);
  return std::nullopt;
}

std::optional<std::string> GGUFFile::getString(StringRef key) const {
  const GGUFValue *v = get(key);
  if (!v)
    return std::nullopt;
  if (auto *s = std::get_if<std::string>(&v->value))
    return *s;
  return std::nullopt;
}

const std::vector<std::string> *GGUFFile::getStrings(StringRef key) const {
  const GGUFValue *v = get(key);
  return v ? std::get_if<std::vector<std::string>>(&v->value) : nullptr;
}
const std::vector<int64_t> *GGUFFile::getInts(StringRef key) const {
  const GGUFValue *v = get(key);
  return v ? std::get_if<std::vector<int64_t>>(&v->value) : nullptr;
}
const std::vector<double> *GGUFFile::getFloats(StringRef key) const {
  const GGUFValue *v = get(key);
  return v ? std::get_if<std::vector<double>>(&v->value) : nullptr;
}

//===----------------------------------------------------------------------===//
// Half precision and ggml blocks
//===----------------------------------------------------------------------===//

float mlir::squant::runtime::halfToFloat(uint16_t h) {
  uint32_t sign = uint32_t(h & 0x8000u) << 16, exp = (h >> 10) & 0x1f,
           man = h & 0x3ff, bits;
  if (exp == 0 && man == 0) {
    bits = sign;
  } else if (exp == 0) {
    float f = std::ldexp(float(man), -24);
    std::memcpy(&bits, &f, 4);
    bits |= sign;
  } else if (exp == 31) {
    bits = sign | 0x7f800000u | (man << 13);
  } else {
    bits = sign | ((exp + 112) << 23) | (man << 13);
  }
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

uint16_t mlir::squant::runtime::floatToHalf(float f) {
  uint32_t x;
  std::memcpy(&x, &f, 4);
  uint32_t sign = (x >> 16) & 0x8000u;
  uint32_t absx = x & 0x7fffffffu;
  if (absx >= 0x7f800000u) // inf / nan
    return uint16_t(sign | 0x7c00u | (absx > 0x7f800000u ? 0x200u : 0));
  if (absx >= 0x477ff000u) // rounds to >= 65520: overflow to inf
    return uint16_t(sign | 0x7c00u);
  if (absx < 0x38800000u) { // subnormal or zero in half
    float a;
    std::memcpy(&a, &absx, 4);
    // Round to nearest even multiple of 2^-24.
    float scaled = a * 16777216.0f;
    uint32_t m = uint32_t(std::nearbyint(scaled));
    return uint16_t(sign | m);
  }
  uint32_t exp = ((absx >> 23) - 112) << 10;
  uint32_t man = absx & 0x7fffffu;
  uint32_t h = exp | (man >> 13);
  uint32_t rest = man & 0x1fffu;
  if (rest > 0x1000u || (rest == 0x1000u && (h & 1)))
    ++h;
  return uint16_t(sign | h);
}

float mlir::squant::runtime::bf16ToFloat(uint16_t h) {
  uint32_t bits = uint32_t(h) << 16;
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

static uint16_t readU16(const uint8_t *p) {
  return uint16_t(p[0]) | uint16_t(uint16_t(p[1]) << 8);
}

/// The code of element j (0..31) of a block and the block's d / m.
static void decodeBlock(GGMLType type, const uint8_t *blk, uint8_t codes[32],
                        uint16_t &d, uint16_t &m) {
  d = readU16(blk);
  m = 0;
  const uint8_t *qs = blk + 2;
  if (type == GGMLType::Q4_1) {
    m = readU16(blk + 2);
    qs = blk + 4;
  }
  if (type == GGMLType::Q8_0) {
    for (int j = 0; j < 32; ++j)
      codes[j] = uint8_t(int(int8_t(qs[j])) + 128);
    return;
  }
  for (int j = 0; j < 16; ++j) {
    codes[j] = qs[j] & 0xf;
    codes[j + 16] = qs[j] >> 4;
  }
}

Expected<GGMLBlockParams>
mlir::squant::runtime::relayoutGGMLBlocks(const GGUFTensor &t) {
  GGMLType type = GGMLType(t.type);
  if (type != GGMLType::Q4_0 && type != GGMLType::Q4_1 &&
      type != GGMLType::Q8_0)
    return fail(t.name, "not a Q4_0, Q4_1 or Q8_0 tensor");
  int64_t blockElems = 32, blockBytes = 0;
  ggmlBlockInfo(t.type, blockElems, blockBytes);
  int64_t k = t.shape.back();
  int64_t n = t.numElements() / k;
  int64_t groups = k / 32;
  GGMLBlockParams p;
  p.bits = type == GGMLType::Q8_0 ? 8 : 4;
  int64_t words = k * p.bits / 32;
  p.codes.assign(size_t(n * words), 0);
  p.scale.resize(size_t(n * groups));
  if (type == GGMLType::Q4_1)
    p.zero.resize(size_t(n * groups));
  uint8_t codes[32];
  for (int64_t row = 0; row < n; ++row) {
    for (int64_t g = 0; g < groups; ++g) {
      const uint8_t *blk = t.data.data() + (row * groups + g) * blockBytes;
      uint16_t d, m;
      decodeBlock(type, blk, codes, d, m);
      size_t gi = size_t(row * groups + g);
      p.scale[gi] = d;
      if (type == GGMLType::Q4_1) {
        float df = halfToFloat(d), mf = halfToFloat(m);
        if (df != 0.0f) {
          p.zero[gi] = -mf / df;
        } else {
          // Every code of such a block is 0 (ggml quantizes with id = 0):
          // scale 1 and zero -m give lut[0] = m.
          p.scale[gi] = 0x3c00; // 1.0
          p.zero[gi] = -mf;
        }
      }
      // Code k of the row at stream bits [k*B, k*B+B).
      for (int j = 0; j < 32; ++j) {
        int64_t bit = (g * 32 + j) * p.bits;
        p.codes[size_t(row * words + bit / 32)] |= uint32_t(codes[j])
                                                    << (bit % 32);
      }
    }
  }
  return p;
}

Expected<std::vector<float>>
mlir::squant::runtime::dequantizeGGML(const GGUFTensor &t) {
  GGMLType type = GGMLType(t.type);
  int64_t count = t.numElements();
  std::vector<float> out(static_cast<size_t>(count));
  const uint8_t *p = t.data.data();
  switch (type) {
  case GGMLType::F32:
    std::memcpy(out.data(), p, size_t(count) * 4);
    return out;
  case GGMLType::F16:
    for (int64_t i = 0; i < count; ++i)
      out[i] = halfToFloat(readU16(p + 2 * i));
    return out;
  case GGMLType::BF16:
    for (int64_t i = 0; i < count; ++i)
      out[i] = bf16ToFloat(readU16(p + 2 * i));
    return out;
  case GGMLType::Q4_0:
  case GGMLType::Q4_1:
  case GGMLType::Q8_0: {
    int64_t blockElems = 32, blockBytes = 0;
    ggmlBlockInfo(t.type, blockElems, blockBytes);
    uint8_t codes[32];
    for (int64_t b = 0; b < count / 32; ++b) {
      uint16_t d, m;
      decodeBlock(type, p + b * blockBytes, codes, d, m);
      float df = halfToFloat(d), mf = halfToFloat(m);
      for (int j = 0; j < 32; ++j) {
        float v;
        if (type == GGMLType::Q4_0)
          v = (int(codes[j]) - 8) * df;
        else if (type == GGMLType::Q4_1)
          v = codes[j] * df + mf;
        else
          v = (int(codes[j]) - 128) * df;
        out[size_t(b * 32 + j)] = v;
      }
    }
    return out;
  }
  }
  return fail(t.name, "unsupported ggml type " + std::to_string(t.type));
}
