//===- KernelBuilder.cpp - building squant GPU kernels --------------------===//

#include "KernelBuilder.h"
#include "squant/Dialect/SQuant/IR/SQuantOps.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Bufferization/IR/Bufferization.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include "mlir/IR/PatternMatch.h"
#include "mlir/IR/SymbolTable.h"
#include "llvm/Support/raw_ostream.h"

#include <numeric>

using namespace mlir;
using namespace mlir::squant::gpugen;

//===----------------------------------------------------------------------===//
// Emitter
//===----------------------------------------------------------------------===//

Value Emitter::idx(int64_t v) { return arith::ConstantIndexOp::create(b, loc, v); }
Value Emitter::i32(int64_t v) {
  return arith::ConstantIntOp::create(b, loc, b.getI32Type(), v);
}
Value Emitter::f32(double v) {
  return arith::ConstantOp::create(b, loc, b.getF32Type(),
                                   b.getF32FloatAttr(static_cast<float>(v)));
}
Value Emitter::add(Value x, Value y) { return arith::AddIOp::create(b, loc, x, y); }
Value Emitter::add(Value x, int64_t y) {
  if (y == 0)
    return x;
  return add(x, x.getType().isIndex() ? idx(y) : i32(y));
}
Value Emitter::sub(Value x, Value y) { return arith::SubIOp::create(b, loc, x, y); }
Value Emitter::mul(Value x, Value y) { return arith::MulIOp::create(b, loc, x, y); }
Value Emitter::mul(Value x, int64_t y) {
  if (y == 1)
    return x;
  return mul(x, x.getType().isIndex() ? idx(y) : i32(y));
}
Value Emitter::divu(Value x, int64_t y) {
  if (y == 1)
    return x;
  return arith::DivUIOp::create(b, loc, x, x.getType().isIndex() ? idx(y) : i32(y));
}
Value Emitter::remu(Value x, int64_t y) {
  return arith::RemUIOp::create(b, loc, x, x.getType().isIndex() ? idx(y) : i32(y));
}
Value Emitter::minu(Value x, Value y) { return arith::MinUIOp::create(b, loc, x, y); }
Value Emitter::minu(Value x, int64_t y) {
  return minu(x, x.getType().isIndex() ? idx(y) : i32(y));
}
Value Emitter::ult(Value x, Value y) {
  return arith::CmpIOp::create(b, loc, arith::CmpIPredicate::ult, x, y);
}
Value Emitter::ult(Value x, int64_t y) {
  return ult(x, x.getType().isIndex() ? idx(y) : i32(y));
}
Value Emitter::andi(Value x, Value y) { return arith::AndIOp::create(b, loc, x, y); }
Value Emitter::select(Value c, Value t, Value f) {
  return arith::SelectOp::create(b, loc, c, t, f);
}
Value Emitter::ceilDiv(Value x, int64_t y) { return divu(add(x, y - 1), y); }
Value Emitter::slt(Value x, Value y) {
  return arith::CmpIOp::create(b, loc, arith::CmpIPredicate::slt, x, y);
}
Value Emitter::sle(Value x, Value y) {
  return arith::CmpIOp::create(b, loc, arith::CmpIPredicate::sle, x, y);
}
Value Emitter::eq(Value x, Value y) {
  return arith::CmpIOp::create(b, loc, arith::CmpIPredicate::eq, x, y);
}
Value Emitter::ori(Value x, Value y) { return arith::OrIOp::create(b, loc, x, y); }
Value Emitter::shl(Value x, Value y) { return arith::ShLIOp::create(b, loc, x, y); }
Value Emitter::shru(Value x, Value y) {
  return arith::ShRUIOp::create(b, loc, x, y);
}
Value Emitter::maxs(Value x, Value y) {
  return arith::MaxSIOp::create(b, loc, x, y);
}
Value Emitter::mins(Value x, Value y) {
  return arith::MinSIOp::create(b, loc, x, y);
}
Value Emitter::toIndex(Value v) {
  if (v.getType().isIndex())
    return v;
  return arith::IndexCastUIOp::create(b, loc, b.getIndexType(), v);
}
Value Emitter::toI32(Value v) {
  if (v.getType().isInteger(32))
    return v;
  if (v.getType().isIndex())
    return arith::IndexCastUIOp::create(b, loc, b.getI32Type(), v);
  if (v.getType().getIntOrFloatBitWidth() < 32)
    return arith::ExtUIOp::create(b, loc, b.getI32Type(), v);
  return arith::TruncIOp::create(b, loc, b.getI32Type(), v);
}
Value Emitter::fadd(Value x, Value y) { return arith::AddFOp::create(b, loc, x, y); }
Value Emitter::fsub(Value x, Value y) { return arith::SubFOp::create(b, loc, x, y); }
Value Emitter::fmul(Value x, Value y) { return arith::MulFOp::create(b, loc, x, y); }
Value Emitter::fdiv(Value x, Value y) { return arith::DivFOp::create(b, loc, x, y); }
Value Emitter::fmax(Value x, Value y) {
  return arith::MaximumFOp::create(b, loc, x, y);
}
Value Emitter::fmin(Value x, Value y) {
  return arith::MinimumFOp::create(b, loc, x, y);
}
Value Emitter::fneg(Value x) { return arith::NegFOp::create(b, loc, x); }
Value Emitter::fcmp(arith::CmpFPredicate p, Value x, Value y) {
  return arith::CmpFOp::create(b, loc, p, x, y);
}
Value Emitter::fabs(Value x) {
  // math.absf would become a libdevice call (or an illegal llvm.intr.fabs)
  // in the NVVM lowering; clearing the sign bit is exact everywhere.
  Type i32 = b.getI32Type();
  Value bits = arith::BitcastOp::create(b, loc, i32, x);
  bits = arith::AndIOp::create(b, loc, bits, this->i32(0x7fffffff));
  return arith::BitcastOp::create(b, loc, b.getF32Type(), bits);
}
Value Emitter::exp2(Value x) {
  return math::Exp2Op::create(b, loc, x);
}
Value Emitter::uitofp(Value v) {
  if (v.getType().isIndex())
    v = arith::IndexCastUIOp::create(b, loc, b.getI64Type(), v);
  return arith::UIToFPOp::create(b, loc, b.getF32Type(), v);
}

