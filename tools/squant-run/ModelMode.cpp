//===- ModelMode.cpp - squant-run --model: whole-model generation ---------===//
//
//   squant-run --model=DIR (--prompt=TEXT [--chat] | --tokens=IDS)
//              [--max-new-tokens=N] [--logits=OUT.safetensors]
//   squant-run --model=DIR --perplexity=TEXT_FILE [--ctx=N] [--max-chunks=K]
//   squant-run --model=DIR --interactive
//
// Prefill runs the prompt in one call per layer (T tokens), then greedy
// decoding runs one token at a time against the KV cache. Prints the token
// ids, the text (when the model has a tokenizer), tokens/s of prefill and
// decode, and peak memory. Greedy decoding is deterministic (ties go to the
// lowest id).
//
//===----------------------------------------------------------------------===//

#include "squant/Runtime/GGUF.h"
#include "squant/Runtime/Model.h"
#include "squant/Runtime/SafeTensors.h"
#include "squant/Runtime/Tokenizer.h"

#include "llvm/ADT/StringExtras.h"
#include "llvm/Support/CommandLine.h"
#include "llvm/Support/FormatVariadic.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/raw_ostream.h"

#include <chrono>
#include <cmath>
#include <cstring>
#include <iostream>
#include <string>
#include <sys/resource.h>
#include <type_traits>
#include <variant>

using namespace mlir::squant::runtime;
namespace cl = llvm::cl;

static cl::OptionCategory modelCat("squant-run model options");
static cl::opt<std::string> modelDir("model",
                                     cl::desc("Directory written by "
                                              "squant-compile (model.so + "
                                              "manifest.json)"),
                                     cl::cat(modelCat));
static cl::opt<std::string> prompt("prompt", cl::desc("Prompt text"),
                                   cl::cat(modelCat));
static cl::opt<std::string> promptFile("prompt-file",
                                       cl::desc("Read the prompt text from "
                                                "this file"),
                                       cl::cat(modelCat));
static cl::list<int> promptTokens("tokens",
                                  cl::desc("Prompt as token ids"),
                                  cl::CommaSeparated, cl::cat(modelCat));
static cl::opt<bool> chat("chat",
                          cl::desc("Wrap the prompt in the model's chat "
                                   "template (ChatML)"),
                          cl::cat(modelCat));
static cl::opt<std::string> systemPrompt(
    "system", cl::desc("System message for --chat / --interactive"),
    cl::init("You are a helpful AI assistant."), cl::cat(modelCat));
static cl::opt<int> maxNewTokens("max-new-tokens",
                                 cl::desc("Tokens to generate"), cl::init(32),
                                 cl::cat(modelCat));
static cl::opt<bool> ignoreEos("ignore-eos",
                               cl::desc("Keep generating after an EOS token"),
                               cl::cat(modelCat));
static cl::opt<std::string> logitsOut(
    "logits",
    cl::desc("Write prefill_logits [T,V], decode_logits [N,V] and tokens to "
             "this safetensors file"),
    cl::cat(modelCat));
static cl::opt<std::string> perplexityFile(
    "perplexity", cl::desc("Measure perplexity on this text file"),
    cl::cat(modelCat));
static cl::opt<int> ctxLen("ctx", cl::desc("Perplexity window (tokens)"),
                           cl::init(256), cl::cat(modelCat));
static cl::opt<int> maxChunks("max-chunks",
                              cl::desc("Perplexity: at most this many "
                                       "windows (0: all)"),
                              cl::init(0), cl::cat(modelCat));
static cl::opt<int> skipTokens("skip-tokens",
                               cl::desc("Perplexity: skip this many tokens "
                                        "of the text first"),
                               cl::init(0), cl::cat(modelCat));
static cl::opt<std::string> kvCalibration(
    "kv-calibration",
    cl::desc("kvquant caches: text file whose tokens calibrate the key/value "
             "tables (default: the prompt, or the first perplexity window)"),
    cl::init(""), cl::cat(modelCat));
static cl::opt<int> kvCalibrationTokens(
    "kv-calibration-tokens",
    cl::desc("kvquant caches: calibrate on at most this many tokens of "
             "--kv-calibration's text"),
    cl::init(128), cl::cat(modelCat));
static cl::opt<std::string> kvTablesOut(
    "kv-tables",
    cl::desc("kvquant caches: write the calibrated tables to this "
             "safetensors file"),
    cl::init(""), cl::cat(modelCat));
