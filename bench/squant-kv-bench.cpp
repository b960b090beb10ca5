//===- squant-kv-bench.cpp - KV-cache decode attention benchmark ----------===//
//
// Times one decode step of squant.kv_attention (one query token per query
// head attending over `context` cached tokens) compiled by
// squant-cpu-pipeline with the fast kernels, against, in the same run: the
// reference lowering (kernels=reference, squant-decompose), a plain fp32
// attention over an f32 cache (keys already rotated) compiled by the same
// pipeline, and the streaming-read roofline measured here.
//
//   squant-kv-bench [--bench-threads=2] [--formats=kvquant,kivi]
//                   [--bits=2,3,4] [--kv-heads=32,8] [--contexts=1024,4096]
//                   [--json=FILE] [--smoke]
//
// LLaMA-7B attention shapes: 32 query heads of dimension 128, batch 1; 32 KV
// heads (multi-head) or 8 (GQA 32:8). Formats: kvquant with 2 outlier slots
// per vector (1.6%) and one sink token, kivi with groups of 32 and a
// 128-token residual window; f16 scales, outlier values, sinks and residual
// buffers, i8 outlier indices, f32 tables. Every call reads a different copy
// of the cache (copies totalling 2 x LLC, at most 1 GiB), so the cache comes
// from memory, as it does when the layers of a model take turns.
//
//===----------------------------------------------------------------------===//

#include "BenchCommon.h"

#include "squant/InitSQuant.h"
#include "squant/Runtime/MemRefCall.h"

#include "mlir/Target/LLVMIR/Dialect/All.h"
#include "llvm/Support/CommandLine.h"
#include "llvm/Support/FormatVariadic.h"
#include "llvm/Support/InitLLVM.h"
#include "llvm/Support/JSON.h"
#include "llvm/Support/TargetSelect.h"
#include "llvm/Support/raw_ostream.h"

#include <cmath>
#include <cstring>

using namespace mlir;
using namespace mlir::squant;
using namespace mlir::squant::runtime;
using namespace squant_bench;
namespace cl = llvm::cl;

static cl::opt<unsigned> threadsOpt("bench-threads", cl::desc("Threads"),
                                    cl::init(2));
static cl::opt<std::string> formatsOpt("formats",
                                       cl::desc("kvquant and/or kivi"),
                                       cl::init("kvquant,kivi"));
static cl::opt<std::string> bitsOpt("bits", cl::desc("Code widths"),
                                    cl::init("2,3,4"));
static cl::opt<std::string> headsOpt("kv-heads",
                                     cl::desc("KV heads (32 query heads)"),
                                     cl::init("32,8"));
static cl::opt<std::string> contextsOpt("contexts",
                                        cl::desc("Cached tokens attended"),
                                        cl::init("1024,4096"));
static cl::opt<std::string> jsonOpt("json", cl::desc("Write JSON here"),
                                    cl::init(""));
static cl::opt<bool> smokeOpt("smoke",
                              cl::desc("Tiny shapes, few repetitions (CI)"));
static cl::opt<double>
    minSeconds("min-seconds", cl::desc("Minimum time per measurement"),
               cl::init(0.3));
static cl::opt<int64_t> refMaxContext(
    "reference-max-context",
    cl::desc("Time the reference path only up to this context"),
    cl::init(1 << 30));
static cl::opt<int64_t> coldBytesOpt(
    "cold-bytes",
    cl::desc("Bytes of cache copies cycled through (0: 2 x LLC, capped at "
             "1 GiB)"),
    cl::init(0));

