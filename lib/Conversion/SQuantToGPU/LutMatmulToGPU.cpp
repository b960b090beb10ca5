//===- LutMatmulToGPU.cpp - squant.lut_matmul to GPU kernels --------------===//
//
// y[M, N] = x[M, K] * (lut[codes] + S)^T as one main kernel (plus one combine
// kernel when K is split or there are outliers). Design (docs/gpu-kernels.md):
//
//  * Threads along N: lane l of a warp owns `vec` adjacent output channels
//    n0 = block * 32 * vec + l * vec. With SqueezeLLM packing (words
//    [K*B/32, N], channels contiguous) one 128-bit load fetches the same
//    word row of 4 channels; a warp reads 512 contiguous bytes per row.
//  * A word group (1 word of 32/B codes, or 3 words = 32 codes for B = 3)
//    is decoded in registers with shifts and masks, straddling codes with
//    two shifts and an OR; all shifts are constants.
//  * Tables: per-channel tables live in shared memory laid out
//    [slot j][entry e][lane] so that lane l always reads bank l, whatever
//    its code (no bank conflicts); a global table is replicated 32 times,
//    one copy per bank; per-group tables, and per-channel tables too large
//    for shared memory, are read through the read-only cache.
//  * Each thread keeps mt x vec f32 accumulators (mt rows of x per thread,
//    chosen per M bucket) and fuses x * table[code] with math.fma.
//  * K is split over the `wk` warps of a block (reduced in shared memory in
//    a fixed order) and over `splitK` blocks (gridDim.y). With splitK > 1 or
//    CSR outliers, the main kernel writes f32 partials [M][N][splitK] and a
//    combine kernel gives one warp to each output channel: lane s adds the
//    partial of split s, lanes stride over the channel's CSR outliers, and
//    a shuffle butterfly sums the lanes -- deterministic, no atomics.
//
//===----------------------------------------------------------------------===//

#include "KernelBuilder.h"
#include "squant/Conversion/SQuantToGPU/SQuantToGPU.h"
#include "squant/Dialect/SQuant/IR/SQuantOps.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Bufferization/IR/Bufferization.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SparseTensor/IR/SparseTensor.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include "mlir/IR/PatternMatch.h"
#include "llvm/Support/FormatVariadic.h"
#include "llvm/Support/MathExtras.h"

#include <cmath>

using namespace mlir;
using namespace mlir::squant;
using namespace mlir::squant::gpugen;

namespace {

enum class TableKind { Global, PerChannel, PerGroup };

/// Everything the kernels depend on: the problem and the chosen strategy.
struct MatmulPlan {
  // Problem.
  int64_t n = 0, k = 0, m = 0; // m may be ShapedType::kDynamic
  unsigned bits = 0;
  int64_t entries = 0;
  bool packed = false; // reads SqueezeLLM words instead of codes
  TableKind table = TableKind::PerChannel;
  int64_t groups = 1;
  Type xType, lutType, outType, codeType;
  bool outliers = false;
  Type posType, crdType, valType;

  // Strategy.
  std::string bucket;
  int64_t vec = 1;      // channels per thread
  int64_t mt = 1;       // rows of x per thread
  int64_t wk = 1;       // warps per block, splitting K
  int64_t splitK = 1;   // blocks splitting K (gridDim.y)
  int64_t unroll = 1;   // word groups loaded before use
  int64_t wordsPerGroup = 1, codesPerGroup = 1, groupsK = 1;
  int64_t groupsPerSplit = 1;
  int64_t xChunk = 1, xAlign = 0;
  bool smemTables = false;
  int64_t tableF32 = 0, reduceF32 = 0;
  bool partials = false;
  int64_t combineRows = 1;