static cl::opt<bool> interactive("interactive",
                                 cl::desc("Chat on stdin/stdout"),
                                 cl::cat(modelCat));

static cl::opt<bool> tokenizeOnly("tokenize",
                                  cl::desc("Print the prompt's token ids and "
                                           "exit"),
                                  cl::cat(modelCat));
static cl::opt<std::string> ggufFile(
    "gguf", cl::desc("Inspect a GGUF file: print its metadata and tensors"),
    cl::cat(modelCat));
static cl::list<std::string> ggufExport(
    "export",
    cl::desc("With --gguf: write these tensors' squant parameters (codes, "
             "scale, zero of ggml blocks; dense data otherwise) and the "
             "runtime's ggml reference dequantization to --outputs"),
    cl::CommaSeparated, cl::cat(modelCat));
static cl::opt<std::string> ggufOutputs("gguf-outputs",
                                        cl::desc("safetensors file for "
                                                 "--export"),
                                        cl::cat(modelCat));

void registerModelModeOptions() {}
bool isModelMode() { return !modelDir.empty() || !ggufFile.empty(); }

namespace {
using Clock = std::chrono::steady_clock;
double seconds(Clock::time_point a) {
  return std::chrono::duration<double>(Clock::now() - a).count();
}

int fail(const llvm::Twine &msg) {
  llvm::errs() << "squant-run: error: " << msg << "\n";
  return 1;
}

int32_t argmax(const float *v, int64_t n) {
  int32_t best = 0;
  for (int64_t i = 1; i < n; ++i)
    if (v[i] > v[best])
      best = int32_t(i);
  return best;
}

double peakRSSMiB() {
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return double(ru.ru_maxrss) / 1024.0;
}

std::string chatWrap(llvm::StringRef user, bool withSystem) {
  std::string s;
  if (withSystem && !systemPrompt.empty())
    s += "<|im_start|>system\n" + systemPrompt + "<|im_end|>\n";
  s += "<|im_start|>user\n" + user.str() + "<|im_end|>\n<|im_start|>assistant\n";
  return s;
}

struct Session {
  std::unique_ptr<CompiledModel> model;
  std::unique_ptr<GGUFFile> tokGGUF;
  std::unique_ptr<Tokenizer> tok;
  int64_t pos = 0;
  double prefillSeconds = 0, decodeSeconds = 0;
  int64_t prefillTokens = 0, decodeTokens = 0;

  bool isEos(int32_t t) const {
    for (int64_t e : model->manifest().eos)
      if (e == t)
        return true;
    return false;
  }