Value Emitter::toF32(Value v) {
  Type t = v.getType();
  if (t.isF32())
    return v;
  return arith::ExtFOp::create(b, loc, b.getF32Type(), v);
}
Value Emitter::fromF32(Value v, Type type) {
  if (type.isF32())
    return v;
  return arith::TruncFOp::create(b, loc, type, v);
}
Value Emitter::fma(Value a, Value x, Value c) {
  return math::FmaOp::create(b, loc, a, x, c);
}

Value Emitter::load(Value memref, Value i) {
  return memref::LoadOp::create(b, loc, memref, ValueRange{i});
}
void Emitter::store(Value v, Value memref, Value i) {
  memref::StoreOp::create(b, loc, v, memref, ValueRange{i});
}
Value Emitter::vload(Value memref, Value i, VectorType type, int64_t alignment) {
  auto op = vector::LoadOp::create(b, loc, type, memref, ValueRange{i});
  if (alignment > 1)
    op.setAlignment(alignment);
  return op;
}
void Emitter::vstore(Value v, Value memref, Value i, int64_t alignment) {
  auto op = vector::StoreOp::create(b, loc, v, memref, ValueRange{i});
  if (alignment > 1)
    op.setAlignment(alignment);
}
Value Emitter::extract(Value vec, int64_t pos) {
  return vector::ExtractOp::create(b, loc, vec, ArrayRef<int64_t>{pos});
}

void Emitter::ifThen(Value cond, llvm::function_ref<void()> then) {
  auto op = scf::IfOp::create(b, loc, cond, /*withElseRegion=*/false);
  OpBuilder::InsertionGuard g(b);
  b.setInsertionPoint(op.thenBlock()->getTerminator());
  then();
}

SmallVector<Value>
Emitter::ifThenElse(Value cond, TypeRange types,
                    llvm::function_ref<SmallVector<Value>()> then,
                    llvm::function_ref<SmallVector<Value>()> otherwise) {
  auto op = scf::IfOp::create(
      b, loc, cond,
      [&](OpBuilder &nb, Location l) {
        OpBuilder::InsertionGuard g(b);
        b.setInsertionPoint(nb.getInsertionBlock(), nb.getInsertionPoint());
        SmallVector<Value> r = then();
        scf::YieldOp::create(b, l, r);
      },
      [&](OpBuilder &nb, Location l) {
        OpBuilder::InsertionGuard g(b);
        b.setInsertionPoint(nb.getInsertionBlock(), nb.getInsertionPoint());
        SmallVector<Value> r = otherwise();
        scf::YieldOp::create(b, l, r);
      });
  (void)types;
  return SmallVector<Value>(op.getResults());
}

