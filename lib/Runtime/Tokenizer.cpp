//===- Tokenizer.cpp - byte-level BPE tokenizer ---------------------------===//

#include "squant/Runtime/Tokenizer.h"
#include "squant/Runtime/GGUF.h"

#include "llvm/ADT/StringExtras.h"
#include "llvm/Support/ConvertUTF.h"
#include "llvm/Support/JSON.h"
#include "llvm/Support/MemoryBuffer.h"

#include <algorithm>
#include <climits>

using namespace llvm;
using namespace mlir::squant::runtime;

static Error fail(const Twine &msg) {
  return createStringError(inconvertibleErrorCode(), msg);
}

static std::string utf8(uint32_t cp) {
  std::string s;
  if (cp < 0x80) {
    s += char(cp);
  } else if (cp < 0x800) {
    s += char(0xc0 | (cp >> 6));
    s += char(0x80 | (cp & 0x3f));
  } else if (cp < 0x10000) {
    s += char(0xe0 | (cp >> 12));
    s += char(0x80 | ((cp >> 6) & 0x3f));
    s += char(0x80 | (cp & 0x3f));
  } else {
    s += char(0xf0 | (cp >> 18));
    s += char(0x80 | ((cp >> 12) & 0x3f));
    s += char(0x80 | ((cp >> 6) & 0x3f));
    s += char(0x80 | (cp & 0x3f));
  }
  return s;
}

/// Decodes the code point at `i` (advancing it); invalid bytes decode as
/// themselves (one byte).
static uint32_t nextCodePoint(StringRef s, size_t &i) {
  unsigned char c = s[i];
  unsigned len = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3
                 : (c >> 3) == 30 ? 4 : 1;
  if (i + len > s.size())
    len = 1;
  uint32_t cp = len == 1 ? c : len == 2 ? (c & 0x1f) : len == 3 ? (c & 0x0f)
                                                               : (c & 0x07);
  for (unsigned k = 1; k < len; ++k) {
    unsigned char cc = s[i + k];
    if ((cc & 0xc0) != 0x80) {
      len = 1;
      cp = c;
      break;
    }
    cp = (cp << 6) | (cc & 0x3f);
  }
  i += len;
  return cp;
}

void Tokenizer::finish() {
  // GPT-2's reversible byte <-> printable code point map.
  int n = 0;
  for (int b = 0; b < 256; ++b) {
    bool printable = (b >= 33 && b <= 126) || (b >= 161 && b <= 172) ||
                     (b >= 174 && b <= 255);
    uint32_t cp = printable ? uint32_t(b) : uint32_t(256 + n++);
    byteToUnicode[b] = utf8(cp);
    unicodeToByte[cp] = uint8_t(b);
  }
  for (size_t i = 0; i < tokens.size(); ++i) {
    vocab.try_emplace(tokens[i], int32_t(i));
    if (control[i] && !tokens[i].empty())
      specials.push_back({tokens[i], int32_t(i)});
  }
  llvm::sort(specials, [](const auto &a, const auto &b) {
    return a.first.size() > b.first.size();
  });
}

Expected<std::unique_ptr<Tokenizer>> Tokenizer::fromGGUF(const GGUFFile &f) {
  std::string model = f.getString("tokenizer.ggml.model").value_or("");
  if (model != "gpt2")
    return fail(f.path() + ": tokenizer.ggml.model is '" + model +
                "'; only byte-level BPE ('gpt2') is supported");
  const std::vector<std::string> *toks = f.getStrings("tokenizer.ggml.tokens");
  const std::vector<std::string> *merges =
      f.getStrings("tokenizer.ggml.merges");
  if (!toks || !merges)
    return fail(f.path() + ": missing tokenizer.ggml.tokens or .merges");
  std::unique_ptr<Tokenizer> t(new Tokenizer());
  t->tokens = *toks;
  t->control.assign(toks->size(), false);
  if (const std::vector<int64_t> *types = f.getInts("tokenizer.ggml.token_type"))
    for (size_t i = 0; i < types->size() && i < toks->size(); ++i)
      t->control[i] = (*types)[i] == 3 || (*types)[i] == 4;
  for (auto [i, m] : llvm::enumerate(*merges))
    t->mergeRank.try_emplace(m, int32_t(i));
  t->finish();
  return t;
}

