//===- GPUMapLinalg.cpp - squant-gpu-map-linalg ---------------------------===//
//
// After bufferization, the host functions of a model still compute with
// linalg ops on buffers (RMSNorm, RoPE, attention over the KV cache,
// SwiGLU, residuals, the embedding gather, dense linears) and copy buffers
// (memref.copy: the KV-cache append, materialized activations). This pass
// turns every one of them into a gpu.launch, so that the host code only
// allocates, launches and frees:
//
//  * memref.copy of views (strided, offset: e.g. rows appended to the KV
//    cache) -> linalg.copy, a copy kernel; copies between identity-layout
//    buffers become gpu.memcpy in squant-gpu-host-buffers, and host
//    constants are left to be uploaded there;
//  * reductions over one dim with an associative f32 combiner get a
//    cooperative kernel (LinalgReductionToGPU.cpp: a warp or a block per
//    output, or lanes along a contiguous output dim), and a linalg.fill that
//    only initializes their output is folded into them;
//  * everything else goes the upstream way: linalg -> scf.parallel
//    (linalgOpToParallelLoops), all parallel dims collapsed into one
//    (collapseParallelLoops), tiled by 256 (tileParallelLoop), the tiles
//    mapped to blocks and the points to threads (gpu.mapping), and
//    scf.parallel -> gpu.launch (populateParallelLoopToGPUPatterns); any
//    reduction dims stay sequential loops inside a thread;
//  * memref.get_global and constants used by a kernel are sunk into it
//    (gpu-kernel-outlining then clones the globals into the kernel module).
//
// Launches are named <function>_<kind>_<n> in module squant_kernels (the
// module of the squant kernels, so that a program has one device binary);
// gpu-kernel-outlining (run next by squant-gpu-pipeline) outlines them.
//
//===----------------------------------------------------------------------===//

#include "KernelBuilder.h"
#include "LinalgToGPU.h"
#include "squant/Conversion/Passes.h"

#include "mlir/Conversion/SCFToGPU/SCFToGPU.h"
#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/GPU/Transforms/ParallelLoopMapper.h"
#include "mlir/Dialect/GPU/Utils/GPUUtils.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Linalg/Transforms/Transforms.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/SCF/Transforms/Transforms.h"
#include "mlir/Dialect/SCF/Utils/Utils.h"
#include "mlir/Interfaces/ViewLikeInterface.h"
#include "mlir/Transforms/DialectConversion.h"
#include "llvm/ADT/DenseSet.h"
#include "llvm/ADT/StringMap.h"

namespace mlir::squant {
#define GEN_PASS_DEF_SQUANTGPUMAPLINALG
#include "squant/Conversion/Passes.h.inc"
} // namespace mlir::squant

using namespace mlir;
using namespace mlir::squant::gpugen;

