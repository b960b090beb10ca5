//===- LinalgReductionToGPU.cpp - cooperative reduction kernels -----------===//
//
// A reduction over one dim (RMSNorm's sum of squares, a dense matvec, the
// attention scores, the softmax max and sum, probabilities x values) is not
// given one thread per output that walks the whole reduction: the threads of
// a warp or a block share it (ReductionMapping in LinalgToGPU.h), each keeps
// a private partial, and the partials are combined by xor-butterfly shuffles
// and, across warps, in shared memory, always in the same order (no atomics,
// deterministic). The kernel body is the linalg body, cloned with its block
// arguments replaced by loads at the indexing maps.
//
// Every gpu.shuffle and gpu.barrier sits at the top level of the launch body
// and is reached by all threads (inactive ones carry the identity), so
// squant-gpu-launch-to-loops can run the kernels on the host.
//
//===----------------------------------------------------------------------===//

#include "LinalgToGPU.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Arith/Utils/Utils.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/IR/IRMapping.h"

#include <cmath>
#include <limits>

using namespace mlir;
using namespace mlir::squant::gpugen;

namespace {

constexpr int64_t kLanes = 32;
constexpr int64_t kWarps = kReductionThreads / kLanes;

/// The innermost (last) result of `map` when it is a dim.
std::optional<unsigned> innermostDim(AffineMap map) {
  if (map.getNumResults() == 0)
    return std::nullopt;
  if (auto d = dyn_cast<AffineDimExpr>(map.getResults().back()))
    return d.getPosition();
  return std::nullopt;
}

/// Maps whose results are dims or constants (what the kernels index with).
bool isSimpleMap(AffineMap map) {
  return llvm::all_of(map.getResults(), [](AffineExpr e) {
    return isa<AffineDimExpr, AffineConstantExpr>(e);
  });
}

/// Identity of the combining op.
double identityOf(Operation *combiner) {
  if (isa<arith::AddFOp>(combiner))
    return 0.0;
  if (isa<arith::MulFOp>(combiner))
    return 1.0;
  if (isa<arith::MaximumFOp, arith::MaxNumFOp>(combiner))
    return -std::numeric_limits<double>::infinity();
  return std::numeric_limits<double>::infinity();
}

/// Kernel-side emission for one reduction.
struct ReductionKernel {
  const ReductionMatch &m;
  OpBuilder &b;
  Location loc;

  Value cidx(int64_t v) { return arith::ConstantIndexOp::create(b, loc, v); }
  Value add(Value x, Value y) { return arith::AddIOp::create(b, loc, x, y); }
  Value mul(Value x, Value y) { return arith::MulIOp::create(b, loc, x, y); }
  Value divu(Value x, Value y) { return arith::DivUIOp::create(b, loc, x, y); }
  Value remu(Value x, Value y) { return arith::RemUIOp::create(b, loc, x, y); }
  Value ult(Value x, Value y) {
    return arith::CmpIOp::create(b, loc, arith::CmpIPredicate::ult, x, y);
  }
  Value eq(Value x, Value y) {
    return arith::CmpIOp::create(b, loc, arith::CmpIPredicate::eq, x, y);
  }
  Value select(Value c, Value t, Value f) {
    return arith::SelectOp::create(b, loc, c, t, f);
  }

  Value combine(Value x, Value y) {
    IRMapping map;
    map.map(m.combiner->getOperand(0), x);
    map.map(m.combiner->getOperand(1), y);
    return b.clone(*m.combiner, map)->getResult(0);
  }
  Value identity() {
    return arith::ConstantOp::create(
        b, loc, b.getF32Type(), b.getF32FloatAttr(float(identityOf(m.combiner))));
  }

  /// Indices of an operand at loop point `idx`.
  SmallVector<Value> indices(AffineMap map, ArrayRef<Value> idx) {
    SmallVector<Value> out;
    for (AffineExpr e : map.getResults()) {
      if (auto d = dyn_cast<AffineDimExpr>(e))
        out.push_back(idx[d.getPosition()]);
      else
        out.push_back(cidx(cast<AffineConstantExpr>(e).getValue()));
    }
    return out;
  }