SmallVector<Value> Emitter::forLoop(
    Value lb, Value ub, Value step, ValueRange inits,
    llvm::function_ref<SmallVector<Value>(Value, ValueRange)> body) {
  auto op = scf::ForOp::create(
      b, loc, lb, ub, step, inits,
      [&](OpBuilder &nb, Location l, Value iv, ValueRange iters) {
        OpBuilder::InsertionGuard g(b);
        b.setInsertionPoint(nb.getInsertionBlock(), nb.getInsertionPoint());
        SmallVector<Value> r = body(iv, iters);
        scf::YieldOp::create(b, l, r);
      });
  return SmallVector<Value>(op.getResults());
}

void Emitter::forLoop(Value lb, Value ub, Value step,
                      llvm::function_ref<void(Value)> body) {
  forLoop(lb, ub, step, ValueRange{}, [&](Value iv, ValueRange) {
    body(iv);
    return SmallVector<Value>{};
  });
}

//===----------------------------------------------------------------------===//
// Host side
//===----------------------------------------------------------------------===//

FailureOr<Value> mlir::squant::gpugen::getInputBuffer(OpBuilder &b,
                                                     Location loc, Value v,
                                                     std::string &reason) {
  if (auto tensorType = dyn_cast<RankedTensorType>(v.getType())) {
    auto memrefType =
        MemRefType::get(tensorType.getShape(), tensorType.getElementType());
    return Value(bufferization::ToBufferOp::create(b, loc, memrefType, v,
                                                   /*read_only=*/true));
  }
  auto memrefType = dyn_cast<MemRefType>(v.getType());
  if (!memrefType) {
    reason = "expected a ranked tensor or memref operand";
    return failure();
  }
  if (!memrefType.getLayout().isIdentity() || memrefType.getMemorySpace()) {
    llvm::raw_string_ostream os(reason);
    os << "expected contiguous memrefs with an identity layout in the default "
          "memory space, found "
       << memrefType;
    return failure();
  }
  return v;
}

Value mlir::squant::gpugen::flatten(OpBuilder &b, Location loc, Value memref) {
  auto type = cast<MemRefType>(memref.getType());
  auto flatType = MemRefType::get({ShapedType::kDynamic}, type.getElementType());
  Value flat = memref;
  if (type.getRank() != 1) {
    SmallVector<ReassociationIndices> reassoc(1);
    for (int64_t i = 0; i < type.getRank(); ++i)
      reassoc[0].push_back(i);
    flat = memref::CollapseShapeOp::create(b, loc, memref, reassoc);
  }
  if (flat.getType() != flatType)
    flat = memref::CastOp::create(b, loc, flatType, flat);
  return flat;
}

Value mlir::squant::gpugen::hostDim(OpBuilder &b, Location loc, Value shaped,
                                    int64_t d) {
  int64_t size = cast<ShapedType>(shaped.getType()).getDimSize(d);
  if (!ShapedType::isDynamic(size))
    return arith::ConstantIndexOp::create(b, loc, size);
  if (isa<RankedTensorType>(shaped.getType()))
    return tensor::DimOp::create(b, loc, shaped, d);
  return memref::DimOp::create(b, loc, shaped, d);
}

Value mlir::squant::gpugen::allocLike(OpBuilder &b, Location loc, Value like,
                                      Type elt) {
  auto shaped = cast<ShapedType>(like.getType());
  SmallVector<Value> dyn;
  for (int64_t d = 0; d < shaped.getRank(); ++d)
    if (shaped.isDynamicDim(d))
      dyn.push_back(hostDim(b, loc, like, d));
  return memref::AllocOp::create(b, loc,
                                 MemRefType::get(shaped.getShape(), elt), dyn);
}

Value mlir::squant::gpugen::allocWorkspace(OpBuilder &b, Location loc,
                                           Value size) {
  return memref::AllocOp::create(
      b, loc, MemRefType::get({ShapedType::kDynamic}, b.getF32Type()),
      ValueRange{size});
}