namespace {

/// f32 -> IEEE half bits (round to nearest even; normal range is enough
/// here).
uint16_t toHalf(float f) {
  uint32_t x;
  std::memcpy(&x, &f, 4);
  uint32_t sign = (x >> 16) & 0x8000;
  int32_t exp = int32_t((x >> 23) & 0xff) - 127 + 15;
  uint32_t mant = x & 0x7fffff;
  if (exp <= 0)
    return uint16_t(sign);
  if (exp >= 31)
    return uint16_t(sign | 0x7c00);
  uint32_t h = sign | (uint32_t(exp) << 10) | (mant >> 13);
  uint32_t rest = mant & 0x1fff;
  if (rest > 0x1000 || (rest == 0x1000 && (h & 1)))
    ++h;
  return uint16_t(h);
}

struct Shape {
  std::string method;
  unsigned bits;
  int64_t heads, qheads = 32, dim = 128, context;
};

/// One cache tensor: MLIR element type, shape and how to fill it.
struct Component {
  std::string name, elt;
  SmallVector<int64_t> shape;
  enum Fill { Bytes, Half, HalfPositive, Index } fill;
  int64_t bytes() const {
    int64_t n = elt == "i8" ? 1 : 2;
    for (int64_t s : shape)
      n *= s;
    return n;
  }
};

std::string formatAttr(const Shape &s) {
  if (s.method == "kvquant")
    return llvm::formatv("#squant.kv_format<kvquant, bits = {0}, sink = 1, "
                         "outliers = 2>",
                         s.bits);
  return llvm::formatv("#squant.kv_format<kivi, bits = {0}, group = 32, "
                       "residual = 128>",
                       s.bits);
}

SmallVector<Component> components(const Shape &s) {
  int64_t h = s.heads, l = s.context, d = s.dim, p = d * s.bits / 8;
  SmallVector<Component> c = {{"key_codes", "i8", {1, h, l, p}, Component::Bytes},
                              {"value_codes", "i8", {1, h, l, p}, Component::Bytes}};
  if (s.method == "kvquant") {
    c.push_back({"value_scale", "f16", {1, h, l}, Component::HalfPositive});
    c.push_back({"key_outlier_values", "f16", {1, h, l, 2}, Component::Half});
    c.push_back({"key_outlier_indices", "i8", {1, h, l, 2}, Component::Index});
    c.push_back({"value_outlier_values", "f16", {1, h, l, 2}, Component::Half});
    c.push_back(
        {"value_outlier_indices", "i8", {1, h, l, 2}, Component::Index});
    c.push_back({"key_sink", "f16", {1, h, 1, d}, Component::Half});
    c.push_back({"value_sink", "f16", {1, h, 1, d}, Component::Half});
  } else {
    c.push_back({"key_scale", "f16", {1, h, l / 32, d}, Component::HalfPositive});
    c.push_back({"key_zero", "f16", {1, h, l / 32, d}, Component::Half});
    c.push_back({"value_scale", "f16", {1, h, l, d / 32}, Component::HalfPositive});
    c.push_back({"value_zero", "f16", {1, h, l, d / 32}, Component::Half});
    c.push_back({"key_residual", "f16", {1, h, 128, d}, Component::Half});
    c.push_back({"value_residual", "f16", {1, h, 128, d}, Component::Half});
  }
  return c;
}

std::string tensorType(ArrayRef<int64_t> shape, StringRef elt) {
  std::string s = "tensor<";
  for (int64_t v : shape)
    s += std::to_string(v) + "x";
  return s + elt.str() + ">";
}

/// @f(q, len, [key_lut, value_lut,] cache...) -> o, through kv_attention.
std::string mlirQuantized(const Shape &s) {
  SmallVector<Component> comps = components(s);
  std::string qt = tensorType({1, s.qheads, s.dim}, "f32");
  std::string args = "%q: " + qt + ", %lent: tensor<1xi64>";
  std::string tables;
  int64_t levels = int64_t(1) << s.bits;
  if (s.method == "kvquant") {
    std::string kl = tensorType({s.heads, s.dim, levels}, "f32");
    std::string vl = tensorType({levels}, "f32");
    args += ", %kl: " + kl + ", %vl: " + vl;
    tables = "tables(%kl, %vl : " + kl + ", " + vl + ") ";
  }
  std::string names, types;
  for (auto [i, c] : llvm::enumerate(comps)) {
    std::string t = tensorType(c.shape, c.elt);
    args += llvm::formatv(", %c{0}: {1}", i, t).str();
    names += (i ? ", " : "") + llvm::formatv("%c{0}", i).str();
    types += (i ? ", " : "") + t;
  }
  return llvm::formatv(
      "func.func @f({0}) -> {1} {{\n"
      "  %z = arith.constant 0 : index\n"
      "  %one = arith.constant 1 : index\n"
      "  %l64 = tensor.extract %lent[%z] : tensor<1xi64>\n"
      "  %len = arith.index_cast %l64 : i64 to index\n"
      "  %pos = arith.subi %len, %one : index\n"
      "  %init = tensor.empty() : {1}\n"
      "  %o = squant.kv_attention {2} query(%q : {1}) len(%len) "
      "position(%pos) {3}cache({4} : {5}) rope(half) outs(%init : {1}) -> "
      "{1}\n"
      "  return %o : {1}\n}\n",
      args, qt, formatAttr(s), tables, names, types);
}

/// Plain fp32 decode attention over an f32 cache of already rotated keys:
/// scores, max, exp-sum and the weighted values as linalg.generic ops.
std::string mlirF32(const Shape &s) {
  int64_t g = s.qheads / s.heads;
  std::string qt = tensorType({1, s.qheads, s.dim}, "f32");
  std::string kt = tensorType({1, s.heads, s.context, s.dim}, "f32");
  std::string st = tensorType({1, s.qheads, s.context}, "f32");
  std::string mt = tensorType({1, s.qheads}, "f32");
  float scale = 1.0f / std::sqrt(float(s.dim));
  return llvm::formatv(
      "func.func @f(%q: {0}, %k: {1}, %v: {1}) -> {0} {{\n"
      "  %zero = arith.constant 0.0 : f32\n"
      "  %ninf = arith.constant 0xFF800000 : f32\n"
      "  %scale = arith.constant {5:e} : f32\n"
      "  %se = tensor.empty() : {2}\n"
      "  %s0 = linalg.fill ins(%zero : f32) outs(%se : {2}) -> {2}\n"
      "  %s = linalg.generic {{indexing_maps = [affine_map<(b, h, t, d) -> "
      "(b, h, d)>, affine_map<(b, h, t, d) -> (b, h floordiv {4}, t, d)>, "
      "affine_map<(b, h, t, d) -> (b, h, t)>], iterator_types = "
      "[\"parallel\", \"parallel\", \"parallel\", \"reduction\"]} ins(%q, %k "
      ": {0}, {1}) outs(%s0 : {2}) {{\n"
      "  ^bb0(%a: f32, %x: f32, %acc: f32):\n"
      "    %p = arith.mulf %a, %x fastmath<reassoc, contract> : f32\n"
      "    %r = arith.addf %acc, %p fastmath<reassoc, contract> : f32\n"
      "    linalg.yield %r : f32\n"
      "  } -> {2}\n"
      "  %me = tensor.empty() : {3}\n"
      "  %m0 = linalg.fill ins(%ninf : f32) outs(%me : {3}) -> {3}\n"
      "  %m = linalg.generic {{indexing_maps = [affine_map<(b, h, t) -> (b, "
      "h, t)>, affine_map<(b, h, t) -> (b, h)>], iterator_types = "
      "[\"parallel\", \"parallel\", \"reduction\"]} ins(%s : {2}) outs(%m0 : "
      "{3}) {{\n"
      "  ^bb0(%x: f32, %acc: f32):\n"
      "    %r = arith.maximumf %acc, %x : f32\n"
      "    linalg.yield %r : f32\n"
      "  } -> {3}\n"
      "  %pe = tensor.empty() : {2}\n"
      "  %p = linalg.generic {{indexing_maps = [affine_map<(b, h, t) -> (b, "
      "h, t)>, affine_map<(b, h, t) -> (b, h)>, affine_map<(b, h, t) -> (b, "
      "h, t)>], iterator_types = [\"parallel\", \"parallel\", \"parallel\"]} "
      "ins(%s, %m : {2}, {3}) outs(%pe : {2}) {{\n"
      "  ^bb0(%x: f32, %mx: f32, %o: f32):\n"
      "    %dx = arith.subf %x, %mx : f32\n"
      "    %sx = arith.mulf %dx, %scale : f32\n"
      "    %e = math.exp %sx : f32\n"
      "    linalg.yield %e : f32\n"
      "  } -> {2}\n"
      "  %l0 = linalg.fill ins(%zero : f32) outs(%me : {3}) -> {3}\n"
      "  %l = linalg.generic {{indexing_maps = [affine_map<(b, h, t) -> (b, "
      "h, t)>, affine_map<(b, h, t) -> (b, h)>], iterator_types = "
      "[\"parallel\", \"parallel\", \"reduction\"]} ins(%p : {2}) outs(%l0 : "
      "{3}) {{\n"
      "  ^bb0(%x: f32, %acc: f32):\n"
      "    %r = arith.addf %acc, %x : f32\n"
      "    linalg.yield %r : f32\n"
      "  } -> {3}\n"
      "  %oe = tensor.empty() : {0}\n"
      "  %o0 = linalg.fill ins(%zero : f32) outs(%oe : {0}) -> {0}\n"
      "  %o1 = linalg.generic {{indexing_maps = [affine_map<(b, h, d, t) -> "
      "(b, h, t)>, affine_map<(b, h, d, t) -> (b, h floordiv {4}, t, d)>, "
      "affine_map<(b, h, d, t) -> (b, h, d)>], iterator_types = "
      "[\"parallel\", \"parallel\", \"parallel\", \"reduction\"]} ins(%p, %v "
      ": {2}, {1}) outs(%o0 : {0}) {{\n"
      "  ^bb0(%a: f32, %x: f32, %acc: f32):\n"
      "    %pr = arith.mulf %a, %x fastmath<reassoc, contract> : f32\n"
      "    %r = arith.addf %acc, %pr fastmath<reassoc, contract> : f32\n"
      "    linalg.yield %r : f32\n"
      "  } -> {0}\n"
      "  %o = linalg.generic {{indexing_maps = [affine_map<(b, h, d) -> (b, "
      "h, d)>, affine_map<(b, h, d) -> (b, h)>, affine_map<(b, h, d) -> (b, "
      "h, d)>], iterator_types = [\"parallel\", \"parallel\", \"parallel\"]} "
      "ins(%o1, %l : {0}, {3}) outs(%oe : {0}) {{\n"
      "  ^bb0(%x: f32, %y: f32, %w: f32):\n"
      "    %r = arith.divf %x, %y : f32\n"
      "    linalg.yield %r : f32\n"
      "  } -> {0}\n"
      "  return %o : {0}\n}\n",
      qt, kt, st, mt, g, scale);
}

struct Result {
  Shape shape;
  int64_t cacheBytes, f32Bytes;
  double fastS, fastBestS, refS, f32S; // refS < 0: not measured
};

int fail(const llvm::Twine &msg) {
  llvm::errs() << "squant-kv-bench: error: " << msg << "\n";
  return 1;
}

/// Fills `n` elements of a component.
void fillComponent(const Component &c, void *p, int64_t n, Rng &rng,
                   int64_t dim) {
  switch (c.fill) {
  case Component::Bytes: {
    auto *b = static_cast<uint8_t *>(p);
    for (int64_t i = 0; i < n; ++i)
      b[i] = uint8_t(rng.next());
    break;
  }
  case Component::Index: {
    auto *b = static_cast<uint8_t *>(p);
    for (int64_t i = 0; i < n; ++i)
      b[i] = uint8_t(rng.next() % uint64_t(dim));
    break;
  }
  case Component::Half:
  case Component::HalfPositive: {
    auto *h = static_cast<uint16_t *>(p);
    bool positive = c.fill == Component::HalfPositive;
    for (int64_t i = 0; i < n; ++i) {
      float x = rng.uniform();
      h[i] = toHalf(positive ? 0.05f + 0.5f * std::fabs(x) : 2 * x);
    }
    break;
  }
  }
}

} // namespace

