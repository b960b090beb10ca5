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

/// Whether `array` at `pos` starts `array < index` (a dense array of index).
static bool isIndexDenseArray(StringRef text, size_t pos) {
  if (!text.substr(pos).starts_with("array") ||
      (pos > 0 && isIdentChar(text[pos - 1])))
    return false;
  size_t p = skipSpace(text, pos + 5);
  if (p >= text.size() || text[p] != '<')
    return false;
  p = skipSpace(text, p + 1);
  if (!text.substr(p).starts_with("index"))
    return false;
  size_t end = p + 5;
  return end >= text.size() || !isIdentChar(text[end]);
}

std::optional<KnownParserCrash>
mlir::squant::findKnownParserCrash(StringRef text) {
  // Scan the text outside comments and string literals.
  for (size_t pos = 0; pos < text.size(); ++pos) {
    char c = text[pos];
    if (c == '/' && pos + 1 < text.size() && text[pos + 1] == '/') {
      pos = text.find('\n', pos);
      if (pos == StringRef::npos)
        break;
      continue;
    }
    if (c == '"') {
      for (++pos; pos < text.size() && text[pos] != '"'; ++pos)
        if (text[pos] == '\\')
          ++pos;
      continue;
    }
    // `array<index ...>`: Parser::parseDenseArrayAttr asks an index type for
    // its bit width and crashes (llvm/llvm-project#179045, fixed by #179075
    // after the 22 release).
    if (c == 'a' && isIndexDenseArray(text, pos))
      return KnownParserCrash{
          pos, "dense arrays of 'index' are not supported (the MLIR 22 "
               "parser crashes on them: llvm/llvm-project#179045); use i64"};
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