gpu::GPUFuncOp mlir::squant::gpugen::getOrCreateKernel(ModuleOp module,
                                                       const KernelSpec &spec,
                                                       KernelBodyFn body) {
  MLIRContext *ctx = module.getContext();
  auto kernelModule =
      dyn_cast_or_null<gpu::GPUModuleOp>(SymbolTable::lookupSymbolIn(
          module, StringAttr::get(ctx, kKernelModuleName)));
  if (!kernelModule) {
    OpBuilder mb = OpBuilder::atBlockEnd(module.getBody());
    kernelModule = gpu::GPUModuleOp::create(mb, module.getLoc(),
                                            kKernelModuleName);
    module->setAttr(gpu::GPUDialect::getContainerModuleAttrName(),
                    UnitAttr::get(ctx));
  }
  if (auto existing = dyn_cast_or_null<gpu::GPUFuncOp>(
          SymbolTable::lookupSymbolIn(kernelModule,
                                      StringAttr::get(ctx, spec.name))))
    return existing;

  OpBuilder mb = OpBuilder::atBlockEnd(kernelModule.getBody());
  Location loc = NameLoc::get(StringAttr::get(ctx, spec.name));
  SmallVector<Type> workgroupTypes;
  auto workgroupSpace =
      gpu::AddressSpaceAttr::get(ctx, gpu::AddressSpace::Workgroup);
  for (auto [i, size] : llvm::enumerate(spec.workgroupF32))
    workgroupTypes.push_back(MemRefType::get(
        {size},
        i < spec.workgroupTypes.size() ? spec.workgroupTypes[i]
                                       : Type(mb.getF32Type()),
        MemRefLayoutAttrInterface{}, workgroupSpace));
  auto fnType = FunctionType::get(ctx, spec.argTypes, {});
  auto func = gpu::GPUFuncOp::create(mb, loc, spec.name, fnType,
                                     workgroupTypes, TypeRange{});
  func->setAttr(gpu::GPUDialect::getKernelFuncAttrName(), UnitAttr::get(ctx));
  // Shared buffers are read and written with 128-bit accesses.
  for (unsigned i = 0; i < workgroupTypes.size(); ++i)
    func.setWorkgroupAttributionAttr(
        i, "llvm.align", IntegerAttr::get(IntegerType::get(ctx, 64), 16));
  func.setKnownBlockSizeAttr(DenseI32ArrayAttr::get(ctx, spec.block));
  if (spec.grid)
    func.setKnownGridSizeAttr(DenseI32ArrayAttr::get(ctx, *spec.grid));
  for (auto [i, ro] : llvm::enumerate(spec.readOnly))
    if (ro && isa<MemRefType>(spec.argTypes[i]))
      func.setArgAttr(i, "llvm.readonly", UnitAttr::get(ctx));
  if (!spec.strategy.empty())
    func->setAttr(kStrategyAttrName, StringAttr::get(ctx, spec.strategy));
  if (spec.maxRegisters > 0)
    func->setAttr("nvvm.maxnreg", IntegerAttr::get(IntegerType::get(ctx, 32),
                                                   spec.maxRegisters));

  Block &entry = func.getBody().front();
  OpBuilder kb = OpBuilder::atBlockBegin(&entry);
  Emitter e{kb, loc};
  ValueRange args = entry.getArguments().take_front(spec.argTypes.size());
  SmallVector<Value> workgroup(func.getWorkgroupAttributions().begin(),
                               func.getWorkgroupAttributions().end());
  body(e, args, workgroup);
  gpu::ReturnOp::create(kb, loc);
  return func;
}

void mlir::squant::gpugen::launchKernel(OpBuilder &b, Location loc,
                                        gpu::GPUFuncOp kernel,
                                        std::array<Value, 3> grid,
                                        ValueRange args) {
  ArrayRef<int32_t> block = *kernel.getKnownBlockSize();
  Emitter e{b, loc};
  gpu::KernelDim3 gridDim{grid[0], grid[1], grid[2]};
  gpu::KernelDim3 blockDim{e.idx(block[0]), e.idx(block[1]), e.idx(block[2])};
  gpu::LaunchFuncOp::create(b, loc, kernel, gridDim, blockDim,
                            /*dynamicSharedMemorySize=*/Value(), args);
}

//===----------------------------------------------------------------------===//
// Kernel side
//===----------------------------------------------------------------------===//

Value mlir::squant::gpugen::threadIdX(Emitter &e) {
  return gpu::ThreadIdOp::create(e.b, e.loc, gpu::Dimension::x);
}

Value mlir::squant::gpugen::blockId(Emitter &e, gpu::Dimension d) {
  return gpu::BlockIdOp::create(e.b, e.loc, d);
}

Value mlir::squant::gpugen::warpSum(Emitter &e, Value v) {
  for (int32_t offset = kWarpSize / 2; offset >= 1; offset /= 2) {
    auto shuffle = gpu::ShuffleOp::create(e.b, e.loc, v, offset, kWarpSize,
                                          gpu::ShuffleMode::XOR);
    v = arith::AddFOp::create(e.b, e.loc, v, shuffle.getShuffleResult());
  }
  return v;
}

