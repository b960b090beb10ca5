//===- Model.cpp - compiled whole-model artifacts -------------------------===//

#include "squant/Runtime/Model.h"
#include "squant/Runtime/GGUF.h"

#include "llvm/Support/DynamicLibrary.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/FormatVariadic.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/Path.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <map>
#include <utility>

using namespace llvm;
using namespace mlir::squant::runtime;

static Error fail(const Twine &msg) {
  return createStringError(inconvertibleErrorCode(), msg);
}

//===----------------------------------------------------------------------===//
// Manifest
//===----------------------------------------------------------------------===//

static json::Value callToJSON(const FunctionCall &c) {
  json::Array params;
  for (const ParamBinding &p : c.params) {
    json::Array shape;
    for (int64_t d : p.shape)
      shape.push_back(d);
    json::Object o{{"file", int64_t(p.file)},
                   {"tensor", p.tensor},
                   {"dtype", dtypeName(p.dtype)},
                   {"shape", std::move(shape)}};
    if (!p.part.empty())
      o["part"] = p.part;
    if (!p.prepare.empty())
      o["prepare"] = p.prepare;
    params.push_back(std::move(o));
  }
  return json::Object{{"function", c.function}, {"params", std::move(params)}};
}

std::string KVFormat::str() const {
  std::string s = formatv("{0}, bits = {1}", method, bits).str();
  if (group)
    s += formatv(", group = {0}", group).str();
  if (sink)
    s += formatv(", sink = {0}", sink).str();
  if (residual)
    s += formatv(", residual = {0}", residual).str();
  if (outliers)
    s += formatv(", outliers = {0}", outliers).str();
  return s;
}

std::vector<KVCacheComponent>
mlir::squant::runtime::kvCacheComponents(const KVFormat &f, int64_t h,
                                         int64_t d, int64_t slots) {
  std::vector<KVCacheComponent> out;
  int64_t packed = d * f.bits / 8;
  DType index = d > 256 ? DType::I16 : DType::I8;
  auto add = [&](StringRef name, DType dt, SmallVector<int64_t> shape) {
    out.push_back({name.str(), dt, std::move(shape)});
  };
  add("key_codes", DType::I8, {1, h, slots, packed});
  add("value_codes", DType::I8, {1, h, slots, packed});
  if (f.method == "kvquant") {
    add("value_scale", DType::F16, {1, h, slots});
    if (f.outliers) {
      add("key_outlier_values", DType::F16, {1, h, slots, f.outliers});
      add("key_outlier_indices", index, {1, h, slots, f.outliers});
      add("value_outlier_values", DType::F16, {1, h, slots, f.outliers});
      add("value_outlier_indices", index, {1, h, slots, f.outliers});
    }
  } else {
    int64_t rows = std::max<int64_t>(slots - f.sink, 0) / f.group;
    add("key_scale", DType::F16, {1, h, rows, d});
    add("key_zero", DType::F16, {1, h, rows, d});
    add("value_scale", DType::F16, {1, h, slots, d / f.group});
    add("value_zero", DType::F16, {1, h, slots, d / f.group});
  }
  if (f.sink) {
    add("key_sink", DType::F16, {1, h, f.sink, d});
    add("value_sink", DType::F16, {1, h, f.sink, d});
  }
  if (f.method == "kivi") {
    add("key_residual", DType::F16, {1, h, f.residual, d});
    add("value_residual", DType::F16, {1, h, f.residual, d});
  }
  return out;
}

json::Value ModelManifest::toJSON() const {
  json::Array layerArr, fileArr, eosArr, projArr;
  for (const FunctionCall &c : layers)
    layerArr.push_back(callToJSON(c));
  for (const FunctionCall &c : kvProject)
    projArr.push_back(callToJSON(c));
  for (const std::string &f : files)
    fileArr.push_back(f);
  for (int64_t e : eos)
    eosArr.push_back(e);
  json::Object o{
      {"format", "squant-model-1"},
      {"library", library},
      {"config",
       json::Object{{"hidden_size", hidden},
                    {"num_hidden_layers", numLayers},
                    {"num_attention_heads", numHeads},
                    {"num_key_value_heads", numKVHeads},
                    {"head_dim", headDim},
                    {"vocab_size", vocab},
                    {"max_position_embeddings", maxPositions}}},
      {"kv_cache", dtypeName(kvCache)},
      {"files", std::move(fileArr)},
      {"tokenizer", json::Object{{"kind", tokenizerKind},
                                 {"path", tokenizerPath}}},
      {"bos_token_id", bos},
      {"eos_token_ids", std::move(eosArr)},
      {"chat_template", chatTemplate},
      {"layer_functions", int64_t(numLayerFunctions)},
      {"embed", callToJSON(embed)},
      {"layers", std::move(layerArr)},
      {"head", callToJSON(head)}};
  if (kvFormat.quantized()) {
    o["kv_format"] = json::Object{{"method", kvFormat.method},
                                  {"bits", kvFormat.bits},
                                  {"group", kvFormat.group},
                                  {"sink", kvFormat.sink},
                                  {"residual", kvFormat.residual},
                                  {"outliers", kvFormat.outliers}};
    if (!kvProject.empty())
      o["kv_project"] = std::move(projArr);
  }
  return o;
}

