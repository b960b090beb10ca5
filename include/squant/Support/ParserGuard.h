//===- ParserGuard.h - reject input that crashes the MLIR parser -*- C++ -*-===//
//
// The MLIR 22 parser that Debian ships crashes (instead of diagnosing) on a
// few inputs; the fixes are upstream but not in the release we build
// against. Every squant tool scans its MLIR input with this guard first, so
// such input gets a diagnostic and a non-zero exit instead of a crash.
//
//===----------------------------------------------------------------------===//

#ifndef SQUANT_SUPPORT_PARSERGUARD_H
#define SQUANT_SUPPORT_PARSERGUARD_H

#include "llvm/ADT/StringRef.h"

#include <optional>
#include <string>

namespace llvm {
class SourceMgr;
} // namespace llvm

namespace mlir::squant {

struct KnownParserCrash {
  size_t offset;       ///< Byte offset of the offending text.
  std::string message; ///< What is rejected and why.
};

/// Finds text that the MLIR 22 parser is known to crash on.
std::optional<KnownParserCrash> findKnownParserCrash(llvm::StringRef text);

/// Checks the main buffer of `sourceMgr`; on a hit prints an error at the
/// offending location and returns true.
bool reportKnownParserCrash(llvm::SourceMgr &sourceMgr);

} // namespace mlir::squant

#endif // SQUANT_SUPPORT_PARSERGUARD_H
