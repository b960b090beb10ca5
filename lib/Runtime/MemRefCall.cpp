//===- MemRefCall.cpp - call JIT-compiled functions on memrefs ------------===//

#include "squant/Runtime/MemRefCall.h"

#include "mlir/ExecutionEngine/ExecutionEngine.h"

#include "llvm/ADT/DenseSet.h"

#include <cstdlib>
#include <cstring>

using namespace llvm;
using namespace mlir;
using namespace mlir::squant::runtime;

int64_t MemRefResult::numElements() const {
  int64_t n = 1;
  for (int64_t s : sizes)
    n *= s;
  return n;
}

std::vector<uint8_t> MemRefResult::toContiguous(unsigned elementSize) const {
  int64_t count = numElements();
  std::vector<uint8_t> out(size_t(count) * elementSize);
  if (count == 0)
    return out;
  const uint8_t *base = static_cast<const uint8_t *>(aligned);
  SmallVector<int64_t> idx(sizes.size(), 0);
  for (int64_t linear = 0; linear < count; ++linear) {
    int64_t elem = offset;
    for (size_t d = 0; d < sizes.size(); ++d)
      elem += idx[d] * strides[d];
    std::memcpy(out.data() + linear * elementSize, base + elem * elementSize,
                elementSize);
    for (int d = int(sizes.size()) - 1; d >= 0; --d) {
      if (++idx[d] < sizes[d])
        break;
      idx[d] = 0;
    }
  }
  return out;
}

Expected<SmallVector<MemRefResult>>
mlir::squant::runtime::callMemRefFunction(ExecutionEngine &engine,
                                          StringRef name,
                                          ArrayRef<MemRefArg> args,
                                          ArrayRef<unsigned> resultRanks) {
  // Storage for every scalar of every expanded descriptor; the packed
  // interface takes one pointer per scalar.
  std::vector<std::vector<int64_t>> argStorage;
  SmallVector<void *> packed;
  for (const MemRefArg &arg : args) {
    size_t rank = arg.sizes.size();
    std::vector<int64_t> fields(3 + 2 * rank);
    fields[0] = reinterpret_cast<int64_t>(arg.data);
    fields[1] = reinterpret_cast<int64_t>(arg.data);
    fields[2] = 0;
    int64_t stride = 1;
    for (size_t d = rank; d-- > 0;) {
      fields[3 + d] = arg.sizes[d];
      fields[3 + rank + d] = stride;
      stride *= arg.sizes[d];
    }
    argStorage.push_back(std::move(fields));
  }
  for (std::vector<int64_t> &fields : argStorage)
    for (int64_t &f : fields)
      packed.push_back(&f);

  // Results: one struct of descriptors, all fields 8 bytes wide.
  size_t resultWords = 0;
  for (unsigned rank : resultRanks)
    resultWords += 3 + 2 * rank;
  std::vector<int64_t> resultStorage(std::max<size_t>(resultWords, 1));
  if (!resultRanks.empty())
    packed.push_back(resultStorage.data());

  if (Error err = engine.invokePacked(name, packed))
    return std::move(err);

  SmallVector<MemRefResult> results;
  size_t pos = 0;
  for (unsigned rank : resultRanks) {
    MemRefResult r;
    r.allocated = reinterpret_cast<void *>(resultStorage[pos]);
    r.aligned = reinterpret_cast<void *>(resultStorage[pos + 1]);
    r.offset = resultStorage[pos + 2];
    for (unsigned d = 0; d < rank; ++d) {
      r.sizes.push_back(resultStorage[pos + 3 + d]);
      r.strides.push_back(resultStorage[pos + 3 + rank + d]);
    }
    pos += 3 + 2 * rank;
    results.push_back(std::move(r));
  }
  return results;
}

void mlir::squant::runtime::freeResultBuffers(
    ArrayRef<MemRefResult> results, ArrayRef<const void *> notOwned) {
  // memref.get_global lowers to descriptors whose allocated pointer is this
  // sentinel: the data lives in a global, not on the heap.
  const void *globalSentinel = reinterpret_cast<const void *>(0xdeadbeef);
  llvm::DenseSet<const void *> skip(notOwned.begin(), notOwned.end());
  skip.insert(globalSentinel);
  skip.insert(nullptr);
  for (const MemRefResult &r : results)
    if (skip.insert(r.allocated).second)
      std::free(r.allocated);
}