namespace {

/// Threads per block of the elementwise (and sequential-reduction) kernels.
constexpr int64_t kParallelTile = 256;

/// The buffer a memref value views.
Value rootBuffer(Value v) {
  while (Operation *def = v.getDefiningOp()) {
    if (auto view = dyn_cast<ViewLikeOpInterface>(def))
      v = view.getViewSource();
    else if (auto cast = dyn_cast<memref::CastOp>(def))
      v = cast.getSource();
    else
      break;
  }
  return v;
}

bool isHostOnly(Value buffer) {
  Value root = rootBuffer(buffer);
  return root.getDefiningOp<memref::GetGlobalOp>() ||
         root.getDefiningOp<memref::AllocaOp>();
}

/// The linalg.fill right before `op` (in its block) that initializes op's
/// whole output and is its only writer, if any.
linalg::FillOp findInitFill(linalg::GenericOp op) {
  Value out = op.getDpsInitOperand(0)->get();
  Value root = rootBuffer(out);
  for (Operation *prev = op->getPrevNode(); prev; prev = prev->getPrevNode()) {
    auto fill = dyn_cast<linalg::FillOp>(prev);
    if (fill && fill.hasPureBufferSemantics() &&
        fill.getDpsInitOperand(0)->get() == out)
      return fill;
    // Anything else touching the buffer (through any view) ends the search.
    bool touches = false;
    prev->walk([&](Operation *inner) {
      for (Value v : inner->getOperands())
        if (isa<BaseMemRefType>(v.getType()) && rootBuffer(v) == root)
          touches = true;
    });
    if (touches)
      return nullptr;
  }
  return nullptr;
}

/// Kernel kind for the generic path.
std::string kindOf(linalg::LinalgOp op) {
  if (isa<linalg::FillOp>(op))
    return "fill";
  if (isa<linalg::CopyOp>(op))
    return "copy";
  if (op.getNumReductionLoops())
    return "loop_reduce";
  return "map";
}

struct SQuantGPUMapLinalgPass
    : squant::impl::SQuantGPUMapLinalgBase<SQuantGPUMapLinalgPass> {
  void runOnOperation() override {
    ModuleOp module = getOperation();
    for (auto func : llvm::make_early_inc_range(module.getOps<func::FuncOp>()))
      if (!func.isExternal() && failed(mapFunction(func)))
        return signalPassFailure();
  }

  LogicalResult mapFunction(func::FuncOp func) {
    MLIRContext *ctx = &getContext();
    IRRewriter rewriter(ctx);
    // One kernel module for the whole program (the squant kernels' own):
    // one PTX / cubin to load.
    std::string moduleName = kKernelModuleName.str();
    llvm::StringMap<unsigned> counters;
    auto nextName = [&](StringRef kind) {
      unsigned n = counters[kind]++;
      return (func.getName() + "_" + kind + "_" + Twine(n)).str();
    };

    // 1. Device copies -> linalg.copy.
    SmallVector<memref::CopyOp> copies;
    func.walk([&](memref::CopyOp op) { copies.push_back(op); });
    for (memref::CopyOp copy : copies) {
      if (isHostOnly(copy.getSource()) || isHostOnly(copy.getTarget()))
        continue;
      // Whole contiguous buffers: squant-gpu-host-buffers makes the copy a
      // gpu.memcpy (a DMA, no kernel).
      auto identity = [](Value v) {
        return cast<MemRefType>(v.getType()).getLayout().isIdentity();
      };
      if (identity(copy.getSource()) && identity(copy.getTarget()))
        continue;
      rewriter.setInsertionPoint(copy);
      linalg::CopyOp::create(rewriter, copy.getLoc(), copy.getSource(),
                             copy.getTarget());
      rewriter.eraseOp(copy);
    }

    // 2. Linalg ops, in order.
    SmallVector<linalg::LinalgOp> ops;
    func.walk([&](linalg::LinalgOp op) {
      if (!op->getParentOfType<gpu::LaunchOp>())
        ops.push_back(op);
    });
    for (linalg::LinalgOp op : ops)
      if (!op.hasPureBufferSemantics())
        return op->emitError()
               << "squant-gpu-map-linalg: expected linalg ops on buffers "
                  "(run after bufferization)";
    // Cooperative reductions and the fills they absorb, found before any op
    // is rewritten.
    DenseMap<Operation *, std::pair<ReductionMatch, linalg::FillOp>>
        reductions;
    DenseSet<Operation *> absorbed;
    for (linalg::LinalgOp op : ops)
      if (auto generic = dyn_cast<linalg::GenericOp>(op.getOperation()))
        if (std::optional<ReductionMatch> match = matchReduction(generic)) {
          linalg::FillOp fill = findInitFill(generic);
          if (fill)
            absorbed.insert(fill);
          reductions.try_emplace(generic, *match, fill);
        }
    // (outer loop, kernel name) of the generic path, in program order.
    SmallVector<std::pair<scf::ParallelOp, std::string>> loops;
    for (linalg::LinalgOp op : ops) {
      if (absorbed.contains(op))
        continue;
      auto reduction = reductions.find(op);
      if (reduction != reductions.end()) {
        auto &[match, fill] = reduction->second;
        std::string name =
            nextName(("reduce_" + getMappingName(match.mapping)).str());
        emitReductionLaunch(rewriter, match, fill, moduleName, name);
        continue;
      }
      if (op.getNumLoops() == 0)
        return op->emitError() << "squant-gpu-map-linalg: rank-0 linalg ops "
                                  "are not mapped to the GPU";
      std::string name = nextName(kindOf(op));
      rewriter.setInsertionPoint(op);
      FailureOr<linalg::LinalgLoops> generated =
          linalg::linalgOpToParallelLoops(rewriter, op);
      if (failed(generated))
        return op->emitError()
               << "squant-gpu-map-linalg: cannot lower to parallel loops";
      rewriter.eraseOp(op);
      // A leading reduction dim leaves an outer sequential loop on the host;
      // the first parallel loop of the nest is what becomes a launch.
      scf::ParallelOp outer;
      for (Operation *loop : *generated)
        if ((outer = dyn_cast<scf::ParallelOp>(loop)))
          break;
      if (!outer)
        return func.emitError()
               << "squant-gpu-map-linalg: a linalg op has no parallel dims";
      loops.push_back({outer, name});
    }

    // 3. Collapse, tile and map each nest; then convert it to a gpu.launch.
    for (auto &[loop, name] : loops) {
      Operation *next = loop->getNextNode();
      if (loop.getNumLoops() > 1) {
        std::vector<unsigned> all;
        for (unsigned i = 0; i < loop.getNumLoops(); ++i)
          all.push_back(i);
        collapseParallelLoops(rewriter, loop, {all});
        loop = dyn_cast_or_null<scf::ParallelOp>(next->getPrevNode());
        if (!loop)
          return func.emitError()
                 << "squant-gpu-map-linalg: collapsing a loop nest failed";
      }
      auto [tiles, points] =
          scf::tileParallelLoop(loop, {kParallelTile}, /*noMinMaxBounds=*/true);
      AffineMap id = rewriter.getDimIdentityMap();
      auto mapTo = [&](scf::ParallelOp p, gpu::Processor proc) {
        SmallVector<gpu::ParallelLoopDimMappingAttr> dims(
            p.getNumLoops(),
            gpu::ParallelLoopDimMappingAttr::get(ctx, gpu::Processor::Sequential,
                                                 id, id));
        dims[0] = gpu::ParallelLoopDimMappingAttr::get(ctx, proc, id, id);
        return gpu::setMappingAttr(p, dims);
      };
      if (failed(mapTo(tiles, gpu::Processor::BlockX)) ||
          failed(mapTo(points, gpu::Processor::ThreadX)))
        return func.emitError() << "squant-gpu-map-linalg: cannot map loops";
      // Parallel loops nested deeper (after a reduction dim) stay sequential.
      points.getBody()->walk([&](scf::ParallelOp inner) {
        (void)mapTo(inner, gpu::Processor::Sequential);
      });

      RewritePatternSet patterns(ctx);
      populateParallelLoopToGPUPatterns(patterns);
      ConversionTarget target(*ctx);
      target.markUnknownOpDynamicallyLegal([](Operation *) { return true; });
      configureParallelLoopToGPULegality(target);
      if (failed(applyPartialConversion(ArrayRef<Operation *>{tiles}, target,
                                        std::move(patterns))))
        return func.emitError()
               << "squant-gpu-map-linalg: scf.parallel -> gpu.launch failed";
      auto launch = dyn_cast_or_null<gpu::LaunchOp>(next->getPrevNode());
      if (!launch)
        return func.emitError()
               << "squant-gpu-map-linalg: no gpu.launch was created";
      launch.setModuleAttr(FlatSymbolRefAttr::get(ctx, moduleName));
      launch.setFunctionAttr(FlatSymbolRefAttr::get(ctx, name));
    }
    finalizeParallelLoopToGPUConversion(func);
    func.walk([](gpu::LaunchOp launch) {
      launch->removeAttr("SCFToGPU_visited");
    });

    // 4. Globals and constants used by kernels move into them.
    SmallVector<gpu::LaunchOp> launches;
    func.walk([&](gpu::LaunchOp launch) { launches.push_back(launch); });
    for (gpu::LaunchOp launch : launches)
      if (failed(sinkOperationsIntoLaunchOp(launch, [](Operation *op) {
            return isa<memref::GetGlobalOp, arith::ConstantOp>(op);
          })))
        return launch.emitError()
               << "squant-gpu-map-linalg: cannot sink constants";
    return success();
  }
};

} // namespace