  bool dynamicM() const { return ShapedType::isDynamic(m); }
  int64_t channelsPerBlock() const { return kWarpSize * vec; }
  int64_t threads() const { return kWarpSize * wk; }
  int64_t smemF32() const { return std::max(tableF32, reduceF32); }
};

std::string tableTag(const MatmulPlan &p) {
  switch (p.table) {
  case TableKind::Global:
    return "global";
  case TableKind::PerChannel:
    return "channel";
  case TableKind::PerGroup:
    return "group" + std::to_string(p.groups);
  }
  return "";
}

std::string mTag(int64_t m) {
  return ShapedType::isDynamic(m) ? std::string("dyn") : std::to_string(m);
}

/// Why the op cannot become GPU kernels ("" if it can).
std::string matmulBlocker(LutMatmulOp op) {
  auto codesType = cast<ShapedType>(op.getCodes().getType());
  auto xType = cast<ShapedType>(op.getX().getType());
  if (codesType.isDynamicDim(0) || codesType.isDynamicDim(1))
    return "the GPU kernels need static N and K (codes shape)";
  if (codesType.getDimSize(0) == 0 || codesType.getDimSize(1) == 0)
    return "the GPU kernels need N > 0 and K > 0";
  auto lutType = cast<ShapedType>(op.getLut().getType());
  if (lutType.getRank() == 3 && lutType.isDynamicDim(1))
    return "the GPU kernels need a static number of table groups";
  if (xType.isDynamicDim(1))
    return "the GPU kernels need a static K (x shape)";
  for (Value v : {op.getX(), op.getCodes(), op.getLut(), op.getInit()})
    if (auto mt = dyn_cast<MemRefType>(v.getType()))
      if (!mt.getLayout().isIdentity() || mt.getMemorySpace())
        return "the GPU kernels need identity-layout memrefs in the default "
               "memory space";
  if (Value s = op.getOutliers()) {
    auto enc = sparse_tensor::getSparseTensorEncoding(s.getType());
    if (!enc)
      return "unsupported outlier operand";
  }
  return "";
}

/// Chooses the strategy for one op.
MatmulPlan planMatmul(LutMatmulOp op, bool packed,
                      const SQuantToGPUOptions &options) {
  MatmulPlan p;
  auto codesType = cast<ShapedType>(op.getCodes().getType());
  auto lutType = cast<ShapedType>(op.getLut().getType());
  p.n = codesType.getDimSize(0);
  p.k = codesType.getDimSize(1);
  p.m = cast<ShapedType>(op.getX().getType()).getDimSize(0);
  p.codeType = codesType.getElementType();
  p.bits = getCodeBitWidth(p.codeType);
  p.entries = int64_t(1) << p.bits;
  p.packed = packed;
  p.table = lutType.getRank() == 1   ? TableKind::Global
            : lutType.getRank() == 2 ? TableKind::PerChannel
                                     : TableKind::PerGroup;
  if (p.table == TableKind::PerGroup)
    p.groups = lutType.getDimSize(1);
  p.xType = cast<ShapedType>(op.getX().getType()).getElementType();
  p.lutType = lutType.getElementType();
  p.outType = cast<ShapedType>(op.getInit().getType()).getElementType();
  if (Value s = op.getOutliers()) {
    auto enc = sparse_tensor::getSparseTensorEncoding(s.getType());
    p.outliers = true;
    p.posType = enc.getPosElemType();
    p.crdType = enc.getCrdElemType();
    p.valType = cast<ShapedType>(s.getType()).getElementType();
  }

  // M buckets: rows of x per thread and warps per block. One row keeps four
  // accumulators per thread, so a block of 8 warps splits K; larger tiles
  // amortize every table look-up over mt FMAs and use fewer warps (the
  // cross-warp reduction buffer grows with mt).
  if (!p.dynamicM() && p.m == 1) {
    p.bucket = "m1";
    p.mt = 1;
    p.wk = 8;
  } else if (!p.dynamicM() && p.m <= 4) {
    p.bucket = "m2-4";
    p.mt = p.m;
    p.wk = 8;
  } else if (!p.dynamicM() && p.m <= 8) {
    p.bucket = "m5-8";
    p.mt = 8;
    p.wk = 4;
  } else {
    p.bucket = "m9+";
    p.mt = 16;
    p.wk = 4;
  }
  if (options.warpsK > 0)
    p.wk = std::min<int64_t>(options.warpsK, 32);

  // Channels per thread: four with 128-bit loads of packed words.
  if (packed)
    p.vec = p.n % 4 == 0 ? 4 : p.n % 2 == 0 ? 2 : 1;
  else
    p.vec = 1;

  if (packed) {
    WordGroup wg = getWordGroup(p.bits);
    p.wordsPerGroup = wg.words;
    p.codesPerGroup = wg.codes;
  } else {
    p.wordsPerGroup = 0;
    p.codesPerGroup = p.k % 8 == 0 ? 8 : p.k % 4 == 0 ? 4 : p.k % 2 == 0 ? 2 : 1;
  }
  p.groupsK = p.k / p.codesPerGroup;

  // Split K over blocks when the N x M tiles alone cannot fill the GPU:
  // aim at two blocks per SM with a split that divides the word groups
  // evenly (nearest on a log scale), keeping a word group per warp.
  int64_t blocksN = ceilDiv(p.n, p.channelsPerBlock());
  int64_t mTiles = p.dynamicM() ? 1 : ceilDiv(p.m, p.mt);
  int64_t maxSplit =
      std::max<int64_t>(1, std::min<int64_t>(32, p.groupsK / p.wk));
  int64_t split = 1;
  if (options.splitK > 0) {
    split = std::min<int64_t>({options.splitK, 32, p.groupsK});
  } else {
    int64_t target = 2 * std::max<int64_t>(1, options.numSMs);
    int64_t base = blocksN * mTiles;
    if (base < target) {
      // The divisor of the word groups nearest to target / base.
      double want = double(target) / double(base);
      split = std::min(maxSplit, ceilDiv(target, base));
      double best = -1;
      for (int64_t s = 1; s <= maxSplit; ++s) {
        if (p.groupsK % s != 0)
          continue;
        double dist = std::abs(std::log(double(s) / want));
        if (best < 0 || dist <= best) {
          best = dist;
          split = s;
        }
      }
    }
  }
  if (options.splitK <= 0 && split > 1) {
    // Partials cost 2 x split x M x N x 4 bytes (written, read back through
    // L2): keep them under a quarter of the packed weights' bytes.
    int64_t rows = p.dynamicM() ? p.mt : p.m;
    int64_t weightBytes = p.n * p.k * p.bits / 8;
    int64_t cap = std::max<int64_t>(1, weightBytes / (4 * 2 * rows * p.n * 4));
    while (split > cap) {
      int64_t s = split - 1;
      while (s > 1 && p.groupsK % s != 0)
        --s;
      split = s;
    }
  }
  p.groupsPerSplit = ceilDiv(p.groupsK, split);
  p.splitK = ceilDiv(p.groupsK, p.groupsPerSplit);

  // Loads in flight: unroll over word groups for small tiles (register
  // budget: words + 4*mt accumulators).
  int64_t groupsPerWarp = ceilDiv(p.groupsPerSplit, p.wk);
  if (packed && p.mt <= 4)
    p.unroll = std::max<int64_t>(
        1, std::min<int64_t>(p.wordsPerGroup == 1 ? 4 : 2, groupsPerWarp));

  // x: 16-byte vector loads of consecutive codes' activations.
  int64_t xBytes = p.xType.getIntOrFloatBitWidth() / 8;
  p.xChunk = std::min<int64_t>(16 / xBytes, p.codesPerGroup);
  p.xAlign = p.xChunk * xBytes;

  // Shared memory (f32): tables, and the cross-warp reduction, which reuses
  // the same buffer after a barrier.
  if (p.table == TableKind::PerChannel &&
      p.vec * p.entries * kWarpSize <= 4096) {
    p.smemTables = true;
    p.tableF32 = p.vec * p.entries * kWarpSize;
  } else if (p.table == TableKind::Global) {
    p.smemTables = true;
    p.tableF32 = p.entries * kWarpSize;
  }
  // Tables read from global memory keep more loads in flight per look-up:
  // with 16 rows per thread the kernel would use all 255 registers.
  if (!p.smemTables && p.mt > 8) {
    p.mt = 8;
    p.combineRows = 8;
  }
  if (p.wk > 1)
    p.reduceF32 = p.wk * p.mt * p.channelsPerBlock();

  p.partials = p.splitK > 1 || p.outliers;
  p.combineRows = p.dynamicM() ? 8 : std::min<int64_t>(p.m, 8);
  return p;
}

std::string kernelName(const MatmulPlan &p) {
  return llvm::formatv(
      "lut_matmul_b{0}_{1}_{2}_m{3}_n{4}_k{5}_x{6}_l{7}_{8}_v{9}_mt{10}_wk{11}"
      "_s{12}_u{13}",
      p.bits, p.packed ? "sq" : "codes", tableTag(p), mTag(p.m), p.n, p.k,
      typeTag(p.xType), typeTag(p.lutType),
      p.partials ? std::string("ws") : "y" + typeTag(p.outType), p.vec, p.mt,
      p.wk, p.splitK, p.unroll);
}

std::string combineName(const MatmulPlan &p) {
  std::string outl =
      p.outliers ? llvm::formatv("_csr{0}{1}{2}", typeTag(p.posType),
                                 typeTag(p.crdType), typeTag(p.valType))
                       .str()
                 : std::string();
  return llvm::formatv("lut_matmul_combine_m{0}_n{1}_k{2}_s{3}_x{4}{5}_y{6}_r{7}",
                       mTag(p.m), p.n, p.k, p.splitK, typeTag(p.xType), outl,
                       typeTag(p.outType), p.combineRows);
}

std::string strategyString(const MatmulPlan &p) {
  return llvm::formatv(
      "bucket={0} channels/thread={1} rows/thread={2} warps(K)={3} "
      "splitK={4} unroll={5} tables={6}{7}",
      p.bucket, p.vec, p.mt, p.wk, p.splitK, p.unroll,
      p.smemTables ? "shared" : "global",
      p.packed ? "" : " codes=unpacked");
}

//===----------------------------------------------------------------------===//
// Main kernel
//===----------------------------------------------------------------------===//

/// Arguments: x, words|codes, lut, y|partials [, M].
void buildMainKernel(Emitter &e, const MatmulPlan &p, ValueRange args,
                     ValueRange workgroup) {
  Value x = args[0], w = args[1], lut = args[2], dst = args[3];
  Value mVal = p.dynamicM() ? args[4] : e.idx(p.m);
  Value smem = workgroup.empty() ? Value() : workgroup[0];
  Type f32 = e.b.getF32Type();
  const int64_t chans = p.channelsPerBlock();
  const int64_t threads = p.threads();
  const int64_t entries = p.entries;

  Value tid = threadIdX(e);
  Value lane = e.remu(tid, kWarpSize);
  Value warp = e.divu(tid, kWarpSize);
  Value split = blockId(e, gpu::Dimension::y);
  Value nBlock = e.mul(blockId(e, gpu::Dimension::x), chans);
  Value n0 = e.add(nBlock, e.mul(lane, p.vec));
  Value m0 = e.mul(blockId(e, gpu::Dimension::z), p.mt);
  bool nGuard = p.n % chans != 0;
  bool mGuard = p.dynamicM() || p.m % p.mt != 0;

  // Rows of x this thread reads (clamped: rows past M are computed on row
  // M-1 and never stored).
  SmallVector<Value> rowBase;
  for (int64_t r = 0; r < p.mt; ++r) {
    Value row = e.add(m0, r);
    if (mGuard)
      row = e.minu(row, e.sub(mVal, e.idx(1)));
    rowBase.push_back(e.mul(row, p.k));
  }

  // K range of this split, in word groups.
  Value gBeg = e.mul(split, p.groupsPerSplit);
  Value gEnd = p.groupsK % p.groupsPerSplit == 0
                   ? e.add(gBeg, p.groupsPerSplit)
                   : e.minu(e.add(gBeg, p.groupsPerSplit), p.groupsK);

  // Stage the tables in shared memory.
  if (p.smemTables) {
    if (p.table == TableKind::PerChannel) {
      // Read the block's tables contiguously; scatter entry e of channel
      // slot (lane l, j) to [j][e][l].
      e.forLoop(tid, e.idx(chans * entries), e.idx(threads), [&](Value i) {
        Value c = e.divu(i, entries), en = e.remu(i, entries);
        Value n = e.add(nBlock, c);
        if (nGuard)
          n = e.minu(n, p.n - 1);
        Value v = e.toF32(e.load(lut, e.add(e.mul(n, entries), en)));
        Value l = e.divu(c, p.vec), j = e.remu(c, p.vec);
        Value at = e.add(e.mul(e.add(e.mul(j, entries), en), kWarpSize), l);
        e.store(v, smem, at);
      });
    } else {
      // One copy of the global table per bank: [e][lane].
      e.forLoop(tid, e.idx(entries * kWarpSize), e.idx(threads), [&](Value i) {
        Value v = e.toF32(e.load(lut, e.divu(i, kWarpSize)));
        e.store(v, smem, i);
      });
    }
    gpu::BarrierOp::create(e.b, e.loc);
  }

  // Table look-up of code `code` (i32) for channel slot j at column k.
  SmallVector<Value> slotBase;
  if (p.smemTables && p.table == TableKind::PerChannel)
    for (int64_t j = 0; j < p.vec; ++j)
      slotBase.push_back(e.add(lane, j * entries * kWarpSize));
  auto lookup = [&](int64_t j, Value code, Value grp) -> Value {
    Value c = arith::IndexCastUIOp::create(e.b, e.loc, e.b.getIndexType(), code);
    if (p.smemTables && p.table == TableKind::PerChannel)
      return e.load(smem, e.add(slotBase[j], e.mul(c, kWarpSize)));
    if (p.smemTables)
      return e.load(smem, e.add(e.mul(c, kWarpSize), lane));
    Value n = e.add(n0, j);
    if (p.table == TableKind::PerChannel)
      return e.toF32(e.load(lut, e.add(e.mul(n, entries), c)));
    Value row = e.add(e.mul(n, p.groups), grp);
    return e.toF32(e.load(lut, e.add(e.mul(row, entries), c)));
  };

  const int64_t groupSize = p.k / p.groups; // per-group tables
  const bool groupPerWordGroup =
      p.table != TableKind::PerGroup || groupSize % p.codesPerGroup == 0;

  // Loads of one word group: the words of `vec` channels, or the codes.
  using GroupData = SmallVector<Value>;
  auto loadGroup = [&](Value g) -> GroupData {
    GroupData data;
    if (p.packed) {
      auto vt = VectorType::get({p.vec}, e.b.getI32Type());
      for (int64_t wi = 0; wi < p.wordsPerGroup; ++wi) {
        Value row = e.add(e.mul(g, p.wordsPerGroup), wi);
        data.push_back(
            e.vload(w, e.add(e.mul(row, p.n), n0), vt, 4 * p.vec));
      }
    } else {
      // Unpacked codes [N, K] (one byte-sized element per code).
      Value base = e.add(e.mul(n0, p.k), e.mul(g, p.codesPerGroup));
      for (int64_t i = 0; i < p.codesPerGroup; ++i)
        data.push_back(arith::ExtUIOp::create(e.b, e.loc, e.b.getI32Type(),
                                              e.load(w, e.add(base, i))));
    }
    return data;
  };

  // Multiply-accumulate one word group into `acc` (mt x vec, row-major).
  auto processGroup = [&](Value g, const GroupData &data,
                          SmallVector<Value> acc) -> SmallVector<Value> {
    Value k0 = e.mul(g, p.codesPerGroup);
    // Per channel slot, its words of this group.
    SmallVector<SmallVector<Value>> words(p.vec);
    if (p.packed)
      for (int64_t j = 0; j < p.vec; ++j)
        for (Value v : data)
          words[j].push_back(e.extract(v, j));
    Value grp;
    if (p.table == TableKind::PerGroup && groupPerWordGroup)
      grp = e.divu(k0, groupSize);
    for (int64_t c = 0; c < p.codesPerGroup / p.xChunk; ++c) {
      SmallVector<Value> xs;
      for (int64_t r = 0; r < p.mt; ++r) {
        Value at = e.add(e.add(rowBase[r], k0), c * p.xChunk);
        if (p.xChunk == 1)
          xs.push_back(e.load(x, at));
        else
          xs.push_back(e.vload(x, at, VectorType::get({p.xChunk}, p.xType),
                               p.xAlign));
      }
      for (int64_t ii = 0; ii < p.xChunk; ++ii) {
        int64_t i = c * p.xChunk + ii;
        Value grpI = grp;
        if (p.table == TableKind::PerGroup && !groupPerWordGroup)
          grpI = e.divu(e.add(k0, i), groupSize);
        SmallVector<Value> wv;
        for (int64_t j = 0; j < p.vec; ++j) {
          Value code = p.packed ? extractCode(e, words[j], p.bits, i) : data[i];
          wv.push_back(lookup(j, code, grpI));
        }
        for (int64_t r = 0; r < p.mt; ++r) {
          Value xr = e.toF32(p.xChunk == 1 ? xs[r] : e.extract(xs[r], ii));
          for (int64_t j = 0; j < p.vec; ++j)
            acc[r * p.vec + j] = e.fma(xr, wv[j], acc[r * p.vec + j]);
        }
      }
    }
    return acc;
  };

  // The K loop of this warp: word groups gBeg + warp, + wk, ... < gEnd;
  // `unroll` groups are loaded before any is used.
  SmallVector<Value> zeros(p.mt * p.vec, e.f32(0.0));
  SmallVector<Type> accTypes(p.mt * p.vec, f32);
  auto kLoop = [&]() -> SmallVector<Value> {
    Value first = e.add(gBeg, warp);
    SmallVector<Value> acc = zeros;
    Value next = first;
    if (p.unroll > 1) {
      Value remaining = e.select(e.ult(first, gEnd), e.sub(gEnd, first), e.idx(0));
      Value iters = e.divu(e.ceilDiv(remaining, p.wk), p.unroll);
      Value mainEnd = e.add(first, e.mul(iters, p.unroll * p.wk));
      acc = e.forLoop(first, mainEnd, e.idx(p.unroll * p.wk), acc,
                      [&](Value g, ValueRange iter) {
                        SmallVector<Value> a(iter.begin(), iter.end());
                        SmallVector<Value> gs;
                        SmallVector<GroupData> loaded;
                        for (int64_t u = 0; u < p.unroll; ++u) {
                          gs.push_back(e.add(g, u * p.wk));
                          loaded.push_back(loadGroup(gs.back()));
                        }
                        for (int64_t u = 0; u < p.unroll; ++u)
                          a = processGroup(gs[u], loaded[u], a);
                        return a;
                      });
      next = mainEnd;
    }
    return e.forLoop(next, gEnd, e.idx(p.wk), acc,
                     [&](Value g, ValueRange iter) {
                       SmallVector<Value> a(iter.begin(), iter.end());
                       return processGroup(g, loadGroup(g), a);
                     });
  };
  SmallVector<Value> acc =
      nGuard ? e.ifThenElse(e.ult(n0, p.n), accTypes, kLoop,
                            [&]() { return zeros; })
             : kLoop();

  // Stores one output (row, n): y, or the partial of this split.
  auto storeOut = [&](Value row, Value n, Value v) {
    auto doStore = [&]() {
      if (p.partials)
        e.store(v, dst,
                e.add(e.mul(e.add(e.mul(row, p.n), n), p.splitK), split));
      else
        e.store(e.fromF32(v, p.outType), dst, e.add(e.mul(row, p.n), n));
    };
    Value cond;
    if (mGuard)
      cond = e.ult(row, mVal);
    if (nGuard) {
      Value inN = e.ult(n, p.n);
      cond = cond ? e.andi(cond, inN) : inN;
    }
    if (cond)
      e.ifThen(cond, doStore);
    else
      doStore();
  };

  if (p.wk == 1) {
    for (int64_t r = 0; r < p.mt; ++r)
      for (int64_t j = 0; j < p.vec; ++j)
        storeOut(e.add(m0, r), e.add(n0, j), acc[r * p.vec + j]);
    return;
  }

  // Cross-warp reduction through shared memory, in warp order.
  if (p.smemTables)
    gpu::BarrierOp::create(e.b, e.loc); // tables no longer read
  auto vt = VectorType::get({p.vec}, f32);
  for (int64_t r = 0; r < p.mt; ++r) {
    Value at = e.add(e.mul(e.add(e.mul(warp, p.mt), r), chans), e.mul(lane, p.vec));
    if (p.vec == 1) {
      e.store(acc[r], smem, at);
    } else {
      Value v = vector::FromElementsOp::create(
          e.b, e.loc, vt, ArrayRef<Value>(acc).slice(r * p.vec, p.vec));
      e.vstore(v, smem, at, 4 * p.vec);
    }
  }
  gpu::BarrierOp::create(e.b, e.loc);
  e.forLoop(tid, e.idx(p.mt * chans), e.idx(threads), [&](Value o) {
    Value r = e.divu(o, chans), c = e.remu(o, chans);
    Value sum = e.load(smem, o);
    for (int64_t wi = 1; wi < p.wk; ++wi)
      sum = arith::AddFOp::create(e.b, e.loc, sum,
                                  e.load(smem, e.add(o, wi * p.mt * chans)));
    storeOut(e.add(m0, r), e.add(nBlock, c), sum);
  });
}

//===----------------------------------------------------------------------===//
// Combine kernel: split-K partials + CSR outliers, one warp per channel.
//===----------------------------------------------------------------------===//

constexpr int64_t kCombineWarps = 8;

/// Arguments: partials, [x, rows, cols, vals,] y [, M].
void buildCombineKernel(Emitter &e, const MatmulPlan &p, ValueRange args) {
  unsigned a = 0;
  Value ws = args[a++];
  Value x, rows, cols, vals;
  if (p.outliers) {
    x = args[a++];
    rows = args[a++];
    cols = args[a++];
    vals = args[a++];
  }
  Value y = args[a++];
  Value mVal = p.dynamicM() ? args[a++] : e.idx(p.m);
  const int64_t rowsPerWarp = p.combineRows;
  bool mGuard = p.dynamicM() || p.m % rowsPerWarp != 0;
  bool nGuard = p.n % kCombineWarps != 0;

  Value tid = threadIdX(e);
  Value lane = e.remu(tid, kWarpSize);
  Value n = e.add(e.mul(blockId(e, gpu::Dimension::x), kCombineWarps),
                  e.divu(tid, kWarpSize));
  Value nC = nGuard ? e.minu(n, p.n - 1) : n;
  Value m0 = e.mul(blockId(e, gpu::Dimension::y), rowsPerWarp);
  SmallVector<Value> row;
  for (int64_t r = 0; r < rowsPerWarp; ++r) {
    Value rr = e.add(m0, r);
    row.push_back(mGuard ? e.minu(rr, e.sub(mVal, e.idx(1))) : rr);
  }

  // Lane s holds the partial of split s.
  Value zero = e.f32(0.0);
  SmallVector<Value> v;
  Value hasSplit = e.ult(lane, p.splitK);
  Value s = e.minu(lane, p.splitK - 1);
  for (int64_t r = 0; r < rowsPerWarp; ++r) {
    Value part = e.load(ws, e.add(e.mul(e.add(e.mul(row[r], p.n), nC), p.splitK), s));
    v.push_back(p.splitK == kWarpSize ? part : e.select(hasSplit, part, zero));
  }

  // Lanes stride over the channel's outliers.
  if (p.outliers) {
    auto toIndex = [&](Value i) -> Value {
      if (i.getType().isIndex())
        return i;
      return arith::IndexCastUIOp::create(e.b, e.loc, e.b.getIndexType(), i);
    };
    Value p0 = toIndex(e.load(rows, nC));
    Value p1 = toIndex(e.load(rows, e.add(nC, 1)));
    v = e.forLoop(e.add(p0, lane), p1, e.idx(kWarpSize), v,
                  [&](Value q, ValueRange iter) {
                    Value col = toIndex(e.load(cols, q));
                    Value val = e.toF32(e.load(vals, q));
                    SmallVector<Value> out;
                    for (int64_t r = 0; r < rowsPerWarp; ++r) {
                      Value xv = e.toF32(
                          e.load(x, e.add(e.mul(row[r], p.k), col)));
                      out.push_back(e.fma(xv, val, iter[r]));
                    }
                    return out;
                  });
  }

  // Deterministic butterflies at the top level, then lane 0 stores.
  for (int64_t r = 0; r < rowsPerWarp; ++r)
    v[r] = warpSum(e, v[r]);
  Value isLane0 = e.ult(lane, 1);
  Value cond = nGuard ? e.andi(isLane0, e.ult(n, p.n)) : isLane0;
  e.ifThen(cond, [&]() {
    for (int64_t r = 0; r < rowsPerWarp; ++r) {
      Value rr = e.add(m0, r);
      auto st = [&]() {
        e.store(e.fromF32(v[r], p.outType), y, e.add(e.mul(rr, p.n), n));
      };
      if (mGuard)
        e.ifThen(e.ult(rr, mVal), st);
      else
        st();
    }
  });
}

//===----------------------------------------------------------------------===//
// Pattern
//===----------------------------------------------------------------------===//

struct LutMatmulToGPU : OpRewritePattern<LutMatmulOp> {
  LutMatmulToGPU(MLIRContext *ctx, const SQuantToGPUOptions &options)
      : OpRewritePattern(ctx, /*benefit=*/2), options(options) {}

