//===- squant-bench.cpp - LUT matvec/matmul benchmark ---------------------===//
//
// Times squant.lut_matmul compiled by squant-cpu-pipeline (kernels=fast)
// against, in the same run: a dense f32 matmul compiled by the same
// pipeline, the reference lowering (kernels=reference, squant-decompose),
// and the read-bandwidth roofline measured here (a streaming read of a
// buffer larger than the last-level cache, same thread count).
//
//   squant-bench [--bench-threads=2] [--shapes=4096x4096,...] [--bits=3,4]
//                [--rows=1,4,16] [--outliers=0,0.0045] [--json=FILE] [--smoke]
//                [--ggml]
//
// Shapes are N x K (output rows x inputs). Weights are row_major packed
// words (the CPU layout; SqueezeLLM checkpoints are re-laid out into it at
// load time), per-channel f32 tables, and CSR outliers. Every call reads a
// different copy of the weights, so that the weights come from memory and
// not from the last-level cache.
//
// --ggml: ggml-style affine groups of 32 codes (4 or 8 bits; Q4_0/Q8_0 with an
// f16 scale and f32 zero per group) instead of per-channel tables. The fast
// kernel then computes the entries from scale and zero (squant.build_lut
// affine fused into lut_matmul); the baseline in the "tables" columns is the
// same kernel family reading per-group tables built beforehand (what the
// driver did before the fusion: 2 or 32 bytes of table per weight). The
// reference lowering is not timed in this mode.
//
//===----------------------------------------------------------------------===//

#include "BenchCommon.h"

#include "squant/InitSQuant.h"
#include "squant/Pipelines/Pipelines.h"
#include "squant/Runtime/MemRefCall.h"

#include "mlir/ExecutionEngine/ExecutionEngine.h"
#include "mlir/ExecutionEngine/OptUtils.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/Parser/Parser.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Target/LLVMIR/Dialect/All.h"
#include "llvm/ADT/StringExtras.h"
#include "llvm/Support/CommandLine.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/Format.h"
#include "llvm/Support/FormatVariadic.h"
#include "llvm/Support/InitLLVM.h"
#include "llvm/Support/JSON.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/TargetSelect.h"
#include "llvm/Support/raw_ostream.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <thread>
#include <unistd.h>

using namespace mlir;
using namespace mlir::squant;
using namespace mlir::squant::runtime;
using namespace squant_bench;
namespace cl = llvm::cl;

static cl::opt<unsigned> threadsOpt("bench-threads", cl::desc("Threads"),
                                    cl::init(2));
static cl::opt<std::string>
    shapesOpt("shapes", cl::desc("N x K shapes, comma separated"),
              cl::init("4096x4096,11008x4096,4096x11008,4096x14336"));
static cl::opt<std::string> bitsOpt("bits", cl::desc("Code widths"),
                                    cl::init("3,4"));
static cl::opt<std::string> msOpt("rows", cl::desc("Rows of x"),
                                  cl::init("1,4,16"));
static cl::opt<std::string>
    outliersOpt("outliers", cl::desc("Outlier fractions"),
                cl::init("0,0.0045"));
static cl::opt<std::string> jsonOpt("json", cl::desc("Write JSON here"),
                                    cl::init(""));
static cl::opt<bool> smokeOpt("smoke",
                              cl::desc("Tiny shapes, few repetitions (CI)"));
static cl::opt<unsigned> refMaxM(
    "reference-max-m",
    cl::desc("Time the reference path only for M up to this"), cl::init(16));
static cl::opt<double>
    minSeconds("min-seconds", cl::desc("Minimum time per measurement"),
               cl::init(0.3));
static cl::opt<bool> ggmlOpt(
    "ggml", cl::desc("ggml affine groups of 32 (fused) against per-group "
                     "tables (read)"));
static cl::opt<int64_t> coldBytesOpt(
    "cold-bytes",
    cl::desc("Bytes of weight copies cycled through (0: 2 x LLC, capped at "
             "1 GiB)"),
    cl::init(0));