static Expected<FunctionCall> callFromJSON(const json::Value *v,
                                           StringRef what, StringRef path,
                                           size_t numFiles) {
  const json::Object *o = v ? v->getAsObject() : nullptr;
  auto bad = [&](const Twine &m) {
    return fail(path + ": " + what + ": " + m);
  };
  if (!o)
    return bad("expected an object");
  FunctionCall c;
  auto fn = o->getString("function");
  if (!fn || fn->empty())
    return bad("missing 'function'");
  c.function = fn->str();
  const json::Array *params = o->getArray("params");
  if (!params)
    return bad("missing 'params'");
  for (const json::Value &pv : *params) {
    const json::Object *po = pv.getAsObject();
    if (!po)
      return bad("a parameter is not an object");
    ParamBinding p;
    auto file = po->getInteger("file");
    auto tensor = po->getString("tensor");
    auto dtype = po->getString("dtype");
    const json::Array *shape = po->getArray("shape");
    if (!file || !tensor || !dtype || !shape || *file < 0 ||
        size_t(*file) >= numFiles)
      return bad("a parameter lacks file/tensor/dtype/shape");
    p.file = unsigned(*file);
    p.tensor = tensor->str();
    if (auto part = po->getString("part"))
      p.part = part->str();
    if (auto prep = po->getString("prepare"))
      p.prepare = prep->str();
    auto dt = parseDType(*dtype);
    if (!dt)
      return bad("unknown dtype '" + *dtype + "'");
    p.dtype = *dt;
    for (const json::Value &d : *shape) {
      auto i = d.getAsInteger();
      if (!i || *i < 0)
        return bad("bad shape of '" + p.tensor + "'");
      p.shape.push_back(*i);
    }
    c.params.push_back(std::move(p));
  }
  return c;
}

Expected<ModelManifest> ModelManifest::fromJSON(StringRef text,
                                                StringRef path) {
  Expected<json::Value> parsed = json::parse(text);
  if (!parsed)
    return fail(path + ": invalid JSON: " + toString(parsed.takeError()));
  const json::Object *o = parsed->getAsObject();
  if (!o || o->getString("format") != StringRef("squant-model-1"))
    return fail(path + ": not a squant model manifest (format "
                       "'squant-model-1')");
  ModelManifest m;
  if (auto lib = o->getString("library"))
    m.library = lib->str();
  const json::Object *cfg = o->getObject("config");
  if (!cfg)
    return fail(path + ": missing 'config'");
  auto num = [&](StringRef key, int64_t &out) -> Error {
    auto v = cfg->getInteger(key);
    if (!v || *v <= 0)
      return fail(path + ": config." + key + " must be a positive integer");
    out = *v;
    return Error::success();
  };
  if (Error e = num("hidden_size", m.hidden)) return std::move(e);
  if (Error e = num("num_hidden_layers", m.numLayers)) return std::move(e);
  if (Error e = num("num_attention_heads", m.numHeads)) return std::move(e);
  if (Error e = num("num_key_value_heads", m.numKVHeads)) return std::move(e);
  if (Error e = num("head_dim", m.headDim)) return std::move(e);
  if (Error e = num("vocab_size", m.vocab)) return std::move(e);
  if (Error e = num("max_position_embeddings", m.maxPositions)) return std::move(e);
  auto kv = parseDType(o->getString("kv_cache").value_or("F32"));
  if (!kv || (*kv != DType::F32 && *kv != DType::F16))
    return fail(path + ": kv_cache must be F32 or F16");
  m.kvCache = *kv;
  if (const json::Object *kf = o->getObject("kv_format")) {
    KVFormat &f = m.kvFormat;
    f.method = kf->getString("method").value_or("").str();
    f.bits = kf->getInteger("bits").value_or(0);
    f.group = kf->getInteger("group").value_or(0);
    f.sink = kf->getInteger("sink").value_or(0);
    f.residual = kf->getInteger("residual").value_or(0);
    f.outliers = kf->getInteger("outliers").value_or(0);
    bool kivi = f.method == "kivi";
    if ((f.method != "kvquant" && !kivi) || f.bits < 2 || f.bits > 4 ||
        f.sink < 0 || f.outliers < 0 || f.group < 0 || f.residual < 0 ||
        (kivi && (f.group <= 0 || f.residual <= 0 ||
                  f.residual % f.group != 0)) ||
        (!kivi && (f.group || f.residual)))
      return fail(path + ": invalid kv_format");
  }
  if (const json::Array *files = o->getArray("files"))
    for (const json::Value &f : *files)
      if (auto s = f.getAsString())
        m.files.push_back(s->str());
  if (const json::Object *tok = o->getObject("tokenizer")) {
    m.tokenizerKind = tok->getString("kind").value_or("").str();
    m.tokenizerPath = tok->getString("path").value_or("").str();
  }
  m.bos = o->getInteger("bos_token_id").value_or(-1);
  if (const json::Array *eos = o->getArray("eos_token_ids"))
    for (const json::Value &e : *eos)
      if (auto i = e.getAsInteger())
        m.eos.push_back(*i);
  m.chatTemplate = o->getString("chat_template").value_or("").str();
  m.numLayerFunctions = o->getInteger("layer_functions").value_or(0);
  auto embed = callFromJSON(o->get("embed"), "embed", path, m.files.size());
  if (!embed)
    return embed.takeError();
  m.embed = std::move(*embed);
  auto head = callFromJSON(o->get("head"), "head", path, m.files.size());
  if (!head)
    return head.takeError();
  m.head = std::move(*head);
  const json::Array *layers = o->getArray("layers");
  if (!layers || int64_t(layers->size()) != m.numLayers)
    return fail(path + ": 'layers' must list num_hidden_layers calls");
  for (auto [i, l] : llvm::enumerate(*layers)) {
    auto call = callFromJSON(&l, formatv("layer {0}", i).str(), path,
                             m.files.size());
    if (!call)
      return call.takeError();
    m.layers.push_back(std::move(*call));
  }
  if (m.kvFormat.quantized() &&
      (m.headDim % 8 != 0 || m.kvFormat.outliers > m.headDim ||
       (m.kvFormat.group && m.headDim % m.kvFormat.group != 0)))
    return fail(path + ": kv_format does not fit head_dim");
  if (m.kvFormat.hasTables()) {
    const json::Array *proj = o->getArray("kv_project");
    if (!proj || int64_t(proj->size()) != m.numLayers)
      return fail(path + ": a kvquant model must list num_hidden_layers "
                         "'kv_project' calls");
    for (auto [i, l] : llvm::enumerate(*proj)) {
      auto call = callFromJSON(&l, formatv("kv_project {0}", i).str(), path,
                               m.files.size());
      if (!call)
        return call.takeError();
      m.kvProject.push_back(std::move(*call));
    }
  }
  return m;
}