  /// Prefill `input`, then greedily generate up to `n` tokens.
  llvm::Expected<std::vector<int32_t>>
  generate(llvm::ArrayRef<int32_t> input, int n, bool stream,
           std::vector<float> *prefillLogits,
           std::vector<float> *decodeLogits) {
    const ModelManifest &m = model->manifest();
    auto t0 = Clock::now();
    auto logits = model->forward(input, pos, prefillLogits != nullptr);
    if (!logits)
      return logits.takeError();
    prefillSeconds += seconds(t0);
    prefillTokens += input.size();
    pos += input.size();
    if (prefillLogits)
      *prefillLogits = *logits;
    const float *last = logits->data() + logits->size() - m.vocab;
    std::vector<int32_t> out;
    int32_t next = argmax(last, m.vocab);
    auto t1 = Clock::now();
    for (int i = 0; i < n; ++i) {
      out.push_back(next);
      if (stream && tok) {
        llvm::outs() << tok->decode({next});
        llvm::outs().flush();
      }
      if ((!ignoreEos && isEos(next)) || i + 1 == n)
        break;
      if (pos >= model->cacheCapacity())
        break;
      auto step = model->forward({next}, pos, false);
      if (!step)
        return step.takeError();
      ++pos;
      ++decodeTokens;
      if (decodeLogits)
        decodeLogits->insert(decodeLogits->end(), step->begin(), step->end());
      next = argmax(step->data(), m.vocab);
    }
    decodeSeconds += seconds(t1);
    return out;
  }
};

std::string idList(llvm::ArrayRef<int32_t> ids) {
  std::string s;
  for (size_t i = 0; i < ids.size(); ++i)
    s += (i ? " " : "") + std::to_string(ids[i]);
  return s;
}

void printStats(const Session &s) {
  auto rate = [](int64_t n, double sec) {
    return sec > 0 ? double(n) / sec : 0.0;
  };
  llvm::outs() << llvm::formatv(
      "prefill: {0} tokens in {1:F3} s ({2:F2} tokens/s)\n", s.prefillTokens,
      s.prefillSeconds, rate(s.prefillTokens, s.prefillSeconds));
  llvm::outs() << llvm::formatv(
      "decode: {0} tokens in {1:F3} s ({2:F2} tokens/s)\n", s.decodeTokens,
      s.decodeSeconds, rate(s.decodeTokens, s.decodeSeconds));
  llvm::outs() << llvm::formatv(
      "peak memory: {0:F1} MiB resident (weights mapped {1:F1} MiB, "
      "re-laid out {2:F1} MiB, KV cache {3:F1} MiB)\n",
      peakRSSMiB(), s.model->mappedWeightBytes() / 1048576.0,
      s.model->derivedWeightBytes() / 1048576.0,
      s.model->cacheBytes() / 1048576.0);
}

/// kvquant caches: calibrates the tables on --kv-calibration's text, or on
/// `fallback` (what says which), truncated to the cache's capacity.
/// Returns false after printing an error.
bool calibrateKV(Session &s, llvm::ArrayRef<int32_t> fallback,
                 llvm::StringRef what) {
  if (!s.model->needsKVCalibration())
    return true;
  std::vector<int32_t> ids(fallback.begin(), fallback.end());
  std::string source = what.str();
  if (!kvCalibration.empty()) {
    if (!s.tok) {
      fail("--kv-calibration needs a model with a tokenizer");
      return false;
    }
    auto buf = llvm::MemoryBuffer::getFile(kvCalibration);
    if (!buf) {
      fail(kvCalibration + ": cannot read: " + buf.getError().message());
      return false;
    }
    ids = s.tok->encode((*buf)->getBuffer());
    source = kvCalibration;
  }
  if (!kvCalibration.empty()) {
    if (kvCalibrationTokens < 1) {
      fail("--kv-calibration-tokens must be positive");
      return false;
    }
    int64_t limit = std::min<int64_t>(kvCalibrationTokens,
                                      s.model->manifest().maxPositions);
    if (int64_t(ids.size()) > limit)
      ids.resize(size_t(limit));
  } else if (int64_t(ids.size()) > s.model->cacheCapacity()) {
    ids.resize(size_t(s.model->cacheCapacity()));
  }
  auto t0 = Clock::now();
  if (llvm::Error e = s.model->calibrateKV(ids)) {
    fail(llvm::toString(std::move(e)));
    return false;
  }
  llvm::errs() << llvm::formatv("squant-run: KV tables calibrated on {0} "
                                "tokens of {1} in {2:F2} s\n",
                                ids.size(), source, seconds(t0));
  if (!kvTablesOut.empty())
    if (llvm::Error e = s.model->writeKVTables(kvTablesOut)) {
      fail(llvm::toString(std::move(e)));
      return false;
    }
  return true;
}

int runPerplexity(Session &s) {
  if (!s.tok)
    return fail("--perplexity needs a model with a tokenizer");
  auto buf = llvm::MemoryBuffer::getFile(perplexityFile);
  if (!buf)
    return fail(perplexityFile + ": cannot read: " +
                buf.getError().message());
  std::vector<int32_t> ids = s.tok->encode((*buf)->getBuffer());
  if (skipTokens > 0)
    ids.erase(ids.begin(), ids.begin() + std::min<size_t>(skipTokens, ids.size()));
  int64_t ctx = ctxLen;
  if (ctx < 2)
    return fail("--ctx must be at least 2");
  int64_t chunks = int64_t(ids.size()) / ctx;
  if (maxChunks > 0)
    chunks = std::min<int64_t>(chunks, maxChunks);
  if (chunks == 0)
    return fail(llvm::formatv("{0} has {1} tokens, fewer than --ctx={2}",
                              perplexityFile, ids.size(), ctx));
  if (llvm::Error e = s.model->resetCache(ctx))
    return fail(llvm::toString(std::move(e)));
  if (!calibrateKV(s, llvm::ArrayRef<int32_t>(ids.data(), ctx),
                   "the first window"))
    return 1;
  const int64_t v = s.model->manifest().vocab;
  double nll = 0;
  int64_t count = 0;
  auto t0 = Clock::now();
  for (int64_t c = 0; c < chunks; ++c) {
    llvm::ArrayRef<int32_t> window(ids.data() + c * ctx, ctx);
    auto logits = s.model->forward(window, 0, true);
    if (!logits)
      return fail(llvm::toString(logits.takeError()));
    for (int64_t t = 0; t + 1 < ctx; ++t) {
      const float *row = logits->data() + t * v;
      double mx = row[0];
      for (int64_t i = 1; i < v; ++i)
        mx = std::max<double>(mx, row[i]);
      double z = 0;
      for (int64_t i = 0; i < v; ++i)
        z += std::exp(double(row[i]) - mx);
      nll += -(double(row[window[t + 1]]) - mx - std::log(z));
      ++count;
    }
    llvm::errs() << llvm::formatv("squant-run: perplexity window {0}/{1}: "
                                  "running ppl {2:F4}\n",
                                  c + 1, chunks, std::exp(nll / count));
  }
  double secs = seconds(t0);
  llvm::outs() << llvm::formatv(
      "perplexity: {0:F4} over {1} predicted tokens ({2} windows of {3}, "
      "{4:F1} s, {5:F1} tokens/s)\n",
      std::exp(nll / count), count, chunks, ctx, secs,
      double(chunks * ctx) / secs);
  llvm::outs() << llvm::formatv("peak memory: {0:F1} MiB resident\n",
                                peakRSSMiB());
  return 0;
}

int runInteractive(Session &s) {
  if (!s.tok)
    return fail("--interactive needs a model with a tokenizer");
  const ModelManifest &m = s.model->manifest();
  if (llvm::Error e = s.model->resetCache(std::min<int64_t>(m.maxPositions, 2048)))
    return fail(llvm::toString(std::move(e)));
  bool first = true;
  std::string line;
  llvm::outs() << "(empty line or EOF ends the chat)\n";
  while (true) {
    llvm::outs() << "> ";
    llvm::outs().flush();
    if (!std::getline(std::cin, line) || line.empty())
      break;
    std::vector<int32_t> ids = s.tok->encode(chatWrap(line, first));
    if (first && !calibrateKV(s, ids, "the first turn"))
      return 1;
    first = false;
    if (s.pos + int64_t(ids.size()) + maxNewTokens > s.model->cacheCapacity()) {
      llvm::outs() << "(context full: starting over)\n";
      s.pos = 0;
      ids = s.tok->encode(chatWrap(line, true));
    }
    auto out = s.generate(ids, maxNewTokens, /*stream=*/true, nullptr, nullptr);
    if (!out)
      return fail(llvm::toString(out.takeError()));
    // Close the turn so the next one follows the template.
    if (out->empty() || !s.isEos(out->back())) {
      std::vector<int32_t> end = s.tok->encode("<|im_end|>\n");
      auto r = s.model->forward(end, s.pos, false);
      if (!r)
        return fail(llvm::toString(r.takeError()));
      s.pos += end.size();
    } else {
      std::vector<int32_t> nl = s.tok->encode("\n");
      auto r = s.model->forward(nl, s.pos, false);
      if (!r)
        return fail(llvm::toString(r.takeError()));
      s.pos += nl.size();
    }
    llvm::outs() << "\n";
  }
  printStats(s);
  return 0;
}
} // namespace

