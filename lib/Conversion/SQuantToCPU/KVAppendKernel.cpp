//===- KVAppendKernel.cpp - the kv_append CPU kernel ----------------------===//
//
// Quantize-on-append in place, parallel over (batch row, KV head); each
// item appends its tokens in order. The arithmetic is that of
// docs/kv-cache.md operation by operation, so the cache is bit-identical to
// squant-decompose's and to the Python reference. What differs is the cost:
//
// * KVQuant outliers: the reference ranks every channel against every other
//   (O(D^2) per vector); here the O slots are filled by O selection passes
//   over the channels (O(O * D)), each taking the largest score that comes
//   after the previous slot's in the order (score descending, channel
//   ascending) -- the same channels in the same order. The value scale (the
//   largest non-outlier magnitude) is one more pass.
// * Packing: eight codes are exactly B bytes, ORed into one word.
// * KIVI: one pass per group for min/max, one per element for the codes.
//
//===----------------------------------------------------------------------===//

#include "KVCacheAccess.h"
#include "KVKernels.h"

#include "mlir/Dialect/Math/IR/Math.h"

#include <limits>

using namespace mlir;
using namespace mlir::squant;
using namespace mlir::squant::cpu;

namespace {

class KVAppendEmitter {
public:
  KVAppendEmitter(const KVAppendSpec &spec, ImplicitLocOpBuilder &b,
                  ValueRange args)
      : spec(spec), b(b), keys(args[0]), values(args[1]), position(args[2]),
        c(b, spec.format, spec.headDim,
          args.slice(3, spec.tableTypes.size()),
          args.drop_front(3 + spec.tableTypes.size())) {}

  void emit();

private:
  Value storeAs(ImplicitLocOpBuilder &b, Value v, Value memref) {
    return convertFloat(b, v,
                        cast<MemRefType>(memref.getType()).getElementType());
  }
  std::pair<Value, Value> nearest(ImplicitLocOpBuilder &b, Value x,
                                  function_ref<Value(int64_t)> entry);
  std::pair<Value, Value> select(ImplicitLocOpBuilder &b, Value scores,
                                 Value prevScore, Value prevIdx);
  void copyToken(ImplicitLocOpBuilder &b, Value src, Value dst, Value bi,
                 Value h, Value i, Value row);
  void kvquantToken(ImplicitLocOpBuilder &b, Value bi, Value h, Value i,
                    Value t);
  void kiviToken(ImplicitLocOpBuilder &b, Value bi, Value h, Value i,
                 Value t);
  Value quantizeUniform(ImplicitLocOpBuilder &b, Value x, Value s, Value z);
  std::pair<Value, Value> minMax(ImplicitLocOpBuilder &b, Value lo, Value hi,
                                 function_ref<Value(ImplicitLocOpBuilder &,
                                                    Value)>
                                     at);

