//===- MemRefCallTest.cpp - memref result handling unit tests -------------===//

#include "squant/Runtime/MemRefCall.h"

#include "gtest/gtest.h"

#include <cstdlib>
#include <cstring>

using namespace mlir::squant::runtime;

TEST(MemRefResult, ToContiguousHonoursOffsetAndStrides) {
  // A 2x3 view with row stride 4 at offset 1 into a 12-element buffer.
  int32_t buffer[12];
  for (int i = 0; i < 12; ++i)
    buffer[i] = i;
  MemRefResult r;
  r.allocated = r.aligned = buffer;
  r.offset = 1;
  r.sizes = {2, 3};
  r.strides = {4, 1};
  std::vector<uint8_t> bytes = r.toContiguous(4);
  ASSERT_EQ(bytes.size(), 24u);
  int32_t got[6];
  std::memcpy(got, bytes.data(), 24);
  int32_t want[6] = {1, 2, 3, 5, 6, 7};
  for (int i = 0; i < 6; ++i)
    EXPECT_EQ(got[i], want[i]) << i;
}

TEST(MemRefResult, ToContiguousTransposedAndEmpty) {
  int32_t buffer[6] = {0, 1, 2, 3, 4, 5}; // 2x3 row-major, read as its 3x2 transpose
  MemRefResult r;
  r.allocated = r.aligned = buffer;
  r.sizes = {3, 2};
  r.strides = {1, 3};
  std::vector<uint8_t> bytes = r.toContiguous(4);
  int32_t got[6];
  std::memcpy(got, bytes.data(), 24);
  int32_t want[6] = {0, 3, 1, 4, 2, 5};
  for (int i = 0; i < 6; ++i)
    EXPECT_EQ(got[i], want[i]) << i;
  r.sizes = {0, 2};
  EXPECT_TRUE(r.toContiguous(4).empty());
}

TEST(MemRefResult, FreeResultBuffersSkipsArgumentsGlobalsAndDuplicates) {
  // Two results share one heap buffer, one is an argument, one a global:
  // only the heap buffer may be freed, exactly once (ASan checks the rest).
  void *heap = std::malloc(16);
  int32_t arg[4];
  MemRefResult a, b, c, d;
  a.allocated = b.allocated = heap;
  c.allocated = arg;
  d.allocated = reinterpret_cast<void *>(0xdeadbeef);
  freeResultBuffers({a, b, c, d}, {arg});
}