Expected<std::unique_ptr<Tokenizer>> Tokenizer::fromHFJson(StringRef path) {
  auto buf = MemoryBuffer::getFile(path);
  if (!buf)
    return fail(path + ": cannot read: " + buf.getError().message());
  return fromHFJsonText((*buf)->getBuffer(), path);
}

Expected<std::unique_ptr<Tokenizer>>
Tokenizer::fromHFJsonText(StringRef text, StringRef path) {
  auto parsed = json::parse(text);
  if (!parsed)
    return fail(path + ": invalid JSON: " + toString(parsed.takeError()));
  const json::Object *root = parsed->getAsObject();
  const json::Object *model = root ? root->getObject("model") : nullptr;
  if (!model || model->getString("type").value_or("BPE") != "BPE")
    return fail(path + ": not a BPE tokenizer");
  const json::Object *vocab = model->getObject("vocab");
  const json::Array *merges = model->getArray("merges");
  if (!vocab || !merges)
    return fail(path + ": missing model.vocab or model.merges");
  std::unique_ptr<Tokenizer> t(new Tokenizer());
  for (const auto &kv : *vocab) {
    auto id = kv.second.getAsInteger();
    if (!id || *id < 0 || *id > (1 << 24))
      return fail(path + ": bad id for token '" + kv.first.str() + "'");
    if (size_t(*id) >= t->tokens.size())
      t->tokens.resize(*id + 1);
    t->tokens[*id] = kv.first.str();
  }
  t->control.assign(t->tokens.size(), false);
  if (const json::Array *added = root->getArray("added_tokens"))
    for (const json::Value &v : *added)
      if (const json::Object *o = v.getAsObject()) {
        auto id = o->getInteger("id");
        auto content = o->getString("content");
        if (!id || !content || *id < 0 || *id > (1 << 24))
          continue;
        if (size_t(*id) >= t->tokens.size()) {
          t->tokens.resize(*id + 1);
          t->control.resize(*id + 1, false);
        }
        t->tokens[*id] = content->str();
        t->control[*id] = true;
      }
  int32_t rank = 0;
  for (const json::Value &m : *merges) {
    if (auto s = m.getAsString())
      t->mergeRank.try_emplace(*s, rank++);
    else if (const json::Array *pair = m.getAsArray(); pair && pair->size() == 2)
      t->mergeRank.try_emplace(((*pair)[0].getAsString().value_or("") + " " +
                                (*pair)[1].getAsString().value_or(""))
                                   .str(),
                               rank++);
  }
  t->finish();
  return t;
}

int32_t Tokenizer::lookup(StringRef token) const {
  auto it = vocab.find(token);
  return it == vocab.end() ? -1 : it->second;
}

void Tokenizer::bpe(StringRef piece, std::vector<int32_t> &out) const {
  std::vector<std::string> sym;
  for (unsigned char c : piece)
    sym.push_back(byteToUnicode[c]);
  while (sym.size() > 1) {
    int32_t best = INT32_MAX;
    size_t at = 0;
    for (size_t i = 0; i + 1 < sym.size(); ++i) {
      auto it = mergeRank.find(sym[i] + " " + sym[i + 1]);
      if (it != mergeRank.end() && it->second < best) {
        best = it->second;
        at = i;
      }
    }
    if (best == INT32_MAX)
      break;
    std::string a = sym[at], b = sym[at + 1];
    std::vector<std::string> next;
    for (size_t i = 0; i < sym.size(); ++i) {
      if (i + 1 < sym.size() && sym[i] == a && sym[i + 1] == b) {
        next.push_back(a + b);
        ++i;
      } else {
        next.push_back(sym[i]);
      }
    }
    sym = std::move(next);
  }
  for (const std::string &s : sym) {
    int32_t id = lookup(s);
    if (id >= 0) {
      out.push_back(id);
      continue;
    }
    // Not in the vocabulary: fall back to its bytes' tokens.
    size_t i = 0;
    while (i < s.size()) {
      size_t start = i;
      nextCodePoint(s, i);
      int32_t bid = lookup(StringRef(s).slice(start, i));
      if (bid >= 0)
        out.push_back(bid);
    }
  }
}