  /// f(inputs at idx): the body without the combining op.
  Value contribution(ArrayRef<Value> idx) {
    linalg::GenericOp op = m.op;
    Block &body = op.getRegion().front();
    IRMapping map;
    for (OpOperand *in : op.getDpsInputOperands()) {
      BlockArgument arg = body.getArgument(in->getOperandNumber());
      if (arg.use_empty())
        continue;
      if (!isa<MemRefType>(in->get().getType())) {
        map.map(arg, in->get());
        continue;
      }
      map.map(arg, memref::LoadOp::create(
                       b, loc, in->get(),
                       indices(op.getMatchingIndexingMap(in), idx)));
    }
    for (Operation &inner : body.without_terminator()) {
      if (&inner == m.combiner)
        continue;
      if (auto index = dyn_cast<linalg::IndexOp>(inner)) {
        map.map(index.getResult(), idx[index.getDim()]);
        continue;
      }
      b.clone(inner, map);
    }
    return map.lookupOrDefault(m.combiner->getOperand(m.contribution));
  }

  /// acc = combine over i in [lb, ub) step `step` of f(idx with r = i).
  Value reduceLoop(SmallVector<Value> idx, Value lb, Value ub, Value step) {
    auto loop = scf::ForOp::create(b, loc, lb, ub, step, ValueRange{identity()});
    OpBuilder::InsertionGuard g(b);
    b.setInsertionPointToStart(loop.getBody());
    idx[m.reductionDim] = loop.getInductionVar();
    Value acc = combine(loop.getRegionIterArgs()[0], contribution(idx));
    scf::YieldOp::create(b, loc, acc);
    return loop.getResult(0);
  }

  /// Combines `v` over the 32 lanes of a warp (five xor butterflies, at the
  /// top level of the kernel body); every lane receives the result.
  Value butterfly(Value v) {
    for (int32_t offset = kLanes / 2; offset >= 1; offset /= 2) {
      auto shuffle = gpu::ShuffleOp::create(b, loc, v, offset, kLanes,
                                            gpu::ShuffleMode::XOR);
      v = combine(v, shuffle.getShuffleResult());
    }
    return v;
  }

  void ifThen(Value cond, function_ref<void()> then) {
    auto op = scf::IfOp::create(b, loc, cond, /*withElseRegion=*/false);
    OpBuilder::InsertionGuard g(b);
    b.setInsertionPoint(op.thenBlock()->getTerminator());
    then();
  }

  /// Writes combine(init, v) to the output at `idx`.
  void store(Value v, ArrayRef<Value> idx, Value fillValue) {
    linalg::GenericOp op = m.op;
    OpOperand *out = op.getDpsInitOperand(0);
    SmallVector<Value> at = indices(op.getMatchingIndexingMap(out), idx);
    Value init = fillValue ? fillValue
                           : Value(memref::LoadOp::create(b, loc, out->get(), at));
    memref::StoreOp::create(b, loc, combine(init, v), out->get(), at);
  }

  /// Sets idx[dims[i]] from the linear `p`, dims[back] varying fastest.
  void delinearize(Value p, ArrayRef<unsigned> dims, ArrayRef<Value> sizes,
                   SmallVector<Value> &idx) {
    for (unsigned d : llvm::reverse(dims)) {
      idx[d] = remu(p, sizes[d]);
      p = divu(p, sizes[d]);
    }
  }
};

} // namespace

llvm::StringRef mlir::squant::gpugen::getMappingName(ReductionMapping mapping) {
  switch (mapping) {
  case ReductionMapping::Warp:
    return "warp";
  case ReductionMapping::Block:
    return "block";
  case ReductionMapping::Column:
    return "column";
  }
  return "";
}

