//===- GPULaunchToLoops.cpp - squant-gpu-launch-to-loops ------------------===//
//
// Executes GPU kernels on the host, for testing kernels without a GPU. A
// gpu.launch_func becomes
//
//   workgroup buffers, per-thread buffers for values live across phases
//   scf.for bz, by, bx in grid {              // blocks, one after another
//     scf.for tz, ty, tx in block { phase 0 } // threads of one block
//     scf.for tz, ty, tx in block { phase 1 }
//     ...
//   }
//
// The kernel body is cut into phases at every top-level gpu.barrier (all
// threads finish a phase before any starts the next, which is what a
// barrier guarantees) and before every top-level gpu.shuffle (a shuffle
// reads its partner lane's operand, which the partner wrote into a
// per-thread buffer in an earlier phase). A value defined in one phase and
// used in a later one is stored per thread and reloaded; operand-free
// constants are re-created instead.
//
// With `reverse`, blocks and the threads of each phase run in reverse
// order, so that a result depending on the order of threads between
// barriers (a race on a GPU) changes.
//
// Sync loops: an scf.for at the top level of the body (or of another sync
// loop's body) whose body contains barriers or shuffles is run as a host
// loop around the phases of its body. Its bounds must be the same for every
// thread of a block (as on a GPU, where a barrier inside the loop would
// otherwise deadlock): they are read from thread 0. Its iteration arguments
// are kept per thread: the initial values are stored before the loop, the
// yielded ones after each iteration, and the loop's results are read from
// the same buffers.
//
//===----------------------------------------------------------------------===//

#include "squant/Conversion/Passes.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Utils/StaticValueUtils.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/IRMapping.h"
#include "mlir/IR/SymbolTable.h"
#include "mlir/Interfaces/FunctionInterfaces.h"
#include "mlir/Interfaces/SideEffectInterfaces.h"
#include "llvm/ADT/DenseMap.h"
#include "llvm/ADT/DenseSet.h"
#include "llvm/ADT/MapVector.h"

#include <vector>

namespace mlir::squant {
#define GEN_PASS_DEF_SQUANTGPULAUNCHTOLOOPS
#include "squant/Conversion/Passes.h.inc"
} // namespace mlir::squant

using namespace mlir;

