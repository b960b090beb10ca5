//===- squant-quantize.cpp - SqueezeLLM-format post-training quantizer ----===//
//
//   squant-quantize INPUT -o OUT_DIR --method=kmeans|rtn|none --bits=B
//                   [--outlier-fraction=F | --outlier-threshold=T]
//                   [--sensitivity=FILE.safetensors] [--iterations=N]
//
// INPUT is a LLaMA-family model directory (config.json + fp16/bf16/f32
// safetensors) or a GGUF file (dequantized first; q/k rows are put back in
// Hugging Face order). Every linear of every decoder layer becomes
// SqueezeLLM tensors: `<name>.qweight` (i32 [K*B/32, N], SqueezeLLM
// packing), `.lookup_table` ([N, 2^B], one table per output channel) and,
// with outliers, `.rows/.cols/.vals` (CSR, vals = weight - table value).
// Embeddings, norms and the LM head are kept dense, as SqueezeLLM does.
//
//   kmeans  per-output-channel 1-D k-means with 2^B centroids (Lloyd from
//           weighted quantiles), weighted by the sensitivity (e.g. squared
//           gradients) when given, uniformly otherwise (SqueezeLLM's nuqB)
//   rtn     round-to-nearest uniform per output channel over [min, max]
//           (the baseline), written as a uniform table
//   none    no quantization (dequantizes a GGUF into a dense f32 model)
//
// Outliers (dense-and-sparse): the F largest-magnitude weights of each
// tensor (--outlier-fraction) or every |w| > T (--outlier-threshold) are
// left out of the fit and stored exactly in the CSR part.
//
//===----------------------------------------------------------------------===//

#include "squant/Import/ModelConfig.h"
#include "squant/Runtime/GGUF.h"
#include "squant/Runtime/SafeTensors.h"

#include "llvm/ADT/StringExtras.h"
#include "llvm/Support/CommandLine.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/FormatVariadic.h"
#include "llvm/Support/InitLLVM.h"
#include "llvm/Support/JSON.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/raw_ostream.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <numeric>
#include <random>

using namespace mlir::squant;
using namespace mlir::squant::runtime;
namespace cl = llvm::cl;
using llvm::SmallString;
using llvm::SmallVector;
using llvm::StringRef;

static cl::OptionCategory cat("squant-quantize options");
static cl::opt<std::string> inputPath(cl::Positional, cl::Required,
                                      cl::desc("<model dir | model.gguf>"),
                                      cl::cat(cat));
static cl::opt<std::string> outputDir("o", cl::Required,
                                      cl::desc("Output model directory"),
                                      cl::cat(cat));
static cl::opt<std::string> method("method",
                                   cl::desc("kmeans (nuq), rtn (uniform) or "
                                            "none"),
                                   cl::init("kmeans"), cl::cat(cat));
static cl::opt<unsigned> bits("bits", cl::desc("Bits per weight: 2, 3, 4, 8"),
                              cl::init(4), cl::cat(cat));
static cl::opt<double> outlierFraction(
    "outlier-fraction",
    cl::desc("Fraction of each tensor's weights kept as sparse outliers "
             "(largest magnitudes), e.g. 0.0045"),
    cl::init(0.0), cl::cat(cat));
static cl::opt<double> outlierThreshold(
    "outlier-threshold",
    cl::desc("Keep every weight with |w| > T as a sparse outlier"),
    cl::init(0.0), cl::cat(cat));
static cl::opt<std::string> sensitivityPath(
    "sensitivity",
    cl::desc("safetensors file of per-weight sensitivities (same names and "
             "shapes as the weights, F32/F16), e.g. squared gradients"),
    cl::cat(cat));
static cl::opt<unsigned> iterations("iterations",
                                    cl::desc("k-means iterations (max)"),
                                    cl::init(50), cl::cat(cat));
static cl::opt<bool> randomWeights(
    "random",
    cl::desc("Ignore weight files: generate random weights (Gaussian, std "
             "1/sqrt(in_features); embeddings 0.02; norms 1) for the "
             "config.json given as INPUT (or in the INPUT directory)"),
    cl::cat(cat));