namespace {
enum class CharClass { Letter, Digit, Space, Other };
CharClass classify(uint32_t cp) {
  if ((cp >= 'a' && cp <= 'z') || (cp >= 'A' && cp <= 'Z'))
    return CharClass::Letter;
  if (cp >= '0' && cp <= '9')
    return CharClass::Digit;
  if (cp == ' ' || cp == '\t' || cp == '\n' || cp == '\r' || cp == '\v' ||
      cp == '\f' || cp == 0x85 || cp == 0xa0 || cp == 0x2028 ||
      cp == 0x3000 || (cp >= 0x2000 && cp <= 0x200a))
    return CharClass::Space;
  if (cp >= 0x80)
    return CharClass::Letter;
  return CharClass::Other;
}
} // namespace

std::vector<int32_t> Tokenizer::encode(StringRef text) const {
  std::vector<int32_t> out;
  // Split off control tokens first.
  size_t pos = 0;
  std::vector<std::pair<StringRef, int32_t>> parts; // id >= 0: special
  size_t plainStart = 0;
  while (pos < text.size()) {
    int32_t hit = -1;
    size_t len = 0;
    if (text[pos] == '<' || text[pos] == '[')
      for (const auto &[s, id] : specials)
        if (text.substr(pos).starts_with(s)) {
          hit = id;
          len = s.size();
          break;
        }
    if (hit < 0) {
      ++pos;
      continue;
    }
    if (pos > plainStart)
      parts.push_back({text.slice(plainStart, pos), -1});
    parts.push_back({text.substr(pos, len), hit});
    pos += len;
    plainStart = pos;
  }
  if (plainStart < text.size())
    parts.push_back({text.substr(plainStart), -1});

  for (auto [s, id] : parts) {
    if (id >= 0) {
      out.push_back(id);
      continue;
    }
    // Code points and their classes.
    std::vector<size_t> starts;
    std::vector<CharClass> cls;
    for (size_t i = 0; i < s.size();) {
      starts.push_back(i);
      cls.push_back(classify(nextCodePoint(s, i)));
    }
    starts.push_back(s.size());
    size_t n = cls.size(), i = 0;
    auto emit = [&](size_t a, size_t b) {
      bpe(s.slice(starts[a], starts[b]), out);
    };
    auto runEnd = [&](size_t j, CharClass c) {
      while (j < n && cls[j] == c)
        ++j;
      return j;
    };
    while (i < n) {
      // Digits are single pre-tokens.
      if (cls[i] == CharClass::Digit) {
        emit(i, i + 1);
        ++i;
        continue;
      }
      // Contractions.
      if (s[starts[i]] == '\'' && i + 1 < n) {
        StringRef rest = s.substr(starts[i] + 1);
        size_t clen = 0;
        for (StringRef c : {"re", "ve", "ll", "s", "t", "m", "d"})
          if (rest.starts_with(c)) {
            clen = c.size();
            break;
          }
        if (clen) {
          emit(i, i + 1 + clen);
          i += 1 + clen;
          continue;
        }
      }
      // ` ?\p{L}+` and ` ?[^\s\p{L}\p{N}]+`.
      size_t j = s[starts[i]] == ' ' ? i + 1 : i;
      if (j < n && (cls[j] == CharClass::Letter || cls[j] == CharClass::Other)) {
        size_t e = runEnd(j, cls[j]);
        emit(i, e);
        i = e;
        continue;
      }
      // Whitespace: `\s+(?!\S)` then `\s+`. Digits start a new piece (they
      // were split off first), so they do not count as a following \S.
      size_t e = runEnd(i, CharClass::Space);
      if (e < n && cls[e] != CharClass::Digit && e - i >= 2)
        e -= 1; // the last space goes with the next word
      emit(i, e);
      i = e;
    }
  }
  return out;
}

std::string Tokenizer::decode(ArrayRef<int32_t> ids, bool special) const {
  std::string out;
  for (int32_t id : ids) {
    if (id < 0 || size_t(id) >= tokens.size())
      continue;
    if (control[id]) {
      if (special)
        out += tokens[id];
      continue;
    }
    StringRef s = tokens[id];
    for (size_t i = 0; i < s.size();) {
      size_t start = i;
      uint32_t cp = nextCodePoint(s, i);
      auto it = unicodeToByte.find(cp);
      if (it != unicodeToByte.end())
        out += char(it->second);
      else
        out += s.slice(start, i).str();
    }
  }
  return out;
}