namespace {
/// --gguf: metadata and tensor table, one item per line, values printed in
/// full for scalars and as count + first/last element for arrays.
int runGGUFInspect() {
  auto opened = GGUFFile::open(ggufFile);
  if (!opened)
    return fail(llvm::toString(opened.takeError()));
  const GGUFFile &f = **opened;
  llvm::outs() << "version " << f.version() << "\n";
  for (const std::string &k : f.keys()) {
    const GGUFValue *v = f.get(k);
    llvm::outs() << "meta " << k << " = ";
    std::visit(
        [&](const auto &x) {
          using T = std::decay_t<decltype(x)>;
          if constexpr (std::is_same_v<T, std::string>)
            llvm::outs() << "str:" << llvm::StringRef(x).take_until(
                                          [](char c) { return c == '\n'; });
          else if constexpr (std::is_same_v<T, bool>)
            llvm::outs() << "bool:" << (x ? 1 : 0);
          else if constexpr (std::is_same_v<T, double>)
            llvm::outs() << llvm::formatv("float:{0:e6}", x);
          else if constexpr (std::is_same_v<T, int64_t> ||
                             std::is_same_v<T, uint64_t>)
            llvm::outs() << "int:" << x;
          else if constexpr (std::is_same_v<T, std::vector<double>>)
            llvm::outs() << "array:" << x.size()
                         << (x.empty() ? std::string()
                                       : llvm::formatv(" {0:e6} {1:e6}",
                                                       x.front(), x.back())
                                             .str());
          else if constexpr (std::is_same_v<T, std::vector<int64_t>>)
            llvm::outs() << "array:" << x.size()
                         << (x.empty() ? std::string()
                                       : llvm::formatv(" {0} {1}", x.front(),
                                                       x.back())
                                             .str());
          else
            llvm::outs() << "array:" << x.size()
                         << (x.empty() ? std::string()
                                       : " " + x.front() + " " + x.back());
        },
        v->value);
    llvm::outs() << "\n";
  }
  for (const GGUFTensor &t : f.tensors()) {
    const char *name = ggmlTypeName(t.type);
    llvm::outs() << "tensor " << t.name << " "
                 << (name ? name : std::to_string(t.type).c_str());
    for (int64_t d : t.shape)
      llvm::outs() << " " << d;
    llvm::outs() << "\n";
  }
  if (ggufExport.empty())
    return 0;
  if (ggufOutputs.empty())
    return fail("--export needs --gguf-outputs=FILE");
  SafeTensorsWriter w;
  for (const std::string &name : ggufExport) {
    const GGUFTensor *t = f.lookup(name);
    if (!t)
      return fail(ggufFile + ": no tensor '" + name + "'");
    int64_t k = t->shape.back(), n = t->numElements() / k;
    auto ref = dequantizeGGML(*t);
    if (!ref)
      return fail(llvm::toString(ref.takeError()));
    std::vector<uint8_t> rb(ref->size() * 4);
    std::memcpy(rb.data(), ref->data(), rb.size());
    w.add(name + ".reference", DType::F32, {n, k}, std::move(rb));
    if (t->type == uint32_t(GGMLType::F32) || t->type == uint32_t(GGMLType::F16) ||
        t->type == uint32_t(GGMLType::BF16))
      continue;
    auto p = relayoutGGMLBlocks(*t);
    if (!p)
      return fail(llvm::toString(p.takeError()));
    auto bytes = [](const void *d, size_t n) {
      std::vector<uint8_t> b(n);
      std::memcpy(b.data(), d, n);
      return b;
    };
    w.add(name + ".codes", DType::I32, {n, int64_t(p->codes.size()) / n},
          bytes(p->codes.data(), p->codes.size() * 4));
    w.add(name + ".scale", DType::F16, {n, k / 32},
          bytes(p->scale.data(), p->scale.size() * 2));
    if (!p->zero.empty())
      w.add(name + ".zero", DType::F32, {n, k / 32},
            bytes(p->zero.data(), p->zero.size() * 4));
  }
  if (llvm::Error e = w.write(ggufOutputs))
    return fail(llvm::toString(std::move(e)));
  return 0;
}
} // namespace