static cl::opt<unsigned> seed("seed", cl::desc("Seed for --random"),
                              cl::init(1), cl::cat(cat));
static cl::opt<std::string> denseDType(
    "dense-dtype",
    cl::desc("dtype of the tensors kept dense (embeddings, norms, LM head "
             "and, with --method=none, the linears): f32 or f16"),
    cl::init("f32"), cl::cat(cat));
static cl::opt<std::string> tableDType("table-dtype",
                                       cl::desc("lookup_table dtype: f32 or "
                                                "f16"),
                                       cl::init("f32"), cl::cat(cat));

namespace {
int fail(const llvm::Twine &msg) {
  llvm::errs() << "squant-quantize: error: " << msg << "\n";
  return 1;
}

struct Matrix {
  int64_t rows = 0, cols = 0;
  std::vector<float> data;
};

std::vector<uint8_t> floatBytes(const std::vector<float> &v) {
  std::vector<uint8_t> b(v.size() * 4);
  std::memcpy(b.data(), v.data(), b.size());
  return b;
}

/// Dense tensors in --dense-dtype.
DType denseType() { return denseDType == "f16" ? DType::F16 : DType::F32; }
std::vector<uint8_t> denseBytes(const std::vector<float> &v) {
  if (denseType() == DType::F32)
    return floatBytes(v);
  std::vector<uint8_t> b(v.size() * 2);
  for (size_t i = 0; i < v.size(); ++i) {
    uint16_t h = floatToHalf(v[i]);
    std::memcpy(b.data() + 2 * i, &h, 2);
  }
  return b;
}

/// Elements of a safetensors float tensor as f32.
std::vector<float> toFloats(const TensorView &t) {
  std::vector<float> out(size_t(t.numElements()));
  const uint8_t *p = t.data.data();
  for (size_t i = 0; i < out.size(); ++i) {
    if (t.dtype == DType::F32) {
      std::memcpy(&out[i], p + 4 * i, 4);
    } else {
      uint16_t h;
      std::memcpy(&h, p + 2 * i, 2);
      out[i] = t.dtype == DType::F16 ? halfToFloat(h) : bf16ToFloat(h);
    }
  }
  return out;
}

/// Weighted 1-D k-means of one row. `w` values, `s` weights (> 0 counts),
/// `skip` outliers (left out). Returns sorted centroids.
std::vector<float> kmeans1d(const float *w, const float *s, const uint8_t *skip,
                            int64_t k, unsigned entries) {
  std::vector<std::pair<float, double>> pts;
  pts.reserve(k);
  for (int64_t i = 0; i < k; ++i)
    if (!skip[i])
      pts.push_back({w[i], s ? std::max(double(s[i]), 1e-20) : 1.0});
  std::vector<float> c(entries, 0.0f);
  if (pts.empty())
    return c;
  std::sort(pts.begin(), pts.end());
  double total = 0;
  for (auto &p : pts)
    total += p.second;
  // Initial centroids at weighted quantiles.
  {
    double acc = 0;
    size_t j = 0;
    for (unsigned e = 0; e < entries; ++e) {
      double target = (e + 0.5) / entries * total;
      while (j + 1 < pts.size() && acc + pts[j].second < target)
        acc += pts[j++].second;
      c[e] = pts[j].first;
    }
  }
  std::vector<double> sum(entries), wsum(entries);
  for (unsigned it = 0; it < iterations; ++it) {
    std::fill(sum.begin(), sum.end(), 0.0);
    std::fill(wsum.begin(), wsum.end(), 0.0);
    unsigned e = 0;
    for (auto &p : pts) {
      // Points are sorted and centroids sorted: advance to the nearest.
      while (e + 1 < entries &&
             (c[e + 1] == c[e] ||
              std::fabs(p.first - c[e + 1]) < std::fabs(p.first - c[e])))
        ++e;
      sum[e] += p.second * p.first;
      wsum[e] += p.second;
    }
    bool changed = false;
    for (unsigned i = 0; i < entries; ++i)
      if (wsum[i] > 0) {
        float nc = float(sum[i] / wsum[i]);
        changed |= nc != c[i];
        c[i] = nc;
      }
    std::sort(c.begin(), c.end());
    if (!changed)
      break;
  }
  return c;
}

/// Index of the entry of sorted `table` nearest to v (ties: lower).
unsigned nearest(const float *table, unsigned entries, float v) {
  const float *it = std::lower_bound(table, table + entries, v);
  if (it == table)
    return 0;
  if (it == table + entries)
    return entries - 1;
  unsigned hi = unsigned(it - table);
  return (v - table[hi - 1] <= table[hi] - v) ? hi - 1 : hi;
}

struct Quantized {
  std::vector<int32_t> qweight; // [K*B/32, N]
  std::vector<float> table;     // [N, 2^B]
  std::vector<int32_t> rowPtr, colIdx;
  std::vector<float> vals;
};

Quantized quantize(const Matrix &m, const float *sens) {
  int64_t n = m.rows, k = m.cols;
  unsigned entries = 1u << bits;
  Quantized q;
  // Outliers.
  std::vector<uint8_t> isOutlier(size_t(n * k), 0);
  if (outlierFraction > 0) {
    int64_t count = int64_t(std::llround(outlierFraction * double(n * k)));
    if (count > 0) {
      std::vector<int64_t> idx(size_t(n * k));
      std::iota(idx.begin(), idx.end(), 0);
      std::nth_element(idx.begin(), idx.begin() + (count - 1), idx.end(),
                       [&](int64_t a, int64_t b) {
                         return std::fabs(m.data[a]) > std::fabs(m.data[b]);
                       });
      for (int64_t i = 0; i < count; ++i)
        isOutlier[idx[i]] = 1;
    }
  } else if (outlierThreshold > 0) {
    for (size_t i = 0; i < isOutlier.size(); ++i)
      isOutlier[i] = std::fabs(m.data[i]) > outlierThreshold;
  }
  q.table.resize(size_t(n) * entries);
  std::vector<uint8_t> codes(size_t(n * k));
  for (int64_t r = 0; r < n; ++r) {
    const float *w = m.data.data() + r * k;
    const uint8_t *skip = isOutlier.data() + r * k;
    float *t = q.table.data() + r * entries;
    if (method == "kmeans") {
      std::vector<float> c =
          kmeans1d(w, sens ? sens + r * k : nullptr, skip, k, entries);
      std::copy(c.begin(), c.end(), t);
    } else {
      float lo = INFINITY, hi = -INFINITY;
      for (int64_t i = 0; i < k; ++i)
        if (!skip[i]) {
          lo = std::min(lo, w[i]);
          hi = std::max(hi, w[i]);
        }
      if (!(lo <= hi))
        lo = hi = 0;
      float step = (hi - lo) / float(entries - 1);
      for (unsigned e = 0; e < entries; ++e)
        t[e] = lo + float(e) * step;
    }
    for (int64_t i = 0; i < k; ++i)
      codes[r * k + i] = uint8_t(nearest(t, entries, w[i]));
  }
  // CSR outliers: residual against the dense value at the position.
  q.rowPtr.push_back(0);
  for (int64_t r = 0; r < n; ++r) {
    for (int64_t i = 0; i < k; ++i)
      if (isOutlier[r * k + i]) {
        q.colIdx.push_back(int32_t(i));
        q.vals.push_back(m.data[r * k + i] -
                         q.table[r * entries + codes[r * k + i]]);
      }
    q.rowPtr.push_back(int32_t(q.colIdx.size()));
  }
  // SqueezeLLM packing: channel r's codes form a little-endian bit stream
  // cut into 32-bit words, stored [word, r].
  int64_t words = k * bits / 32;
  q.qweight.assign(size_t(words * n), 0);
  for (int64_t r = 0; r < n; ++r)
    for (int64_t i = 0; i < k; ++i) {
      uint64_t bit = uint64_t(i) * bits;
      uint64_t wi = bit / 32, sh = bit % 32;
      uint64_t code = codes[r * k + i];
      uint32_t lo = uint32_t(code << sh);
      q.qweight[size_t(wi * n + r)] |= int32_t(lo);
      if (sh + bits > 32)
        q.qweight[size_t((wi + 1) * n + r)] |= int32_t(code >> (32 - sh));
    }
  return q;
}

/// GGUF q/k rows are permuted for ggml's interleaved RoPE; undo it.
std::vector<float> unpermute(const std::vector<float> &w, int64_t rows,
                             int64_t cols, int64_t heads) {
  std::vector<float> out(w.size());
  int64_t d = rows / heads, half = d / 2;
  for (int64_t h = 0; h < heads; ++h)
    for (int64_t i = 0; i < half; ++i)
      for (int64_t j = 0; j < 2; ++j) {
        // GGUF row h*d + 2*i + j holds HF row h*d + j*half + i.
        const float *src = w.data() + (h * d + 2 * i + j) * cols;
        float *dst = out.data() + (h * d + j * half + i) * cols;
        std::copy(src, src + cols, dst);
      }
  return out;
}
} // namespace