Value mlir::squant::gpugen::warpReduce(
    Emitter &e, Value v, llvm::function_ref<Value(Value, Value)> combine) {
  for (int32_t offset = kWarpSize / 2; offset >= 1; offset /= 2) {
    auto shuffle = gpu::ShuffleOp::create(e.b, e.loc, v, offset, kWarpSize,
                                          gpu::ShuffleMode::XOR);
    v = combine(v, shuffle.getShuffleResult());
  }
  return v;
}

WordGroup mlir::squant::gpugen::getWordGroup(unsigned bits) {
  unsigned words = bits / std::gcd(bits, 32u);
  return {bits, words, 32 * words / bits};
}

Value mlir::squant::gpugen::extractCode(Emitter &e, ArrayRef<Value> words,
                                        unsigned bits, unsigned i) {
  unsigned bit = i * bits, w = bit / 32, shift = bit % 32;
  Value v = words[w];
  if (shift)
    v = arith::ShRUIOp::create(e.b, e.loc, v, e.i32(shift));
  if (shift + bits > 32) {
    // Straddles into the next word: its low bits are the code's high bits.
    Value hi = arith::ShLIOp::create(e.b, e.loc, words[w + 1], e.i32(32 - shift));
    v = arith::OrIOp::create(e.b, e.loc, v, hi);
  }
  if (shift + bits != 32)
    v = arith::AndIOp::create(e.b, e.loc, v, e.i32((1u << bits) - 1));
  return v;
}

std::string mlir::squant::gpugen::typeTag(Type t) {
  std::string s;
  llvm::raw_string_ostream os(s);
  t.print(os);
  return s;
}

//===----------------------------------------------------------------------===//
// squant operand analysis
//===----------------------------------------------------------------------===//

Operation *mlir::squant::gpugen::findSqueezeLLMUnpack(Value codes,
                                                      Operation *consumer) {
  if (isa<RankedTensorType>(codes.getType())) {
    auto unpack = codes.getDefiningOp<UnpackOp>();
    if (unpack && unpack.getLayout() == PackLayout::SqueezeLLM)
      return unpack;
    return nullptr;
  }
  // Memref form: walk back from the consumer to the unpack that writes the
  // buffer; any other op touching the buffer in between defeats fusion
  // (except other squant consumers that only read it).
  for (Operation *op = consumer->getPrevNode(); op; op = op->getPrevNode()) {
    auto unpack = dyn_cast<UnpackOp>(op);
    if (unpack && unpack.getInit() == codes)
      return unpack.getLayout() == PackLayout::SqueezeLLM ? op : nullptr;
    bool touches = llvm::is_contained(op->getOperands(), codes);
    bool readsAsCodes = (isa<LutMatmulOp>(op) &&
                         cast<LutMatmulOp>(op).getCodes() == codes &&
                         cast<LutMatmulOp>(op).getInit() != codes) ||
                        (isa<LutDequantOp>(op) &&
                         cast<LutDequantOp>(op).getCodes() == codes &&
                         cast<LutDequantOp>(op).getInit() != codes);
    if (touches && !readsAsCodes)
      return nullptr;
    if (op->getNumRegions() && !touches) {
      // A region might write the buffer through an alias; be conservative.
      bool used = false;
      op->walk([&](Operation *inner) {
        used |= llvm::is_contained(inner->getOperands(), codes);
      });
      if (used)
        return nullptr;
    }
  }
  return nullptr;
}

void mlir::squant::gpugen::eraseUnpackIfDead(RewriterBase &rewriter,
                                             Operation *op) {
  auto unpack = dyn_cast_or_null<UnpackOp>(op);
  if (!unpack)
    return;
  if (unpack->getNumResults()) {
    if (unpack->use_empty())
      rewriter.eraseOp(unpack);
    return;
  }
  Value codes = unpack.getInit();
  for (Operation *user : codes.getUsers())
    if (user != op && !isa<memref::DeallocOp>(user))
      return;
  rewriter.eraseOp(unpack);
  // The codes buffer itself, if we can see its whole life.
  if (auto alloc = codes.getDefiningOp<memref::AllocOp>()) {
    for (Operation *user : llvm::make_early_inc_range(codes.getUsers()))
      rewriter.eraseOp(user);
    rewriter.eraseOp(alloc);
  }
}