namespace {

struct Result {
  int64_t n, k, m;
  unsigned bits;
  double outliers;
  int64_t weightBytes, nnz;
  double fastS, fastBestS, denseS, refS; // refS < 0: not measured
  double tablesS = -1; // --ggml: per-group tables read (< 0: not measured)
};

/// How lut_matmul gets its table: a per-channel table argument, per-group
/// (32 codes) tables as an argument, or built by squant.build_lut affine
/// from per-group f16 scales and f32 zeros.
enum class Tables { Channel, Groups, Affine };

std::string mlirFast(int64_t m, int64_t n, int64_t k, unsigned bits,
                     int64_t nnz, Tables tables = Tables::Channel) {
  int64_t kw = (k * bits + 31) / 32, g = k / 32;
  std::string lutType =
      tables == Tables::Channel
          ? llvm::formatv("tensor<{0}x{1}xf32>", n, 1 << bits).str()
          : llvm::formatv("tensor<{0}x{1}x{2}xf32>", n, g, 1 << bits).str();
  std::string s =
      "#CSR = #sparse_tensor.encoding<{map = (d0, d1) -> (d0 : dense, d1 : "
      "compressed), posWidth = 32, crdWidth = 32}>\n";
  s += llvm::formatv("func.func @f(%x: tensor<{0}x{2}xf32>, %w: "
                     "tensor<{1}x{3}xi32>",
                     m, n, k, kw);
  if (tables == Tables::Affine)
    s += llvm::formatv(", %s: tensor<{0}x{1}xf16>, %z: tensor<{0}x{1}xf32>",
                       n, g);
  else
    s += ", %lut: " + lutType;
  if (nnz)
    s += llvm::formatv(", %rows: tensor<{0}xi32>, %cols: tensor<{1}xi32>, "
                       "%vals: tensor<{1}xf32>",
                       n + 1, nnz);
  s += llvm::formatv(") -> tensor<{0}x{1}xf32> {{\n", m, n);
  s += llvm::formatv("  %ce = tensor.empty() : tensor<{0}x{1}xi{2}>\n"
                     "  %c = squant.unpack row_major ins(%w : "
                     "tensor<{0}x{3}xi32>) outs(%ce : tensor<{0}x{1}xi{2}>) "
                     "-> tensor<{0}x{1}xi{2}>\n",
                     n, k, bits, kw);
  if (tables == Tables::Affine)
    s += llvm::formatv("  %le = tensor.empty() : {2}\n"
                       "  %lut = squant.build_lut affine scale(%s : "
                       "tensor<{0}x{1}xf16>) zero(%z : tensor<{0}x{1}xf32>) "
                       "outs(%le : {2}) -> {2}\n",
                       n, g, lutType);
  std::string outl;
  if (nnz) {
    s += llvm::formatv("  %S = sparse_tensor.assemble (%rows, %cols), %vals "
                       ": (tensor<{0}xi32>, tensor<{1}xi32>), tensor<{1}xf32> "
                       "to tensor<{2}x{3}xf32, #CSR>\n",
                       n + 1, nnz, n, k);
    outl = llvm::formatv(" outliers(%S : tensor<{0}x{1}xf32, #CSR>)", n, k);
  }
  s += llvm::formatv(
      "  %ye = tensor.empty() : tensor<{0}x{1}xf32>\n"
      "  %y = squant.lut_matmul ins(%x, %c, %lut : tensor<{0}x{2}xf32>, "
      "tensor<{1}x{2}xi{3}>, {4}){5} outs(%ye : "
      "tensor<{0}x{1}xf32>) -> tensor<{0}x{1}xf32>\n"
      "  return %y : tensor<{0}x{1}xf32>\n}\n",
      m, n, k, bits, lutType, outl);
  return s;
}

std::string mlirDense(int64_t m, int64_t n, int64_t k) {
  return llvm::formatv(
      "func.func @f(%x: tensor<{0}x{2}xf32>, %w: tensor<{1}x{2}xf32>) -> "
      "tensor<{0}x{1}xf32> {{\n"
      "  %z = arith.constant 0.0 : f32\n"
      "  %e = tensor.empty() : tensor<{0}x{1}xf32>\n"
      "  %i = linalg.fill ins(%z : f32) outs(%e : tensor<{0}x{1}xf32>) -> "
      "tensor<{0}x{1}xf32>\n"
      "  %y = linalg.generic {{indexing_maps = [affine_map<(m, n, k) -> (m, "
      "k)>, affine_map<(m, n, k) -> (n, k)>, affine_map<(m, n, k) -> (m, "
      "n)>], iterator_types = [\"parallel\", \"parallel\", \"reduction\"]} "
      "ins(%x, %w : tensor<{0}x{2}xf32>, tensor<{1}x{2}xf32>) outs(%i : "
      "tensor<{0}x{1}xf32>) {{\n"
      "  ^bb0(%a: f32, %b: f32, %c: f32):\n"
      "    %p = arith.mulf %a, %b fastmath<reassoc, contract> : f32\n"
      "    %s = arith.addf %c, %p fastmath<reassoc, contract> : f32\n"
      "    linalg.yield %s : f32\n"
      "  } -> tensor<{0}x{1}xf32>\n"
      "  return %y : tensor<{0}x{1}xf32>\n}\n",
      m, n, k);
}


int fail(const llvm::Twine &msg) {
  llvm::errs() << "squant-bench: error: " << msg << "\n";
  return 1;
}

} // namespace

