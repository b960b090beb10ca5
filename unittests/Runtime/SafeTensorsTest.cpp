//===- SafeTensorsTest.cpp - safetensors reader/writer unit tests ---------===//

#include "squant/Runtime/SafeTensors.h"

#include "llvm/Support/FileSystem.h"
#include "llvm/Support/Path.h"
#include "gtest/gtest.h"

#include <cstring>
#include <limits>

using namespace mlir::squant::runtime;

namespace {
std::vector<uint8_t> image(const std::string &header, size_t dataBytes) {
  std::vector<uint8_t> out(8 + header.size() + dataBytes, 0);
  uint64_t n = header.size();
  std::memcpy(out.data(), &n, 8);
  std::memcpy(out.data() + 8, header.data(), header.size());
  return out;
}

std::string parseError(const std::vector<uint8_t> &bytes) {
  auto f = SafeTensorsFile::parse(bytes, "t");
  if (f)
    return "";
  return llvm::toString(f.takeError());
}
} // namespace

TEST(SafeTensors, WriteThenReadRoundTrips) {
  llvm::SmallString<128> path;
  ASSERT_FALSE(llvm::sys::fs::createTemporaryFile("squant", "safetensors", path));
  SafeTensorsWriter w;
  w.add("a", DType::F32, {2, 3}, std::vector<uint8_t>(24, 7));
  w.add("b", DType::U8, {5}, {1, 2, 3, 4, 5});
  w.add("empty", DType::I32, {0, 4}, {});
  w.setMetadata("format", "pt");
  ASSERT_FALSE(bool(w.write(path)));
  auto f = SafeTensorsFile::open(path);
  ASSERT_TRUE(bool(f)) << llvm::toString(f.takeError());
  const TensorView *a = (*f)->lookup("a");
  ASSERT_NE(a, nullptr);
  EXPECT_EQ(a->dtype, DType::F32);
  EXPECT_EQ(a->shape, (llvm::SmallVector<int64_t>{2, 3}));
  EXPECT_EQ(a->data.size(), 24u);
  EXPECT_EQ(a->data[5], 7);
  const TensorView *b = (*f)->lookup("b");
  ASSERT_NE(b, nullptr);
  EXPECT_EQ(b->data[4], 5);
  EXPECT_EQ((*f)->lookup("empty")->numElements(), 0);
  EXPECT_EQ((*f)->metadata().at("format"), "pt");
  EXPECT_EQ((*f)->lookup("missing"), nullptr);
  llvm::sys::fs::remove(path);
}

TEST(SafeTensors, DTypeNamesAndSizes) {
  for (auto [name, size] : {std::pair{"F64", 8u}, {"F32", 4u}, {"F16", 2u},
                            {"BF16", 2u}, {"I8", 1u}, {"U8", 1u}, {"BOOL", 1u},
                            {"F8_E4M3", 1u}}) {
    auto d = parseDType(name);
    ASSERT_TRUE(d.has_value()) << name;
    EXPECT_EQ(dtypeSize(*d), size);
    EXPECT_EQ(dtypeName(*d), name);
  }
  EXPECT_FALSE(parseDType("f32").has_value());
  EXPECT_FALSE(parseDType("").has_value());
}

TEST(SafeTensors, CheckedNumBytes) {
  EXPECT_EQ(checkedNumBytes({}, 4), 4);
  EXPECT_EQ(checkedNumBytes({3, 5}, 2), 30);
  EXPECT_EQ(checkedNumBytes({0, 1LL << 62}, 8), 0);
  EXPECT_FALSE(checkedNumBytes({1LL << 40, 1LL << 40}, 1).has_value());
  EXPECT_FALSE(checkedNumBytes({1LL << 61}, 8).has_value());
  EXPECT_FALSE(checkedNumBytes({-1}, 4).has_value());
}

TEST(SafeTensors, RejectsMalformedImages) {
  EXPECT_NE(parseError({1, 2, 3}).find("too small"), std::string::npos);
  // Header length larger than the file.
  auto img = image("{}", 0);
  uint64_t big = 64;
  std::memcpy(img.data(), &big, 8);
  EXPECT_NE(parseError(img).find("exceeds the 2 bytes"), std::string::npos);
  EXPECT_NE(parseError(image("{", 0)).find("invalid JSON"), std::string::npos);
  EXPECT_NE(parseError(image("3", 0)).find("not an object"), std::string::npos);
  EXPECT_NE(parseError(image(R"({"x":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})", 2))
                .find("outside"),
            std::string::npos);
  EXPECT_NE(parseError(image(R"({"x":{"dtype":"F32","shape":[1.5],"data_offsets":[0,4]}})", 4))
                .find("non-negative integers"),
            std::string::npos);
  EXPECT_NE(parseError(image(R"({"x":{"dtype":"F32","shape":[1],"data_offsets":[0]}})", 4))
                .find("data_offsets"),
            std::string::npos);
  EXPECT_NE(parseError(image(R"({"x":{"shape":[1],"data_offsets":[0,4]}})", 4))
                .find("missing string 'dtype'"),
            std::string::npos);
  EXPECT_NE(parseError(image(R"({"x":[]})", 0)).find("not an object"),
            std::string::npos);
  EXPECT_NE(parseError(image(R"({"a":{"dtype":"U8","shape":[2],"data_offsets":[0,2]},)"
                             R"("b":{"dtype":"U8","shape":[2],"data_offsets":[1,3]}})",
                             3))
                .find("overlap"),
            std::string::npos);
  // A valid image parses.
  EXPECT_EQ(parseError(image(R"({"x":{"dtype":"U8","shape":[2],"data_offsets":[0,2]}})", 2)),
            "");
}