std::optional<ReductionMatch>
mlir::squant::gpugen::matchReduction(linalg::GenericOp op) {
  if (!op.hasPureBufferSemantics() || op.getNumDpsInits() != 1 ||
      op.getNumReductionLoops() != 1)
    return std::nullopt;
  OpOperand *out = op.getDpsInitOperand(0);
  auto outType = dyn_cast<MemRefType>(out->get().getType());
  if (!outType || !outType.getElementType().isF32())
    return std::nullopt;
  ReductionMatch m;
  m.op = op;
  for (auto [i, it] : llvm::enumerate(op.getIteratorTypesArray()))
    if (it == utils::IteratorType::reduction)
      m.reductionDim = i;
  unsigned r = m.reductionDim;

  // Every parallel point writes its own output element.
  AffineMap outMap = op.getMatchingIndexingMap(out);
  if (!outMap.isProjectedPermutation() ||
      outMap.getNumResults() != op.getNumLoops() - 1 ||
      outMap.isFunctionOfDim(r))
    return std::nullopt;
  SmallVector<AffineMap> streamed;
  for (OpOperand *in : op.getDpsInputOperands()) {
    if (!isa<ShapedType>(in->get().getType()))
      continue;
    if (!isa<MemRefType>(in->get().getType()))
      return std::nullopt;
    AffineMap map = op.getMatchingIndexingMap(in);
    if (!isSimpleMap(map))
      return std::nullopt;
    if (map.isFunctionOfDim(r))
      streamed.push_back(map);
  }

  // out = combine(out, f(inputs)), out used nowhere else.
  Block &body = op.getRegion().front();
  auto yield = cast<linalg::YieldOp>(body.getTerminator());
  if (yield.getNumOperands() != 1)
    return std::nullopt;
  Operation *comb = yield.getOperand(0).getDefiningOp();
  if (!comb || comb->getBlock() != &body || comb->getNumOperands() != 2 ||
      !comb->hasOneUse() || !comb->getResult(0).getType().isF32() ||
      !isa<arith::AddFOp, arith::MulFOp, arith::MaximumFOp, arith::MinimumFOp,
           arith::MaxNumFOp, arith::MinNumFOp>(comb))
    return std::nullopt;
  BlockArgument outArg = body.getArgument(op.getNumDpsInputs());
  if (!outArg.hasOneUse())
    return std::nullopt;
  if (comb->getOperand(0) == outArg)
    m.contribution = 1;
  else if (comb->getOperand(1) == outArg)
    m.contribution = 0;
  else
    return std::nullopt;
  m.combiner = comb;

  // Lanes along the output's innermost dim when a streamed operand is
  // contiguous along it and none is strided along it; otherwise lanes along
  // the reduction.
  if (std::optional<unsigned> c = innermostDim(outMap)) {
    bool contiguous = false, strided = false;
    for (AffineMap map : streamed) {
      if (innermostDim(map) == c)
        contiguous = true;
      else if (map.isFunctionOfDim(*c))
        strided = true;
    }
    if (contiguous && !strided) {
      m.mapping = ReductionMapping::Column;
      m.columnDim = *c;
      return m;
    }
  }
  int64_t size = op.getStaticLoopRanges()[r];
  m.mapping = !ShapedType::isDynamic(size) && size <= kWarpReductionMax
                  ? ReductionMapping::Warp
                  : ReductionMapping::Block;
  return m;
}