//===----------------------------------------------------------------------===//
// Calling C-interface functions
//===----------------------------------------------------------------------===//

namespace {
template <size_t... I>
void callWith(void *fn, void *const *a, std::index_sequence<I...>) {
  using F = void (*)(decltype((void)I, (void *)nullptr)...);
  reinterpret_cast<F>(fn)(a[I]...);
}
template <size_t N> void callN(void *fn, void *const *a) {
  callWith(fn, a, std::make_index_sequence<N>());
}
template <size_t... N>
constexpr auto makeTable(std::index_sequence<N...>) {
  return std::array<void (*)(void *, void *const *), sizeof...(N)>{
      &callN<N>...};
}
constexpr size_t kMaxPointerArgs = 64;
const auto kCallTable = makeTable(std::make_index_sequence<kMaxPointerArgs + 1>());
} // namespace

Error mlir::squant::runtime::callPointerFunction(void *fn,
                                                 ArrayRef<void *> ptrs) {
  if (ptrs.size() > kMaxPointerArgs)
    return fail(formatv("function takes {0} arguments; at most {1} are "
                        "supported",
                        ptrs.size(), kMaxPointerArgs));
  kCallTable[ptrs.size()](fn, ptrs.data());
  return Error::success();
}

//===----------------------------------------------------------------------===//
// CompiledModel
//===----------------------------------------------------------------------===//

namespace {
/// A strided memref descriptor of any rank, laid out as LLVM lowers it.
struct Descriptor {
  std::vector<int64_t> fields;
  Descriptor() = default;
  Descriptor(void *data, ArrayRef<int64_t> sizes) {
    size_t rank = sizes.size();
    fields.assign(3 + 2 * rank, 0);
    fields[0] = fields[1] = int64_t(reinterpret_cast<intptr_t>(data));
    int64_t stride = 1;
    for (size_t d = rank; d-- > 0;) {
      fields[3 + d] = sizes[d];
      fields[3 + rank + d] = stride;
      stride *= sizes[d];
    }
  }
  static Descriptor result(unsigned rank) {
    Descriptor d;
    d.fields.assign(3 + 2 * rank, 0);
    return d;
  }
  void *allocated() const { return reinterpret_cast<void *>(fields[0]); }
  float *aligned() const {
    return reinterpret_cast<float *>(fields[1]) + fields[2];
  }
  int64_t size(unsigned d) const { return fields[3 + d]; }
  int64_t stride(unsigned d, unsigned rank) const {
    return fields[3 + rank + d];
  }
};

struct Buffer {
  void *data = nullptr;
  SmallVector<int64_t> shape;
};
} // namespace

