//===- ParserGuard.cpp - reject input that crashes the MLIR parser --------===//

#include "squant/Support/ParserGuard.h"

#include "llvm/ADT/StringExtras.h"
#include "llvm/Support/SMLoc.h"
#include "llvm/Support/SourceMgr.h"

using namespace llvm;
using namespace mlir::squant;

namespace {
bool isIdentChar(char c) { return isAlnum(c) || c == '_' || c == '.' || c == '$'; }

/// Skips whitespace from `pos`.
size_t skipSpace(StringRef text, size_t pos) {
  while (pos < text.size() && isSpace(text[pos]))
    ++pos;
  return pos;
}
} // namespace

std::optional<KnownParserCrash>
mlir::squant::findKnownParserCrash(StringRef text) {
  // `array<index ...>`: Parser::parseDenseArrayAttr asks an index type for
  // its bit width and crashes (llvm/llvm-project#179045, fixed by #179075
  // after the 22 release).
  for (size_t pos = text.find("array"); pos != StringRef::npos;
       pos = text.find("array", pos + 1)) {
    if (pos > 0 && isIdentChar(text[pos - 1]))
      continue;
    size_t p = skipSpace(text, pos + 5);
    if (p >= text.size() || text[p] != '<')
      continue;
    p = skipSpace(text, p + 1);
    if (!text.substr(p).starts_with("index"))
      continue;
    size_t end = p + 5;
    if (end < text.size() && isIdentChar(text[end]))
      continue;
    return KnownParserCrash{
        pos, "dense arrays of 'index' are not supported (the MLIR 22 parser "
             "crashes on them: llvm/llvm-project#179045); use i64"};
  }
  return std::nullopt;
}

bool mlir::squant::reportKnownParserCrash(SourceMgr &sourceMgr) {
  const MemoryBuffer *buffer = sourceMgr.getMemoryBuffer(sourceMgr.getMainFileID());
  std::optional<KnownParserCrash> hit = findKnownParserCrash(buffer->getBuffer());
  if (!hit)
    return false;
  sourceMgr.PrintMessage(SMLoc::getFromPointer(buffer->getBufferStart() + hit->offset),
                         SourceMgr::DK_Error, hit->message);
  return true;
}