namespace {

constexpr int64_t kWarpSize = 32;

bool isSync(Operation *op) { return isa<gpu::BarrierOp, gpu::ShuffleOp>(op); }

bool containsSync(Operation *op) {
  bool found = false;
  op->walk([&](Operation *inner) {
    if (isSync(inner))
      found = true;
  });
  return found;
}

/// A loop that the emulation runs on the host: an scf.for at the top level
/// of the kernel body or of another such loop's body, containing barriers
/// or shuffles.
bool isSyncLoop(Operation *op, Block *entry) {
  if (!isa_and_nonnull<scf::ForOp>(op) || !containsSync(op))
    return false;
  Block *block = op->getBlock();
  while (block != entry) {
    Operation *parent = block->getParentOp();
    if (!isa<scf::ForOp>(parent))
      return false;
    block = parent->getBlock();
  }
  return true;
}

/// Ops the host emulation understands inside a kernel body.
LogicalResult checkKernel(gpu::GPUFuncOp kernel) {
  if (!kernel.getPrivateAttributions().empty())
    return kernel.emitError()
           << "squant-gpu-launch-to-loops: private memory attributions are "
              "not supported";
  if (!kernel.getBody().hasOneBlock())
    return kernel.emitError() << "squant-gpu-launch-to-loops: the kernel body "
                                 "must be one block (structured control flow)";
  Block *entry = &kernel.getBody().front();
  WalkResult r = kernel.walk([&](Operation *op) {
    if (isSync(op) && op->getBlock() != entry &&
        !isSyncLoop(op->getParentOp(), entry)) {
      op->emitError() << "squant-gpu-launch-to-loops: barriers and shuffles "
                         "must be at the top level of the kernel body (or of "
                         "an scf.for body at that level)";
      return WalkResult::interrupt();
    }
    if (auto shuffle = dyn_cast<gpu::ShuffleOp>(op)) {
      auto width = getConstantIntValue(shuffle.getWidth());
      if (!width || *width != kWarpSize) {
        op->emitError() << "squant-gpu-launch-to-loops: only shuffles of "
                           "width 32 are supported";
        return WalkResult::interrupt();
      }
    }
    if (op->getDialect() && isa<gpu::GPUDialect>(op->getDialect()) &&
        !isa<gpu::BarrierOp, gpu::ShuffleOp, gpu::ThreadIdOp, gpu::BlockIdOp,
             gpu::BlockDimOp, gpu::GridDimOp, gpu::LaneIdOp, gpu::ReturnOp,
             gpu::GPUFuncOp>(op)) {
      op->emitError() << "squant-gpu-launch-to-loops: unsupported op in a "
                         "kernel";
      return WalkResult::interrupt();
    }
    return WalkResult::advance();
  });
  return failure(r.wasInterrupted());
}

/// A piece of the kernel body: a phase (ops every thread runs, in order) or
/// a sync loop (a host loop around the items of its body).
struct Item {
  unsigned id = 0;              // phase id; for a loop, the id of its entry
  SmallVector<Operation *> ops; // phase
  scf::ForOp loop;              // sync loop
  std::vector<Item> body;       // sync loop body
  unsigned yieldId = 0;         // sync loop: the id of its yield
  bool isPhase() const { return !loop; }
};

/// Where a value comes from, seen from the phases (other values: the id of
/// the phase defining them).
constexpr unsigned kCommon = ~0u;      // kernel argument, workgroup buffer
constexpr unsigned kUniform = ~0u - 1; // induction variable of a sync loop
constexpr unsigned kCarried = ~0u - 2; // iteration argument / loop result

class Serializer {
public:
  Serializer(gpu::LaunchFuncOp launch, gpu::GPUFuncOp kernel, bool reverse)
      : launch(launch), kernel(kernel), entry(&kernel.getBody().front()),
        b(launch), loc(launch.getLoc()), reverse(reverse) {}

  LogicalResult run();

private:
  void buildItems(Block *block, std::vector<Item> &out);
  Operation *segmentAncestor(Operation *op) const;
  unsigned definingPhase(Value v) const;
  /// The iteration argument whose buffer holds carried value `v`.
  Value carriedKey(Value v) const;
  static bool isRemat(Operation *op) {
    return op->getNumOperands() == 0 && op->getNumRegions() == 0 &&
           isMemoryEffectFree(op) && op->getDialect() &&
           !isa<gpu::GPUDialect>(op->getDialect());
  }
  LogicalResult analyze();

  Value stackBuffer(ArrayRef<int64_t> shape, Type elt);
  void forLoop(Value ub, function_ref<void(Value)> body);
  void threadLoops(function_ref<void(Value tx, Value ty, Value tz, Value tid)>
                       body);
  Value resolve(Value v, unsigned pi, IRMapping &map, const IRMapping &hostMap,
                Value tid);
  void resolveOperands(ArrayRef<Operation *> ops, unsigned pi, IRMapping &map,
                       const IRMapping &hostMap, Value tid);
  Value hostValue(Value v, const IRMapping &hostMap);
  void emitItems(ArrayRef<Item> items, const IRMapping &hostMap);
  void emitPhase(const Item &item, const IRMapping &hostMap);
  void emitLoop(const Item &item, const IRMapping &hostMap);
  void emitShuffle(gpu::ShuffleOp s, IRMapping &map, Value tid);
  void cloneOp(Operation *op, IRMapping &map, Value tx, Value ty, Value tz,
               Value tid);

  gpu::LaunchFuncOp launch;
  gpu::GPUFuncOp kernel;
  Block *entry;
  OpBuilder b;
  Location loc;
  bool reverse;

  std::vector<Item> items;
  unsigned nextId = 0;
  DenseSet<Block *> segments;
  DenseMap<Operation *, unsigned> phaseOf;
  llvm::MapVector<Value, unsigned> crossing; // value -> defining phase
  DenseMap<Value, Value> storage;            // crossing value -> buffer
  DenseMap<Value, Value> carried;            // iteration argument -> buffer