struct CompiledModel::Impl {
  std::vector<std::unique_ptr<SafeTensorsFile>> st;
  std::unique_ptr<GGUFFile> gguf;
  sys::DynamicLibrary lib;
  void *embedFn = nullptr, *headFn = nullptr;
  std::vector<void *> layerFns;
  std::vector<Buffer> embedArgs, headArgs;
  std::vector<std::vector<Buffer>> layerArgs;
  // Storage owned by the model (aligned copies and ggml re-layouts).
  std::vector<std::unique_ptr<uint8_t[], decltype(&std::free)>> owned;
  std::map<std::pair<unsigned, std::string>, GGMLBlockParams> ggml;
  std::vector<std::unique_ptr<uint8_t[], decltype(&std::free)>> caches;
  unsigned cacheElemSize = 4;
  // Quantized caches: the components' shapes at the current capacity and
  // byte sizes; caches[l * perLayer + i] is component i of layer l.
  std::vector<KVCacheComponent> components;
  std::vector<size_t> componentBytes;
  // kvquant: kv_project functions and arguments, per-layer tables.
  std::vector<void *> projFns;
  std::vector<std::vector<Buffer>> projArgs;
  std::vector<std::vector<float>> keyLuts, valueLuts;
  // Tables returned by prepare functions (malloc'ed by the compiled code).
  std::map<std::pair<unsigned, std::string>, void *> tables;
  std::vector<void *> tableStorage;
  ~Impl() {
    for (void *p : tableStorage)
      std::free(p);
  }

  void *ownCopy(const void *src, size_t bytes) {
    size_t n = std::max<size_t>((bytes + 63) / 64 * 64, 64);
    std::unique_ptr<uint8_t[], decltype(&std::free)> p(
        static_cast<uint8_t *>(std::aligned_alloc(64, n)), &std::free);
    if (bytes)
      std::memcpy(p.get(), src, bytes);
    owned.push_back(std::move(p));
    return owned.back().get();
  }
};

CompiledModel::~CompiledModel() = default;

