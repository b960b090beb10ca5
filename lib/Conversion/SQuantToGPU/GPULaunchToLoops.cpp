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
#include "llvm/ADT/MapVector.h"

namespace mlir::squant {
#define GEN_PASS_DEF_SQUANTGPULAUNCHTOLOOPS
#include "squant/Conversion/Passes.h.inc"
} // namespace mlir::squant

using namespace mlir;

namespace {

constexpr int64_t kWarpSize = 32;

bool isSync(Operation *op) { return isa<gpu::BarrierOp, gpu::ShuffleOp>(op); }

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
    if (isSync(op) && op->getBlock() != entry) {
      op->emitError() << "squant-gpu-launch-to-loops: barriers and shuffles "
                         "must be at the top level of the kernel body";
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

struct Phase {
  SmallVector<Operation *> ops;
};

LogicalResult serialize(gpu::LaunchFuncOp launch) {
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

  Block *entry = &kernel.getBody().front();
  // Phases: a barrier ends one (and disappears); a shuffle starts one.
  SmallVector<Phase> phases(1);
  DenseMap<Operation *, unsigned> phaseOf;
  for (Operation &op : entry->without_terminator()) {
    if (isa<gpu::BarrierOp>(op)) {
      phases.emplace_back();
      continue;
    }
    if (isa<gpu::ShuffleOp>(op) && !phases.back().ops.empty())
      phases.emplace_back();
    phaseOf[&op] = phases.size() - 1;
    phases.back().ops.push_back(&op);
  }

  // Values crossing phases: defined by a top-level op of phase i, used
  // (possibly inside a region) by a top-level op of phase j != i.
  llvm::MapVector<Value, unsigned> crossing; // value -> defining phase
  SmallVector<DenseMap<Operation *, bool>> remat(phases.size());
  for (auto [i, phase] : llvm::enumerate(phases))
    for (Operation *op : phase.ops)
      for (Value res : op->getResults())
        for (Operation *user : res.getUsers()) {
          Operation *top = entry->findAncestorOpInBlock(*user);
          if (!top || phaseOf.lookup(top) == i)
            continue;
          if (op->getNumOperands() == 0 && op->getNumRegions() == 0 &&
              isMemoryEffectFree(op) && !isa<gpu::ShuffleOp>(op) &&
              op->getDialect() &&
              !isa<gpu::GPUDialect>(op->getDialect()))
            remat[phaseOf.lookup(top)][op] = true;
          else
            crossing.insert({res, i});
        }
  for (auto &[v, i] : crossing) {
    Type t = v.getType();
    if (!t.isIntOrIndexOrFloat() && !isa<VectorType>(t))
      return v.getDefiningOp()->emitError()
             << "squant-gpu-launch-to-loops: cannot keep a value of type " << t
             << " per thread across a barrier or shuffle";
  }

  OpBuilder b(launch);
  Location loc = launch.getLoc();
  gpu::KernelDim3 grid = launch.getGridSizeOperandValues();
  gpu::KernelDim3 block = launch.getBlockSizeOperandValues();
  Value c0 = arith::ConstantIndexOp::create(b, loc, 0);
  Value c1 = arith::ConstantIndexOp::create(b, loc, 1);
  Value threads = arith::MulIOp::create(
      b, loc, block.x, arith::MulIOp::create(b, loc, block.y, block.z));

  // Host buffers: workgroup memory (one block at a time) and per-thread
  // storage of crossing values. With a constant block size they are stack
  // buffers at the function entry (so a launch inside a loop does not grow
  // the stack); otherwise stack buffers sized at the launch.
  std::optional<int64_t> sx = getConstantIntValue(block.x),
                         sy = getConstantIntValue(block.y),
                         sz = getConstantIntValue(block.z);
  OpBuilder allocBuilder(launch);
  auto parentFunc = launch->getParentOfType<FunctionOpInterface>();
  if (sx && sy && sz && parentFunc && !parentFunc.getFunctionBody().empty())
    allocBuilder.setInsertionPointToStart(&parentFunc.getFunctionBody().front());
  auto stackBuffer = [&](ArrayRef<int64_t> shape, Type elt) -> Value {
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
    return memref::AllocaOp::create(b, loc, MemRefType::get(shape, elt), dyn);
  };

  IRMapping common;
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
  DenseMap<Value, Value> storage;
  for (auto &[v, i] : crossing)
    storage[v] = stackBuffer({ShapedType::kDynamic}, v.getType());

  auto forLoop = [&](Value ub, function_ref<void(Value)> body) {
    auto loop = scf::ForOp::create(b, loc, c0, ub, c1);
    OpBuilder::InsertionGuard g(b);
    b.setInsertionPoint(loop.getBody()->getTerminator());
    body(loop.getInductionVar());
  };

  LogicalResult status = success();
  forLoop(grid.z, [&](Value bz) {
    forLoop(grid.y, [&](Value by) {
      forLoop(grid.x, [&](Value bx) {
        for (auto [pi, phase] : llvm::enumerate(phases)) {
          forLoop(block.z, [&](Value tz) {
            forLoop(block.y, [&](Value ty) {
              forLoop(block.x, [&](Value tx) {
                IRMapping map = common;
                Value tid = arith::AddIOp::create(
                    b, loc, tx,
                    arith::MulIOp::create(
                        b, loc, block.x,
                        arith::AddIOp::create(
                            b, loc, ty,
                            arith::MulIOp::create(b, loc, block.y, tz))));
                auto dims = [&](gpu::Dimension d, Value x, Value y, Value z) {
                  return d == gpu::Dimension::x   ? x
                         : d == gpu::Dimension::y ? y
                                                  : z;
                };
                // Re-create constants used here but defined elsewhere.
                for (auto &[op, _] : remat[pi])
                  b.clone(*op, map);
                // Reload values of earlier phases.
                for (Operation *op : phase.ops)
                  op->walk([&](Operation *inner) {
                    for (Value operand : inner->getOperands()) {
                      auto it = crossing.find(operand);
                      if (it == crossing.end() || it->second == pi ||
                          map.contains(operand))
                        continue;
                      map.map(operand, memref::LoadOp::create(
                                           b, loc, storage[operand], tid));
                    }
                  });
                for (Operation *op : phase.ops) {
                  if (auto s = dyn_cast<gpu::ShuffleOp>(op)) {
                    // Partner lane, read from the operand's per-thread buffer
                    // (all lanes finished the previous phase).
                    Value own = map.lookupOrDefault(s.getValue());
                    auto it = storage.find(s.getValue());
                    if (it == storage.end()) {
                      // A uniform operand: every lane holds the same value.
                      map.map(s.getShuffleResult(), own);
                      map.map(s.getValid(),
                              arith::ConstantIntOp::create(b, loc, 1, 1));
                      continue;
                    }
                    Type i32 = b.getI32Type();
                    Value lane = arith::RemUIOp::create(
                        b, loc, tid,
                        arith::ConstantIndexOp::create(b, loc, kWarpSize));
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
                    Value valid = arith::CmpIOp::create(
                        b, loc, arith::CmpIPredicate::ult, src, width);
                    Value srcIdx = arith::IndexCastOp::create(
                        b, loc, b.getIndexType(),
                        arith::SelectOp::create(b, loc, valid, src, lane32));
                    Value other = memref::LoadOp::create(
                        b, loc, it->second,
                        ValueRange{arith::AddIOp::create(b, loc, base, srcIdx)});
                    map.map(s.getShuffleResult(),
                            arith::SelectOp::create(b, loc, valid, other, own));
                    map.map(s.getValid(), valid);
                  } else if (auto t = dyn_cast<gpu::ThreadIdOp>(op)) {
                    map.map(t.getResult(), dims(t.getDimension(), tx, ty, tz));
                  } else if (auto t = dyn_cast<gpu::BlockIdOp>(op)) {
                    map.map(t.getResult(), dims(t.getDimension(), bx, by, bz));
                  } else if (auto t = dyn_cast<gpu::BlockDimOp>(op)) {
                    map.map(t.getResult(), dims(t.getDimension(), block.x, block.y, block.z));
                  } else if (auto t = dyn_cast<gpu::GridDimOp>(op)) {
                    map.map(t.getResult(), dims(t.getDimension(), grid.x, grid.y, grid.z));
                  } else if (auto t = dyn_cast<gpu::LaneIdOp>(op)) {
                    map.map(t.getResult(), arith::RemUIOp::create(
                                   b, loc, tid,
                                   arith::ConstantIndexOp::create(b, loc, kWarpSize)));
                  } else {
                    Operation *clone = b.clone(*op, map);
                    // Ids inside regions, and alignment hints (host buffers
                    // are not 16-byte aligned).
                    SmallVector<Operation *> ids;
                    clone->walk([&](Operation *inner) {
                      if (auto l = dyn_cast<vector::LoadOp>(inner))
                        l.setAlignment(std::nullopt);
                      if (auto st = dyn_cast<vector::StoreOp>(inner))
                        st.setAlignment(std::nullopt);
                      if (isa<gpu::ThreadIdOp, gpu::BlockIdOp, gpu::BlockDimOp,
                              gpu::GridDimOp, gpu::LaneIdOp>(inner))
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
                        repl = arith::RemUIOp::create(
                            b, loc, tid,
                            arith::ConstantIndexOp::create(b, loc, kWarpSize));
                      id->getResult(0).replaceAllUsesWith(repl);
                      id->erase();
                    }
                  }
                  // Keep values used by later phases.
                  for (Value res : op->getResults())
                    if (auto it = storage.find(res); it != storage.end())
                      memref::StoreOp::create(b, loc, map.lookup(res),
                                              it->second, tid);
                }
              });
            });
          });
        }
      });
    });
  });
  if (failed(status))
    return failure();
  launch.erase();
  return success();
}

struct SQuantGPULaunchToLoopsPass
    : squant::impl::SQuantGPULaunchToLoopsBase<SQuantGPULaunchToLoopsPass> {
  void runOnOperation() override {
    ModuleOp module = getOperation();
    SmallVector<gpu::LaunchFuncOp> launches;
    module.walk([&](gpu::LaunchFuncOp op) { launches.push_back(op); });
    for (gpu::LaunchFuncOp launch : launches)
      if (failed(serialize(launch)))
        return signalPassFailure();
    for (auto gpuModule :
         llvm::make_early_inc_range(module.getOps<gpu::GPUModuleOp>()))
      gpuModule.erase();
    module->removeAttr(gpu::GPUDialect::getContainerModuleAttrName());
  }
};

} // namespace