  gpu::KernelDim3 grid, block;
  Value c0, c1, threads;
  Value bx, by, bz;
  IRMapping common;
  OpBuilder allocBuilder = OpBuilder(launch);
  std::optional<int64_t> sx, sy, sz;
};

void Serializer::buildItems(Block *blk, std::vector<Item> &out) {
  segments.insert(blk);
  auto phase = [&]() -> Item & {
    if (out.empty() || !out.back().isPhase()) {
      out.emplace_back();
      out.back().id = nextId++;
    }
    return out.back();
  };
  phase();
  for (Operation &op : blk->without_terminator()) {
    if (isa<gpu::BarrierOp>(op)) {
      // A barrier ends a phase and disappears.
      out.emplace_back();
      out.back().id = nextId++;
      continue;
    }
    if (isSyncLoop(&op, entry)) {
      Item loopItem;
      loopItem.loop = cast<scf::ForOp>(op);
      loopItem.id = nextId++;
      phaseOf[&op] = loopItem.id;
      buildItems(loopItem.loop.getBody(), loopItem.body);
      loopItem.yieldId = nextId++;
      phaseOf[loopItem.loop.getBody()->getTerminator()] = loopItem.yieldId;
      out.push_back(std::move(loopItem));
      continue;
    }
    // A shuffle starts a phase (its partner's operand must be complete).
    if (isa<gpu::ShuffleOp>(op) && !phase().ops.empty()) {
      out.emplace_back();
      out.back().id = nextId++;
    }
    Item &cur = phase();
    phaseOf[&op] = cur.id;
    cur.ops.push_back(&op);
  }
}

Operation *Serializer::segmentAncestor(Operation *op) const {
  while (op && !segments.contains(op->getBlock()))
    op = op->getParentOp();
  return op;
}

unsigned Serializer::definingPhase(Value v) const {
  if (auto res = dyn_cast<OpResult>(v)) {
    Operation *top = segmentAncestor(res.getOwner());
    if (top == res.getOwner() && isa<scf::ForOp>(top) &&
        segments.contains(cast<scf::ForOp>(top).getBody()))
      return kCarried;
    return phaseOf.lookup(top);
  }
  auto arg = cast<BlockArgument>(v);
  Block *owner = arg.getOwner();
  if (owner == entry)
    return kCommon;
  if (segments.contains(owner)) {
    auto loop = cast<scf::ForOp>(owner->getParentOp());
    return arg == loop.getInductionVar() ? kUniform : kCarried;
  }
  return phaseOf.lookup(segmentAncestor(owner->getParentOp()));
}

Value Serializer::carriedKey(Value v) const {
  if (auto res = dyn_cast<OpResult>(v)) {
    auto loop = cast<scf::ForOp>(res.getOwner());
    return loop.getRegionIterArgs()[res.getResultNumber()];
  }
  return v;
}

LogicalResult Serializer::analyze() {
  buildItems(entry, items);
  // Values crossing phases: used by an op of another phase (or a sync
  // loop's entry or yield) than the one defining them.
  LogicalResult result = success();
  kernel.walk([&](Operation *user) {
    if (user == kernel.getOperation())
      return;
    Operation *top = segmentAncestor(user);
    if (!top || !phaseOf.count(top))
      return;
    unsigned pi = phaseOf.lookup(top);
    for (Value v : user->getOperands()) {
      unsigned d = definingPhase(v);
      if (d == kCommon || d == kUniform || d == kCarried || d == pi)
        continue;
      // Values defined inside the user's own op (nested regions).
      if (Operation *def = v.getDefiningOp())
        if (top->isAncestor(def) && top != def)
          continue;
      if (auto arg = dyn_cast<BlockArgument>(v))
        if (top->isProperAncestor(arg.getOwner()->getParentOp()) ||
            top == arg.getOwner()->getParentOp())
          continue;
      if (Operation *def = v.getDefiningOp(); def && isRemat(def))
        continue;
      crossing.insert({v, d});
    }
  });
  for (auto &[v, i] : crossing) {
    Type t = v.getType();
    if (!t.isIntOrIndexOrFloat() && !isa<VectorType>(t)) {
      if (Operation *def = v.getDefiningOp())
        def->emitError()
            << "squant-gpu-launch-to-loops: cannot keep a value of type " << t
            << " per thread across a barrier or shuffle";
      else
        kernel.emitError()
            << "squant-gpu-launch-to-loops: cannot keep a value of type " << t
            << " per thread across a barrier or shuffle";
      result = failure();
    }
  }
  // Iteration arguments of sync loops are kept per thread.
  kernel.walk([&](scf::ForOp loop) {
    if (!segments.contains(loop.getBody()))
      return;
    for (BlockArgument arg : loop.getRegionIterArgs()) {
      Type t = arg.getType();
      if (!t.isIntOrIndexOrFloat() && !isa<VectorType>(t)) {
        loop.emitError()
            << "squant-gpu-launch-to-loops: cannot keep a loop value of type "
            << t << " per thread";
        result = failure();
      }
    }
  });
  return result;
}

Value Serializer::stackBuffer(ArrayRef<int64_t> shape, Type elt) {
  if (sx && sy && sz) {
    SmallVector<int64_t> staticShape(shape);
    for (int64_t &d : staticShape)
      if (ShapedType::isDynamic(d))
        d = *sx * *sy * *sz;
    return memref::AllocaOp::create(allocBuilder, loc,
                                    MemRefType::get(staticShape, elt));
  }
  SmallVector<Value> dyn;
  for (int64_t d : shape)
    if (ShapedType::isDynamic(d))
      dyn.push_back(threads);
  OpBuilder ab(launch);
  return memref::AllocaOp::create(ab, loc, MemRefType::get(shape, elt), dyn);
}

void Serializer::forLoop(Value ub, function_ref<void(Value)> body) {
  auto loop = scf::ForOp::create(b, loc, c0, ub, c1);
  OpBuilder::InsertionGuard g(b);
  b.setInsertionPoint(loop.getBody()->getTerminator());
  Value iv = loop.getInductionVar();
  if (reverse) // ub - 1 - iv
    iv = arith::SubIOp::create(b, loc, arith::SubIOp::create(b, loc, ub, c1),
                               iv);
  body(iv);
}

void Serializer::threadLoops(
    function_ref<void(Value, Value, Value, Value)> body) {
  forLoop(block.z, [&](Value tz) {
    forLoop(block.y, [&](Value ty) {
      forLoop(block.x, [&](Value tx) {
        Value tid = arith::AddIOp::create(
            b, loc, tx,
            arith::MulIOp::create(
                b, loc, block.x,
                arith::AddIOp::create(
                    b, loc, ty, arith::MulIOp::create(b, loc, block.y, tz))));
        body(tx, ty, tz, tid);
      });
    });
  });
}

Value Serializer::resolve(Value v, unsigned pi, IRMapping &map,
                          const IRMapping &hostMap, Value tid) {
  if (Value m = map.lookupOrNull(v))
    return m;
  if (Value h = hostMap.lookupOrNull(v)) {
    map.map(v, h);
    return h;
  }
  unsigned d = definingPhase(v);
  Value r;
  if (d == kCarried) {
    r = memref::LoadOp::create(b, loc, carried.lookup(carriedKey(v)), tid);
  } else if (auto it = storage.find(v); it != storage.end() && d != pi) {
    r = memref::LoadOp::create(b, loc, it->second, tid);
  } else if (Operation *def = v.getDefiningOp(); def && isRemat(def) &&
                                                 d != pi) {
    r = b.clone(*def)->getResult(cast<OpResult>(v).getResultNumber());
  } else {
    return Value();
  }
  map.map(v, r);
  return r;
}

void Serializer::resolveOperands(ArrayRef<Operation *> ops, unsigned pi,
                                 IRMapping &map, const IRMapping &hostMap,
                                 Value tid) {
  for (Operation *op : ops)
    op->walk([&](Operation *inner) {
      for (Value operand : inner->getOperands()) {
        unsigned d = definingPhase(operand);
        if (d == pi)
          continue;
        resolve(operand, pi, map, hostMap, tid);
      }
    });
}

Value Serializer::hostValue(Value v, const IRMapping &hostMap) {
  if (Value h = hostMap.lookupOrNull(v))
    return h;
  if (Value m = common.lookupOrNull(v))
    return m;
  if (Operation *def = v.getDefiningOp(); def && isRemat(def))
    return b.clone(*def)->getResult(cast<OpResult>(v).getResultNumber());
  if (definingPhase(v) == kCarried)
    return memref::LoadOp::create(b, loc, carried.lookup(carriedKey(v)), c0);
  if (auto it = storage.find(v); it != storage.end())
    return memref::LoadOp::create(b, loc, it->second, c0);
  return Value();
}

void Serializer::emitShuffle(gpu::ShuffleOp s, IRMapping &map, Value tid) {
  // The partner lane's value, read from the operand's per-thread buffer (all
  // lanes finished the previous phase).
  Value own = map.lookupOrDefault(s.getValue());
  Value key = s.getValue();
  Value buffer;
  if (definingPhase(key) == kCarried)
    buffer = carried.lookup(carriedKey(key));
  else if (auto it = storage.find(key); it != storage.end())
    buffer = it->second;
  if (!buffer) {
    // A uniform operand: every lane holds the same value.
    map.map(s.getShuffleResult(), own);
    map.map(s.getValid(), arith::ConstantIntOp::create(b, loc, 1, 1));
    return;
  }
  Type i32 = b.getI32Type();
  Value lane = arith::RemUIOp::create(
      b, loc, tid, arith::ConstantIndexOp::create(b, loc, kWarpSize));
  Value base = arith::SubIOp::create(b, loc, tid, lane);
  Value lane32 = arith::IndexCastOp::create(b, loc, i32, lane);
  Value off = map.lookupOrDefault(s.getOffset());
  Value src;
  switch (s.getMode()) {
  case gpu::ShuffleMode::XOR:
    src = arith::XOrIOp::create(b, loc, lane32, off);
    break;
  case gpu::ShuffleMode::DOWN:
    src = arith::AddIOp::create(b, loc, lane32, off);
    break;
  case gpu::ShuffleMode::UP:
    src = arith::SubIOp::create(b, loc, lane32, off);
    break;
  case gpu::ShuffleMode::IDX:
    src = off;
    break;
  }
  Value width = map.lookupOrDefault(s.getWidth());
  Value valid =
      arith::CmpIOp::create(b, loc, arith::CmpIPredicate::ult, src, width);
  Value srcIdx = arith::IndexCastOp::create(
      b, loc, b.getIndexType(),
      arith::SelectOp::create(b, loc, valid, src, lane32));
  Value other = memref::LoadOp::create(
      b, loc, buffer, ValueRange{arith::AddIOp::create(b, loc, base, srcIdx)});
  map.map(s.getShuffleResult(),
          arith::SelectOp::create(b, loc, valid, other, own));
  map.map(s.getValid(), valid);
}

void Serializer::cloneOp(Operation *op, IRMapping &map, Value tx, Value ty,
                         Value tz, Value tid) {
  auto dims = [&](gpu::Dimension d, Value x, Value y, Value z) {
    return d == gpu::Dimension::x ? x : d == gpu::Dimension::y ? y : z;
  };
  auto laneOf = [&]() -> Value {
    return arith::RemUIOp::create(
        b, loc, tid, arith::ConstantIndexOp::create(b, loc, kWarpSize));
  };
  if (auto t = dyn_cast<gpu::ThreadIdOp>(op)) {
    map.map(t.getResult(), dims(t.getDimension(), tx, ty, tz));
    return;
  }
  if (auto t = dyn_cast<gpu::BlockIdOp>(op)) {
    map.map(t.getResult(), dims(t.getDimension(), bx, by, bz));
    return;
  }
  if (auto t = dyn_cast<gpu::BlockDimOp>(op)) {
    map.map(t.getResult(), dims(t.getDimension(), block.x, block.y, block.z));
    return;
  }
  if (auto t = dyn_cast<gpu::GridDimOp>(op)) {
    map.map(t.getResult(), dims(t.getDimension(), grid.x, grid.y, grid.z));
    return;
  }
  if (auto t = dyn_cast<gpu::LaneIdOp>(op)) {
    map.map(t.getResult(), laneOf());
    return;
  }
  Operation *clone = b.clone(*op, map);
  // Ids inside regions, and alignment hints (host buffers are not 16-byte
  // aligned).
  SmallVector<Operation *> ids;
  clone->walk([&](Operation *inner) {
    if (auto l = dyn_cast<vector::LoadOp>(inner))
      l.setAlignment(std::nullopt);
    if (auto st = dyn_cast<vector::StoreOp>(inner))
      st.setAlignment(std::nullopt);
    if (isa<gpu::ThreadIdOp, gpu::BlockIdOp, gpu::BlockDimOp, gpu::GridDimOp,
            gpu::LaneIdOp>(inner))
      ids.push_back(inner);
  });
  for (Operation *id : ids) {
    Value repl;
    OpBuilder::InsertionGuard g(b);
    b.setInsertionPoint(id);
    if (auto t = dyn_cast<gpu::ThreadIdOp>(id))
      repl = dims(t.getDimension(), tx, ty, tz);
    else if (auto t = dyn_cast<gpu::BlockIdOp>(id))
      repl = dims(t.getDimension(), bx, by, bz);
    else if (auto t = dyn_cast<gpu::BlockDimOp>(id))
      repl = dims(t.getDimension(), block.x, block.y, block.z);
    else if (auto t = dyn_cast<gpu::GridDimOp>(id))
      repl = dims(t.getDimension(), grid.x, grid.y, grid.z);
    else
      repl = laneOf();
    id->getResult(0).replaceAllUsesWith(repl);
    id->erase();
  }
}

void Serializer::emitPhase(const Item &item, const IRMapping &hostMap) {
  threadLoops([&](Value tx, Value ty, Value tz, Value tid) {
    IRMapping map = common;
    resolveOperands(item.ops, item.id, map, hostMap, tid);
    for (Operation *op : item.ops) {
      if (auto s = dyn_cast<gpu::ShuffleOp>(op))
        emitShuffle(s, map, tid);
      else
        cloneOp(op, map, tx, ty, tz, tid);
      // Keep values used by other phases.
      for (Value res : op->getResults())
        if (auto it = storage.find(res); it != storage.end())
          memref::StoreOp::create(b, loc, map.lookup(res), it->second, tid);
    }
  });
}

void Serializer::emitLoop(const Item &item, const IRMapping &hostMap) {
  scf::ForOp loop = item.loop;
  Value lb = hostValue(loop.getLowerBound(), hostMap);
  Value ub = hostValue(loop.getUpperBound(), hostMap);
  Value step = hostValue(loop.getStep(), hostMap);
  // Initial iteration arguments, per thread.
  Operation *loopOp = loop.getOperation();
  if (!loop.getInitArgs().empty())
    threadLoops([&](Value, Value, Value, Value tid) {
      IRMapping map = common;
      resolveOperands(ArrayRef<Operation *>(), item.id, map, hostMap, tid);
      for (auto [arg, init] :
           llvm::zip(loop.getRegionIterArgs(), loop.getInitArgs())) {
        Value v = resolve(init, item.id, map, hostMap, tid);
        memref::StoreOp::create(b, loc, v, carried.lookup(arg), tid);
      }
    });
  (void)loopOp;
  auto hostLoop = scf::ForOp::create(b, loc, lb, ub, step);
  OpBuilder::InsertionGuard g(b);
  b.setInsertionPoint(hostLoop.getBody()->getTerminator());
  IRMapping inner = hostMap;
  inner.map(loop.getInductionVar(), hostLoop.getInductionVar());
  emitItems(item.body, inner);
  // Yielded values become the next iteration's arguments: read all of a
  // thread's, then store them.
  auto yield = cast<scf::YieldOp>(loop.getBody()->getTerminator());
  if (!yield.getOperands().empty())
    threadLoops([&](Value, Value, Value, Value tid) {
      IRMapping map = common;
      SmallVector<Value> vals;
      for (Value y : yield.getOperands())
        vals.push_back(resolve(y, item.yieldId, map, inner, tid));
      for (auto [arg, v] : llvm::zip(loop.getRegionIterArgs(), vals))
        memref::StoreOp::create(b, loc, v, carried.lookup(arg), tid);
    });
}

void Serializer::emitItems(ArrayRef<Item> list, const IRMapping &hostMap) {
  for (const Item &item : list) {
    if (item.isPhase())
      emitPhase(item, hostMap);
    else
      emitLoop(item, hostMap);
  }
}

LogicalResult Serializer::run() {
  if (failed(analyze()))
    return failure();

  grid = launch.getGridSizeOperandValues();
  block = launch.getBlockSizeOperandValues();
  c0 = arith::ConstantIndexOp::create(b, loc, 0);
  c1 = arith::ConstantIndexOp::create(b, loc, 1);
  threads = arith::MulIOp::create(
      b, loc, block.x, arith::MulIOp::create(b, loc, block.y, block.z));

  // Host buffers: workgroup memory (one block at a time) and per-thread
  // storage of crossing values. With a constant block size they are stack
  // buffers at the function entry (so a launch inside a loop does not grow
  // the stack); otherwise stack buffers sized at the launch.
  sx = getConstantIntValue(block.x);
  sy = getConstantIntValue(block.y);
  sz = getConstantIntValue(block.z);
  auto parentFunc = launch->getParentOfType<FunctionOpInterface>();
  if (sx && sy && sz && parentFunc && !parentFunc.getFunctionBody().empty())
    allocBuilder.setInsertionPointToStart(
        &parentFunc.getFunctionBody().front());

  for (auto [arg, operand] :
       llvm::zip(entry->getArguments().take_front(kernel.getNumArguments()),
                 launch.getKernelOperands()))
    common.map(arg, operand);
  for (BlockArgument attr : kernel.getWorkgroupAttributions()) {
    auto t = cast<MemRefType>(attr.getType());
    if (!t.hasStaticShape())
      return kernel.emitError() << "squant-gpu-launch-to-loops: workgroup "
                                   "buffers must have static shapes";
    common.map(attr, stackBuffer(t.getShape(), t.getElementType()));
  }
  for (auto &[v, i] : crossing)
    storage[v] = stackBuffer({ShapedType::kDynamic}, v.getType());
  kernel.walk([&](scf::ForOp loop) {
    if (segments.contains(loop.getBody()))
      for (BlockArgument arg : loop.getRegionIterArgs())
        carried[arg] = stackBuffer({ShapedType::kDynamic}, arg.getType());
  });

  forLoop(grid.z, [&](Value z) {
    bz = z;
    forLoop(grid.y, [&](Value y) {
      by = y;
      forLoop(grid.x, [&](Value x) {
        bx = x;
        emitItems(items, IRMapping());
      });
    });
  });
  launch.erase();
  return success();
}

LogicalResult serialize(gpu::LaunchFuncOp launch, bool reverse) {
  auto kernel = SymbolTable::lookupNearestSymbolFrom<gpu::GPUFuncOp>(
      launch, launch.getKernel());
  if (!kernel)
    return launch.emitError() << "squant-gpu-launch-to-loops: kernel "
                              << launch.getKernel() << " not found";
  if (launch.getAsyncToken() || !launch.getAsyncDependencies().empty())
    return launch.emitError()
           << "squant-gpu-launch-to-loops: async launches are not supported";
  if (failed(checkKernel(kernel)))
    return failure();
  return Serializer(launch, kernel, reverse).run();
}

struct SQuantGPULaunchToLoopsPass
    : squant::impl::SQuantGPULaunchToLoopsBase<SQuantGPULaunchToLoopsPass> {
  using Base::Base;

  void runOnOperation() override {
    ModuleOp module = getOperation();
    SmallVector<gpu::LaunchFuncOp> launches;
    module.walk([&](gpu::LaunchFuncOp op) { launches.push_back(op); });
    for (gpu::LaunchFuncOp launch : launches)
      if (failed(serialize(launch, reverse)))
        return signalPassFailure();
    for (auto gpuModule :
         llvm::make_early_inc_range(module.getOps<gpu::GPUModuleOp>()))
      gpuModule.erase();
    module->removeAttr(gpu::GPUDialect::getContainerModuleAttrName());
  }
};

} // namespace