Expected<std::unique_ptr<CompiledModel>> CompiledModel::load(StringRef dir) {
  SmallString<256> manifestPath(dir);
  sys::path::append(manifestPath, "manifest.json");
  auto text = MemoryBuffer::getFile(manifestPath);
  if (!text)
    return fail(manifestPath + ": cannot read: " + text.getError().message() +
                " (is --model a directory written by squant-compile?)");
  auto man = ModelManifest::fromJSON((*text)->getBuffer(), manifestPath);
  if (!man)
    return man.takeError();
  std::unique_ptr<CompiledModel> model(new CompiledModel());
  model->impl = std::make_unique<Impl>();
  model->man = std::move(*man);
  Impl &im = *model->impl;
  const ModelManifest &m = model->man;
  if (m.files.empty())
    return fail(manifestPath + ": the model was compiled without weights "
                               "(--no-weights) and cannot be run");

  // Map the weight files (paths relative to the model directory).
  for (const std::string &f : m.files) {
    SmallString<256> p(f);
    if (!sys::path::is_absolute(p)) {
      p = dir;
      sys::path::append(p, f);
    }
    if (StringRef(p).ends_with(".gguf")) {
      auto g = GGUFFile::open(p);
      if (!g)
        return g.takeError();
      im.gguf = std::move(*g);
      im.st.push_back(nullptr);
    } else {
      auto s = SafeTensorsFile::open(p);
      if (!s)
        return s.takeError();
      im.st.push_back(std::move(*s));
    }
    uint64_t size = 0;
    sys::fs::file_size(p, size);
    model->mappedBytes += size;
  }

  // Load the library.
  SmallString<256> libPath(dir);
  sys::path::append(libPath, m.library);
  std::string err;
  im.lib = sys::DynamicLibrary::getPermanentLibrary(libPath.c_str(), &err);
  if (!im.lib.isValid())
    return fail(libPath + ": cannot load: " + err);
  auto sym = [&](StringRef fn) -> Expected<void *> {
    std::string name = ("_mlir_ciface_" + fn).str();
    void *p = im.lib.getAddressOfSymbol(name.c_str());
    if (!p)
      return fail(libPath + ": no function '" + name + "'");
    return p;
  };
  auto e = sym(m.embed.function);
  if (!e) return e.takeError();
  im.embedFn = *e;
  auto h = sym(m.head.function);
  if (!h) return h.takeError();
  im.headFn = *h;
  for (const FunctionCall &c : m.layers) {
    auto l = sym(c.function);
    if (!l) return l.takeError();
    im.layerFns.push_back(*l);
  }
  for (const FunctionCall &c : m.kvProject) {
    auto l = sym(c.function);
    if (!l) return l.takeError();
    im.projFns.push_back(*l);
  }
  // Resolve every binding to a buffer.
  auto resolve = [&](const ParamBinding &p) -> Expected<Buffer> {
    Buffer buf;
    buf.shape = p.shape;
    auto where = [&]() {
      return m.files[p.file] + ": tensor '" + p.tensor + "'";
    };
    if (im.st[p.file]) {
      const TensorView *t = im.st[p.file]->lookup(p.tensor);
      if (!t)
        return fail(where() + " not found (the weights changed since "
                              "squant-compile ran?)");
      if (t->dtype != p.dtype || ArrayRef<int64_t>(t->shape) !=
                                     ArrayRef<int64_t>(p.shape))
        return fail(where() + " no longer has the dtype and shape it was "
                              "compiled for");
      unsigned es = dtypeSize(t->dtype);
      if (reinterpret_cast<uintptr_t>(t->data.data()) % es == 0 &&
          !t->data.empty()) {
        buf.data = const_cast<uint8_t *>(t->data.data());
      } else {
        buf.data = im.ownCopy(t->data.data(), t->data.size());
        model->derivedBytes += t->data.size();
      }
      return buf;
    }
    const GGUFTensor *t = im.gguf->lookup(p.tensor);
    if (!t)
      return fail(where() + " not found");
    if (p.part.empty()) {
      std::optional<DType> dt = t->type == uint32_t(GGMLType::F32)    ? DType::F32
                                : t->type == uint32_t(GGMLType::F16)  ? DType::F16
                                : t->type == uint32_t(GGMLType::BF16) ? DType::BF16
                                                                      : std::optional<DType>();
      if (!dt || *dt != p.dtype ||
          ArrayRef<int64_t>(t->shape) != ArrayRef<int64_t>(p.shape))
        return fail(where() + " no longer has the type and shape it was "
                              "compiled for");
      buf.data = const_cast<uint8_t *>(t->data.data());
      return buf;
    }
    auto key = std::make_pair(p.file, p.tensor);
    auto it = im.ggml.find(key);
    if (it == im.ggml.end()) {
      auto params = relayoutGGMLBlocks(*t);
      if (!params)
        return params.takeError();
      model->derivedBytes += params->codes.size() * 4 +
                             params->scale.size() * 2 +
                             params->zero.size() * 4;
      it = im.ggml.emplace(key, std::move(*params)).first;
    }
    if (!p.prepare.empty()) {
      // Tables built once by the compiled prepare function.
      auto lit = im.tables.find(key);
      if (lit == im.tables.end()) {
        void *fn = im.lib.getAddressOfSymbol(
            ("_mlir_ciface_" + p.prepare).c_str());
        if (!fn)
          return fail(libPath + ": no function '_mlir_ciface_" + p.prepare +
                      "'");
        const GGMLBlockParams &bp = it->second;
        if (p.shape.size() != 3 ||
            size_t(p.shape[0] * p.shape[1]) != bp.scale.size())
          return fail(where() + ": tables do not have the shape the model "
                                "was compiled for");
        int64_t rows = p.shape[0], groups = p.shape[1];
        Descriptor result = Descriptor::result(3);
        Descriptor scale(const_cast<uint16_t *>(bp.scale.data()),
                         {rows, groups});
        Descriptor zero(const_cast<float *>(bp.zero.data()), {rows, groups});
        SmallVector<void *> ptrs = {result.fields.data(), scale.fields.data()};
        if (!bp.zero.empty())
          ptrs.push_back(zero.fields.data());
        if (Error e = callPointerFunction(fn, ptrs))
          return std::move(e);
        if (result.size(0) != rows || result.size(1) != groups ||
            result.size(2) != p.shape[2] || result.fields[2] != 0)
          return fail(where() + ": " + p.prepare +
                      " returned tables of an unexpected shape");
        im.tableStorage.push_back(result.allocated());
        model->derivedBytes += uint64_t(rows) * groups * p.shape[2] * 4;
        lit = im.tables.emplace(key, result.aligned()).first;
      }
      buf.data = lit->second;
      return buf;
    }
    int64_t want = 1;
    for (int64_t d : p.shape)
      want *= d;
    size_t have = p.part == "codes"   ? it->second.codes.size()
                  : p.part == "scale" ? it->second.scale.size()
                  : p.part == "zero"  ? it->second.zero.size()
                                      : 0;
    if (size_t(want) != have)
      return fail(where() + ": part '" + p.part +
                  "' does not have the shape the model was compiled for");
    if (p.part == "codes")
      buf.data = it->second.codes.data();
    else if (p.part == "scale")
      buf.data = it->second.scale.data();
    else if (p.part == "zero" && !it->second.zero.empty())
      buf.data = it->second.zero.data();
    else
      return fail(where() + ": unknown part '" + p.part + "'");
    return buf;
  };
  auto resolveAll = [&](const FunctionCall &c,
                        std::vector<Buffer> &out) -> Error {
    for (const ParamBinding &p : c.params) {
      auto b = resolve(p);
      if (!b)
        return b.takeError();
      out.push_back(std::move(*b));
    }
    return Error::success();
  };
  if (Error e = resolveAll(m.embed, im.embedArgs)) return std::move(e);
  if (Error e = resolveAll(m.head, im.headArgs)) return std::move(e);
  im.layerArgs.resize(m.layers.size());
  for (auto [i, c] : llvm::enumerate(m.layers))
    if (Error e = resolveAll(c, im.layerArgs[i]))
      return std::move(e);
  im.projArgs.resize(m.kvProject.size());
  for (auto [i, c] : llvm::enumerate(m.kvProject))
    if (Error e = resolveAll(c, im.projArgs[i]))
      return std::move(e);

  im.cacheElemSize = dtypeSize(m.kvCache);
  return model;
}

