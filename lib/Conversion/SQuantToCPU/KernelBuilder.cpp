//===- KernelBuilder.cpp - helpers for the CPU kernels --------------------===//

#include "KernelBuilder.h"

#include "mlir/IR/SymbolTable.h"
#include "llvm/ADT/StringMap.h"
#include "llvm/TargetParser/Host.h"

using namespace mlir;
using namespace mlir::squant;
using namespace mlir::squant::cpu;

//===----------------------------------------------------------------------===//
// Target selection
//===----------------------------------------------------------------------===//

bool mlir::squant::hostSupportsCPUTarget(CPUTarget target) {
  llvm::StringMap<bool> features = llvm::sys::getHostCPUFeatures();
  auto has = [&](StringRef f) { return features.lookup(f); };
  switch (target) {
  case CPUTarget::Auto:
  case CPUTarget::Generic:
    return true;
  case CPUTarget::AVX2:
    return has("avx2") && has("fma");
  case CPUTarget::AVX512:
    return has("avx512f") && has("avx512bw") && has("avx512vl") && has("fma");
  }
  return false;
}

CPUTarget mlir::squant::detectHostCPUTarget() {
  if (hostSupportsCPUTarget(CPUTarget::AVX512))
    return CPUTarget::AVX512;
  if (hostSupportsCPUTarget(CPUTarget::AVX2))
    return CPUTarget::AVX2;
  return CPUTarget::Generic;
}

CPUTarget mlir::squant::resolveCPUTarget(CPUTarget target) {
  return target == CPUTarget::Auto ? detectHostCPUTarget() : target;
}

StringRef mlir::squant::stringifyCPUTarget(CPUTarget target) {
  switch (target) {
  case CPUTarget::Auto:
    return "auto";
  case CPUTarget::AVX512:
    return "avx512";
  case CPUTarget::AVX2:
    return "avx2";
  case CPUTarget::Generic:
    return "generic";
  }
  return "unknown";
}

//===----------------------------------------------------------------------===//
// Builders
//===----------------------------------------------------------------------===//

Value mlir::squant::cpu::convertFloat(ImplicitLocOpBuilder &b, Value v,
                                      Type dstElt) {
  Type srcType = v.getType();
  auto vecType = dyn_cast<VectorType>(srcType);
  Type srcElt = vecType ? vecType.getElementType() : srcType;
  if (srcElt == dstElt)
    return v;
  auto withElt = [&](Type elt) -> Type {
    return vecType ? Type(VectorType::get(vecType.getShape(), elt)) : elt;
  };
  unsigned sw = srcElt.getIntOrFloatBitWidth();
  unsigned dw = dstElt.getIntOrFloatBitWidth();
  if (dw > sw)
    return arith::ExtFOp::create(b, withElt(dstElt), v);
  if (dw < sw)
    return arith::TruncFOp::create(b, withElt(dstElt), v);
  Value wide = arith::ExtFOp::create(b, withElt(b.getF32Type()), v);
  return arith::TruncFOp::create(b, withElt(dstElt), wide);
}

SmallVector<Value> mlir::squant::cpu::emitFor(
    ImplicitLocOpBuilder &b, Value lb, Value ub, Value step, ValueRange inits,
    llvm::function_ref<SmallVector<Value>(ImplicitLocOpBuilder &, Value,
                                          ValueRange)>
        body) {
  auto loop = scf::ForOp::create(
      b, lb, ub, step, inits,
      [&](OpBuilder &nb, Location loc, Value iv, ValueRange args) {
        ImplicitLocOpBuilder ib(loc, nb);
        SmallVector<Value> results = body(ib, iv, args);
        scf::YieldOp::create(ib, results);
      });
  return SmallVector<Value>(loop.getResults());
}

void mlir::squant::cpu::emitRowBlocks(
    ImplicitLocOpBuilder &b, Value rows, unsigned threads,
    llvm::function_ref<void(ImplicitLocOpBuilder &, Value, Value)> body) {
  // Blocks of 16 rows: fine enough for load balance with static schedules,
  // coarse enough that the per-block overhead is invisible.
  Value rpb = cIdx(b, kRowsPerBlock);
  Value blocks = arith::CeilDivUIOp::create(b, rows, rpb);
  auto emitBlock = [&](ImplicitLocOpBuilder &ib, Value blk) {
    Value begin = arith::MulIOp::create(ib, blk, rpb);
    Value end = arith::MinUIOp::create(
        ib, arith::AddIOp::create(ib, begin, rpb), rows);
    body(ib, begin, end);
  };
  Value c0 = cIdx(b, 0), c1 = cIdx(b, 1);
  if (threads == 1) {
    emitFor(b, c0, blocks, c1, {},
            [&](ImplicitLocOpBuilder &ib, Value blk, ValueRange) {
              emitBlock(ib, blk);
              return SmallVector<Value>();
            });
    return;
  }
  scf::ParallelOp::create(
      b, ValueRange{c0}, ValueRange{blocks}, ValueRange{c1},
      [&](OpBuilder &nb, Location loc, ValueRange ivs) {
        ImplicitLocOpBuilder ib(loc, nb);
        emitBlock(ib, ivs[0]);
      });
}

