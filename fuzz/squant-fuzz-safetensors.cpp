//===- squant-fuzz-safetensors.cpp - fuzz the safetensors reader ----------===//
//
// libFuzzer target: arbitrary bytes -> SafeTensorsFile::parse. Whatever the
// reader accepts is then read in full, so an offset or size it failed to
// validate shows up as an AddressSanitizer report.
//
//===----------------------------------------------------------------------===//

#include "squant/Runtime/SafeTensors.h"

#include <cstdint>

using namespace mlir::squant::runtime;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  auto file = SafeTensorsFile::parse(llvm::ArrayRef<uint8_t>(data, size),
                                     "fuzz-input");
  if (!file) {
    llvm::consumeError(file.takeError());
    return 0;
  }
  volatile uint8_t sink = 0;
  for (const TensorView &t : (*file)->tensors()) {
    if (uint64_t(t.numElements()) * dtypeSize(t.dtype) != t.data.size())
      __builtin_trap();
    for (uint8_t b : t.data)
      sink ^= b;
    if ((*file)->lookup(t.name) != &t)
      __builtin_trap();
  }
  (void)sink;
  return 0;
}