  const KVAppendSpec &spec;
  ImplicitLocOpBuilder &b;
  Value keys, values, position;
  KVCacheAccess c;
  Value codes, scores; // per-item scratch [D] i32, [D] f32
};

/// argmin_c |x - entry(c)|, first on ties: (code i32, error f32).
std::pair<Value, Value>
KVAppendEmitter::nearest(ImplicitLocOpBuilder &b, Value x,
                         function_ref<Value(int64_t)> entry) {
  Value best = math::AbsFOp::create(b, arith::SubFOp::create(b, x, entry(0)));
  Value code = cI32(b, 0);
  for (int64_t k = 1; k < c.levels; ++k) {
    Value e =
        math::AbsFOp::create(b, arith::SubFOp::create(b, x, entry(k)));
    Value better =
        arith::CmpFOp::create(b, arith::CmpFPredicate::OLT, e, best);
    best = arith::SelectOp::create(b, better, e, best);
    code = arith::SelectOp::create(b, better, cI32(b, int32_t(k)), code);
  }
  return {code, best};
}

/// The channel that follows (prevScore, prevIdx) in the order "score
/// descending, channel ascending" (scores are >= 0): the largest score
/// among the channels after it, the lowest channel on ties.
std::pair<Value, Value> KVAppendEmitter::select(ImplicitLocOpBuilder &b,
                                                Value scores, Value prevScore,
                                                Value prevIdx) {
  SmallVector<Value> r = emitFor(
      b, cIdx(b, 0), cIdx(b, c.D), cIdx(b, 1),
      ValueRange{cF32(b, -1.0f), cIdx(b, 0)},
      [&](ImplicitLocOpBuilder &ib, Value d, ValueRange args) {
        Value s = memref::LoadOp::create(ib, scores, ValueRange{d});
        Value lower =
            arith::CmpFOp::create(ib, arith::CmpFPredicate::OLT, s, prevScore);
        Value tie =
            arith::AndIOp::create(ib,
                                  arith::CmpFOp::create(
                                      ib, arith::CmpFPredicate::OEQ, s,
                                      prevScore),
                                  arith::CmpIOp::create(
                                      ib, arith::CmpIPredicate::sgt, d,
                                      prevIdx));
        Value after = arith::OrIOp::create(ib, lower, tie);
        Value better = arith::AndIOp::create(
            ib, after,
            arith::CmpFOp::create(ib, arith::CmpFPredicate::OGT, s, args[0]));
        return SmallVector<Value>{
            arith::SelectOp::create(ib, better, s, args[0]),
            arith::SelectOp::create(ib, better, d, args[1])};
      });
  return {r[0], r[1]};
}

void KVAppendEmitter::copyToken(ImplicitLocOpBuilder &b, Value src, Value dst,
                                Value bi, Value h, Value i, Value row) {
  emitFor(b, cIdx(b, 0), cIdx(b, c.D), cIdx(b, 1), {},
          [&](ImplicitLocOpBuilder &ib, Value d, ValueRange) {
            Value x = loadF32(ib, src, ValueRange{bi, h, i, d});
            memref::StoreOp::create(ib, storeAs(ib, x, dst), dst,
                                    ValueRange{bi, h, row, d});
            return SmallVector<Value>();
          });
}

void KVAppendEmitter::kvquantToken(ImplicitLocOpBuilder &b, Value bi, Value h,
                                   Value i, Value t) {
  Value c0 = cIdx(b, 0), c1 = cIdx(b, 1), dEnd = cIdx(b, c.D);
  float inf = std::numeric_limits<float>::infinity();
  // Writes the O slots of `key` (or value) ranked by `scores`; returns the
  // score of the first non-outlier channel (0 if every channel is one).
  auto outlierSlots = [&](bool key, Value src) -> Value {
    Value prevScore = cF32(b, inf), prevIdx = cIdx(b, -1);
    Value vals = c.outliers ? c.get(key ? KVComponent::KeyOutlierValues
                                        : KVComponent::ValueOutlierValues)
                            : Value();
    Value idxs = c.outliers ? c.get(key ? KVComponent::KeyOutlierIndices
                                        : KVComponent::ValueOutlierIndices)
                            : Value();
    for (int64_t s = 0; s < c.outliers; ++s) {
      auto [score, d] = select(b, scores, prevScore, prevIdx);
      Value slot = cIdx(b, s);
      Value x = loadF32(b, src, ValueRange{bi, h, i, d});
      memref::StoreOp::create(b, storeAs(b, x, vals), vals,
                              ValueRange{bi, h, t, slot});
      Type idxType = cast<MemRefType>(idxs.getType()).getElementType();
      memref::StoreOp::create(
          b, arith::IndexCastUIOp::create(b, idxType, d), idxs,
          ValueRange{bi, h, t, slot});
      prevScore = score;
      prevIdx = d;
    }
    if (c.outliers >= c.D)
      return cF32(b, 0.0f);
    return select(b, scores, prevScore, prevIdx).first;
  };

  // Keys: nearest entry of the channel's table, error as the score.
  emitFor(b, c0, dEnd, c1, {},
          [&](ImplicitLocOpBuilder &ib, Value d, ValueRange) {
            Value x = loadF32(ib, keys, ValueRange{bi, h, i, d});
            auto [code, err] = nearest(ib, x, [&](int64_t k) {
              return loadF32(ib, c.keyLut, ValueRange{h, d, cIdx(ib, k)});
            });
            memref::StoreOp::create(ib, code, codes, ValueRange{d});
            memref::StoreOp::create(ib, err, scores, ValueRange{d});
            return SmallVector<Value>();
          });
  if (c.outliers > 0)
    (void)outlierSlots(/*key=*/true, keys);
  c.packToken(b, /*key=*/true, bi, h, t,
              [&](ImplicitLocOpBuilder &ib, Value d) -> Value {
                return memref::LoadOp::create(ib, codes, ValueRange{d});
              });

  // Values: outliers by magnitude; the scale is the largest magnitude of
  // the other channels, stored rounded and read back.
  emitFor(b, c0, dEnd, c1, {},
          [&](ImplicitLocOpBuilder &ib, Value d, ValueRange) {
            Value x = loadF32(ib, values, ValueRange{bi, h, i, d});
            memref::StoreOp::create(ib, math::AbsFOp::create(ib, x), scores,
                                    ValueRange{d});
            return SmallVector<Value>();
          });
  Value amax = outlierSlots(/*key=*/false, values);
  Value scaleT = c.get(KVComponent::ValueScale);
  memref::StoreOp::create(b, storeAs(b, amax, scaleT), scaleT,
                          ValueRange{bi, h, t});
  Value s = loadF32(b, scaleT, ValueRange{bi, h, t});
  SmallVector<Value> entries;
  for (int64_t k = 0; k < c.levels; ++k)
    entries.push_back(arith::MulFOp::create(
        b, loadF32(b, c.valueLut, ValueRange{cIdx(b, k)}), s));
  emitFor(b, c0, dEnd, c1, {},
          [&](ImplicitLocOpBuilder &ib, Value d, ValueRange) {
            Value x = loadF32(ib, values, ValueRange{bi, h, i, d});
            Value code =
                nearest(ib, x, [&](int64_t k) { return entries[k]; }).first;
            memref::StoreOp::create(ib, code, codes, ValueRange{d});
            return SmallVector<Value>();
          });
  c.packToken(b, /*key=*/false, bi, h, t,
              [&](ImplicitLocOpBuilder &ib, Value d) -> Value {
                return memref::LoadOp::create(ib, codes, ValueRange{d});
              });
}

/// s > 0 ? clamp(floor((x - z) / s + 0.5), 0, 2^B - 1) : 0.
Value KVAppendEmitter::quantizeUniform(ImplicitLocOpBuilder &b, Value x,
                                       Value s, Value z) {
  Value q = arith::DivFOp::create(b, arith::SubFOp::create(b, x, z), s);
  q = math::FloorOp::create(b, arith::AddFOp::create(b, q, cF32(b, 0.5f)));
  q = arith::MaximumFOp::create(b, q, cF32(b, 0.0f));
  q = arith::MinimumFOp::create(b, q, cF32(b, float(c.levels - 1)));
  Value code = arith::FPToSIOp::create(b, b.getI32Type(), q);
  Value positive =
      arith::CmpFOp::create(b, arith::CmpFPredicate::OGT, s, cF32(b, 0.0f));
  return arith::SelectOp::create(b, positive, code, cI32(b, 0));
}

std::pair<Value, Value> KVAppendEmitter::minMax(
    ImplicitLocOpBuilder &b, Value lo, Value hi,
    function_ref<Value(ImplicitLocOpBuilder &, Value)> at) {
  float inf = std::numeric_limits<float>::infinity();
  SmallVector<Value> r = emitFor(
      b, lo, hi, cIdx(b, 1), ValueRange{cF32(b, inf), cF32(b, -inf)},
      [&](ImplicitLocOpBuilder &ib, Value j, ValueRange args) {
        Value x = at(ib, j);
        return SmallVector<Value>{arith::MinimumFOp::create(ib, args[0], x),
                                  arith::MaximumFOp::create(ib, args[1], x)};
      });
  return {r[0], r[1]};
}

void KVAppendEmitter::kiviToken(ImplicitLocOpBuilder &b, Value bi, Value h,
                                Value i, Value t) {
  Value c0 = cIdx(b, 0), c1 = cIdx(b, 1), dEnd = cIdx(b, c.D);
  Value g = cIdx(b, c.group), r = cIdx(b, c.residual);
  Value levels1 = cF32(b, float(c.levels - 1));
  Value past = arith::SubIOp::create(b, t, cIdx(b, c.sink));
  Value slot = arith::RemUIOp::create(b, past, r);
  Value kres = c.get(KVComponent::KeyResidual);
  Value vres = c.get(KVComponent::ValueResidual);

  // The value of token t - R leaves the window: quantize it per group of G
  // channels from its (stored) residual slot.
  Value evict = arith::CmpIOp::create(b, arith::CmpIPredicate::sge, past, r);
  scf::IfOp::create(b, evict, [&](OpBuilder &nb, Location loc) {
    ImplicitLocOpBuilder ib(loc, nb);
    Value te = arith::SubIOp::create(ib, t, r);
    Value vs = c.get(KVComponent::ValueScale);
    Value vz = c.get(KVComponent::ValueZero);
    emitFor(ib, c0, cIdx(ib, c.D / c.group), c1, {},
            [&](ImplicitLocOpBuilder &jb, Value gi, ValueRange) {
              Value d0 = arith::MulIOp::create(jb, gi, g);
              auto [mn, mx] = minMax(
                  jb, d0, arith::AddIOp::create(jb, d0, g),
                  [&](ImplicitLocOpBuilder &kb, Value d) {
                    return loadF32(kb, vres, ValueRange{bi, h, slot, d});
                  });
              Value s = arith::DivFOp::create(
                  jb, arith::SubFOp::create(jb, mx, mn), levels1);
              memref::StoreOp::create(jb, storeAs(jb, s, vs), vs,
                                      ValueRange{bi, h, te, gi});
              memref::StoreOp::create(jb, storeAs(jb, mn, vz), vz,
                                      ValueRange{bi, h, te, gi});
              return SmallVector<Value>();
            });
    c.packToken(ib, /*key=*/false, bi, h, te,
                [&](ImplicitLocOpBuilder &jb, Value d) -> Value {
                  Value x = loadF32(jb, vres, ValueRange{bi, h, slot, d});
                  Value gi = arith::DivUIOp::create(jb, d, g);
                  Value s = loadF32(jb, vs, ValueRange{bi, h, te, gi});
                  Value z = loadF32(jb, vz, ValueRange{bi, h, te, gi});
                  return quantizeUniform(jb, x, s, z);
                });
    scf::YieldOp::create(ib);
  });
  copyToken(b, values, vres, bi, h, i, slot);
  copyToken(b, keys, kres, bi, h, i, slot);

  // A complete block of R keys: quantize per channel in groups of G tokens.
  Value full = arith::CmpIOp::create(b, arith::CmpIPredicate::eq, slot,
                                     cIdx(b, c.residual - 1));
  scf::IfOp::create(b, full, [&](OpBuilder &nb, Location loc) {
    ImplicitLocOpBuilder ib(loc, nb);
    Value start =
        arith::SubIOp::create(ib, arith::AddIOp::create(ib, t, c1), r);
    Value g0 = arith::DivUIOp::create(
        ib, arith::SubIOp::create(ib, start, cIdx(ib, c.sink)), g);
    Value ks = c.get(KVComponent::KeyScale);
    Value kz = c.get(KVComponent::KeyZero);
    emitFor(ib, c0, cIdx(ib, c.residual / c.group), c1, {},
            [&](ImplicitLocOpBuilder &jb, Value gi, ValueRange) {
              Value r0 = arith::MulIOp::create(jb, gi, g);
              Value row = arith::AddIOp::create(jb, g0, gi);
              emitFor(jb, c0, dEnd, c1, {},
                      [&](ImplicitLocOpBuilder &kb, Value d, ValueRange) {
                        auto [mn, mx] = minMax(
                            kb, r0, arith::AddIOp::create(kb, r0, g),
                            [&](ImplicitLocOpBuilder &lb, Value j) {
                              return loadF32(lb, kres,
                                             ValueRange{bi, h, j, d});
                            });
                        Value s = arith::DivFOp::create(
                            kb, arith::SubFOp::create(kb, mx, mn), levels1);
                        memref::StoreOp::create(kb, storeAs(kb, s, ks), ks,
                                                ValueRange{bi, h, row, d});
                        memref::StoreOp::create(kb, storeAs(kb, mn, kz), kz,
                                                ValueRange{bi, h, row, d});
                        return SmallVector<Value>();
                      });
              return SmallVector<Value>();
            });
    emitFor(ib, c0, r, c1, {},
            [&](ImplicitLocOpBuilder &jb, Value rr, ValueRange) {
              Value row = arith::AddIOp::create(
                  jb, g0, arith::DivUIOp::create(jb, rr, g));
              c.packToken(
                  jb, /*key=*/true, bi, h, arith::AddIOp::create(jb, start, rr),
                  [&](ImplicitLocOpBuilder &kb, Value d) -> Value {
                    Value x = loadF32(kb, kres, ValueRange{bi, h, rr, d});
                    Value s = loadF32(kb, ks, ValueRange{bi, h, row, d});
                    Value z = loadF32(kb, kz, ValueRange{bi, h, row, d});
                    return quantizeUniform(kb, x, s, z);
                  });
              return SmallVector<Value>();
            });
    scf::YieldOp::create(ib);
  });
}

void KVAppendEmitter::emit() {
  Value n = dimOf(b, keys, 2);
  Value items = arith::MulIOp::create(b, c.batch, c.heads);
  emitParallelFor(b, items, spec.threads, [&](ImplicitLocOpBuilder &ib,
                                              Value item) {
    Value bi = arith::DivUIOp::create(ib, item, c.heads);
    Value h = arith::RemUIOp::create(ib, item, c.heads);
    // Heap scratch: an alloca would sit in the memref.alloca_scope that
    // scf-to-openmp wraps around the body, which must stay one block.
    if (!c.kivi) {
      codes = memref::AllocOp::create(
          ib, MemRefType::get({c.D}, ib.getI32Type()));
      scores = memref::AllocOp::create(
          ib, MemRefType::get({c.D}, ib.getF32Type()));
    }
    emitFor(ib, cIdx(ib, 0), n, cIdx(ib, 1), {},
            [&](ImplicitLocOpBuilder &jb, Value i, ValueRange) {
              Value t = arith::AddIOp::create(jb, position, i);
              Value inRange = arith::CmpIOp::create(
                  jb, arith::CmpIPredicate::ult, t, c.slots);
              scf::IfOp::create(jb, inRange, [&](OpBuilder &nb, Location loc) {
                ImplicitLocOpBuilder kb(loc, nb);
                auto quantize = [&](ImplicitLocOpBuilder &lb) {
                  if (c.kivi)
                    kiviToken(lb, bi, h, i, t);
                  else
                    kvquantToken(lb, bi, h, i, t);
                };
                if (c.sink == 0) {
                  quantize(kb);
                } else {
                  Value isSink = arith::CmpIOp::create(
                      kb, arith::CmpIPredicate::ult, t, cIdx(kb, c.sink));
                  scf::IfOp::create(
                      kb, isSink,
                      [&](OpBuilder &nb2, Location loc2) {
                        ImplicitLocOpBuilder lb(loc2, nb2);
                        copyToken(lb, keys, c.get(KVComponent::KeySink), bi,
                                  h, i, t);
                        copyToken(lb, values, c.get(KVComponent::ValueSink),
                                  bi, h, i, t);
                        scf::YieldOp::create(lb);
                      },
                      [&](OpBuilder &nb2, Location loc2) {
                        ImplicitLocOpBuilder lb(loc2, nb2);
                        quantize(lb);
                        scf::YieldOp::create(lb);
                      });
                }
                scf::YieldOp::create(kb);
              });
              return SmallVector<Value>();
            });
  });
}

} // namespace

func::FuncOp
mlir::squant::cpu::getOrCreateKVAppendKernel(ModuleOp module,
                                             const KVAppendSpec &spec) {
  func::FuncOp fn = getOrCreateKernel(
      module, spec.kernelName(), spec.argTypes(module.getContext()),
      [&](ImplicitLocOpBuilder &b, ValueRange args) {
        KVAppendEmitter(spec, b, args).emit();
      });
  // No intrinsics, but LLVM may vectorize the scalar loops for the target.
  setKernelTargetFeatures(fn, spec.target);
  return fn;
}