void mlir::squant::gpugen::emitReductionLaunch(RewriterBase &rewriter,
                                               const ReductionMatch &m,
                                               linalg::FillOp fill,
                                               StringRef module,
                                               StringRef function) {
  linalg::GenericOp op = m.op;
  Location loc = op.getLoc();
  OpBuilder::InsertionGuard guard(rewriter);
  rewriter.setInsertionPoint(op);
  MLIRContext *ctx = rewriter.getContext();

  // Host side: loop sizes and the grid.
  SmallVector<Value> sizes;
  for (Range range :
       cast<linalg::LinalgOp>(op.getOperation()).createLoopRanges(rewriter,
                                                                  loc))
    sizes.push_back(getValueOrCreateConstantIndexOp(rewriter, loc, range.size));
  unsigned r = m.reductionDim;
  AffineMap outMap = op.getMatchingIndexingMap(op.getDpsInitOperand(0));
  // Output dims in output order (the last varies fastest).
  SmallVector<unsigned> outDims;
  for (AffineExpr e : outMap.getResults())
    outDims.push_back(cast<AffineDimExpr>(e).getPosition());
  SmallVector<unsigned> outerDims;
  for (unsigned d : outDims)
    if (m.mapping != ReductionMapping::Column || d != m.columnDim)
      outerDims.push_back(d);
  auto product = [&](ArrayRef<unsigned> dims) {
    Value p = arith::ConstantIndexOp::create(rewriter, loc, 1);
    for (unsigned d : dims)
      p = arith::MulIOp::create(rewriter, loc, p, sizes[d]);
    return p;
  };
  auto ceilDiv = [&](Value x, int64_t y) -> Value {
    Value yv = arith::ConstantIndexOp::create(rewriter, loc, y);
    return arith::CeilDivUIOp::create(rewriter, loc, x, yv);
  };
  Value outerCount = product(outerDims);
  Value grid, columnBlocks;
  switch (m.mapping) {
  case ReductionMapping::Warp:
    grid = ceilDiv(outerCount, kWarps);
    break;
  case ReductionMapping::Block:
    grid = outerCount;
    break;
  case ReductionMapping::Column:
    columnBlocks = ceilDiv(sizes[m.columnDim], kLanes);
    grid = arith::MulIOp::create(rewriter, loc, outerCount, columnBlocks);
    break;
  }
  Value fillValue = fill ? fill.getDpsInputOperand(0)->get() : Value();
  Value one = arith::ConstantIndexOp::create(rewriter, loc, 1);
  Value threads = arith::ConstantIndexOp::create(rewriter, loc, kReductionThreads);
  SmallVector<Type> workgroup;
  int64_t smem = m.mapping == ReductionMapping::Block    ? kWarps
                 : m.mapping == ReductionMapping::Column ? kReductionThreads
                                                         : 0;
  if (smem)
    workgroup.push_back(MemRefType::get(
        {smem}, rewriter.getF32Type(), MemRefLayoutAttrInterface{},
        gpu::AddressSpaceAttr::get(ctx, gpu::AddressSpace::Workgroup)));
  auto launch = gpu::LaunchOp::create(
      rewriter, loc, grid, one, one, threads, one, one,
      /*dynamicSharedMemorySize=*/Value(), /*asyncTokenType=*/Type(),
      /*asyncDependencies=*/ValueRange{}, workgroup, /*private=*/TypeRange{},
      Value(), Value(), Value(), FlatSymbolRefAttr::get(ctx, module),
      FlatSymbolRefAttr::get(ctx, function));

  // Kernel side.
  Block &entry = launch.getBody().front();
  OpBuilder kb = OpBuilder::atBlockBegin(&entry);
  ReductionKernel k{m, kb, loc};
  Value tid = launch.getThreadIds().x, bid = launch.getBlockIds().x;
  Value lanes = k.cidx(kLanes), warps = k.cidx(kWarps);
  Value lane = k.remu(tid, lanes), warp = k.divu(tid, lanes);
  Value zero = k.cidx(0);
  SmallVector<Value> idx(op.getNumLoops(), zero);
  Value reductionSize = sizes[r];
  switch (m.mapping) {
  case ReductionMapping::Warp: {
    // Warp w of block b: output 8b + w.
    Value p = k.add(k.mul(bid, warps), warp);
    Value valid = k.ult(p, outerCount);
    k.delinearize(k.select(valid, p, zero), outerDims, sizes, idx);
    Value ub = k.select(valid, reductionSize, zero);
    Value acc = k.butterfly(k.reduceLoop(idx, lane, ub, lanes));
    k.ifThen(arith::AndIOp::create(kb, loc, k.eq(lane, zero), valid),
             [&] { k.store(acc, idx, fillValue); });
    break;
  }
  case ReductionMapping::Block: {
    k.delinearize(bid, outerDims, sizes, idx);
    Value acc =
        k.butterfly(k.reduceLoop(idx, tid, reductionSize, threads));
    Value partials = launch.getWorkgroupAttributions()[0];
    k.ifThen(k.eq(lane, zero), [&] {
      memref::StoreOp::create(kb, loc, acc, partials, ValueRange{warp});
    });
    gpu::BarrierOp::create(kb, loc);
    k.ifThen(k.eq(tid, zero), [&] {
      Value v = memref::LoadOp::create(kb, loc, partials, ValueRange{zero});
      for (int64_t w = 1; w < kWarps; ++w)
        v = k.combine(v, memref::LoadOp::create(kb, loc, partials,
                                                ValueRange{k.cidx(w)}));
      k.store(v, idx, fillValue);
    });
    break;
  }
  case ReductionMapping::Column: {
    Value outer = k.divu(bid, columnBlocks);
    Value column = k.add(k.mul(k.remu(bid, columnBlocks), lanes), lane);
    Value valid = k.ult(column, sizes[m.columnDim]);
    k.delinearize(outer, outerDims, sizes, idx);
    idx[m.columnDim] = k.select(valid, column, zero);
    Value ub = k.select(valid, reductionSize, zero);
    Value acc = k.reduceLoop(idx, warp, ub, warps);
    Value partials = launch.getWorkgroupAttributions()[0];
    memref::StoreOp::create(kb, loc, acc, partials, ValueRange{tid});
    gpu::BarrierOp::create(kb, loc);
    k.ifThen(arith::AndIOp::create(kb, loc, k.eq(warp, zero), valid), [&] {
      Value v = memref::LoadOp::create(kb, loc, partials, ValueRange{lane});
      for (int64_t w = 1; w < kWarps; ++w)
        v = k.combine(v, memref::LoadOp::create(
                             kb, loc, partials,
                             ValueRange{k.add(lane, k.cidx(w * kLanes))}));
      k.store(v, idx, fillValue);
    });
    break;
  }
  }
  gpu::TerminatorOp::create(kb, loc);

  rewriter.eraseOp(op);
  if (fill)
    rewriter.eraseOp(fill);
}
