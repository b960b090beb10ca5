//===- Weights.cpp - locating and classifying model weights ---------------===//

#include "squant/Import/Weights.h"

#include "llvm/ADT/StringExtras.h"
#include "llvm/Support/FormatVariadic.h"

using namespace llvm;
using namespace mlir::squant;
using namespace mlir::squant::import;
using runtime::DType;
using runtime::ParamBinding;

static Error fail(const Twine &msg) {
  return createStringError(inconvertibleErrorCode(), msg);
}

static std::string shapeStr(ArrayRef<int64_t> shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i)
    s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

std::string WeightSpec::key() const {
  switch (format) {
  case WeightFormat::Dense:
    return ("dense-" + runtime::dtypeName(dtype)).str();
  case WeightFormat::SqueezeLLM:
    return formatv("sqllm{0}-{1}{2}", bits, runtime::dtypeName(dtype),
                   outliers ? ("-csr" + runtime::dtypeName(outlierDType)).str()
                            : std::string())
        .str();
  case WeightFormat::GGML:
    return std::string("ggml-") + runtime::ggmlTypeName(ggmlType) +
           (hoistedTables ? "-tables" : "");
  }
  return "?";
}

Expected<std::unique_ptr<WeightFiles>>
WeightFiles::open(ArrayRef<std::string> paths) {
  auto files = std::make_unique<WeightFiles>();
  for (const std::string &p : paths) {
    files->filePaths.push_back(p);
    if (StringRef(p).ends_with(".gguf")) {
      if (paths.size() != 1)
        return fail(p + ": a GGUF file must be the only weight file");
      auto g = runtime::GGUFFile::open(p);
      if (!g)
        return g.takeError();
      files->gguf = std::move(*g);
      continue;
    }
    auto st = runtime::SafeTensorsFile::open(p);
    if (!st)
      return st.takeError();
    files->st.push_back(std::move(*st));
  }
  return files;
}

const runtime::TensorView *WeightFiles::lookup(StringRef name,
                                               unsigned &file) const {
  for (auto [i, f] : llvm::enumerate(st))
    if (const runtime::TensorView *t = f->lookup(name)) {
      file = i;
      return t;
    }
  return nullptr;
}