int runModelMode() {
  if (!ggufFile.empty())
    return runGGUFInspect();
  Session s;
  auto loadStart = Clock::now();
  auto model = CompiledModel::load(modelDir);
  if (!model)
    return fail(llvm::toString(model.takeError()));
  s.model = std::move(*model);
  const ModelManifest &m = s.model->manifest();
  if (m.tokenizerKind == "gguf") {
    auto g = GGUFFile::open(m.tokenizerPath);
    if (!g)
      return fail(llvm::toString(g.takeError()));
    auto t = Tokenizer::fromGGUF(**g);
    if (!t)
      return fail(llvm::toString(t.takeError()));
    s.tokGGUF = std::move(*g);
    s.tok = std::move(*t);
  } else if (m.tokenizerKind == "hf") {
    auto t = Tokenizer::fromHFJson(m.tokenizerPath);
    if (!t)
      return fail(llvm::toString(t.takeError()));
    s.tok = std::move(*t);
  }
  llvm::errs() << llvm::formatv("squant-run: loaded {0} ({1} layers, {2} "
                                "layer function(s)) in {3:F2} s\n",
                                modelDir, m.numLayers, m.numLayerFunctions,
                                seconds(loadStart));
  if (m.kvFormat.quantized()) {
    // Bytes per token from the allocation sizes at two capacities.
    auto bytesAt = [&](int64_t slots) {
      uint64_t n = 0;
      for (const KVCacheComponent &c :
           kvCacheComponents(m.kvFormat, m.numKVHeads, m.headDim, slots)) {
        uint64_t b = dtypeSize(c.dtype);
        for (int64_t d : c.shape)
          b *= uint64_t(d);
        n += b;
      }
      return n;
    };
    int64_t span = 1024 * std::max<int64_t>(m.kvFormat.group, 1);
    // Per-token tensors have a slot for every token, sinks included.
    uint64_t atSink = bytesAt(m.kvFormat.sink);
    double perToken =
        double(bytesAt(m.kvFormat.sink + span) - atSink) / double(span);
    int64_t fixed = int64_t(double(atSink) - perToken * m.kvFormat.sink);
    llvm::errs() << llvm::formatv(
        "squant-run: KV cache #squant.kv_format<{0}>: {1:F2} bytes/token/"
        "layer + {2} bytes/layer fixed (fp16: {3} bytes/token/layer)\n",
        m.kvFormat.str(), perToken, fixed, 4 * m.numKVHeads * m.headDim);
  }

  if (!perplexityFile.empty())
    return runPerplexity(s);
  if (interactive)
    return runInteractive(s);

  std::vector<int32_t> input;
  if (!promptTokens.empty()) {
    input.assign(promptTokens.begin(), promptTokens.end());
  } else if (!promptFile.empty()) {
    if (!s.tok)
      return fail("--prompt-file needs a model with a tokenizer");
    auto buf = llvm::MemoryBuffer::getFile(promptFile);
    if (!buf)
      return fail(promptFile + ": cannot read: " + buf.getError().message());
    std::string text = (*buf)->getBuffer().str();
    input = s.tok->encode(chat ? chatWrap(text, true) : text);
  } else if (!prompt.empty() || chat) {
    if (!s.tok)
      return fail("--prompt needs a model with a tokenizer (use --tokens)");
    input = s.tok->encode(chat ? chatWrap(prompt, true) : std::string(prompt));
  } else {
    return fail("give --prompt=TEXT, --tokens=IDS, --perplexity=FILE or "
                "--interactive");
  }
  if (input.empty())
    return fail("the prompt has no tokens");
  if (tokenizeOnly) {
    llvm::outs() << "prompt token ids (" << input.size()
                 << "): " << idList(input) << "\n";
    return 0;
  }
  if (maxNewTokens < 0)
    return fail("--max-new-tokens must be >= 0");
  int64_t capacity = int64_t(input.size()) + std::max(maxNewTokens.getValue(), 1);
  if (llvm::Error e = s.model->resetCache(capacity))
    return fail(llvm::toString(std::move(e)));
  if (!calibrateKV(s, input, "the prompt"))
    return 1;

  llvm::outs() << "prompt token ids (" << input.size()
               << "): " << idList(input) << "\n";
  std::vector<float> prefillLogits, decodeLogits;
  bool wantLogits = !logitsOut.empty();
  auto out = s.generate(input, maxNewTokens, /*stream=*/false,
                        wantLogits ? &prefillLogits : nullptr,
                        wantLogits ? &decodeLogits : nullptr);
  if (!out)
    return fail(llvm::toString(out.takeError()));
  llvm::outs() << "generated token ids (" << out->size()
               << "): " << idList(*out) << "\n";
  if (s.tok)
    llvm::outs() << "text: " << s.tok->decode(*out) << "\n";
  printStats(s);

  if (wantLogits) {
    SafeTensorsWriter w;
    auto bytesOf = [](const std::vector<float> &v) {
      std::vector<uint8_t> b(v.size() * 4);
      std::memcpy(b.data(), v.data(), b.size());
      return b;
    };
    int64_t t = input.size();
    w.add("prefill_logits", DType::F32, {t, m.vocab}, bytesOf(prefillLogits));
    int64_t nd = int64_t(decodeLogits.size()) / m.vocab;
    w.add("decode_logits", DType::F32, {nd, m.vocab}, bytesOf(decodeLogits));
    std::vector<uint8_t> tb(out->size() * 4);
    std::memcpy(tb.data(), out->data(), tb.size());
    w.add("tokens", DType::I32, {int64_t(out->size())}, std::move(tb));
    if (llvm::Error e = w.write(logitsOut))
      return fail(llvm::toString(std::move(e)));
  }
  return 0;
}