  LogicalResult matchAndRewrite(LutMatmulOp op,
                                PatternRewriter &rewriter) const override {
    std::string reason = matmulBlocker(op);
    if (!reason.empty())
      return rewriter.notifyMatchFailure(op, reason);
    Location loc = op.getLoc();
    auto module = op->getParentOfType<ModuleOp>();
    Operation *unpack = findSqueezeLLMUnpack(op.getCodes(), op);
    MatmulPlan plan = planMatmul(op, unpack != nullptr, options);
    bool tensorForm = op.hasPureTensorSemantics();

    // Host side: flat buffers.
    rewriter.setInsertionPoint(op);
    Emitter e{rewriter, loc};
    auto buffer = [&](Value v) -> FailureOr<Value> {
      FailureOr<Value> buf = getInputBuffer(rewriter, loc, v, reason);
      if (failed(buf))
        return failure();
      return flatten(rewriter, loc, *buf);
    };
    Value weights = unpack ? cast<UnpackOp>(unpack).getPacked() : op.getCodes();
    FailureOr<Value> xBuf = buffer(op.getX()), wBuf = buffer(weights),
                     lutBuf = buffer(op.getLut());
    if (failed(xBuf) || failed(wBuf) || failed(lutBuf))
      return rewriter.notifyMatchFailure(op, reason);
    Value out = tensorForm ? allocLike(rewriter, loc, op.getInit(), plan.outType)
                           : op.getInit();
    Value outFlat = flatten(rewriter, loc, out);
    Value mVal = hostDim(rewriter, loc, op.getX(), 0);

    Value ws;
    if (plan.partials)
      ws = allocWorkspace(rewriter, loc,
                          e.mul(mVal, plan.n * plan.splitK));

    // Main kernel.
    KernelSpec spec;
    spec.name = kernelName(plan);
        spec.argTypes = {xBuf->getType(), wBuf->getType(), lutBuf->getType(),
                     (plan.partials ? ws : outFlat).getType()};
    spec.readOnly = {true, true, true, false};
    if (plan.dynamicM()) {
      spec.argTypes.push_back(rewriter.getIndexType());
      spec.readOnly.push_back(false);
    }
    if (plan.smemF32())
      spec.workgroupF32.push_back(plan.smemF32());
    spec.block = {int32_t(plan.threads()), 1, 1};
    int64_t blocksN = ceilDiv(plan.n, plan.channelsPerBlock());
    if (!plan.dynamicM())
      spec.grid = std::array<int32_t, 3>{
          int32_t(blocksN), int32_t(plan.splitK),
          int32_t(ceilDiv(plan.m, plan.mt))};
    spec.strategy = strategyString(plan);
    gpu::GPUFuncOp mainKernel = getOrCreateKernel(
        module, spec, [&](Emitter &ke, ValueRange args, ValueRange wg) {
          buildMainKernel(ke, plan, args, wg);
        });
    SmallVector<Value> mainArgs = {*xBuf, *wBuf, *lutBuf,
                                   plan.partials ? ws : outFlat};
    if (plan.dynamicM())
      mainArgs.push_back(mVal);
    Value mTiles = plan.dynamicM() ? e.ceilDiv(mVal, plan.mt)
                                   : e.idx(ceilDiv(plan.m, plan.mt));
    launchKernel(rewriter, loc, mainKernel,
                 {e.idx(blocksN), e.idx(plan.splitK), mTiles}, mainArgs);

    // Combine kernel.
    if (plan.partials) {
      SmallVector<Value> cArgs = {ws};
      if (plan.outliers) {
        SmallVector<Value> levels;
        if (failed(getOutlierBuffers(rewriter, loc, op.getOutliers(), levels)))
          return rewriter.notifyMatchFailure(op, "unsupported outliers");
        cArgs.push_back(*xBuf);
        cArgs.append(levels.begin(), levels.end());
      }
      cArgs.push_back(outFlat);
      if (plan.dynamicM())
        cArgs.push_back(mVal);
      KernelSpec cspec;
      cspec.name = combineName(plan);
      for (Value v : cArgs)
        cspec.argTypes.push_back(v.getType());
      cspec.readOnly.assign(cArgs.size(), true);
      cspec.readOnly[plan.outliers ? 5 : 1] = false; // y
      cspec.block = {int32_t(kCombineWarps * kWarpSize), 1, 1};
      int64_t cBlocks = ceilDiv(plan.n, kCombineWarps);
      if (!plan.dynamicM())
        cspec.grid = std::array<int32_t, 3>{
            int32_t(cBlocks),
            int32_t(ceilDiv(plan.m, plan.combineRows)), 1};
      cspec.strategy = llvm::formatv(
          "combine: one warp per channel, lanes over {0} splits{1}, "
          "butterfly sum, rows/warp={2}",
          plan.splitK, plan.outliers ? " and CSR outliers" : "",
          plan.combineRows);
      gpu::GPUFuncOp combine = getOrCreateKernel(
          module, cspec, [&](Emitter &ke, ValueRange args, ValueRange) {
            buildCombineKernel(ke, plan, args);
          });
      Value rowTiles = plan.dynamicM()
                           ? e.ceilDiv(mVal, plan.combineRows)
                           : e.idx(ceilDiv(plan.m, plan.combineRows));
      launchKernel(rewriter, loc, combine, {e.idx(cBlocks), rowTiles, e.idx(1)},
                   cArgs);
      if (!tensorForm)
        memref::DeallocOp::create(rewriter, loc, ws);
    }

    if (tensorForm) {
      Value result = bufferization::ToTensorOp::create(
          rewriter, loc, op->getResult(0).getType(), out, /*restrict=*/true,
          /*writable=*/true);
      rewriter.replaceOp(op, result);
    } else {
      rewriter.eraseOp(op);
    }
    eraseUnpackIfDead(rewriter, unpack);
    return success();
  }