uint64_t CompiledModel::cacheBytes() const {
  if (man.kvFormat.quantized()) {
    uint64_t total = 0;
    for (size_t b : impl->componentBytes)
      total += b;
    return total * man.numLayers;
  }
  return uint64_t(capacity) * man.numKVHeads * man.headDim *
         impl->cacheElemSize * 2 * man.numLayers;
}

static std::unique_ptr<uint8_t[], decltype(&std::free)>
zeroedBuffer(size_t bytes) {
  size_t n = std::max<size_t>((bytes + 63) / 64 * 64, 64);
  std::unique_ptr<uint8_t[], decltype(&std::free)> p(
      static_cast<uint8_t *>(std::aligned_alloc(64, n)), &std::free);
  std::memset(p.get(), 0, n);
  return p;
}

Error CompiledModel::resetCache(int64_t maxTokens) {
  if (maxTokens <= 0 || maxTokens > man.maxPositions)
    return fail(formatv("cannot hold {0} tokens: the model supports 1 to {1} "
                        "positions",
                        maxTokens, man.maxPositions));
  impl->caches.clear();
  if (man.kvFormat.quantized()) {
    const KVFormat &f = man.kvFormat;
    if (maxTokens < f.sink)
      return fail(formatv("cannot hold {0} tokens: the KV cache keeps {1} "
                          "sink tokens",
                          maxTokens, f.sink));
    impl->components =
        kvCacheComponents(f, man.numKVHeads, man.headDim, maxTokens);
    impl->componentBytes.clear();
    for (const KVCacheComponent &c : impl->components) {
      size_t n = dtypeSize(c.dtype);
      for (int64_t d : c.shape)
        n *= size_t(d);
      impl->componentBytes.push_back(n);
    }
    for (int64_t l = 0; l < man.numLayers; ++l)
      for (size_t b : impl->componentBytes)
        impl->caches.push_back(zeroedBuffer(b));
    capacity = maxTokens;
    return Error::success();
  }
  size_t bytes = size_t(maxTokens) * man.numKVHeads * man.headDim *
                 impl->cacheElemSize;
  for (int64_t i = 0; i < 2 * man.numLayers; ++i)
    impl->caches.push_back(zeroedBuffer(bytes));
  capacity = maxTokens;
  return Error::success();
}

bool CompiledModel::needsKVCalibration() const {
  return man.kvFormat.hasTables();
}

/// The 2^bits reconstruction levels of the MSE-optimal (Lloyd-Max) scalar
/// quantizer of a standard normal variable, ascending: Lloyd's iteration
/// on the density (centroid of [a, b] = (phi(a) - phi(b)) / (Phi(b) -
/// Phi(a))) from uniformly spaced levels, run to a fixed point.
static std::vector<double> lloydMaxNormal(unsigned bits) {
  size_t n = size_t(1) << bits;
  auto phi = [](double x) { return std::exp(-0.5 * x * x) / std::sqrt(2 * M_PI); };
  auto Phi = [](double x) { return 0.5 * std::erfc(-x / std::sqrt(2.0)); };
  std::vector<double> z(n);
  for (size_t i = 0; i < n; ++i)
    z[i] = -3.0 + 6.0 * (double(i) + 0.5) / double(n);
  for (int it = 0; it < 10000; ++it) {
    std::vector<double> next(n);
    for (size_t i = 0; i < n; ++i) {
      double a = i == 0 ? -INFINITY : 0.5 * (z[i - 1] + z[i]);
      double b = i + 1 == n ? INFINITY : 0.5 * (z[i] + z[i + 1]);
      double pa = std::isinf(a) ? 0 : phi(a), pb = std::isinf(b) ? 0 : phi(b);
      next[i] = (pa - pb) / (Phi(b) - Phi(a));
    }
    z = next;
  }
  return z;
}

