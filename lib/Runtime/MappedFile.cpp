//===- MappedFile.cpp - read-only memory mapping of a weight file ---------===//

#include "squant/Runtime/MappedFile.h"

#include "llvm/Support/FormatVariadic.h"

using namespace llvm;

Expected<std::unique_ptr<sys::fs::mapped_file_region>>
mlir::squant::runtime::mapFileReadOnly(StringRef path, uint64_t minBytes,
                                       StringRef tooSmall) {
  auto fail = [&](const Twine &msg) {
    return createStringError(inconvertibleErrorCode(), path + ": " + msg);
  };
  Expected<sys::fs::file_t> opened =
      sys::fs::openNativeFileForRead(path, sys::fs::OF_None);
  if (!opened)
    return fail("cannot open: " + toString(opened.takeError()));
  sys::fs::file_t fd = *opened;
  auto closeAndFail = [&](const Twine &msg) {
    sys::fs::closeFile(fd);
    return fail(msg);
  };
  sys::fs::file_status status;
  if (std::error_code ec = sys::fs::status(fd, status))
    return closeAndFail("cannot stat: " + ec.message());
  if (status.type() != sys::fs::file_type::regular_file)
    return closeAndFail("not a regular file");
  uint64_t size = status.getSize();
  if (size < minBytes)
    return closeAndFail(
        formatv("truncated file: {0} bytes, {1}", size, tooSmall).str());
  std::error_code ec;
  auto mapping = std::make_unique<sys::fs::mapped_file_region>(
      fd, sys::fs::mapped_file_region::readonly, size, 0, ec);
  sys::fs::closeFile(fd);
  if (ec)
    return fail("cannot map: " + ec.message());
  return mapping;
}