void mlir::squant::cpu::emitParallelFor(
    ImplicitLocOpBuilder &b, Value count, unsigned threads,
    llvm::function_ref<void(ImplicitLocOpBuilder &, Value)> body) {
  Value c0 = cIdx(b, 0), c1 = cIdx(b, 1);
  if (threads == 1) {
    emitFor(b, c0, count, c1, {},
            [&](ImplicitLocOpBuilder &ib, Value iv, ValueRange) {
              body(ib, iv);
              return SmallVector<Value>();
            });
    return;
  }
  scf::ParallelOp::create(
      b, ValueRange{c0}, ValueRange{count}, ValueRange{c1},
      [&](OpBuilder &nb, Location loc, ValueRange ivs) {
        ImplicitLocOpBuilder ib(loc, nb);
        body(ib, ivs[0]);
      });
}

std::string mlir::squant::cpu::mangleType(Type t) {
  std::string s;
  llvm::raw_string_ostream os(s);
  t.print(os);
  std::string out;
  for (char c : s) {
    if (llvm::isAlnum(c))
      out += c;
    else if (c == '?')
      out += 'D';
    else if (!out.empty() && out.back() != '_')
      out += '_';
  }
  while (!out.empty() && out.back() == '_')
    out.pop_back();
  return out;
}

func::FuncOp mlir::squant::cpu::getOrCreateKernel(
    ModuleOp module, StringRef name, TypeRange argTypes,
    llvm::function_ref<void(ImplicitLocOpBuilder &, ValueRange)> emitBody) {
  if (auto existing = module.lookupSymbol<func::FuncOp>(name))
    return existing;
  OpBuilder mb = OpBuilder::atBlockEnd(module.getBody());
  Location loc = module.getLoc();
  auto fn = func::FuncOp::create(mb, loc, name,
                                 mb.getFunctionType(argTypes, {}));
  fn.setPrivate();
  Block *entry = fn.addEntryBlock();
  ImplicitLocOpBuilder b(loc, mb.getContext());
  b.setInsertionPointToStart(entry);
  emitBody(b, entry->getArguments());
  func::ReturnOp::create(b);
  return fn;
}

Value mlir::squant::cpu::callIntrinsic(ImplicitLocOpBuilder &b, ModuleOp module,
                                       StringRef name, Type resultType,
                                       ValueRange args) {
  auto fn = module.lookupSymbol<func::FuncOp>(name);
  if (!fn) {
    OpBuilder mb = OpBuilder::atBlockBegin(module.getBody());
    fn = func::FuncOp::create(
        mb, module.getLoc(), name,
        mb.getFunctionType(TypeRange(args), TypeRange{resultType}));
    fn.setPrivate();
  }
  return func::CallOp::create(b, fn, args).getResult(0);
}

Value mlir::squant::cpu::emitCodeAt(ImplicitLocOpBuilder &b, Value codes,
                                    CodeLayout layout, unsigned bits, Value n,
                                    Value k) {
  if (layout == CodeLayout::Codes) {
    Value c = memref::LoadOp::create(b, codes, ValueRange{n, k});
    return arith::IndexCastUIOp::create(b, b.getIndexType(), c);
  }
  Type i64 = b.getI64Type();
  Value bitPos = arith::MulIOp::create(b, k, cIdx(b, bits));
  Value word = arith::DivUIOp::create(b, bitPos, cIdx(b, 32));
  Value shift = arith::RemUIOp::create(b, bitPos, cIdx(b, 32));
  auto loadWord = [&](Value wi) -> Value {
    Value v = layout == CodeLayout::RowMajorWords
                  ? memref::LoadOp::create(b, codes, ValueRange{n, wi})
                  : memref::LoadOp::create(b, codes, ValueRange{wi, n});
    return arith::ExtUIOp::create(b, i64, v);
  };
  Value stream = loadWord(word);
  if (32 % bits != 0) {
    // The code may straddle into the next word.
    Value end = arith::AddIOp::create(b, shift, cIdx(b, bits));
    Value straddles =
        arith::CmpIOp::create(b, arith::CmpIPredicate::ugt, end, cIdx(b, 32));
    Value next = arith::AddIOp::create(b, word, cIdx(b, 1));
    Value hiWord = arith::SelectOp::create(b, straddles, next, word);
    Value hi = arith::ShLIOp::create(b, loadWord(hiWord),
                                     arith::ConstantIntOp::create(b, i64, 32));
    stream = arith::OrIOp::create(b, stream, hi);
  }
  Value sh = arith::IndexCastUIOp::create(b, i64, shift);
  Value code = arith::ShRUIOp::create(b, stream, sh);
  code = arith::AndIOp::create(
      b, code, arith::ConstantIntOp::create(b, i64, (int64_t(1) << bits) - 1));
  return arith::IndexCastUIOp::create(b, b.getIndexType(), code);
}

Value mlir::squant::cpu::emitTableAt(ImplicitLocOpBuilder &b, Value lut,
                                     Value kDim, Value n, Value k,
                                     Value code) {
  SmallVector<Value, 3> idx;
  int64_t rank = cast<MemRefType>(lut.getType()).getRank();
  if (rank >= 2)
    idx.push_back(n);
  if (rank == 3) {
    Value groupLen = arith::DivUIOp::create(b, kDim, dimOf(b, lut, 1));
    idx.push_back(arith::DivUIOp::create(b, k, groupLen));
  }
  idx.push_back(code);
  Value v = memref::LoadOp::create(b, lut, idx);
  return convertFloat(b, v, b.getF32Type());
}