int main(int argc, char **argv) {
  llvm::InitLLVM init(argc, argv);
  cl::ParseCommandLineOptions(argc, argv, "squant LUT matmul benchmark\n");
  llvm::InitializeNativeTarget();
  llvm::InitializeNativeTargetAsmPrinter();
  DialectRegistry registry;
  registerSQuantDialects(registry);
  registerAllToLLVMIRTranslations(registry);
  MLIRContext ctx(registry);
  ctx.loadAllAvailableDialects();

  unsigned threads = threadsOpt;
  if (threads == 0)
    return fail("--threads must be at least 1");
  std::vector<std::pair<int64_t, int64_t>> shapes;
  std::vector<unsigned> bitsList;
  std::vector<int64_t> msList;
  std::vector<double> outlierList;
  double minSec = minSeconds;
  if (smokeOpt) {
    shapes = {{64, 128}, {33, 96}};
    bitsList = ggmlOpt ? std::vector<unsigned>{4, 8} : std::vector<unsigned>{3, 4};
    msList = {1, 3};
    outlierList = {0, 0.01};
    minSec = 0.0;
  } else {
    for (const std::string &s : splitList(shapesOpt)) {
      auto [a, b] = StringRef(s).split('x');
      int64_t n, k;
      if (a.getAsInteger(10, n) || b.getAsInteger(10, k) || n <= 0 || k <= 0)
        return fail("bad shape '" + s + "' (expected NxK)");
      if (ggmlOpt && k % 32 != 0)
        return fail("bad shape '" + s + "': --ggml needs K a multiple of 32");
      shapes.push_back({n, k});
    }
    for (const std::string &s : splitList(bitsOpt)) {
      unsigned b;
      if (ggmlOpt ? (StringRef(s).getAsInteger(10, b) || (b != 4 && b != 8))
                  : (StringRef(s).getAsInteger(10, b) || b < 2 || b > 4))
        return fail("bad --bits value '" + s +
                    (ggmlOpt ? "' (4 or 8 with --ggml)" : "' (2, 3 or 4)"));
      bitsList.push_back(b);
    }
    for (const std::string &s : splitList(msOpt)) {
      int64_t m;
      if (StringRef(s).getAsInteger(10, m) || m <= 0)
        return fail("bad --m value '" + s + "'");
      msList.push_back(m);
    }
    for (const std::string &s : splitList(outliersOpt)) {
      double f;
      if (StringRef(s).getAsDouble(f) || f < 0 || f > 0.5)
        return fail("bad --outliers value '" + s + "'");
      outlierList.push_back(f);
    }
  }

  int64_t llc = llcBytes();
  int64_t coldBytes = coldBytesOpt > 0
                          ? int64_t(coldBytesOpt)
                          : std::min<int64_t>(2 * llc, int64_t(1) << 30);
  if (smokeOpt)
    coldBytes = 1 << 20;
  double roofline = measureRoofline(size_t(std::max<int64_t>(coldBytes, 1 << 20)),
                                    threads);
  std::string model = cpuModel();
  std::string target =
      stringifyCPUTarget(detectHostCPUTarget()).str();
  std::string load = "?";
  if (auto la = llvm::MemoryBuffer::getFileAsStream("/proc/loadavg"))
    load = (*la)->getBuffer().split(' ').first.str();
  llvm::outs() << llvm::formatv(
      "machine: {0}; {1} threads; LLC {2} MiB; target={3}; measured read "
      "roofline {4:F1} GB/s (streaming read of {5} MiB); load average {6}\n",
      model, threads, llc >> 20, target, roofline, coldBytes >> 20, load);
  llvm::outs() << llvm::formatv(
      "{0,-11} {1,2} {2,3} {3,6} {4,9} {5,9} {6,7} {7,7} {12,9} {13,7} "
      "{8,9} {9,8} {10,10} {11,8}\n",
      "N x K", "B", "M", "outl", "weight MB", "fast ms", "GB/s", "%roof",
      "dense ms", "dense/x", ggmlOpt ? "tables ms" : "ref ms",
      ggmlOpt ? "tables/x" : "ref/x", "best ms", "%roof");

  std::vector<Result> results;
  std::string fastOpts = "kernels=fast threads=" + std::to_string(threads);
  for (auto [n, k] : shapes) {
    for (unsigned bits : bitsList) {
      int64_t kw = (k * bits + 31) / 32, g = k / 32;
      bool ggml = ggmlOpt;
      // --ggml: the fast kernel reads f16 scales and f32 zeros per group; the
      // baseline reads per-group tables.
      int64_t codeBytes = n * kw * 4,
              lutBytes = (ggml ? n * g : n) * (int64_t(1) << bits) * 4,
              affineBytes = ggml ? n * g * 6 : 0;
      for (double outl : outlierList) {
        // Weights: copies of packed words and tables; one CSR.
        int64_t nnz = outl > 0 ? std::max<int64_t>(1, llround(outl * n * k))
                               : 0;
        int64_t outlierBytes = nnz ? nnz * 8 + (n + 1) * 4 : 0;
        int64_t weightBytes =
            codeBytes + (ggml ? affineBytes : lutBytes) + outlierBytes;
        int64_t tableWeightBytes = codeBytes + lutBytes + outlierBytes;
        auto copiesFor = [&](int64_t bytes) {
          return std::clamp<int64_t>((coldBytes + bytes - 1) / bytes, 1, 256);
        };
        int64_t copies = copiesFor(weightBytes),
                lutCopies = copiesFor(tableWeightBytes);
        Rng rng(n * 131 + k * 7 + bits);
        std::vector<Buffer> words, luts, scales, zeros;
        for (int64_t c = 0; c < copies; ++c) {
          words.emplace_back(size_t(codeBytes));
          uint32_t *wp = words.back().as<uint32_t>();
          for (int64_t i = 0; i < n * kw; ++i)
            wp[i] = uint32_t(rng.next());
          if (!ggml)
            continue;
          scales.emplace_back(size_t(n * g * 2));
          zeros.emplace_back(size_t(n * g * 4));
          for (int64_t i = 0; i < n * g; ++i) {
            // f16 scales in [2^-7, 2^-6); ggml's implicit zero points.
            scales.back().as<uint16_t>()[i] =
                uint16_t(0x2000 + rng.next() % 0x400);
            zeros.back().as<float>()[i] = bits == 8 ? 128.0f : 8.0f;
          }
        }
        for (int64_t c = 0; c < (ggml ? lutCopies : copies); ++c) {
          luts.emplace_back(size_t(lutBytes));
          float *lp = luts.back().as<float>();
          for (int64_t i = 0; i < lutBytes / 4; ++i)
            lp[i] = rng.uniform();
        }
        Buffer rows(size_t(n + 1) * 4), cols(size_t(std::max<int64_t>(nnz, 1)) * 4),
            vals(size_t(std::max<int64_t>(nnz, 1)) * 4);
        if (nnz) {
          int32_t *r = rows.as<int32_t>(), *cc = cols.as<int32_t>();
          float *v = vals.as<float>();
          r[0] = 0;
          int64_t p = 0;
          for (int64_t row = 0; row < n; ++row) {
            int64_t cnt = nnz * (row + 1) / n - nnz * row / n;
            // cnt distinct sorted columns: evenly spaced with jitter.
            for (int64_t j = 0; j < cnt; ++j) {
              int64_t lo = k * j / cnt, hi = k * (j + 1) / cnt;
              cc[p] = int32_t(lo + int64_t(rng.next() % uint64_t(hi - lo)));
              v[p++] = rng.uniform() * 4;
            }
            r[row + 1] = int32_t(p);
          }
        }
        for (int64_t m : msList) {
          Buffer x(size_t(m * k) * 4);
          for (int64_t i = 0; i < m * k; ++i)
            x.as<float>()[i] = rng.uniform();
          Tables fastTables = ggml ? Tables::Affine : Tables::Channel;
          std::string src = mlirFast(m, n, k, bits, nnz, fastTables);
          auto call = [&](Compiled &cmp, int64_t copy,
                          Tables tables) -> llvm::Error {
            SmallVector<MemRefArg> args = {{x.p, {m, k}},
                                           {words[copy % copies].p, {n, kw}}};
            if (tables == Tables::Affine) {
              args.push_back({scales[copy % copies].p, {n, g}});
              args.push_back({zeros[copy % copies].p, {n, g}});
            } else if (tables == Tables::Groups) {
              args.push_back(
                  {luts[copy % lutCopies].p, {n, g, int64_t(1) << bits}});
            } else {
              args.push_back({luts[copy % copies].p, {n, int64_t(1) << bits}});
            }
            if (nnz) {
              args.push_back({rows.p, {n + 1}});
              args.push_back({cols.p, {nnz}});
              args.push_back({vals.p, {nnz}});
            }
            auto res = callMemRefFunction(*cmp.engine, "f", args, {2});
            if (!res)
              return res.takeError();
            std::free((*res)[0].allocated);
            return llvm::Error::success();
          };
          llvm::Error firstErr = llvm::Error::success();
          auto timed = [&](Compiled &cmp, double sec, int reps,
                           Tables tables) {
            return timeCalls(
                [&](int i) {
                  if (llvm::Error e = call(cmp, i, tables)) {
                    if (!firstErr)
                      firstErr = std::move(e);
                    else
                      llvm::consumeError(std::move(e));
                  }
                },
                sec, reps);
          };
          auto fast = compile(ctx, src, "f", fastOpts);
          if (!fast)
            return fail("fast: " + llvm::toString(fast.takeError()));
          Result r{n, k, m, bits, outl, weightBytes, nnz, 0, 0, 0, -1};
          Timing ft = timed(*fast, minSec, smokeOpt ? 3 : 1000, fastTables);
          r.fastS = ft.median;
          r.fastBestS = ft.best;
          if (ggml) {
            auto tab = compile(ctx, mlirFast(m, n, k, bits, nnz, Tables::Groups),
                               "f", fastOpts);
            if (!tab)
              return fail("tables: " + llvm::toString(tab.takeError()));
            r.tablesS = timed(*tab, minSec, smokeOpt ? 3 : 1000,
                              Tables::Groups).median;
          } else if (m <= int64_t(refMaxM)) {
            auto ref = compile(ctx, src, "f", "kernels=reference");
            if (!ref)
              return fail("reference: " + llvm::toString(ref.takeError()));
            r.refS = timed(*ref, 0.0, smokeOpt ? 1 : 2, fastTables).median;
          }
          if (firstErr)
            return fail(llvm::toString(std::move(firstErr)));

          // Dense f32 with the same shapes (outliers do not apply).
          {
            int64_t dBytes = n * k * 4;
            int64_t dCopies = std::clamp<int64_t>(
                (coldBytes + dBytes - 1) / dBytes, 1, 64);
            std::vector<Buffer> dense;
            for (int64_t c = 0; c < dCopies; ++c) {
              dense.emplace_back(size_t(dBytes));
              float *d = dense.back().as<float>();
              for (int64_t i = 0; i < n * k; ++i)
                d[i] = rng.uniform();
            }
            auto dn = compile(ctx, mlirDense(m, n, k), "f", fastOpts);
            if (!dn)
              return fail("dense: " + llvm::toString(dn.takeError()));
            r.denseS = timeCalls(
                [&](int i) {
                  SmallVector<MemRefArg> args = {
                      {x.p, {m, k}}, {dense[i % dCopies].p, {n, k}}};
                  auto res = callMemRefFunction(*dn->engine, "f", args, {2});
                  if (res)
                    std::free((*res)[0].allocated);
                  else if (!firstErr)
                    firstErr = res.takeError();
                  else
                    llvm::consumeError(res.takeError());
                },
                smokeOpt ? 0.0 : minSec, smokeOpt ? 2 : 50).median;
            if (firstErr)
              return fail(llvm::toString(std::move(firstErr)));
          }
          double base = ggml ? r.tablesS : r.refS;
          double gbs = double(weightBytes) / r.fastS / 1e9;
          double bestGbs = double(weightBytes) / r.fastBestS / 1e9;
          llvm::outs() << llvm::formatv(
              "{0,-11} {1,2} {2,3} {3,6} {4,9:F2} {5,9:F3} {6,7:F1} {7,6:F0}% "
              "{12,9:F3} {13,6:F0}% {8,9:F2} {9,8:F1} {10,10} {11,8}\n",
              std::to_string(n) + "x" + std::to_string(k), bits, m,
              llvm::formatv("{0:F2}%", outl * 100).str(), weightBytes / 1e6,
              r.fastS * 1e3, gbs, 100 * gbs / roofline, r.denseS * 1e3,
              r.denseS / r.fastS,
              base < 0 ? std::string("-")
                       : llvm::formatv("{0:F2}", base * 1e3).str(),
              base < 0 ? std::string("-")
                       : llvm::formatv("{0:F1}", base / r.fastS).str(),
              r.fastBestS * 1e3, 100 * bestGbs / roofline);
          llvm::outs().flush();
          results.push_back(r);
        }
      }
    }
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
      j.attribute("mode", ggmlOpt ? "ggml" : "lut");
      j.attributeArray("results", [&] {
        for (const Result &r : results)
          j.object([&] {
            j.attribute("n", r.n);
            j.attribute("k", r.k);
            j.attribute("m", r.m);
            j.attribute("bits", int64_t(r.bits));
            j.attribute("outlier_fraction", r.outliers);
            j.attribute("nnz", r.nnz);
            j.attribute("weight_bytes", r.weightBytes);
            j.attribute("fast_ms", r.fastS * 1e3);
            j.attribute("fast_best_ms", r.fastBestS * 1e3);
            double gbs = double(r.weightBytes) / r.fastS / 1e9;
            j.attribute("fast_gbps", gbs);
            j.attribute("roofline_fraction", gbs / roofline);
            j.attribute("dense_f32_ms", r.denseS * 1e3);
            j.attribute("dense_over_fast", r.denseS / r.fastS);
            if (r.refS >= 0) {
              j.attribute("reference_ms", r.refS * 1e3);
              j.attribute("reference_over_fast", r.refS / r.fastS);
            }
            if (r.tablesS >= 0) {
              j.attribute("tables_ms", r.tablesS * 1e3);
              j.attribute("tables_over_fast", r.tablesS / r.fastS);
            }
          });
      });
    });
    os << "\n";
  }
  return 0;
}