namespace {
bool isFloat(DType d) {
  return d == DType::F32 || d == DType::F16 || d == DType::BF16;
}

ParamBinding bind(unsigned file, StringRef tensor, StringRef part, DType dtype,
                  ArrayRef<int64_t> shape) {
  ParamBinding b;
  b.file = file;
  b.tensor = tensor.str();
  b.part = part.str();
  b.dtype = dtype;
  b.shape.assign(shape.begin(), shape.end());
  return b;
}

/// Resolves one weight of expected shape [rows, cols] ([cols] if rows == 0)
/// from safetensors (HF names).
Expected<WeightSpec> resolveSafeTensors(const WeightFiles &files,
                                        StringRef base, int64_t rows,
                                        int64_t cols, bool allowQuantized) {
  WeightSpec w;
  w.name = base.str();
  w.rows = rows;
  w.cols = cols;
  SmallVector<int64_t> expected;
  if (rows)
    expected.push_back(rows);
  expected.push_back(cols);
  unsigned file;
  std::string denseName = (base + ".weight").str();
  if (const runtime::TensorView *t = files.lookup(denseName, file)) {
    if (!isFloat(t->dtype))
      return fail(files.paths()[file] + ": tensor '" + denseName +
                  "' has dtype " + runtime::dtypeName(t->dtype) +
                  ", expected F16, BF16 or F32");
    if (ArrayRef<int64_t>(t->shape) != ArrayRef<int64_t>(expected))
      return fail(files.paths()[file] + ": tensor '" + denseName +
                  "' has shape " + shapeStr(t->shape) + ", expected " +
                  shapeStr(expected) + " from the config");
    w.format = WeightFormat::Dense;
    w.dtype = t->dtype;
    w.bindings.push_back(bind(file, denseName, "", t->dtype, t->shape));
    return w;
  }
  std::string qname = (base + ".qweight").str();
  unsigned qfile;
  const runtime::TensorView *q = files.lookup(qname, qfile);
  if (!q || !allowQuantized)
    return fail(formatv("weight '{0}' not found: no tensor '{1}'{2} in {3}",
                        base, denseName,
                        allowQuantized ? " or '" + qname + "'" : "",
                        join(files.paths(), ", ")));
  StringRef qpath = files.paths()[qfile];
  if (q->dtype != DType::I32)
    return fail(qpath + ": tensor '" + qname + "' has dtype " +
                runtime::dtypeName(q->dtype) + ", expected I32");
  std::string lname = (base + ".lookup_table").str();
  unsigned lfile;
  const runtime::TensorView *lut = files.lookup(lname, lfile);
  if (!lut)
    return fail(qpath + ": SqueezeLLM weight '" + base + "' has '" + qname +
                "' but no '" + lname + "'");
  if (!isFloat(lut->dtype) || lut->shape.size() != 2 || lut->shape[0] != rows)
    return fail(files.paths()[lfile] + ": tensor '" + lname +
                "' must be F16/BF16/F32 [" + std::to_string(rows) +
                ", 2^bits], got " + runtime::dtypeName(lut->dtype) + " " +
                shapeStr(lut->shape));
  unsigned bits = 0;
  for (unsigned b : {2u, 3u, 4u, 8u})
    if (lut->shape[1] == (int64_t(1) << b))
      bits = b;
  if (!bits)
    return fail(files.paths()[lfile] + ": tensor '" + lname + "' has " +
                std::to_string(lut->shape[1]) +
                " entries per row; SqueezeLLM tables have 4, 8, 16 or 256");
  if (cols % 32 != 0)
    return fail(formatv("weight '{0}': in_features {1} is not a multiple of "
                        "32, as SqueezeLLM packing requires",
                        base, cols));
  SmallVector<int64_t> qshape = {cols * bits / 32, rows};
  if (ArrayRef<int64_t>(q->shape) != ArrayRef<int64_t>(qshape))
    return fail(qpath + ": tensor '" + qname + "' has shape " +
                shapeStr(q->shape) + ", expected " + shapeStr(qshape) +
                formatv(" for {0}-bit codes of a [{1}, {2}] weight", bits,
                        rows, cols)
                    .str());
  w.format = WeightFormat::SqueezeLLM;
  w.bits = bits;
  w.dtype = lut->dtype;
  w.bindings.push_back(bind(qfile, qname, "", DType::I32, q->shape));
  w.bindings.push_back(bind(lfile, lname, "", lut->dtype, lut->shape));
  unsigned rfile, cfile, vfile;
  std::string rname = (base + ".rows").str(), cname = (base + ".cols").str(),
              vname = (base + ".vals").str();
  const runtime::TensorView *r = files.lookup(rname, rfile);
  const runtime::TensorView *c = files.lookup(cname, cfile);
  const runtime::TensorView *v = files.lookup(vname, vfile);
  if (!r && !c && !v)
    return w;
  if (!r || !c || !v)
    return fail(qpath + ": SqueezeLLM weight '" + base +
                "' has some but not all of .rows, .cols and .vals");
  if (r->dtype != DType::I32 || r->shape.size() != 1 ||
      r->shape[0] != rows + 1)
    return fail(files.paths()[rfile] + ": tensor '" + rname +
                formatv("' must be I32 [{0}], got ", rows + 1).str() +
                runtime::dtypeName(r->dtype) + " " + shapeStr(r->shape));
  if (c->dtype != DType::I32 || c->shape.size() != 1)
    return fail(files.paths()[cfile] + ": tensor '" + cname +
                "' must be I32 [nnz], got " + runtime::dtypeName(c->dtype) +
                " " + shapeStr(c->shape));
  if (!isFloat(v->dtype) || v->dtype == DType::BF16 ||
      v->shape != c->shape)
    return fail(files.paths()[vfile] + ": tensor '" + vname +
                "' must be F16/F32 with the shape of '" + cname + "' " +
                shapeStr(c->shape) + ", got " + runtime::dtypeName(v->dtype) +
                " " + shapeStr(v->shape));
  // The CSR arrays are read by the compiled code: check them here.
  const int32_t *ro = reinterpret_cast<const int32_t *>(r->data.data());
  int64_t nnz = c->shape[0];
  auto rowAt = [&](int64_t i) {
    int32_t x;
    std::memcpy(&x, ro + i, 4);
    return x;
  };
  if (rowAt(0) != 0 || rowAt(rows) != nnz)
    return fail(files.paths()[rfile] + ": tensor '" + rname +
                formatv("' must start at 0 and end at nnz = {0}", nnz).str());
  for (int64_t i = 0; i < rows; ++i)
    if (rowAt(i + 1) < rowAt(i))
      return fail(files.paths()[rfile] + ": tensor '" + rname +
                  "' is not non-decreasing");
  const uint8_t *co = c->data.data();
  for (int64_t i = 0; i < nnz; ++i) {
    int32_t x;
    std::memcpy(&x, co + 4 * i, 4);
    if (x < 0 || x >= cols)
      return fail(files.paths()[cfile] + ": tensor '" + cname +
                  formatv("' has column {0} outside [0, {1})", x, cols).str());
  }
  w.outliers = true;
  w.outlierDType = v->dtype;
  w.bindings.push_back(bind(rfile, rname, "", DType::I32, r->shape));
  w.bindings.push_back(bind(cfile, cname, "", DType::I32, c->shape));
  w.bindings.push_back(bind(vfile, vname, "", v->dtype, v->shape));
  return w;
}

Expected<WeightSpec> resolveGGUF(const runtime::GGUFFile &f, StringRef name,
                                 int64_t rows, int64_t cols) {
  WeightSpec w;
  w.name = name.str();
  w.rows = rows;
  w.cols = cols;
  const runtime::GGUFTensor *t = f.lookup(name);
  if (!t)
    return fail(f.path() + ": tensor '" + name + "' not found");
  SmallVector<int64_t> expected;
  if (rows)
    expected.push_back(rows);
  expected.push_back(cols);
  if (ArrayRef<int64_t>(t->shape) != ArrayRef<int64_t>(expected))
    return fail(f.path() + ": tensor '" + name + "' has shape " +
                shapeStr(t->shape) + ", expected " + shapeStr(expected) +
                " from the model metadata");
  const char *typeName = runtime::ggmlTypeName(t->type);
  if (!typeName)
    return fail(f.path() + ": tensor '" + name + "' has ggml type " +
                std::to_string(t->type) +
                ", which squant does not read (F32, F16, BF16, Q4_0, Q4_1, "
                "Q8_0)");
  using runtime::GGMLType;
  switch (GGMLType(t->type)) {
  case GGMLType::F32:
  case GGMLType::F16:
  case GGMLType::BF16: {
    w.format = WeightFormat::Dense;
    w.dtype = t->type == 0 ? DType::F32
              : t->type == 1 ? DType::F16
                             : DType::BF16;
    w.bindings.push_back(bind(0, name, "", w.dtype, t->shape));
    return w;
  }
  default:
    break;
  }
  if (!rows)
    return fail(f.path() + ": tensor '" + name +
                "' is a norm weight and must be F32, F16 or BF16, got " +
                typeName);
  w.format = WeightFormat::GGML;
  w.ggmlType = t->type;
  w.bits = t->type == uint32_t(GGMLType::Q8_0) ? 8 : 4;
  w.bindings.push_back(
      bind(0, name, "codes", DType::I32, {rows, cols * w.bits / 32}));
  w.bindings.push_back(bind(0, name, "scale", DType::F16, {rows, cols / 32}));
  if (t->type == uint32_t(GGMLType::Q4_1))
    w.bindings.push_back(bind(0, name, "zero", DType::F32, {rows, cols / 32}));
  return w;
}
} // namespace