int main(int argc, char **argv) {
  llvm::InitLLVM initLLVM(argc, argv);
  cl::HideUnrelatedOptions(cat);
  cl::ParseCommandLineOptions(argc, argv,
                              "squant-quantize: SqueezeLLM-format "
                              "post-training quantization\n");
  if (method != "kmeans" && method != "rtn" && method != "none")
    return fail("--method must be kmeans, rtn or none");
  if (bits != 2 && bits != 3 && bits != 4 && bits != 8)
    return fail("--bits must be 2, 3, 4 or 8");
  if (outlierFraction < 0 || outlierFraction >= 0.5)
    return fail("--outlier-fraction must be in [0, 0.5)");
  if (outlierFraction > 0 && outlierThreshold > 0)
    return fail("give --outlier-fraction or --outlier-threshold, not both");
  if (tableDType != "f32" && tableDType != "f16")
    return fail("--table-dtype must be f32 or f16");
  auto start = std::chrono::steady_clock::now();

  // Read the model: config and a name -> tensor source.
  import::LlamaConfig config;
  std::unique_ptr<GGUFFile> gguf;
  std::vector<std::unique_ptr<SafeTensorsFile>> st;
  llvm::json::Object configJson;
  StringRef in = inputPath;
  if (denseDType != "f32" && denseDType != "f16")
    return fail("--dense-dtype must be f32 or f16");
  std::mt19937_64 rng(seed);
  if (randomWeights) {
    SmallString<256> cp(in);
    if (llvm::sys::fs::is_directory(in))
      llvm::sys::path::append(cp, "config.json");
    auto text = llvm::MemoryBuffer::getFile(cp);
    if (!text)
      return fail(cp + ": cannot read: " + text.getError().message());
    auto c = import::LlamaConfig::fromJSON((*text)->getBuffer(), cp);
    if (!c)
      return fail(llvm::toString(c.takeError()));
    config = *c;
    configJson = std::move(*llvm::json::parse((*text)->getBuffer())->getAsObject());
  } else if (in.ends_with(".gguf")) {
    auto g = GGUFFile::open(in);
    if (!g)
      return fail(llvm::toString(g.takeError()));
    gguf = std::move(*g);
    auto c = import::LlamaConfig::fromGGUF(*gguf);
    if (!c)
      return fail(llvm::toString(c.takeError()));
    config = *c;
    llvm::json::Array eos;
    for (int64_t e : config.eosTokenIds)
      eos.push_back(e);
    configJson = llvm::json::Object{
        {"architectures", llvm::json::Array{"LlamaForCausalLM"}},
        {"model_type", "llama"},
        {"hidden_size", config.hiddenSize},
        {"intermediate_size", config.intermediateSize},
        {"num_hidden_layers", config.numLayers},
        {"num_attention_heads", config.numHeads},
        {"num_key_value_heads", config.numKVHeads},
        {"head_dim", config.headDim},
        {"vocab_size", config.vocabSize},
        {"max_position_embeddings", config.maxPositions},
        {"rope_theta", config.ropeTheta},
        {"rms_norm_eps", config.rmsNormEps},
        {"tie_word_embeddings", config.tieWordEmbeddings},
        {"bos_token_id", config.bosTokenId},
        {"eos_token_id", std::move(eos)},
        {"hidden_act", "silu"},
        {"rope_scaling", nullptr}};
  } else {
    SmallString<256> cp(in);
    llvm::sys::path::append(cp, "config.json");
    auto text = llvm::MemoryBuffer::getFile(cp);
    if (!text)
      return fail(cp + ": cannot read: " + text.getError().message());
    auto c = import::LlamaConfig::fromJSON((*text)->getBuffer(), cp);
    if (!c)
      return fail(llvm::toString(c.takeError()));
    config = *c;
    auto parsed = llvm::json::parse((*text)->getBuffer());
    configJson = std::move(*parsed->getAsObject());
    std::error_code ec;
    std::vector<std::string> files;
    for (llvm::sys::fs::directory_iterator it(in, ec), end; it != end && !ec;
         it.increment(ec))
      if (StringRef(it->path()).ends_with(".safetensors"))
        files.push_back(it->path());
    llvm::sort(files);
    if (files.empty())
      return fail(in + ": no *.safetensors files");
    for (const std::string &f : files) {
      auto s = SafeTensorsFile::open(f);
      if (!s)
        return fail(llvm::toString(s.takeError()));
      st.push_back(std::move(*s));
    }
  }
  std::unique_ptr<SafeTensorsFile> sensitivity;
  if (!sensitivityPath.empty()) {
    auto s = SafeTensorsFile::open(sensitivityPath);
    if (!s)
      return fail(llvm::toString(s.takeError()));
    sensitivity = std::move(*s);
  }

  // Reads a weight (HF name) as f32 [rows, cols] (rows == 0: a vector).
  auto readWeight = [&](StringRef hf, StringRef ggufName, int64_t rows,
                        int64_t cols, int64_t permuteHeads,
                        Matrix &out) -> int {
    out.rows = rows;
    out.cols = cols;
    int64_t expected = (rows ? rows : 1) * cols;
    if (randomWeights) {
      out.data.resize(size_t(expected));
      if (!rows) {
        std::fill(out.data.begin(), out.data.end(), 1.0f);
        return 0;
      }
      bool embedding = hf.contains("embed_tokens") || hf.contains("lm_head");
      std::normal_distribution<float> dist(
          0.0f, embedding ? 0.02f : 1.0f / std::sqrt(float(cols)));
      for (float &v : out.data)
        v = dist(rng);
      return 0;
    }
    if (gguf) {
      const GGUFTensor *t = gguf->lookup(ggufName);
      if (!t)
        return fail(gguf->path() + ": no tensor '" + ggufName + "'");
      if (t->numElements() != expected)
        return fail(gguf->path() + ": tensor '" + ggufName +
                    "' has the wrong size");
      auto d = dequantizeGGML(*t);
      if (!d)
        return fail(llvm::toString(d.takeError()));
      out.data = std::move(*d);
      if (permuteHeads)
        out.data = unpermute(out.data, rows, cols, permuteHeads);
      return 0;
    }
    for (auto &f : st)
      if (const TensorView *t = f->lookup(hf)) {
        if (t->dtype != DType::F32 && t->dtype != DType::F16 &&
            t->dtype != DType::BF16)
          return fail(f->path() + ": tensor '" + hf + "' has dtype " +
                      dtypeName(t->dtype) + "; expected F32, F16 or BF16");
        if (t->numElements() != expected ||
            t->shape.back() != cols)
          return fail(f->path() + ": tensor '" + hf + "' has the wrong shape");
        out.data = toFloats(*t);
        return 0;
      }
    return fail("no tensor '" + hf + "' in the input");
  };

  SafeTensorsWriter writer;
  int64_t h = config.hiddenSize, qd = config.numHeads * config.headDim,
          kvd = config.numKVHeads * config.headDim,
          inter = config.intermediateSize;
  auto keepDense = [&](StringRef hf, StringRef gg, int64_t rows,
                       int64_t cols) -> int {
    Matrix m;
    if (int rc = readWeight(hf, gg, rows, cols, 0, m))
      return rc;
    SmallVector<int64_t> shape;
    if (rows)
      shape.push_back(rows);
    shape.push_back(cols);
    writer.add(hf, denseType(), shape, denseBytes(m.data));
    return 0;
  };
  if (int rc = keepDense("model.embed_tokens.weight", "token_embd.weight",
                         config.vocabSize, h))
    return rc;
  if (int rc = keepDense("model.norm.weight", "output_norm.weight", 0, h))
    return rc;
  bool hasLmHead = randomWeights ? !config.tieWordEmbeddings
                 : gguf ? gguf->lookup("output.weight") != nullptr : [&] {
    for (auto &f : st)
      if (f->lookup("lm_head.weight"))
        return true;
    return false;
  }();
  if (hasLmHead)
    if (int rc = keepDense("lm_head.weight", "output.weight",
                           config.vocabSize, h))
      return rc;

  struct Role {
    const char *hf, *gguf;
    int64_t rows, cols, permute;
  };
  const Role roles[] = {
      {"self_attn.q_proj", "attn_q", qd, h, config.numHeads},
      {"self_attn.k_proj", "attn_k", kvd, h, config.numKVHeads},
      {"self_attn.v_proj", "attn_v", kvd, h, 0},
      {"self_attn.o_proj", "attn_output", h, qd, 0},
      {"mlp.gate_proj", "ffn_gate", inter, h, 0},
      {"mlp.up_proj", "ffn_up", inter, h, 0},
      {"mlp.down_proj", "ffn_down", h, inter, 0},
  };
  int64_t totalWeights = 0, totalOutliers = 0;
  double sqErr = 0, sqRef = 0;
  for (int64_t l = 0; l < config.numLayers; ++l) {
    for (auto [hfNorm, ggNorm] :
         {std::pair<const char *, const char *>{"input_layernorm", "attn_norm"},
          {"post_attention_layernorm", "ffn_norm"}})
      if (int rc = keepDense(llvm::formatv("model.layers.{0}.{1}.weight", l,
                                           hfNorm)
                                 .str(),
                             llvm::formatv("blk.{0}.{1}.weight", l, ggNorm)
                                 .str(),
                             0, h))
        return rc;
    for (const Role &r : roles) {
      std::string base = llvm::formatv("model.layers.{0}.{1}", l, r.hf).str();
      Matrix m;
      if (int rc = readWeight(base + ".weight",
                              llvm::formatv("blk.{0}.{1}.weight", l, r.gguf)
                                  .str(),
                              r.rows, r.cols, gguf ? r.permute : 0, m))
        return rc;
      if (method == "none") {
        writer.add(base + ".weight", denseType(), {r.rows, r.cols},
                   denseBytes(m.data));
        continue;
      }
      if (r.cols % 32 != 0)
        return fail(base + llvm::formatv(": in_features {0} is not a "
                                         "multiple of 32 (SqueezeLLM "
                                         "packing)",
                                         r.cols));
      std::vector<float> sens;
      if (sensitivity) {
        const TensorView *t = sensitivity->lookup(base + ".weight");
        if (!t || t->numElements() != r.rows * r.cols ||
            (t->dtype != DType::F32 && t->dtype != DType::F16))
          return fail(sensitivityPath + ": needs an F32/F16 tensor '" + base +
                      ".weight' of the weight's shape");
        sens = toFloats(*t);
      }
      Quantized q = quantize(m, sens.empty() ? nullptr : sens.data());
      unsigned entries = 1u << bits;
      for (int64_t row = 0; row < r.rows; ++row) {
        std::vector<float> rec(size_t(r.cols));
        // Reconstruction error (dense + sparse), reported below.
        for (int64_t i = 0; i < r.cols; ++i) {
          uint64_t bit = uint64_t(i) * bits;
          uint64_t lo = uint32_t(q.qweight[size_t((bit / 32) * r.rows + row)]);
          uint64_t hi = bit % 32 + bits > 32
                            ? uint32_t(q.qweight[size_t((bit / 32 + 1) * r.rows + row)])
                            : 0;
          unsigned code = unsigned(((lo | (hi << 32)) >> (bit % 32)) &
                                   (entries - 1));
          rec[i] = q.table[row * entries + code];
        }
        for (int32_t p = q.rowPtr[row]; p < q.rowPtr[row + 1]; ++p)
          rec[q.colIdx[p]] += q.vals[p];
        for (int64_t i = 0; i < r.cols; ++i) {
          double e = double(rec[i]) - m.data[row * r.cols + i];
          sqErr += e * e;
          sqRef += double(m.data[row * r.cols + i]) * m.data[row * r.cols + i];
        }
      }
      totalWeights += r.rows * r.cols;
      totalOutliers += int64_t(q.vals.size());
      std::vector<uint8_t> qb(q.qweight.size() * 4);
      std::memcpy(qb.data(), q.qweight.data(), qb.size());
      writer.add(base + ".qweight", DType::I32, {r.cols * bits / 32, r.rows},
                 std::move(qb));
      if (tableDType == "f16") {
        std::vector<uint8_t> tb(q.table.size() * 2);
        for (size_t i = 0; i < q.table.size(); ++i) {
          uint16_t hv = floatToHalf(q.table[i]);
          std::memcpy(tb.data() + 2 * i, &hv, 2);
        }
        writer.add(base + ".lookup_table", DType::F16, {r.rows, entries},
                   std::move(tb));
      } else {
        writer.add(base + ".lookup_table", DType::F32, {r.rows, entries},
                   floatBytes(q.table));
      }
      if (outlierFraction > 0 || outlierThreshold > 0) {
        auto ib = [](const std::vector<int32_t> &v) {
          std::vector<uint8_t> b(v.size() * 4);
          std::memcpy(b.data(), v.data(), b.size());
          return b;
        };
        writer.add(base + ".rows", DType::I32, {r.rows + 1}, ib(q.rowPtr));
        writer.add(base + ".cols", DType::I32, {int64_t(q.colIdx.size())},
                   ib(q.colIdx));
        writer.add(base + ".vals", DType::F32, {int64_t(q.vals.size())},
                   floatBytes(q.vals));
      }
    }
    llvm::errs() << llvm::formatv("squant-quantize: layer {0}/{1}\r", l + 1,
                                  config.numLayers);
  }
  llvm::errs() << "\n";

  if (std::error_code ec = llvm::sys::fs::create_directories(outputDir))
    return fail(outputDir + ": cannot create: " + ec.message());
  writer.setMetadata("format", "squant-quantize");
  writer.setMetadata("method", method);
  writer.setMetadata("bits", std::to_string(bits));
  SmallString<256> out(outputDir);
  llvm::sys::path::append(out, "model.safetensors");
  if (llvm::Error e = writer.write(out))
    return fail(llvm::toString(std::move(e)));
  SmallString<256> cfg(outputDir);
  llvm::sys::path::append(cfg, "config.json");
  std::error_code ec;
  llvm::raw_fd_ostream os(cfg, ec);
  if (ec)
    return fail(cfg + ": " + ec.message());
  os << llvm::formatv("{0:2}", llvm::json::Value(std::move(configJson)))
     << "\n";
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() -
                                              start)
                    .count();
  llvm::outs() << llvm::formatv(
      "squant-quantize: {0} {1}-bit, {2} linear weights, {3} outliers "
      "({4:F3}%), relative reconstruction error {5:e3}, {6:F1} s -> {7}\n",
      method, method == "none" ? 32u : unsigned(bits), totalWeights,
      totalOutliers,
      totalWeights ? 100.0 * totalOutliers / totalWeights : 0.0,
      sqRef > 0 ? std::sqrt(sqErr / sqRef) : 0.0, secs, outputDir);
  return 0;
}