int main(int argc, char **argv) {
  llvm::InitLLVM init(argc, argv);
  cl::ParseCommandLineOptions(argc, argv,
                              "squant KV-cache decode attention benchmark\n");
  llvm::InitializeNativeTarget();
  llvm::InitializeNativeTargetAsmPrinter();
  DialectRegistry registry;
  registerSQuantDialects(registry);
  registerAllToLLVMIRTranslations(registry);
  MLIRContext ctx(registry);
  ctx.loadAllAvailableDialects();

  unsigned threads = threadsOpt;
  if (threads == 0)
    return fail("--bench-threads must be at least 1");
  std::vector<Shape> shapes;
  double minSec = minSeconds;
  if (smokeOpt) {
    for (std::string method : {"kvquant", "kivi"})
      for (int64_t heads : {4, 1})
        shapes.push_back({method, 3, heads, 4, 32, 160});
    minSec = 0.0;
  } else {
    SmallVector<std::string> formats = splitList(formatsOpt);
    for (const std::string &f : formats)
      if (f != "kvquant" && f != "kivi")
        return fail("bad --formats value '" + f + "' (kvquant, kivi)");
    SmallVector<unsigned> bitsList;
    for (const std::string &s : splitList(bitsOpt)) {
      unsigned v;
      if (StringRef(s).getAsInteger(10, v) || v < 2 || v > 4)
        return fail("bad --bits value '" + s + "' (2, 3 or 4)");
      bitsList.push_back(v);
    }
    SmallVector<int64_t> headsList, contexts;
    for (const std::string &s : splitList(headsOpt)) {
      int64_t v;
      if (StringRef(s).getAsInteger(10, v) || v <= 0 || 32 % v != 0)
        return fail("bad --kv-heads value '" + s + "' (a divisor of 32)");
      headsList.push_back(v);
    }
    for (const std::string &s : splitList(contextsOpt)) {
      int64_t v;
      if (StringRef(s).getAsInteger(10, v) || v < 256 || v % 128 != 0)
        return fail("bad --contexts value '" + s +
                    "' (a multiple of 128, at least 256)");
      contexts.push_back(v);
    }
    for (const std::string &f : formats)
      for (unsigned bits : bitsList)
        for (int64_t h : headsList)
          for (int64_t l : contexts)
            shapes.push_back({f, bits, h, 32, 128, l});
  }

  int64_t llc = llcBytes();
  int64_t coldBytes = coldBytesOpt > 0
                          ? int64_t(coldBytesOpt)
                          : std::min<int64_t>(2 * llc, int64_t(1) << 30);
  if (smokeOpt)
    coldBytes = 1 << 20;
  double roofline = measureRoofline(
      size_t(std::max<int64_t>(coldBytes, 1 << 20)), threads);
  std::string model = cpuModel();
  std::string target = stringifyCPUTarget(detectHostCPUTarget()).str();
  std::string load = loadAverage();
  llvm::outs() << llvm::formatv(
      "machine: {0}; {1} threads; LLC {2} MiB; target={3}; measured read "
      "roofline {4:F1} GB/s (streaming read of {5} MiB); load average {6}\n",
      model, threads, llc >> 20, target, roofline, coldBytes >> 20, load);
  llvm::outs() << llvm::formatv(
      "{0,-8} {1,2} {2,6} {3,6} {4,9} {5,9} {6,7} {7,7} {8,9} {9,7} {10,10} "
      "{11,8} {12,9} {13,8}\n",
      "format", "B", "Hq:H", "ctx", "cache MB", "fast ms", "GB/s", "%roof",
      "best ms", "%roof", "ref ms", "ref/x", "f32 ms", "f32/x");

  std::string fastOpts = "kernels=fast threads=" + std::to_string(threads);
  std::vector<Result> results;
  for (const Shape &s : shapes) {
    SmallVector<Component> comps = components(s);
    int64_t levels = int64_t(1) << s.bits;
    int64_t cacheBytes = 0;
    for (const Component &c : comps)
      cacheBytes += c.bytes();
    int64_t copies = std::clamp<int64_t>(
        (coldBytes + cacheBytes - 1) / cacheBytes, 1, 256);
    Rng rng(uint64_t(s.bits * 1000 + s.heads * 10 + s.context) +
            (s.method == "kivi" ? 7 : 0));
    // copies x components
    std::vector<std::vector<Buffer>> caches(copies);
    for (auto &copy : caches)
      for (const Component &c : comps) {
        copy.emplace_back(size_t(c.bytes()));
        fillComponent(c, copy.back().p, c.bytes() / (c.elt == "i8" ? 1 : 2),
                      rng, s.dim);
      }
    Buffer q(size_t(s.qheads * s.dim) * 4), lenBuf(8);
    for (int64_t i = 0; i < s.qheads * s.dim; ++i)
      q.as<float>()[i] = rng.uniform();
    *lenBuf.as<int64_t>() = s.context;
    Buffer klut(size_t(s.heads * s.dim * levels) * 4), vlut(size_t(levels) * 4);
    for (int64_t i = 0; i < s.heads * s.dim; ++i)
      for (int64_t k = 0; k < levels; ++k)
        klut.as<float>()[i * levels + k] =
            -2.0f + 4.0f * float(k) / float(levels - 1) + 0.1f * rng.uniform();
    for (int64_t k = 0; k < levels; ++k)
      vlut.as<float>()[k] = -1.0f + 2.0f * float(k) / float(levels - 1);

    std::string src = mlirQuantized(s);
    llvm::Error firstErr = llvm::Error::success();
    auto call = [&](Compiled &cmp, int64_t copy) {
      SmallVector<MemRefArg> args = {{q.p, {1, s.qheads, s.dim}},
                                     {lenBuf.p, {1}}};
      if (s.method == "kvquant") {
        args.push_back({klut.p, {s.heads, s.dim, levels}});
        args.push_back({vlut.p, {levels}});
      }
      for (auto [c, buf] : llvm::zip(comps, caches[copy % copies]))
        args.push_back({buf.p, c.shape});
      auto res = callMemRefFunction(*cmp.engine, "f", args, {3});
      if (res)
        std::free((*res)[0].allocated);
      else if (!firstErr)
        firstErr = res.takeError();
      else
        llvm::consumeError(res.takeError());
    };
    auto fast = compile(ctx, src, "f", fastOpts);
    if (!fast)
      return fail("fast: " + llvm::toString(fast.takeError()));
    Result r{s, cacheBytes, 0, 0, 0, -1, 0};
    Timing ft = timeCalls([&](int i) { call(*fast, i); }, minSec,
                          smokeOpt ? 3 : 1000);
    r.fastS = ft.median;
    r.fastBestS = ft.best;
    if (s.context <= refMaxContext) {
      auto ref = compile(ctx, src, "f", "kernels=reference");
      if (!ref)
        return fail("reference: " + llvm::toString(ref.takeError()));
      r.refS = timeCalls([&](int i) { call(*ref, i); }, 0.0, smokeOpt ? 1 : 2)
                   .median;
    }
    if (firstErr)
      return fail(llvm::toString(std::move(firstErr)));
    caches.clear();

    // fp32 attention over an f32 cache, same pipeline.
    {
      int64_t kvBytes = s.heads * s.context * s.dim * 4;
      r.f32Bytes = 2 * kvBytes;
      int64_t fCopies = std::clamp<int64_t>(
          (coldBytes + r.f32Bytes - 1) / r.f32Bytes, 1, 64);
      std::vector<Buffer> ks, vs;
      for (int64_t c = 0; c < fCopies; ++c) {
        ks.emplace_back(size_t(kvBytes));
        vs.emplace_back(size_t(kvBytes));
        for (int64_t i = 0; i < kvBytes / 4; ++i) {
          ks.back().as<float>()[i] = rng.uniform();
          vs.back().as<float>()[i] = rng.uniform();
        }
      }
      auto dense = compile(ctx, mlirF32(s), "f", fastOpts);
      if (!dense)
        return fail("f32: " + llvm::toString(dense.takeError()));
      r.f32S = timeCalls(
                   [&](int i) {
                     SmallVector<MemRefArg> args = {
                         {q.p, {1, s.qheads, s.dim}},
                         {ks[i % fCopies].p, {1, s.heads, s.context, s.dim}},
                         {vs[i % fCopies].p, {1, s.heads, s.context, s.dim}}};
                     auto res =
                         callMemRefFunction(*dense->engine, "f", args, {3});
                     if (res)
                       std::free((*res)[0].allocated);
                     else if (!firstErr)
                       firstErr = res.takeError();
                     else
                       llvm::consumeError(res.takeError());
                   },
                   smokeOpt ? 0.0 : minSec, smokeOpt ? 2 : 20)
                   .median;
      if (firstErr)
        return fail(llvm::toString(std::move(firstErr)));
    }

    double gbs = double(cacheBytes) / r.fastS / 1e9;
    double bestGbs = double(cacheBytes) / r.fastBestS / 1e9;
    llvm::outs() << llvm::formatv(
        "{0,-8} {1,2} {2,6} {3,6} {4,9:F2} {5,9:F3} {6,7:F1} {7,6:F0}% "
        "{8,9:F3} {9,6:F0}% {10,10} {11,8} {12,9:F2} {13,8:F1}\n",
        s.method, s.bits,
        std::to_string(s.qheads) + ":" + std::to_string(s.heads), s.context,
        cacheBytes / 1e6, r.fastS * 1e3, gbs, 100 * gbs / roofline,
        r.fastBestS * 1e3, 100 * bestGbs / roofline,
        r.refS < 0 ? std::string("-")
                   : llvm::formatv("{0:F1}", r.refS * 1e3).str(),
        r.refS < 0 ? std::string("-")
                   : llvm::formatv("{0:F0}", r.refS / r.fastS).str(),
        r.f32S * 1e3, r.f32S / r.fastS);
    llvm::outs().flush();
    results.push_back(r);
  }

  if (!jsonOpt.empty()) {
    std::error_code ec;
    llvm::raw_fd_ostream os(jsonOpt, ec);
    if (ec)
      return fail("cannot write " + jsonOpt + ": " + ec.message());
    llvm::json::OStream j(os, 2);
    j.object([&] {
      j.attribute("cpu", model);
      j.attribute("threads", int64_t(threads));
      j.attribute("target", target);
      j.attribute("llc_bytes", llc);
      j.attribute("roofline_gbps", roofline);
      j.attribute("load_average", load);
      j.attributeArray("results", [&] {
        for (const Result &r : results)
          j.object([&] {
            j.attribute("format", r.shape.method);
            j.attribute("bits", int64_t(r.shape.bits));
            j.attribute("query_heads", r.shape.qheads);
            j.attribute("kv_heads", r.shape.heads);
            j.attribute("head_dim", r.shape.dim);
            j.attribute("context", r.shape.context);
            j.attribute("cache_bytes", r.cacheBytes);
            j.attribute("fast_ms", r.fastS * 1e3);
            j.attribute("fast_best_ms", r.fastBestS * 1e3);
            double gbs = double(r.cacheBytes) / r.fastS / 1e9;
            j.attribute("fast_gbps", gbs);
            j.attribute("roofline_fraction", gbs / roofline);
            if (r.refS >= 0) {
              j.attribute("reference_ms", r.refS * 1e3);
              j.attribute("reference_over_fast", r.refS / r.fastS);
            }
            j.attribute("f32_cache_bytes", r.f32Bytes);
            j.attribute("f32_ms", r.f32S * 1e3);
            j.attribute("f32_over_fast", r.f32S / r.fastS);
          });
      });
    });
    os << "\n";
  }
  return 0;
}
