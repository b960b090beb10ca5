//===- MappedFile.h - read-only memory mapping of a weight file -*- C++ -*-===//
//
// The one way the weight readers (safetensors, GGUF) open a file: a regular
// file, at least as large as the reader's fixed header, mapped read-only.
// Errors name the file.
//
//===----------------------------------------------------------------------===//

#ifndef SQUANT_RUNTIME_MAPPEDFILE_H
#define SQUANT_RUNTIME_MAPPEDFILE_H

#include "llvm/Support/Error.h"
#include "llvm/Support/FileSystem.h"

#include <memory>

namespace mlir::squant::runtime {

/// Maps `path` read-only. A file shorter than `minBytes` is an error
/// "PATH: truncated file: N bytes, TOOSMALL".
llvm::Expected<std::unique_ptr<llvm::sys::fs::mapped_file_region>>
mapFileReadOnly(llvm::StringRef path, uint64_t minBytes,
                llvm::StringRef tooSmall);

} // namespace mlir::squant::runtime

#endif // SQUANT_RUNTIME_MAPPEDFILE_H
