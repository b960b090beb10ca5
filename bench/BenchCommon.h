//===- BenchCommon.h - helpers shared by the squant benchmarks --*- C++ -*-===//
//
// Timing, buffers, the machine line (CPU model, LLC, load average), the
// streaming-read roofline and JIT compilation through squant-cpu-pipeline,
// shared by squant-bench (LUT matmul) and squant-kv-bench (KV-cache decode
// attention).
//
//===----------------------------------------------------------------------===//

#ifndef SQUANT_BENCH_BENCHCOMMON_H
#define SQUANT_BENCH_BENCHCOMMON_H

#include "squant/Pipelines/Pipelines.h"

#include "mlir/ExecutionEngine/ExecutionEngine.h"
#include "mlir/ExecutionEngine/OptUtils.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/Parser/Parser.h"
#include "mlir/Pass/PassManager.h"
#include "llvm/ADT/SmallVector.h"
#include "llvm/ADT/StringRef.h"
#include "llvm/Support/MemoryBuffer.h"

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <thread>
#include <unistd.h>
#include <vector>

namespace squant_bench {
using namespace mlir;
using namespace mlir::squant;

inline double now() {
  return std::chrono::duration<double>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

struct Rng {
  uint64_t s;
  explicit Rng(uint64_t seed) : s(seed * 0x9E3779B97F4A7C15ull + 1) {}
  uint64_t next() {
    s ^= s << 13;
    s ^= s >> 7;
    s ^= s << 17;
    return s;
  }
  float uniform() { return float(next() >> 40) / float(1 << 24) * 2 - 1; }
};

/// 64-byte aligned storage.
struct Buffer {
  void *p = nullptr;
  size_t bytes = 0;
  explicit Buffer(size_t n) : bytes(n) {
    p = std::aligned_alloc(64, std::max<size_t>((n + 63) / 64 * 64, 64));
  }
  Buffer(Buffer &&o) noexcept : p(o.p), bytes(o.bytes) { o.p = nullptr; }
  ~Buffer() { std::free(p); }
  template <typename T> T *as() { return static_cast<T *>(p); }
};

inline int64_t llcBytes() {
  long v = sysconf(_SC_LEVEL3_CACHE_SIZE);
  if (v > 0)
    return v;
  auto buf = llvm::MemoryBuffer::getFile(
      "/sys/devices/system/cpu/cpu0/cache/index3/size", /*IsText=*/true);
  if (buf) {
    StringRef s = (*buf)->getBuffer().trim();
    int64_t k;
    if (s.consume_back("K") && !s.getAsInteger(10, k))
      return k * 1024;
  }
  return 32 << 20;
}

inline std::string cpuModel() {
  auto buf = llvm::MemoryBuffer::getFileAsStream("/proc/cpuinfo");
  if (!buf)
    return "unknown";
  SmallVector<StringRef> lines;
  (*buf)->getBuffer().split(lines, '\n');
  for (StringRef l : lines)
    if (l.starts_with("model name"))
      return l.split(':').second.trim().str();
  return "unknown";
}

/// Streaming read roofline: T threads sum disjoint slices of `bytes`.
inline double measureRoofline(size_t bytes, unsigned threads) {
  Buffer buf(bytes);
  size_t words = bytes / 8;
  uint64_t *w = buf.as<uint64_t>();
  for (size_t i = 0; i < words; ++i)
    w[i] = i * 0x9E3779B97F4A7C15ull;
  double best = 1e30;
  std::vector<uint64_t> sinks(threads);
  for (int rep = 0; rep < 5; ++rep) {
    double t0 = now();
    std::vector<std::thread> pool;
    for (unsigned t = 0; t < threads; ++t)
      pool.emplace_back([&, t] {
        size_t lo = words * t / threads, hi = words * (t + 1) / threads;
        uint64_t a0 = 0, a1 = 0, a2 = 0, a3 = 0, a4 = 0, a5 = 0, a6 = 0,
                 a7 = 0;
        size_t i = lo;
        for (; i + 8 <= hi; i += 8) {
          a0 += w[i];
          a1 += w[i + 1];
          a2 += w[i + 2];
          a3 += w[i + 3];
          a4 += w[i + 4];
          a5 += w[i + 5];
          a6 += w[i + 6];
          a7 += w[i + 7];
        }
        for (; i < hi; ++i)
          a0 += w[i];
        sinks[t] = a0 + a1 + a2 + a3 + a4 + a5 + a6 + a7;
      });
    for (auto &th : pool)
      th.join();
    best = std::min(best, now() - t0);
  }
  volatile uint64_t sink = 0;
  for (uint64_t s : sinks)
    sink = sink + s;
  (void)sink;
  return double(words * 8) / best / 1e9;
}

/// A JIT-compiled function of one module.
struct Compiled {
  std::unique_ptr<ExecutionEngine> engine;
  std::string name;
};

inline llvm::Expected<Compiled> compile(MLIRContext &ctx, const std::string &src,
                                 StringRef name, StringRef options) {
  OwningOpRef<ModuleOp> module = parseSourceString<ModuleOp>(src, &ctx);
  if (!module)
    return llvm::createStringError("cannot parse the generated module:\n" +
                                   src);
  CPUPipelineOptions opts;
  std::string err;
  llvm::raw_string_ostream es(err);
  if (failed(opts.parseFromString(options, es)))
    return llvm::createStringError("bad pipeline options: " + err);
  PassManager pm(&ctx);
  buildCPUPipeline(pm, opts);
  if (failed(pm.run(*module)))
    return llvm::createStringError("squant-cpu-pipeline failed");
  ExecutionEngineOptions eo;
  auto transformer = makeOptimizingTransformer(3, 0, nullptr);
  eo.transformer = transformer;
  eo.jitCodeGenOptLevel = llvm::CodeGenOptLevel::Aggressive;
  SmallVector<StringRef> libs = {SQUANT_C_RUNNER_UTILS};
  if (!StringRef(SQUANT_OMP_LIB).empty())
    libs.push_back(SQUANT_OMP_LIB);
  eo.sharedLibPaths = libs;
  auto engine = ExecutionEngine::create(*module, eo);
  if (!engine)
    return engine.takeError();
  return Compiled{std::move(*engine), name.str()};
}

struct Timing {
  double median = 0, best = 0;
};

/// Median and fastest seconds per call of `call(i)` (i cycles through
/// copies).
template <typename F> Timing timeCalls(F call, double minSec, int maxReps) {
  call(0); // warm-up (also the JIT's first-call resolution)
  std::vector<double> times;
  double start = now();
  for (int i = 1; i <= maxReps; ++i) {
    double t0 = now();
    call(i);
    times.push_back(now() - t0);
    if (now() - start > minSec && times.size() >= 3)
      break;
  }
  std::sort(times.begin(), times.end());
  return {times[times.size() / 2], times.front()};
}


/// "a, b,c" -> {"a", "b", "c"}.
inline llvm::SmallVector<std::string> splitList(StringRef s) {
  SmallVector<StringRef> parts;
  s.split(parts, ',', -1, false);
  llvm::SmallVector<std::string> out;
  for (StringRef p : parts)
    out.push_back(p.trim().str());
  return out;
}

/// The first field of /proc/loadavg ("?" when unreadable).
inline std::string loadAverage() {
  if (auto la = llvm::MemoryBuffer::getFileAsStream("/proc/loadavg"))
    return (*la)->getBuffer().split(' ').first.str();
  return "?";
}

} // namespace squant_bench

#endif // SQUANT_BENCH_BENCHCOMMON_H