  /// rows, cols, vals of the CSR outliers as flat buffers.
  static LogicalResult getOutlierBuffers(OpBuilder &b, Location loc, Value s,
                                         SmallVectorImpl<Value> &out) {
    std::string reason;
    SmallVector<Value> parts;
    if (auto assemble = s.getDefiningOp<sparse_tensor::AssembleOp>()) {
      parts.append(assemble.getLevels().begin(), assemble.getLevels().end());
      parts.push_back(assemble.getValues());
    } else {
      auto level = b.getIndexAttr(1);
      parts.push_back(sparse_tensor::ToPositionsOp::create(b, loc, s, level));
      parts.push_back(sparse_tensor::ToCoordinatesOp::create(b, loc, s, level));
      parts.push_back(sparse_tensor::ToValuesOp::create(b, loc, s));
    }
    if (parts.size() != 3)
      return failure();
    for (Value v : parts) {
      FailureOr<Value> buf = getInputBuffer(b, loc, v, reason);
      if (failed(buf))
        return failure();
      out.push_back(flatten(b, loc, *buf));
    }
    return success();
  }

  SQuantToGPUOptions options;
};

} // namespace

void mlir::squant::populateLutMatmulToGPUPatterns(
    RewritePatternSet &patterns, const SQuantToGPUOptions &options) {
  patterns.add<LutMatmulToGPU>(patterns.getContext(), options);
}

std::string mlir::squant::getLutMatmulGPUBlocker(Operation *op) {
  return matmulBlocker(cast<LutMatmulOp>(op));
}