Error CompiledModel::calibrateKV(ArrayRef<int32_t> tokens) {
  if (!needsKVCalibration())
    return Error::success();
  Impl &im = *impl;
  const KVFormat &f = man.kvFormat;
  int64_t t = tokens.size(), hkv = man.numKVHeads, d = man.headDim,
          width = hkv * d, levels = int64_t(1) << f.bits;
  if (t == 0)
    return fail("KV calibration needs at least one token");
  if (t > man.maxPositions)
    return fail(formatv("KV calibration text has {0} tokens, more than the "
                        "model's {1} positions",
                        t, man.maxPositions));
  // Calibrate in a cache large enough for the text, then restore the
  // capacity the caller chose.
  int64_t saved = capacity;
  std::vector<double> z = lloydMaxNormal(f.bits);
  // Tokens quantized by the cache: those after the sinks (all of them when
  // the text is no longer than the sink).
  int64_t first = t > f.sink ? f.sink : 0;
  im.keyLuts.assign(man.numLayers, {});
  im.valueLuts.assign(man.numLayers, {});
  if (Error e = resetCache(std::max(saved, t)))
    return e;
  auto x = runEmbed(tokens);
  if (!x)
    return x.takeError();
  Activation act = *x;
  for (int64_t l = 0; l < man.numLayers; ++l) {
    // Pre-RoPE keys and values of this layer's input.
    std::vector<Descriptor> args;
    args.emplace_back(act.data, ArrayRef<int64_t>{t, man.hidden});
    for (const Buffer &b : im.projArgs[l])
      args.emplace_back(b.data, b.shape);
    Descriptor kv = Descriptor::result(3);
    SmallVector<void *> ptrs = {kv.fields.data()};
    for (Descriptor &a : args)
      ptrs.push_back(a.fields.data());
    if (Error e = callPointerFunction(im.projFns[l], ptrs)) {
      std::free(act.allocated);
      return e;
    }
    auto at = [&](int64_t which, int64_t tok, int64_t j) -> double {
      return kv.aligned()[which * kv.stride(0, 3) + tok * kv.stride(1, 3) +
                          j * kv.stride(2, 3)];
    };
    std::vector<float> &klut = im.keyLuts[l];
    klut.assign(size_t(width * levels), 0.f);
    for (int64_t j = 0; j < width; ++j) {
      double sum = 0, sq = 0;
      for (int64_t i = first; i < t; ++i)
        sum += at(0, i, j);
      double mu = sum / double(t - first);
      for (int64_t i = first; i < t; ++i)
        sq += (at(0, i, j) - mu) * (at(0, i, j) - mu);
      double sigma = std::sqrt(sq / double(t - first));
      for (int64_t c = 0; c < levels; ++c)
        klut[size_t(j * levels + c)] = float(mu + sigma * z[size_t(c)]);
    }
    double acc = 0;
    int64_t count = 0;
    for (int64_t i = first; i < t; ++i)
      for (int64_t h = 0; h < hkv; ++h) {
        std::vector<std::pair<double, int64_t>> order;
        for (int64_t e = 0; e < d; ++e)
          order.push_back({-std::fabs(at(1, i, h * d + e)), e});
        std::sort(order.begin(), order.end());
        double scale = 0;
        for (size_t r = size_t(f.outliers); r < order.size(); ++r)
          scale = std::max(scale, -order[r].first);
        if (scale <= 0)
          continue;
        for (size_t r = size_t(f.outliers); r < order.size(); ++r) {
          double ratio = at(1, i, h * d + order[r].second) / scale;
          acc += ratio * ratio;
          ++count;
        }
      }
    double sigmaV = count ? std::sqrt(acc / double(count)) : 1.0;
    std::vector<float> &vlut = im.valueLuts[l];
    for (int64_t c = 0; c < levels; ++c)
      vlut.push_back(float(std::clamp(sigmaV * z[size_t(c)], -1.0, 1.0)));
    std::free(kv.allocated());
    auto next = runLayer(l, act.data, t, 0);
    std::free(act.allocated);
    if (!next)
      return next.takeError();
    act = *next;
  }
  std::free(act.allocated);
  return resetCache(saved);
}

Error CompiledModel::writeKVTables(StringRef path) const {
  SafeTensorsWriter w;
  int64_t levels = int64_t(1) << man.kvFormat.bits;
  auto bytes = [](const std::vector<float> &v) {
    std::vector<uint8_t> out(v.size() * 4);
    std::memcpy(out.data(), v.data(), out.size());
    return out;
  };
  for (size_t l = 0; l < impl->keyLuts.size(); ++l) {
    w.add(formatv("key_lut_{0}", l).str(), DType::F32,
          {man.numKVHeads, man.headDim, levels}, bytes(impl->keyLuts[l]));
    w.add(formatv("value_lut_{0}", l).str(), DType::F32, {levels},
          bytes(impl->valueLuts[l]));
  }
  return w.write(path);
}