Expected<LlamaWeights>
mlir::squant::import::resolveLlamaWeights(const LlamaConfig &c,
                                          const WeightFiles &files) {
  LlamaWeights w;
  int64_t h = c.hiddenSize, qdim = c.numHeads * c.headDim,
          kvdim = c.numKVHeads * c.headDim, inter = c.intermediateSize;
  struct Role {
    const char *hf, *gguf;
    int64_t rows, cols;
  };
  const Role roles[9] = {
      {"input_layernorm", "attn_norm", 0, h},
      {"self_attn.q_proj", "attn_q", qdim, h},
      {"self_attn.k_proj", "attn_k", kvdim, h},
      {"self_attn.v_proj", "attn_v", kvdim, h},
      {"self_attn.o_proj", "attn_output", h, qdim},
      {"post_attention_layernorm", "ffn_norm", 0, h},
      {"mlp.gate_proj", "ffn_gate", inter, h},
      {"mlp.up_proj", "ffn_up", inter, h},
      {"mlp.down_proj", "ffn_down", h, inter},
  };
  if (const runtime::GGUFFile *g = files.getGGUF()) {
    auto get = [&](StringRef name, int64_t rows, int64_t cols,
                   WeightSpec &out) -> Error {
      auto r = resolveGGUF(*g, name, rows, cols);
      if (!r)
        return r.takeError();
      out = std::move(*r);
      return Error::success();
    };
    if (Error e = get("token_embd.weight", c.vocabSize, h, w.embed)) return std::move(e);
    if (Error e = get("output_norm.weight", 0, h, w.finalNorm)) return std::move(e);
    if (c.tieWordEmbeddings) {
      w.lmHead = w.embed;
    } else if (Error e = get("output.weight", c.vocabSize, h, w.lmHead)) {
      return std::move(e);
    }
    w.layers.resize(c.numLayers);
    for (int64_t i = 0; i < c.numLayers; ++i)
      for (int r = 0; r < 9; ++r)
        if (Error e = get(formatv("blk.{0}.{1}.weight", i, roles[r].gguf).str(),
                          roles[r].rows, roles[r].cols, w.layers[i][r]))
          return std::move(e);
    return w;
  }
  auto get = [&](StringRef base, int64_t rows, int64_t cols, bool quantOk,
                 WeightSpec &out) -> Error {
    auto r = resolveSafeTensors(files, base, rows, cols, quantOk);
    if (!r)
      return r.takeError();
    out = std::move(*r);
    return Error::success();
  };
  if (Error e = get("model.embed_tokens", c.vocabSize, h, false, w.embed)) return std::move(e);
  if (Error e = get("model.norm", 0, h, false, w.finalNorm)) return std::move(e);
  unsigned ignored;
  if (c.tieWordEmbeddings && !files.lookup("lm_head.weight", ignored) &&
      !files.lookup("lm_head.qweight", ignored)) {
    w.lmHead = w.embed;
  } else if (Error e = get("lm_head", c.vocabSize, h, true, w.lmHead)) {
    return std::move(e);
  }
  w.layers.resize(c.numLayers);
  for (int64_t i = 0; i < c.numLayers; ++i)
    for (int r = 0; r < 9; ++r)
      if (Error e = get(formatv("model.layers.{0}.{1}", i, roles[r].hf).str(),
                        roles[r].rows, roles[r].cols, roles[r].rows != 0,
                        w.layers[i][r]))
        return std::move(e);
  return w;
}

LlamaWeights mlir::squant::import::syntheticLlamaWeights(const LlamaConfig &c,
                                                         DType dtype) {
  auto dense = [&](StringRef name, int64_t rows, int64_t cols) {
    WeightSpec w;
    w.name = name.str();
    w.format = WeightFormat::Dense;
    w.dtype = dtype;
    w.rows = rows;
    w.cols = cols;
    return w;
  };
  int64_t h = c.hiddenSize, qdim = c.numHeads * c.headDim,
          kvdim = c.numKVHeads * c.headDim, inter = c.intermediateSize;
  LlamaWeights w;
  w.embed = dense("embed", c.vocabSize, h);
  w.finalNorm = dense("norm", 0, h);
  w.lmHead = dense("lm_head", c.vocabSize, h);
  LayerWeights layer = {dense("attn_norm", 0, h), dense("q", qdim, h),
                        dense("k", kvdim, h),     dense("v", kvdim, h),
                        dense("o", h, qdim),      dense("ffn_norm", 0, h),
                        dense("gate", inter, h),  dense("up", inter, h),
                        dense("down", h, inter)};
  w.layers.assign(c.numLayers, layer);
  return w;
}
