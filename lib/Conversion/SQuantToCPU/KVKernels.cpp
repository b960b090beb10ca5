//===- KVKernels.cpp - KV-cache kernel specs and kv_dequantize ------------===//
//
// The kernel signatures shared by the KV-cache kernels, and the
// kv_dequantize kernel: parallel over (batch row, KV head), each requested
// token decoded once per channel exactly as docs/kv-cache.md defines it
// (KVCacheAccess::decodeToken) and converted to the output type.
//
//===----------------------------------------------------------------------===//

#include "KVKernels.h"
#include "KVCacheAccess.h"

#include "mlir/Dialect/LLVMIR/LLVMDialect.h"

using namespace mlir;
using namespace mlir::squant;
using namespace mlir::squant::cpu;

MemRefType mlir::squant::cpu::kvKernelArgType(Type elt, int64_t rank) {
  SmallVector<int64_t> shape(rank, ShapedType::kDynamic);
  SmallVector<int64_t> strides(rank, ShapedType::kDynamic);
  strides.back() = 1;
  auto layout = StridedLayoutAttr::get(elt.getContext(), ShapedType::kDynamic,
                                       strides);
  return MemRefType::get(shape, elt, layout);
}

static int64_t componentRank(KVCacheFormatAttr format, KVComponent c) {
  if (c == KVComponent::ValueScale && format.getMethod() == KVMethod::KVQuant)
    return 3;
  return 4;
}

SmallVector<Type> KVSpecBase::tableAndCacheArgTypes() const {
  SmallVector<Type> types;
  if (tableTypes.size() == 2) {
    types.push_back(kvKernelArgType(tableTypes[0], 3));
    types.push_back(kvKernelArgType(tableTypes[1], 1));
  }
  for (auto [c, t] : llvm::zip(format.getComponents(), cacheTypes))
    types.push_back(kvKernelArgType(t, componentRank(format, c)));
  return types;
}

std::string KVSpecBase::mangle() const {
  std::string s = stringifyCPUTarget(target).str();
  s += "_t" + std::to_string(threads);
  s += format.getMethod() == KVMethod::KIVI ? "_kivi" : "_kvquant";
  s += "_b" + std::to_string(format.getBits());
  s += "_g" + std::to_string(format.getGroup());
  s += "_s" + std::to_string(format.getSink());
  s += "_r" + std::to_string(format.getResidual());
  s += "_o" + std::to_string(format.getOutliers());
  s += "_d" + std::to_string(headDim);
  for (Type t : tableTypes)
    s += "_" + mangleType(t);
  s += "_c";
  for (Type t : cacheTypes)
    s += "_" + mangleType(t);
  return s;
}

std::string KVAppendSpec::kernelName() const {
  return "__squant_cpu_kv_append_" + mangle() + "_k" + mangleType(keyType) +
         "_v" + mangleType(valueType);
}

SmallVector<Type> KVAppendSpec::argTypes(MLIRContext *ctx) const {
  SmallVector<Type> types = {kvKernelArgType(keyType, 4),
                             kvKernelArgType(valueType, 4),
                             IndexType::get(ctx)};
  types.append(tableAndCacheArgTypes());
  return types;
}

std::string KVAttentionSpec::kernelName() const {
  auto hex = [](float f) {
    return llvm::utohexstr(llvm::bit_cast<uint32_t>(f), /*LowerCase=*/true);
  };
  return "__squant_cpu_kv_attention_" + mangle() + "_q" +
         std::to_string(groupSize) + "_" + stringifyRopeStyle(rope).str() +
         "_" + hex(theta) + "_" + hex(scale) + "_" + mangleType(queryType) +
         "_" + mangleType(outType);
}

SmallVector<Type> KVAttentionSpec::argTypes(MLIRContext *ctx) const {
  SmallVector<Type> types = {kvKernelArgType(queryType, 3),
                             IndexType::get(ctx), IndexType::get(ctx)};
  types.append(tableAndCacheArgTypes());
  types.push_back(kvKernelArgType(outType, 3));
  return types;
}

std::string KVDequantizeSpec::kernelName() const {
  return "__squant_cpu_kv_dequantize_" + mangle() + "_k" +
         mangleType(keyOutType) + "_v" + mangleType(valueOutType);
}