Expected<CompiledModel::Activation> CompiledModel::runEmbed(ArrayRef<int32_t> tokens) {
  Impl &im = *impl;
  int64_t t = tokens.size();
  for (int32_t tok : tokens)
    if (tok < 0 || tok >= man.vocab)
      return fail(formatv("token id {0} is outside the vocabulary [0, {1})",
                          tok, man.vocab));
  std::vector<int32_t> tok(tokens.begin(), tokens.end());
  std::vector<Descriptor> args = {Descriptor(tok.data(), {t})};
  for (const Buffer &b : im.embedArgs)
    args.emplace_back(b.data, b.shape);
  Descriptor x = Descriptor::result(2);
  SmallVector<void *> ptrs = {x.fields.data()};
  for (Descriptor &d : args)
    ptrs.push_back(d.fields.data());
  if (Error e = callPointerFunction(im.embedFn, ptrs))
    return std::move(e);
  return Activation{x.allocated(), x.aligned()};
}

Expected<CompiledModel::Activation>
CompiledModel::runLayer(int64_t l, float *x, int64_t t,
                                          int64_t pos) {
  Impl &im = *impl;
  int64_t pos64 = pos;
  std::vector<Descriptor> largs;
  largs.emplace_back(x, ArrayRef<int64_t>{t, man.hidden});
  largs.emplace_back(&pos64, ArrayRef<int64_t>{1});
  if (man.kvFormat.quantized()) {
    size_t per = im.components.size();
    for (size_t i = 0; i < per; ++i)
      largs.emplace_back(im.caches[l * per + i].get(),
                         im.components[i].shape);
    if (man.kvFormat.hasTables()) {
      if (size_t(l) >= im.keyLuts.size() || im.keyLuts[l].empty())
        return fail("the kvquant KV cache has no tables yet (run the KV "
                    "calibration first)");
      int64_t levels = int64_t(1) << man.kvFormat.bits;
      largs.emplace_back(im.keyLuts[l].data(),
                         ArrayRef<int64_t>{man.numKVHeads, man.headDim, levels});
      largs.emplace_back(im.valueLuts[l].data(), ArrayRef<int64_t>{levels});
    }
  } else {
    SmallVector<int64_t> cacheShape = {capacity, man.numKVHeads, man.headDim};
    largs.emplace_back(im.caches[2 * l].get(), cacheShape);
    largs.emplace_back(im.caches[2 * l + 1].get(), cacheShape);
  }
  for (const Buffer &b : im.layerArgs[l])
    largs.emplace_back(b.data, b.shape);
  Descriptor next = Descriptor::result(2);
  SmallVector<void *> ptrs = {next.fields.data()};
  for (Descriptor &d : largs)
    ptrs.push_back(d.fields.data());
  if (Error e = callPointerFunction(im.layerFns[l], ptrs))
    return std::move(e);
  return Activation{next.allocated(), next.aligned()};
}

Expected<std::vector<float>>
CompiledModel::forward(ArrayRef<int32_t> tokens, int64_t pos, bool allLogits) {
  Impl &im = *impl;
  int64_t t = tokens.size();
  if (t == 0)
    return fail("no tokens to run");
  if (pos < 0 || pos + t > capacity)
    return fail(formatv("positions [{0}, {1}) exceed the KV cache capacity "
                        "{2}",
                        pos, pos + t, capacity));
  // A quantized cache must hold exactly the tokens appended so far (kivi's
  // residual window is state): starting over at 0 starts from zeros.
  if (pos == 0 && man.kvFormat.quantized())
    for (size_t i = 0; i < im.caches.size(); ++i)
      std::memset(im.caches[i].get(), 0,
                  im.componentBytes[i % im.componentBytes.size()]);

  auto x = runEmbed(tokens);
  if (!x)
    return x.takeError();
  Activation act = *x;
  for (int64_t l = 0; l < int64_t(im.layerFns.size()); ++l) {
    auto next = runLayer(l, act.data, t, pos);
    std::free(act.allocated);
    if (!next)
      return next.takeError();
    act = *next;
  }

  // Only the rows whose logits are wanted go through the head.
  int64_t rows = allLogits ? t : 1;
  float *first = act.data + (allLogits ? 0 : (t - 1) * man.hidden);
  std::vector<Descriptor> hargs;
  hargs.emplace_back(first, ArrayRef<int64_t>{rows, man.hidden});
  for (const Buffer &b : im.headArgs)
    hargs.emplace_back(b.data, b.shape);
  Descriptor logits = Descriptor::result(2);
  SmallVector<void *> ptrs = {logits.fields.data()};
  for (Descriptor &d : hargs)
    ptrs.push_back(d.fields.data());
  Error e = callPointerFunction(im.headFn, ptrs);
  std::free(act.allocated);
  if (e)
    return std::move(e);
  std::vector<float> out(size_t(rows * man.vocab));
  float *base = logits.aligned();
  int64_t s0 = logits.stride(0, 2), s1 = logits.stride(1, 2);
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t v = 0; v < man.vocab; ++v)
      out[size_t(r * man.vocab + v)] = base[r * s0 + v * s1];
  std::free(logits.allocated());
  return out;
}