SmallVector<Type> KVDequantizeSpec::argTypes(MLIRContext *ctx) const {
  SmallVector<Type> types = tableAndCacheArgTypes();
  types.append({IndexType::get(ctx), IndexType::get(ctx),
                kvKernelArgType(keyOutType, 4),
                kvKernelArgType(valueOutType, 4)});
  return types;
}

void mlir::squant::cpu::setKernelTargetFeatures(func::FuncOp fn,
                                                CPUTarget target) {
  StringRef features;
  if (target == CPUTarget::AVX512)
    features = "+avx2,+fma,+avx512f,+avx512bw,+avx512vl";
  else if (target == CPUTarget::AVX2)
    features = "+avx2,+fma";
  if (!features.empty())
    fn->setAttr("target_features",
                LLVM::TargetFeaturesAttr::get(fn.getContext(), features));
}

//===----------------------------------------------------------------------===//
// kv_dequantize
//===----------------------------------------------------------------------===//

func::FuncOp
mlir::squant::cpu::getOrCreateKVDequantizeKernel(ModuleOp module,
                                                 const KVDequantizeSpec &spec) {
  SmallVector<Type> argTypes = spec.argTypes(module.getContext());
  func::FuncOp fn = getOrCreateKernel(
      module, spec.kernelName(), argTypes,
      [&](ImplicitLocOpBuilder &b, ValueRange args) {
        unsigned numTables = spec.tableTypes.size();
        unsigned numCache = spec.cacheTypes.size();
        ValueRange tables = args.take_front(numTables);
        ValueRange cache = args.slice(numTables, numCache);
        Value start = args[numTables + numCache];
        Value len = args[numTables + numCache + 1];
        Value keyOut = args[numTables + numCache + 2];
        Value valueOut = args[numTables + numCache + 3];
        KVCacheAccess c(b, spec.format, spec.headDim, tables, cache);
        KVCacheAccess::Bounds bounds = c.bounds(b, len);
        Value count = dimOf(b, keyOut, 2);
        Value items = arith::MulIOp::create(b, c.batch, c.heads);
        emitParallelFor(
            b, items, spec.threads, [&](ImplicitLocOpBuilder &ib, Value item) {
              Value bi = arith::DivUIOp::create(ib, item, c.heads);
              Value h = arith::RemUIOp::create(ib, item, c.heads);
              emitFor(
                  ib, cIdx(ib, 0), count, cIdx(ib, 1), {},
                  [&](ImplicitLocOpBuilder &jb, Value i, ValueRange) {
                    Value t = arith::AddIOp::create(jb, start, i);
                    Value ge0 = arith::CmpIOp::create(
                        jb, arith::CmpIPredicate::sge, t, cIdx(jb, 0));
                    Value ltN = arith::CmpIOp::create(
                        jb, arith::CmpIPredicate::slt, t, bounds.n);
                    Value inRange = arith::AndIOp::create(jb, ge0, ltN);
                    for (bool key : {true, false}) {
                      Value out = key ? keyOut : valueOut;
                      Type elt = cast<MemRefType>(out.getType()).getElementType();
                      auto store = [&](ImplicitLocOpBuilder &kb, Value d,
                                       Value v) {
                        memref::StoreOp::create(kb, convertFloat(kb, v, elt),
                                                out, ValueRange{bi, h, i, d});
                      };
                      scf::IfOp::create(
                          jb, inRange,
                          [&](OpBuilder &nb, Location loc) {
                            ImplicitLocOpBuilder kb(loc, nb);
                            c.decodeToken(kb, key, bounds, bi, h, t, store);
                            scf::YieldOp::create(kb);
                          },
                          [&](OpBuilder &nb, Location loc) {
                            ImplicitLocOpBuilder kb(loc, nb);
                            emitFor(kb, cIdx(kb, 0), cIdx(kb, spec.headDim),
                                    cIdx(kb, 1), {},
                                    [&](ImplicitLocOpBuilder &lb, Value d,
                                        ValueRange) {
                                      store(lb, d, cF32(lb, 0.0f));
                                      return SmallVector<Value>();
                                    });
                            scf::YieldOp::create(kb);
                          });
                    }
                    return SmallVector<Value>();
                  });
            });
      });
  setKernelTargetFeatures(fn, spec.target);
  return fn;
}
