//===- KVAttentionKernel.cpp - fused decode attention on the CPU ----------===//
//
// o[b, hq] = softmax(scale * q'[b, hq] . rope(K[b, h, t], t)) . V[b, h, t]
// over the dequantized cache (docs/kv-cache.md), never materialized.
//
// Work split: the n = min(len, L) tokens are cut into blocks (about 32 per
// call, at least 256 tokens each); a task is one block and a group of
// (batch row, KV head) items, and tasks run in parallel (scf.parallel ->
// OpenMP). Each task writes, per query head, a partial softmax state
// (running max m, sum l, weighted value sum acc[D]); a second parallel loop
// combines the blocks of each (batch row, query head) in block order, so
// the result does not depend on the schedule.
//
// Inside a task: cos/sin of every (token, rotation pair) of the block are
// computed once (vectorized polynomial sincos, lanes = tokens) and shared by
// all items of the task. Per item, tiles of VW tokens (16 on AVX-512, 8 on
// AVX2 and generic):
//
// 1. keys, lanes = tokens: KT[d] = K[t0 .. t0+VW, d]. Fast tiles (all VW
//    tokens quantized, AVX targets) gather one 32-bit word per token for 8
//    (16 at 2 bits) channels, shift each channel's code into the low bits
//    and look it up in the channel's table held in a register (vpermps,
//    KVQuant) or scale it (KIVI); then the token's outlier slots overwrite
//    their channels. Other tiles (sinks, KIVI residual keys, tile tails,
//    the generic target) decode token by token with the scalar semantics.
// 2. scores for all query heads of the KV head (GQA: each key is decoded
//    once): s[t] = sum over rotation pairs (d, p) of q''[d] * (kd c - kp s)
//    + q''[p] * (kp c + kd s), with q'' = rope(q, position) * scale.
// 3. online softmax in f32 (vectorized polynomial exp): new max, rescale of
//    the running sum and accumulators, p[t] = exp(s[t] - m).
// 4. values, lanes = channels: VR[t] = V[t0 + t, :], quantized rows decoded
//    in chunks (one broadcast load + per-lane shifts + one vpermps with the
//    shared value table in registers, times the token's scale; KIVI: scale
//    and zero per group), outliers, sinks and residual rows as in 1.
// 5. acc[hq, :] += sum_t p[hq, t] * VR[t, :] for all query heads.
//
//===----------------------------------------------------------------------===//

#include "KVCacheAccess.h"
#include "KVKernels.h"

#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"

#include <functional>
#include <limits>

using namespace mlir;
using namespace mlir::squant;
using namespace mlir::squant::cpu;

namespace {

constexpr float kInf = std::numeric_limits<float>::infinity();
/// Query heads whose score vectors are kept in registers at once.
constexpr int64_t kHeadsPerPass = 8;

class KVAttentionEmitter {
public:
  KVAttentionEmitter(const KVAttentionSpec &spec, ModuleOp module,
                     ImplicitLocOpBuilder &b, ValueRange args)
      : spec(spec), module(module), b(b), query(args[0]), len(args[1]),
        position(args[2]),
        c(b, spec.format, spec.headDim, args.slice(3, spec.tableTypes.size()),
          args.slice(3 + spec.tableTypes.size(), spec.cacheTypes.size())),
        out(args.back()), D(spec.headDim), G(spec.groupSize) {
    vec = spec.target != CPUTarget::Generic;
    VW = spec.target == CPUTarget::AVX512 ? 16 : 8;
    f32 = b.getF32Type();
    i32 = b.getI32Type();
  }

  void emit();

private:
  VectorType vf(int64_t w) const { return VectorType::get({w}, f32); }
  VectorType vi(int64_t w) const { return VectorType::get({w}, i32); }
  Value splatF(ImplicitLocOpBuilder &b, int64_t w, float v) {
    return arith::ConstantOp::create(
        b, vf(w), DenseElementsAttr::get(vf(w), b.getF32FloatAttr(v).getValue()));
  }
  Value constI(ImplicitLocOpBuilder &b, ArrayRef<int32_t> v) {
    auto t = vi(v.size());
    return arith::ConstantOp::create(b, t,
                                     DenseElementsAttr::get(t, ArrayRef(v)));
  }
  Value bcast(ImplicitLocOpBuilder &b, Value s, int64_t w) {
    return vector::BroadcastOp::create(b, VectorType::get({w}, s.getType()), s);
  }
  Value ptrAt(ImplicitLocOpBuilder &b, Value addr) {
    return LLVM::IntToPtrOp::create(
        b, LLVM::LLVMPointerType::get(b.getContext()), addr);
  }
  Value addI64(ImplicitLocOpBuilder &b, Value a, int64_t off) {
    if (!off)
      return a;
    return arith::AddIOp::create(
        b, a, arith::ConstantIntOp::create(b, b.getI64Type(), off));
  }
  /// One unaligned 32-bit load of raw code bytes.
  Value loadWord(ImplicitLocOpBuilder &b, Value addr) {
    return LLVM::LoadOp::create(b, i32, ptrAt(b, addr), /*alignment=*/1);
  }
  /// Table look-up of `idx` (code in its low bits, garbage above) in a
  /// table of 16 (AVX-512) or 8 lanes (AVX2: 16 entries are two tables).
  Value lookup(ImplicitLocOpBuilder &b, ArrayRef<Value> table, Value idx);
  /// Register tables of `raw` (2^B f32 entries) for a look-up of width w.
  SmallVector<Value> tablesFor(ImplicitLocOpBuilder &b, Value raw, int64_t w);

  void fillRopeTables(ImplicitLocOpBuilder &b, Value cs, Value tb0,
                      Value ntiles);
  void fillKeyTables(ImplicitLocOpBuilder &b, Value ktab, Value h);
  void fastKeys(ImplicitLocOpBuilder &b, Value KT, Value ktab, Value bi,
                Value h, Value t0);
  void slowKeys(ImplicitLocOpBuilder &b, Value KT, Value bi, Value h,
                Value t0, Value valid);
  void residualKeys(ImplicitLocOpBuilder &b, Value KT, Value Kr, Value bi,
                    Value h, Value t0);
  /// VR/Kr row `rowBase ..` = the f32 conversion of src[bi, h, row, :].
  void copyRow(ImplicitLocOpBuilder &b, Value dst, Value rowBase, Value src,
               Value bi, Value h, Value row);
  void valueRow(ImplicitLocOpBuilder &b, Value VR, ArrayRef<Value> vtab,
                Value bi, Value h, Value lane, Value t, Value lastItem);
  void vectorValueRow(ImplicitLocOpBuilder &b, Value VR, ArrayRef<Value> vtab,
                      Value bi, Value h, Value lane, Value t);
  void task(ImplicitLocOpBuilder &b, Value blk, Value grp);
  void combine(ImplicitLocOpBuilder &b, Value bq);

  const KVAttentionSpec &spec;
  ModuleOp module;
  ImplicitLocOpBuilder &b;
  Value query, len, position;
  KVCacheAccess c;
  Value out;
  int64_t D, G;
  int64_t VW = 8;
  bool vec = false;
  Type f32, i32;

  // Kernel-level values.
  KVCacheAccess::Bounds bounds;
  Value Hq, items, inv, qr, partials, tpb, NB, NG, ipg, kEnd;
  SmallVector<std::pair<int64_t, int64_t>> vChunks; // (d0, width)
};

//===----------------------------------------------------------------------===//
// Tables and look-ups
//===----------------------------------------------------------------------===//

SmallVector<Value> KVAttentionEmitter::tablesFor(ImplicitLocOpBuilder &b,
                                                 Value raw, int64_t w) {
  int64_t entries = c.levels;
  auto replicate = [&](Value t, int64_t width) -> Value {
    SmallVector<int64_t> mask;
    for (int64_t i = 0; i < width; ++i)
      mask.push_back(i % entries);
    return vector::ShuffleOp::create(b, t, t, mask);
  };
  if (w == 16)
    return {entries == 16 ? raw : replicate(raw, 16)};
  if (entries == 16) {
    SmallVector<int64_t> lo, hi;
    for (int64_t i = 0; i < 8; ++i) {
      lo.push_back(i);
      hi.push_back(8 + i);
    }
    return {vector::ShuffleOp::create(b, raw, raw, lo),
            vector::ShuffleOp::create(b, raw, raw, hi)};
  }
  return {entries == 8 ? raw : replicate(raw, 8)};
}

Value KVAttentionEmitter::lookup(ImplicitLocOpBuilder &b, ArrayRef<Value> table,
                                 Value idx) {
  int64_t w = cast<VectorType>(idx.getType()).getNumElements();
  if (w == 16)
    return callIntrinsic(b, module, "llvm.x86.avx512.permvar.sf.512", vf(16),
                         ValueRange{table[0], idx});
  auto permps = [&](Value t) {
    return callIntrinsic(b, module, "llvm.x86.avx2.permps", vf(8),
                         ValueRange{t, idx});
  };
  Value lo = permps(table[0]);
  if (table.size() == 1)
    return lo;
  Value hi = permps(table[1]);
  Value bit = arith::AndIOp::create(
      b, idx, constI(b, SmallVector<int32_t>(8, 8)));
  Value upper = arith::CmpIOp::create(b, arith::CmpIPredicate::ne, bit,
                                      constI(b, SmallVector<int32_t>(8, 0)));
  return arith::SelectOp::create(b, upper, hi, lo);
}

//===----------------------------------------------------------------------===//
// RoPE tables: cs[((tile * D/2 + i) * 2 + {0: cos, 1: sin}) * VW + lane]
//===----------------------------------------------------------------------===//

void KVAttentionEmitter::fillRopeTables(ImplicitLocOpBuilder &b, Value cs,
                                        Value tb0, Value ntiles) {
  int64_t half = D / 2;
  SmallVector<int32_t> lanes;
  for (int64_t l = 0; l < VW; ++l)
    lanes.push_back(int32_t(l));
  Value laneVec = constI(b, lanes);
  emitFor(b, cIdx(b, 0), ntiles, cIdx(b, 1), {},
          [&](ImplicitLocOpBuilder &ib, Value tile, ValueRange) {
            Value t0 = arith::AddIOp::create(
                ib, tb0, arith::MulIOp::create(ib, tile, cIdx(ib, VW)));
            Value t0i = arith::IndexCastOp::create(ib, i32, t0);
            Value tv = arith::AddIOp::create(ib, bcast(ib, t0i, VW), laneVec);
            Value tf = arith::UIToFPOp::create(ib, vf(VW), tv);
            emitFor(ib, cIdx(ib, 0), cIdx(ib, half), cIdx(ib, 1), {},
                    [&](ImplicitLocOpBuilder &jb, Value i, ValueRange) {
                      Value f = memref::LoadOp::create(jb, inv, ValueRange{i});
                      Value angle =
                          arith::MulFOp::create(jb, tf, bcast(jb, f, VW));
                      auto [s, co] = emitSinCos(jb, angle);
                      Value base = arith::MulIOp::create(
                          jb,
                          arith::AddIOp::create(
                              jb, arith::MulIOp::create(jb, tile, cIdx(jb, half)),
                              i),
                          cIdx(jb, 2 * VW));
                      vector::StoreOp::create(jb, co, cs, ValueRange{base});
                      vector::StoreOp::create(
                          jb, s, cs,
                          ValueRange{arith::AddIOp::create(jb, base,
                                                           cIdx(jb, VW))});
                      return SmallVector<Value>();
                    });
            return SmallVector<Value>();
          });
}

//===----------------------------------------------------------------------===//
// Keys: KT[d * VW + lane]
//===----------------------------------------------------------------------===//

/// Per-channel register tables of KV head h: ktab[d * KTW ..] (KTW = 16, or
/// 8 for AVX2 tables of up to 8 entries).
void KVAttentionEmitter::fillKeyTables(ImplicitLocOpBuilder &b, Value ktab,
                                       Value h) {
  Type lutElt = cast<MemRefType>(c.keyLut.getType()).getElementType();
  int64_t ktw = (VW == 16 || c.levels == 16) ? 16 : 8;
  emitFor(b, cIdx(b, 0), cIdx(b, D), cIdx(b, 1), {},
          [&](ImplicitLocOpBuilder &ib, Value d, ValueRange) {
            Value raw = vector::LoadOp::create(
                ib, VectorType::get({c.levels}, lutElt), c.keyLut,
                ValueRange{h, d, cIdx(ib, 0)});
            raw = convertFloat(ib, raw, f32);
            SmallVector<Value> t = tablesFor(ib, raw, VW);
            Value base = arith::MulIOp::create(ib, d, cIdx(ib, ktw));
            vector::StoreOp::create(ib, t[0], ktab, ValueRange{base});
            if (t.size() == 2)
              vector::StoreOp::create(
                  ib, t[1], ktab,
                  ValueRange{arith::AddIOp::create(ib, base, cIdx(ib, 8))});
            return SmallVector<Value>();
          });
}

void KVAttentionEmitter::fastKeys(ImplicitLocOpBuilder &b, Value KT,
                                  Value ktab, Value bi, Value h, Value t0) {
  int64_t bits = c.bits;
  // One 32-bit word per token covers 8 codes (16 at 2 bits): channel group
  // j starts at byte j * B (j * 4 at 2 bits).
  int64_t cpg = bits == 2 ? 16 : 8;
  int64_t bpg = cpg * bits / 8;
  int64_t ktw = (VW == 16 || c.levels == 16) ? 16 : 8;
  Value base = c.rowAddress(b, /*key=*/true, bi, h, t0);
  Value stride = arith::TruncIOp::create(b, i32, c.tokenStride(b, true));
  SmallVector<int32_t> lanes;
  for (int64_t l = 0; l < VW; ++l)
    lanes.push_back(int32_t(l));
  Value offsets =
      arith::MulIOp::create(b, constI(b, lanes), bcast(b, stride, VW));
  auto ptrVec = VectorType::get({VW}, LLVM::LLVMPointerType::get(b.getContext()));
  auto maskT = VectorType::get({VW}, b.getI1Type());
  Value allTrue = arith::ConstantOp::create(
      b, maskT, DenseElementsAttr::get(maskT, true));
  Value mask = constI(b, SmallVector<int32_t>(VW, int32_t(c.levels - 1)));
  Value zeroWords = constI(b, SmallVector<int32_t>(VW, 0));

  // KIVI: the tile's key group(s).
  bool uniformGroup = c.kivi && (c.group % VW == 0) && (c.sink % VW == 0);
  Value grp;
  SmallVector<Value> laneGroups;
  if (c.kivi) {
    Value past = arith::SubIOp::create(b, t0, cIdx(b, c.sink));
    if (uniformGroup) {
      grp = arith::DivUIOp::create(b, past, cIdx(b, c.group));
    } else {
      for (int64_t l = 0; l < VW; ++l)
        laneGroups.push_back(arith::DivUIOp::create(
            b, arith::AddIOp::create(b, past, cIdx(b, l)), cIdx(b, c.group)));
    }
  }

  auto emitGroup = [&](ImplicitLocOpBuilder &ib, Value j, int64_t codes) {
    Value byteOff = arith::MulIOp::create(
        ib, arith::IndexCastOp::create(ib, ib.getI64Type(), j),
        arith::ConstantIntOp::create(ib, ib.getI64Type(), bpg));
    Value gbase = ptrAt(ib, arith::AddIOp::create(ib, base, byteOff));
    Value ptrs = LLVM::GEPOp::create(ib, ptrVec, ib.getI8Type(), gbase,
                                     ValueRange{offsets});
    // llvm.masked.gather through a call (see callIntrinsic): the LLVM
    // dialect op has no memory-effect interface, which the buffer
    // deallocation pipeline rejects.
    std::string name = "llvm.masked.gather.v" + std::to_string(VW) + "i32.v" +
                       std::to_string(VW) + "p0";
    Value word = callIntrinsic(ib, module, name, vi(VW),
                               ValueRange{ptrs, allTrue, zeroWords});
    Value d0 = arith::MulIOp::create(ib, j, cIdx(ib, cpg));
    for (int64_t u = 0; u < codes; ++u) {
      Value d = arith::AddIOp::create(ib, d0, cIdx(ib, u));
      Value idx = u ? Value(arith::ShRUIOp::create(
                          ib, word,
                          constI(ib, SmallVector<int32_t>(VW, int32_t(u * bits)))))
                    : word;
      Value k;
      if (!c.kivi) {
        Value tb = arith::MulIOp::create(ib, d, cIdx(ib, ktw));
        SmallVector<Value> table = {
            vector::LoadOp::create(ib, vf(VW == 16 ? 16 : 8), ktab,
                                   ValueRange{tb})};
        if (VW == 8 && c.levels == 16)
          table.push_back(vector::LoadOp::create(
              ib, vf(8), ktab,
              ValueRange{arith::AddIOp::create(ib, tb, cIdx(ib, 8))}));
        k = lookup(ib, table, idx);
      } else {
        Value code = arith::AndIOp::create(ib, idx, mask);
        Value cf = arith::UIToFPOp::create(ib, vf(VW), code);
        Value ks = c.get(KVComponent::KeyScale);
        Value kz = c.get(KVComponent::KeyZero);
        Value s, z;
        if (uniformGroup) {
          s = bcast(ib, loadF32(ib, ks, ValueRange{bi, h, grp, d}), VW);
          z = bcast(ib, loadF32(ib, kz, ValueRange{bi, h, grp, d}), VW);
        } else {
          SmallVector<Value> sv, zv;
          for (int64_t l = 0; l < VW; ++l) {
            sv.push_back(loadF32(ib, ks, ValueRange{bi, h, laneGroups[l], d}));
            zv.push_back(loadF32(ib, kz, ValueRange{bi, h, laneGroups[l], d}));
          }
          s = vector::FromElementsOp::create(ib, vf(VW), sv);
          z = vector::FromElementsOp::create(ib, vf(VW), zv);
        }
        k = arith::AddFOp::create(ib, arith::MulFOp::create(ib, cf, s), z);
      }
      vector::StoreOp::create(
          ib, k, KT, ValueRange{arith::MulIOp::create(ib, d, cIdx(ib, VW))});
    }
  };
  int64_t full = D / cpg, tail = D % cpg;
  emitFor(b, cIdx(b, 0), cIdx(b, full), cIdx(b, 1), {},
          [&](ImplicitLocOpBuilder &ib, Value j, ValueRange) {
            emitGroup(ib, j, cpg);
            return SmallVector<Value>();
          });
  if (tail)
    emitGroup(b, cIdx(b, full), tail);
  // Outlier slots overwrite their channels, in slot order.
  if (!c.kivi && c.outliers > 0)
    emitFor(b, cIdx(b, 0), cIdx(b, VW), cIdx(b, 1), {},
            [&](ImplicitLocOpBuilder &ib, Value lane, ValueRange) {
              Value t = arith::AddIOp::create(ib, t0, lane);
              c.forEachOutlier(
                  ib, /*key=*/true, bi, h, t,
                  [&](ImplicitLocOpBuilder &jb, Value ch, Value v) {
                    memref::StoreOp::create(
                        jb, v, KT,
                        ValueRange{arith::AddIOp::create(
                            jb, arith::MulIOp::create(jb, ch, cIdx(jb, VW)),
                            lane)});
                  });
              return SmallVector<Value>();
            });
}

void KVAttentionEmitter::slowKeys(ImplicitLocOpBuilder &b, Value KT, Value bi,
                                  Value h, Value t0, Value valid) {
  emitFor(
      b, cIdx(b, 0), cIdx(b, VW), cIdx(b, 1), {},
      [&](ImplicitLocOpBuilder &ib, Value lane, ValueRange) {
        auto store = [&](ImplicitLocOpBuilder &jb, Value d, Value v) {
          memref::StoreOp::create(
              jb, v, KT,
              ValueRange{arith::AddIOp::create(
                  jb, arith::MulIOp::create(jb, d, cIdx(jb, VW)), lane)});
        };
        Value isValid =
            arith::CmpIOp::create(ib, arith::CmpIPredicate::ult, lane, valid);
        scf::IfOp::create(
            ib, isValid,
            [&](OpBuilder &nb, Location loc) {
              ImplicitLocOpBuilder jb(loc, nb);
              c.decodeToken(jb, /*key=*/true, bounds, bi, h,
                            arith::AddIOp::create(jb, t0, lane), store);
              scf::YieldOp::create(jb);
            },
            [&](OpBuilder &nb, Location loc) {
              ImplicitLocOpBuilder jb(loc, nb);
              emitFor(jb, cIdx(jb, 0), cIdx(jb, D), cIdx(jb, 1), {},
                      [&](ImplicitLocOpBuilder &kb, Value d, ValueRange) {
                        store(kb, d, cF32(kb, 0.0f));
                        return SmallVector<Value>();
                      });
              scf::YieldOp::create(jb);
            });
        return SmallVector<Value>();
      });
}

void KVAttentionEmitter::copyRow(ImplicitLocOpBuilder &b, Value dst,
                                 Value rowBase, Value src, Value bi, Value h,
                                 Value row) {
  Type elt = cast<MemRefType>(src.getType()).getElementType();
  for (auto [d0, w] : vChunks) {
    Value v = vector::LoadOp::create(b, VectorType::get({w}, elt), src,
                                     ValueRange{bi, h, row, cIdx(b, d0)});
    vector::StoreOp::create(
        b, convertFloat(b, v, f32), dst,
        ValueRange{arith::AddIOp::create(b, rowBase, cIdx(b, d0))});
  }
}

/// A tile of KIVI keys all in the residual buffer: rows converted to f32
/// into Kr[lane * D ..] with vector loads, then transposed into KT by one
/// gather (from L1) per channel.
void KVAttentionEmitter::residualKeys(ImplicitLocOpBuilder &b, Value KT,
                                      Value Kr, Value bi, Value h, Value t0) {
  Value kres = c.get(KVComponent::KeyResidual);
  emitFor(b, cIdx(b, 0), cIdx(b, VW), cIdx(b, 1), {},
          [&](ImplicitLocOpBuilder &ib, Value lane, ValueRange) {
            Value t = arith::AddIOp::create(ib, t0, lane);
            Value slot = arith::RemUIOp::create(
                ib, arith::SubIOp::create(ib, t, cIdx(ib, c.sink)),
                cIdx(ib, c.residual));
            copyRow(ib, Kr, arith::MulIOp::create(ib, lane, cIdx(ib, D)),
                    kres, bi, h, slot);
            return SmallVector<Value>();
          });
  SmallVector<int32_t> rows;
  for (int64_t l = 0; l < VW; ++l)
    rows.push_back(int32_t(l * D));
  Value rowOffsets = constI(b, rows);
  auto maskT = VectorType::get({VW}, b.getI1Type());
  Value allTrue =
      arith::ConstantOp::create(b, maskT, DenseElementsAttr::get(maskT, true));
  Value pass = splatF(b, VW, 0.0f);
  emitFor(b, cIdx(b, 0), cIdx(b, D), cIdx(b, 1), {},
          [&](ImplicitLocOpBuilder &ib, Value d, ValueRange) {
            Value col = vector::GatherOp::create(ib, vf(VW), Kr, ValueRange{d},
                                                 rowOffsets, allTrue, pass);
            vector::StoreOp::create(
                ib, col, KT,
                ValueRange{arith::MulIOp::create(ib, d, cIdx(ib, VW))});
            return SmallVector<Value>();
          });
}

//===----------------------------------------------------------------------===//
// Values: VR[lane * D + d]
//===----------------------------------------------------------------------===//

void KVAttentionEmitter::vectorValueRow(ImplicitLocOpBuilder &b, Value VR,
                                        ArrayRef<Value> vtab, Value bi,
                                        Value h, Value lane, Value t) {
  int64_t bits = c.bits;
  Value row = c.rowAddress(b, /*key=*/false, bi, h, t);
  Value rowBase = arith::MulIOp::create(b, lane, cIdx(b, D));
  Value scale;
  if (!c.kivi)
    scale = loadF32(b, c.get(KVComponent::ValueScale), ValueRange{bi, h, t});
  for (auto [d0, w] : vChunks) {
    // Codes d0 .. d0+w in the low bits of the lanes: 8 codes (B = 3, 4) or
    // 16 codes (B = 2) per 32-bit word, each word broadcast to its lanes and
    // shifted per lane.
    Value codes;
    SmallVector<int32_t> shifts;
    if (bits == 2) {
      Value word = loadWord(b, addI64(b, row, d0 / 4));
      codes = bcast(b, word, w);
      for (int64_t l = 0; l < w; ++l)
        shifts.push_back(int32_t(2 * (l % 16)));
    } else {
      SmallVector<Value> parts;
      for (int64_t k = 0; k < w / 8; ++k)
        parts.push_back(
            bcast(b, loadWord(b, addI64(b, row, (d0 + 8 * k) * bits / 8)), 8));
      if (parts.size() == 1) {
        codes = parts[0];
      } else {
        SmallVector<int64_t> cat;
        for (int64_t l = 0; l < 16; ++l)
          cat.push_back(l);
        codes = vector::ShuffleOp::create(b, parts[0], parts[1], cat);
      }
      for (int64_t l = 0; l < w; ++l)
        shifts.push_back(int32_t(bits * (l % 8)));
    }
    Value idx = arith::ShRUIOp::create(b, codes, constI(b, shifts));
    Value v;
    if (!c.kivi) {
      SmallVector<Value> table(vtab.begin(), vtab.end());
      if (w == 8 && VW == 16) // an 8-wide tail chunk on AVX-512
        table.erase(table.begin());
      else if (VW == 16)
        table.resize(1);
      v = arith::MulFOp::create(b, lookup(b, table, idx), bcast(b, scale, w));
    } else {
      Value code = arith::AndIOp::create(
          b, idx, constI(b, SmallVector<int32_t>(w, int32_t(c.levels - 1))));
      Value cf = arith::UIToFPOp::create(b, vf(w), code);
      Value vs = c.get(KVComponent::ValueScale);
      Value vz = c.get(KVComponent::ValueZero);
      Value s, z;
      if ((c.group % w) == 0) {
        Value gi = cIdx(b, d0 / c.group);
        s = bcast(b, loadF32(b, vs, ValueRange{bi, h, t, gi}), w);
        z = bcast(b, loadF32(b, vz, ValueRange{bi, h, t, gi}), w);
      } else {
        // Lane l reads group (d0 + l) / G: load each group once.
        DenseMap<int64_t, std::pair<Value, Value>> byGroup;
        SmallVector<Value> sv, zv;
        for (int64_t l = 0; l < w; ++l) {
          int64_t gi = (d0 + l) / c.group;
          if (!byGroup.count(gi))
            byGroup[gi] = {loadF32(b, vs, ValueRange{bi, h, t, cIdx(b, gi)}),
                           loadF32(b, vz, ValueRange{bi, h, t, cIdx(b, gi)})};
          sv.push_back(byGroup[gi].first);
          zv.push_back(byGroup[gi].second);
        }
        s = vector::FromElementsOp::create(b, vf(w), sv);
        z = vector::FromElementsOp::create(b, vf(w), zv);
      }
      v = arith::AddFOp::create(b, arith::MulFOp::create(b, cf, s), z);
    }
    vector::StoreOp::create(
        b, v, VR, ValueRange{arith::AddIOp::create(b, rowBase, cIdx(b, d0))});
  }
  c.forEachOutlier(b, /*key=*/false, bi, h, t,
                   [&](ImplicitLocOpBuilder &ib, Value ch, Value v) {
                     memref::StoreOp::create(
                         ib, v, VR,
                         ValueRange{arith::AddIOp::create(ib, rowBase, ch)});
                   });
}

void KVAttentionEmitter::valueRow(ImplicitLocOpBuilder &b, Value VR,
                                  ArrayRef<Value> vtab, Value bi, Value h,
                                  Value lane, Value t, Value lastItem) {
  Value rowBase = arith::MulIOp::create(b, lane, cIdx(b, D));
  auto store = [&](ImplicitLocOpBuilder &jb, Value d, Value v) {
    memref::StoreOp::create(jb, v, VR,
                            ValueRange{arith::AddIOp::create(jb, rowBase, d)});
  };
  auto scalarRow = [&](ImplicitLocOpBuilder &jb) {
    c.decodeToken(jb, /*key=*/false, bounds, bi, h, t, store);
  };
  // Rows kept unquantized (sinks, the KIVI residual window) are vector
  // copies on every target.
  auto ifElse = [&](ImplicitLocOpBuilder &ib, Value cond,
                    function_ref<void(ImplicitLocOpBuilder &)> thenFn,
                    function_ref<void(ImplicitLocOpBuilder &)> elseFn) {
    scf::IfOp::create(
        ib, cond,
        [&](OpBuilder &nb, Location loc) {
          ImplicitLocOpBuilder jb(loc, nb);
          thenFn(jb);
          scf::YieldOp::create(jb);
        },
        [&](OpBuilder &nb, Location loc) {
          ImplicitLocOpBuilder jb(loc, nb);
          elseFn(jb);
          scf::YieldOp::create(jb);
        });
  };
  std::function<void(ImplicitLocOpBuilder &)> quantizedRow;
  auto afterSink = [&](ImplicitLocOpBuilder &ib) {
    if (!c.kivi) {
      quantizedRow(ib);
      return;
    }
    Value inResidual = arith::CmpIOp::create(ib, arith::CmpIPredicate::sge, t,
                                             bounds.valueEnd);
    ifElse(
        ib, inResidual,
        [&](ImplicitLocOpBuilder &jb) {
          Value slot = arith::RemUIOp::create(
              jb, arith::SubIOp::create(jb, t, cIdx(jb, c.sink)),
              cIdx(jb, c.residual));
          copyRow(jb, VR, rowBase, c.get(KVComponent::ValueResidual), bi, h,
                  slot);
        },
        quantizedRow);
  };
  auto dispatch = [&](ImplicitLocOpBuilder &ib) {
    if (c.sink == 0) {
      afterSink(ib);
      return;
    }
    Value isSink = arith::CmpIOp::create(ib, arith::CmpIPredicate::slt, t,
                                         cIdx(ib, c.sink));
    ifElse(
        ib, isSink,
        [&](ImplicitLocOpBuilder &jb) {
          copyRow(jb, VR, rowBase, c.get(KVComponent::ValueSink), bi, h, t);
        },
        afterSink);
  };
  if (!vec) {
    quantizedRow = [&](ImplicitLocOpBuilder &jb) { scalarRow(jb); };
    dispatch(b);
    return;
  }
  // Quantized rows decode vectorized, except the last row of the buffer
  // when the word loads would read past it (2- and 3-bit codes).
  quantizedRow = [&](ImplicitLocOpBuilder &jb) {
    if (c.bits == 4) {
      vectorValueRow(jb, VR, vtab, bi, h, lane, t);
      return;
    }
    Value lastRow = arith::AndIOp::create(
        jb, lastItem,
        arith::CmpIOp::create(jb, arith::CmpIPredicate::eq, t,
                              arith::SubIOp::create(jb, c.slots, cIdx(jb, 1))));
    ifElse(jb, lastRow, scalarRow, [&](ImplicitLocOpBuilder &kb) {
      vectorValueRow(kb, VR, vtab, bi, h, lane, t);
    });
  };
  dispatch(b);
}

//===----------------------------------------------------------------------===//
// One task: a block of tokens for a group of (batch row, KV head) items
//===----------------------------------------------------------------------===//

void KVAttentionEmitter::task(ImplicitLocOpBuilder &b, Value blk, Value grp) {
  int64_t half = D / 2;
  Value c0 = cIdx(b, 0), c1 = cIdx(b, 1);
  Value tb0 = arith::MulIOp::create(b, blk, tpb);
  Value tb1 = arith::MinUIOp::create(b, arith::AddIOp::create(b, tb0, tpb),
                                     bounds.n);
  Value ntiles = arith::CeilDivUIOp::create(
      b, arith::SubIOp::create(b, tb1, tb0), cIdx(b, VW));
  auto alloc1 = [&](ImplicitLocOpBuilder &ib, int64_t size) -> Value {
    return memref::AllocOp::create(ib, MemRefType::get({size}, f32),
                                   ValueRange{}, ib.getI64IntegerAttr(64));
  };
  Value cs;
  if (spec.rope != RopeStyle::None) {
    Value size = arith::MulIOp::create(b, ntiles, cIdx(b, half * 2 * VW));
    cs = memref::AllocOp::create(
        b, MemRefType::get({ShapedType::kDynamic}, f32), ValueRange{size},
        b.getI64IntegerAttr(64));
    fillRopeTables(b, cs, tb0, ntiles);
  }
  Value KT = alloc1(b, D * VW), VR = alloc1(b, VW * D);
  Value Kr = c.kivi ? alloc1(b, VW * D) : Value();
  Value P = alloc1(b, G * VW), acc = alloc1(b, G * D);
  int64_t ktw = (VW == 16 || c.levels == 16) ? 16 : 8;
  Value ktab = (vec && !c.kivi) ? alloc1(b, D * ktw) : Value();
  // The shared value table, in registers: [16-lane, 8-lane tables...].
  SmallVector<Value> vtab;
  if (vec && !c.kivi) {
    Type lutElt = cast<MemRefType>(c.valueLut.getType()).getElementType();
    Value raw = vector::LoadOp::create(
        b, VectorType::get({c.levels}, lutElt), c.valueLut, ValueRange{c0});
    raw = convertFloat(b, raw, f32);
    if (VW == 16)
      vtab = tablesFor(b, raw, 16);
    for (Value t : tablesFor(b, raw, 8))
      vtab.push_back(t);
  }
  SmallVector<int32_t> laneIds;
  for (int64_t l = 0; l < VW; ++l)
    laneIds.push_back(int32_t(l));
  Value laneVec = constI(b, laneIds);
  bool overread = c.bits != 4;

  Value itemBegin = arith::MulIOp::create(b, grp, ipg);
  Value itemEnd =
      arith::MinUIOp::create(b, arith::AddIOp::create(b, itemBegin, ipg), items);
  emitFor(b, itemBegin, itemEnd, c1, {}, [&](ImplicitLocOpBuilder &ib,
                                              Value item, ValueRange) {
    Value bi = arith::DivUIOp::create(ib, item, c.heads);
    Value h = arith::RemUIOp::create(ib, item, c.heads);
    Value lastItem = arith::CmpIOp::create(
        ib, arith::CmpIPredicate::eq, item,
        arith::SubIOp::create(ib, items, cIdx(ib, 1)));
    if (ktab)
      fillKeyTables(ib, ktab, h);
    Value zeroD = splatF(ib, 8, 0.0f);
    emitFor(ib, c0, cIdx(ib, G * D / 8), c1, {},
            [&](ImplicitLocOpBuilder &jb, Value k, ValueRange) {
              vector::StoreOp::create(
                  jb, zeroD, acc,
                  ValueRange{arith::MulIOp::create(jb, k, cIdx(jb, 8))});
              return SmallVector<Value>();
            });
    SmallVector<Value> init;
    for (int64_t g = 0; g < G; ++g)
      init.push_back(cF32(ib, -kInf));
    for (int64_t g = 0; g < G; ++g)
      init.push_back(cF32(ib, 0.0f));
    SmallVector<Value> state = emitFor(
        ib, c0, ntiles, c1, init,
        [&](ImplicitLocOpBuilder &jb, Value tile, ValueRange st) {
          Value t0 = arith::AddIOp::create(
              jb, tb0, arith::MulIOp::create(jb, tile, cIdx(jb, VW)));
          Value valid = arith::MinUIOp::create(
              jb, cIdx(jb, VW), arith::SubIOp::create(jb, tb1, t0));

          // 1. Keys of the tile, lanes = tokens.
          auto slow = [&](ImplicitLocOpBuilder &kb) {
            slowKeys(kb, KT, bi, h, t0, valid);
          };
          // KIVI tiles whose keys are all in the residual window.
          auto notQuantized = [&](ImplicitLocOpBuilder &kb) {
            if (!c.kivi) {
              slow(kb);
              return;
            }
            Value full = arith::AndIOp::create(
                kb,
                arith::CmpIOp::create(kb, arith::CmpIPredicate::eq, valid,
                                      cIdx(kb, VW)),
                arith::CmpIOp::create(kb, arith::CmpIPredicate::sge, t0,
                                      bounds.keyEnd));
            scf::IfOp::create(
                kb, full,
                [&](OpBuilder &nb, Location loc) {
                  ImplicitLocOpBuilder lb(loc, nb);
                  residualKeys(lb, KT, Kr, bi, h, t0);
                  scf::YieldOp::create(lb);
                },
                [&](OpBuilder &nb, Location loc) {
                  ImplicitLocOpBuilder lb(loc, nb);
                  slow(lb);
                  scf::YieldOp::create(lb);
                });
          };
          if (vec) {
            Value t1 = arith::AddIOp::create(jb, t0, cIdx(jb, VW));
            Value fast = arith::AndIOp::create(
                jb,
                arith::CmpIOp::create(jb, arith::CmpIPredicate::eq, valid,
                                      cIdx(jb, VW)),
                arith::AndIOp::create(
                    jb,
                    arith::CmpIOp::create(jb, arith::CmpIPredicate::sge, t0,
                                          cIdx(jb, c.sink)),
                    arith::CmpIOp::create(jb, arith::CmpIPredicate::sle, t1,
                                          kEnd)));
            if (overread) {
              Value touchesEnd = arith::AndIOp::create(
                  jb, lastItem,
                  arith::CmpIOp::create(jb, arith::CmpIPredicate::sge, t1,
                                        c.slots));
              fast = arith::AndIOp::create(
                  jb, fast,
                  arith::XOrIOp::create(
                      jb, touchesEnd,
                      arith::ConstantIntOp::create(jb, jb.getI1Type(), 1)));
            }
            scf::IfOp::create(
                jb, fast,
                [&](OpBuilder &nb, Location loc) {
                  ImplicitLocOpBuilder kb(loc, nb);
                  fastKeys(kb, KT, ktab, bi, h, t0);
                  scf::YieldOp::create(kb);
                },
                [&](OpBuilder &nb, Location loc) {
                  ImplicitLocOpBuilder kb(loc, nb);
                  notQuantized(kb);
                  scf::YieldOp::create(kb);
                });
          } else {
            notQuantized(jb);
          }

          // 2.-3. Scores and the online softmax, up to kHeadsPerPass query
          // heads at a time.
          Value validMask = arith::CmpIOp::create(
              jb, arith::CmpIPredicate::ult, laneVec,
              bcast(jb, arith::IndexCastOp::create(jb, i32, valid), VW));
          SmallVector<Value> newState(st.begin(), st.end());
          SmallVector<Value> alphas(G);
          for (int64_t g0 = 0; g0 < G; g0 += kHeadsPerPass) {
            int64_t g1 = std::min(G, g0 + kHeadsPerPass);
            SmallVector<Value> hqs;
            for (int64_t g = g0; g < g1; ++g)
              hqs.push_back(arith::AddIOp::create(
                  jb, arith::MulIOp::create(jb, h, cIdx(jb, G)),
                  cIdx(jb, g)));
            auto qAt = [&](ImplicitLocOpBuilder &kb, int64_t g, Value d) {
              return bcast(kb,
                           memref::LoadOp::create(
                               kb, qr, ValueRange{bi, hqs[g - g0], d}),
                           VW);
            };
            SmallVector<Value> zeros(g1 - g0, splatF(jb, VW, 0.0f));
            SmallVector<Value> sv;
            if (spec.rope == RopeStyle::None) {
              sv = emitFor(
                  jb, c0, cIdx(jb, D), c1, zeros,
                  [&](ImplicitLocOpBuilder &kb, Value d, ValueRange a) {
                    Value kd = vector::LoadOp::create(
                        kb, vf(VW), KT,
                        ValueRange{arith::MulIOp::create(kb, d, cIdx(kb, VW))});
                    SmallVector<Value> r;
                    for (int64_t g = g0; g < g1; ++g)
                      r.push_back(fmuladd(kb, qAt(kb, g, d), kd, a[g - g0]));
                    return r;
                  });
            } else {
              sv = emitFor(
                  jb, c0, cIdx(jb, half), c1, zeros,
                  [&](ImplicitLocOpBuilder &kb, Value i, ValueRange a) {
                    Value d, p;
                    if (spec.rope == RopeStyle::Half) {
                      d = i;
                      p = arith::AddIOp::create(kb, i, cIdx(kb, half));
                    } else {
                      d = arith::MulIOp::create(kb, i, cIdx(kb, 2));
                      p = arith::AddIOp::create(kb, d, cIdx(kb, 1));
                    }
                    Value kd = vector::LoadOp::create(
                        kb, vf(VW), KT,
                        ValueRange{arith::MulIOp::create(kb, d, cIdx(kb, VW))});
                    Value kp = vector::LoadOp::create(
                        kb, vf(VW), KT,
                        ValueRange{arith::MulIOp::create(kb, p, cIdx(kb, VW))});
                    Value base = arith::MulIOp::create(
                        kb,
                        arith::AddIOp::create(
                            kb, arith::MulIOp::create(kb, tile, cIdx(kb, half)),
                            i),
                        cIdx(kb, 2 * VW));
                    Value co = vector::LoadOp::create(kb, vf(VW), cs,
                                                      ValueRange{base});
                    Value si = vector::LoadOp::create(
                        kb, vf(VW), cs,
                        ValueRange{arith::AddIOp::create(kb, base,
                                                         cIdx(kb, VW))});
                    // rd = kd c - kp s, rp = kp c + kd s.
                    Value rd = arith::SubFOp::create(
                        kb, arith::MulFOp::create(kb, kd, co),
                        arith::MulFOp::create(kb, kp, si));
                    Value rp = fmuladd(kb, kd, si,
                                       arith::MulFOp::create(kb, kp, co));
                    SmallVector<Value> r;
                    for (int64_t g = g0; g < g1; ++g) {
                      Value s = fmuladd(kb, qAt(kb, g, d), rd, a[g - g0]);
                      r.push_back(fmuladd(kb, qAt(kb, g, p), rp, s));
                    }
                    return r;
                  });
            }
            for (int64_t g = g0; g < g1; ++g) {
              Value s = arith::SelectOp::create(jb, validMask, sv[g - g0],
                                                splatF(jb, VW, -kInf));
              Value mx = vector::ReductionOp::create(
                  jb, vector::CombiningKind::MAXIMUMF, s);
              Value mOld = st[g], lOld = st[G + g];
              Value mNew = arith::MaximumFOp::create(jb, mOld, mx);
              Value alpha = emitExpNonPositive(
                  jb, arith::SubFOp::create(jb, mOld, mNew));
              Value p = emitExpNonPositive(
                  jb, arith::SubFOp::create(jb, s, bcast(jb, mNew, VW)));
              vector::StoreOp::create(jb, p, P, ValueRange{cIdx(jb, g * VW)});
              Value sum = vector::ReductionOp::create(
                  jb, vector::CombiningKind::ADD, p);
              newState[g] = mNew;
              newState[G + g] =
                  arith::AddFOp::create(jb, arith::MulFOp::create(jb, lOld, alpha),
                                        sum);
              alphas[g] = alpha;
            }
          }

          // 4. Values of the tile, lanes = channels.
          emitFor(jb, c0, cIdx(jb, VW), c1, {},
                  [&](ImplicitLocOpBuilder &kb, Value lane, ValueRange) {
                    Value isValid = arith::CmpIOp::create(
                        kb, arith::CmpIPredicate::ult, lane, valid);
                    Value t = arith::AddIOp::create(kb, t0, lane);
                    scf::IfOp::create(
                        kb, isValid,
                        [&](OpBuilder &nb, Location loc) {
                          ImplicitLocOpBuilder lb(loc, nb);
                          valueRow(lb, VR, vtab, bi, h, lane, t, lastItem);
                          scf::YieldOp::create(lb);
                        },
                        [&](OpBuilder &nb, Location loc) {
                          ImplicitLocOpBuilder lb(loc, nb);
                          Value rowBase =
                              arith::MulIOp::create(lb, lane, cIdx(lb, D));
                          Value z8 = splatF(lb, 8, 0.0f);
                          for (int64_t d0 = 0; d0 < D; d0 += 8)
                            vector::StoreOp::create(
                                lb, z8, VR,
                                ValueRange{arith::AddIOp::create(
                                    lb, rowBase, cIdx(lb, d0))});
                          scf::YieldOp::create(lb);
                        });
                    return SmallVector<Value>();
                  });

          // 5. acc = acc * alpha + sum_t p[t] VR[t].
          for (auto [d0, w] : vChunks) {
            for (int64_t g0 = 0; g0 < G; g0 += kHeadsPerPass) {
              int64_t g1 = std::min(G, g0 + kHeadsPerPass);
              SmallVector<Value> a;
              for (int64_t g = g0; g < g1; ++g) {
                Value cur = vector::LoadOp::create(
                    jb, vf(w), acc, ValueRange{cIdx(jb, g * D + d0)});
                a.push_back(
                    arith::MulFOp::create(jb, cur, bcast(jb, alphas[g], w)));
              }
              for (int64_t l = 0; l < VW; ++l) {
                Value v = vector::LoadOp::create(
                    jb, vf(w), VR, ValueRange{cIdx(jb, l * D + d0)});
                for (int64_t g = g0; g < g1; ++g) {
                  Value p = memref::LoadOp::create(
                      jb, P, ValueRange{cIdx(jb, g * VW + l)});
                  a[g - g0] = fmuladd(jb, bcast(jb, p, w), v, a[g - g0]);
                }
              }
              for (int64_t g = g0; g < g1; ++g)
                vector::StoreOp::create(jb, a[g - g0], acc,
                                        ValueRange{cIdx(jb, g * D + d0)});
            }
          }
          return newState;
        });

    // Partial state of this block: (m, l, acc[D]) per query head.
    for (int64_t g = 0; g < G; ++g) {
      Value hq = arith::AddIOp::create(
          ib, arith::MulIOp::create(ib, h, cIdx(ib, G)), cIdx(ib, g));
      Value row = arith::AddIOp::create(
          ib,
          arith::MulIOp::create(
              ib,
              arith::AddIOp::create(
                  ib, arith::MulIOp::create(ib, blk, c.batch), bi),
              Hq),
          hq);
      Value base = arith::MulIOp::create(ib, row, cIdx(ib, D + 2));
      memref::StoreOp::create(ib, state[g], partials, ValueRange{base});
      memref::StoreOp::create(
          ib, state[G + g], partials,
          ValueRange{arith::AddIOp::create(ib, base, c1)});
      emitFor(ib, c0, cIdx(ib, D), c1, {},
              [&](ImplicitLocOpBuilder &jb, Value d, ValueRange) {
                Value v = memref::LoadOp::create(
                    jb, acc,
                    ValueRange{arith::AddIOp::create(jb, d, cIdx(jb, g * D))});
                memref::StoreOp::create(
                    jb, v, partials,
                    ValueRange{arith::AddIOp::create(
                        jb, base, arith::AddIOp::create(jb, d, cIdx(jb, 2)))});
                return SmallVector<Value>();
              });
    }
    return SmallVector<Value>();
  });
}

//===----------------------------------------------------------------------===//
// Combine the blocks of one (batch row, query head), in block order
//===----------------------------------------------------------------------===//

void KVAttentionEmitter::combine(ImplicitLocOpBuilder &b, Value bq) {
  Value c0 = cIdx(b, 0), c1 = cIdx(b, 1);
  Value bi = arith::DivUIOp::create(b, bq, Hq);
  Value hq = arith::RemUIOp::create(b, bq, Hq);
  auto baseOf = [&](ImplicitLocOpBuilder &ib, Value blk) -> Value {
    Value row = arith::AddIOp::create(
        ib,
        arith::MulIOp::create(
            ib, arith::AddIOp::create(ib, arith::MulIOp::create(ib, blk, c.batch), bi),
            Hq),
        hq);
    return arith::MulIOp::create(ib, row, cIdx(ib, D + 2));
  };
  Value M = emitFor(b, c0, NB, c1, ValueRange{cF32(b, -kInf)},
                    [&](ImplicitLocOpBuilder &ib, Value blk, ValueRange a) {
                      Value m = memref::LoadOp::create(
                          ib, partials, ValueRange{baseOf(ib, blk)});
                      return SmallVector<Value>{
                          arith::MaximumFOp::create(ib, a[0], m)};
                    })[0];
  Value rowAcc = memref::AllocOp::create(b, MemRefType::get({D}, f32));
  emitFor(b, c0, cIdx(b, D), c1, {},
          [&](ImplicitLocOpBuilder &ib, Value d, ValueRange) {
            memref::StoreOp::create(ib, cF32(ib, 0.0f), rowAcc, ValueRange{d});
            return SmallVector<Value>();
          });
  Value L = emitFor(
      b, c0, NB, c1, ValueRange{cF32(b, 0.0f)},
      [&](ImplicitLocOpBuilder &ib, Value blk, ValueRange a) {
        Value base = baseOf(ib, blk);
        Value m = memref::LoadOp::create(ib, partials, ValueRange{base});
        Value l = memref::LoadOp::create(
            ib, partials, ValueRange{arith::AddIOp::create(ib, base, c1)});
        Value w = emitExpNonPositive(ib, arith::SubFOp::create(ib, m, M));
        emitFor(ib, c0, cIdx(ib, D), c1, {},
                [&](ImplicitLocOpBuilder &jb, Value d, ValueRange) {
                  Value x = memref::LoadOp::create(
                      jb, partials,
                      ValueRange{arith::AddIOp::create(
                          jb, base, arith::AddIOp::create(jb, d, cIdx(jb, 2)))});
                  Value r = memref::LoadOp::create(jb, rowAcc, ValueRange{d});
                  memref::StoreOp::create(jb, fmuladd(jb, x, w, r), rowAcc,
                                          ValueRange{d});
                  return SmallVector<Value>();
                });
        return SmallVector<Value>{fmuladd(ib, l, w, a[0])};
      })[0];
  Value positive =
      arith::CmpFOp::create(b, arith::CmpFPredicate::OGT, L, cF32(b, 0.0f));
  Type outElt = cast<MemRefType>(out.getType()).getElementType();
  emitFor(b, c0, cIdx(b, D), c1, {},
          [&](ImplicitLocOpBuilder &ib, Value d, ValueRange) {
            Value r = memref::LoadOp::create(ib, rowAcc, ValueRange{d});
            Value o = arith::SelectOp::create(
                ib, positive, arith::DivFOp::create(ib, r, L), cF32(ib, 0.0f));
            memref::StoreOp::create(ib, convertFloat(ib, o, outElt), out,
                                    ValueRange{bi, hq, d});
            return SmallVector<Value>();
          });
}

//===----------------------------------------------------------------------===//
// The kernel
//===----------------------------------------------------------------------===//

void KVAttentionEmitter::emit() {
  Value c0 = cIdx(b, 0), c1 = cIdx(b, 1);
  int64_t half = D / 2;
  Hq = dimOf(b, query, 1);
  bounds = c.bounds(b, len);
  kEnd = c.kivi ? bounds.keyEnd : bounds.n;
  items = arith::MulIOp::create(b, c.batch, c.heads);
  for (int64_t d0 = 0; d0 < D; d0 += VW)
    vChunks.push_back({d0, std::min<int64_t>(VW, D - d0)});

  // Query: q'' = rope(q, position) * scale, once per call.
  float scale = spec.scale;
  qr = memref::AllocOp::create(
      b,
      MemRefType::get({ShapedType::kDynamic, ShapedType::kDynamic, D}, f32),
      ValueRange{c.batch, Hq}, b.getI64IntegerAttr(64));
  Value qcos, qsin;
  if (spec.rope != RopeStyle::None) {
    inv = memref::AllocOp::create(b, MemRefType::get({half}, f32));
    qcos = memref::AllocOp::create(b, MemRefType::get({half}, f32));
    qsin = memref::AllocOp::create(b, MemRefType::get({half}, f32));
    Value pos = arith::UIToFPOp::create(
        b, f32, arith::IndexCastUIOp::create(b, b.getI64Type(), position));
    emitFor(b, c0, cIdx(b, half), c1, {},
            [&](ImplicitLocOpBuilder &ib, Value i, ValueRange) {
              // 1 / theta^(2i / D), as the specification computes it.
              Value two = arith::UIToFPOp::create(
                  ib, f32,
                  arith::IndexCastUIOp::create(
                      ib, ib.getI64Type(),
                      arith::MulIOp::create(ib, i, cIdx(ib, 2))));
              Value e = arith::DivFOp::create(ib, two, cF32(ib, float(D)));
              Value f = arith::DivFOp::create(
                  ib, cF32(ib, 1.0f),
                  math::PowFOp::create(ib, cF32(ib, spec.theta), e));
              memref::StoreOp::create(ib, f, inv, ValueRange{i});
              Value angle = arith::MulFOp::create(ib, pos, f);
              memref::StoreOp::create(ib, math::CosOp::create(ib, angle), qcos,
                                      ValueRange{i});
              memref::StoreOp::create(ib, math::SinOp::create(ib, angle), qsin,
                                      ValueRange{i});
              return SmallVector<Value>();
            });
  }
  Value qItems = arith::MulIOp::create(b, c.batch, Hq);
  emitFor(b, c0, qItems, c1, {},
          [&](ImplicitLocOpBuilder &ib, Value bq, ValueRange) {
            Value bi = arith::DivUIOp::create(ib, bq, Hq);
            Value hq = arith::RemUIOp::create(ib, bq, Hq);
            auto qAt = [&](ImplicitLocOpBuilder &jb, Value d) {
              return loadF32(jb, query, ValueRange{bi, hq, d});
            };
            auto put = [&](ImplicitLocOpBuilder &jb, Value d, Value v) {
              memref::StoreOp::create(
                  jb, arith::MulFOp::create(jb, v, cF32(jb, scale)), qr,
                  ValueRange{bi, hq, d});
            };
            if (spec.rope == RopeStyle::None) {
              emitFor(ib, c0, cIdx(ib, D), c1, {},
                      [&](ImplicitLocOpBuilder &jb, Value d, ValueRange) {
                        put(jb, d, qAt(jb, d));
                        return SmallVector<Value>();
                      });
              return SmallVector<Value>();
            }
            emitFor(ib, c0, cIdx(ib, half), c1, {},
                    [&](ImplicitLocOpBuilder &jb, Value i, ValueRange) {
                      Value d, p;
                      if (spec.rope == RopeStyle::Half) {
                        d = i;
                        p = arith::AddIOp::create(jb, i, cIdx(jb, half));
                      } else {
                        d = arith::MulIOp::create(jb, i, cIdx(jb, 2));
                        p = arith::AddIOp::create(jb, d, cIdx(jb, 1));
                      }
                      Value co = memref::LoadOp::create(jb, qcos, ValueRange{i});
                      Value si = memref::LoadOp::create(jb, qsin, ValueRange{i});
                      Value xd = qAt(jb, d), xp = qAt(jb, p);
                      put(jb, d,
                          arith::SubFOp::create(
                              jb, arith::MulFOp::create(jb, xd, co),
                              arith::MulFOp::create(jb, xp, si)));
                      put(jb, p,
                          arith::AddFOp::create(
                              jb, arith::MulFOp::create(jb, xp, co),
                              arith::MulFOp::create(jb, xd, si)));
                      return SmallVector<Value>();
                    });
            return SmallVector<Value>();
          });

  // Blocks of tpb = max(256, ceil(n / 32)) tokens (a multiple of VW), and
  // groups of items so that there are about 16 tasks or more.
  Value per = arith::CeilDivUIOp::create(b, bounds.n, cIdx(b, 32));
  per = arith::MulIOp::create(
      b, arith::CeilDivUIOp::create(b, per, cIdx(b, VW)), cIdx(b, VW));
  tpb = arith::MaxUIOp::create(b, per, cIdx(b, 256));
  NB = arith::CeilDivUIOp::create(b, bounds.n, tpb);
  Value ng = arith::CeilDivUIOp::create(
      b, cIdx(b, 16), arith::MaxUIOp::create(b, NB, c1));
  ng = arith::MaxUIOp::create(b, arith::MinUIOp::create(b, ng, items), c1);
  ipg = arith::CeilDivUIOp::create(b, items, ng);
  NG = arith::CeilDivUIOp::create(b, items, ipg);
  Value partialSize = arith::MulIOp::create(
      b,
      arith::MulIOp::create(b, arith::MulIOp::create(b, NB, c.batch), Hq),
      cIdx(b, D + 2));
  partials = memref::AllocOp::create(
      b, MemRefType::get({ShapedType::kDynamic}, f32), ValueRange{partialSize},
      b.getI64IntegerAttr(64));

  Value tasks = arith::MulIOp::create(b, NB, NG);
  emitParallelFor(b, tasks, spec.threads,
                  [&](ImplicitLocOpBuilder &ib, Value taskId) {
                    Value blk = arith::DivUIOp::create(ib, taskId, NG);
                    Value grp = arith::RemUIOp::create(ib, taskId, NG);
                    task(ib, blk, grp);
                  });
  emitParallelFor(b, qItems, spec.threads,
                  [&](ImplicitLocOpBuilder &ib, Value bq) { combine(ib, bq); });
}

} // namespace

func::FuncOp
mlir::squant::cpu::getOrCreateKVAttentionKernel(ModuleOp module,
                                                const KVAttentionSpec &spec) {
  func::FuncOp fn = getOrCreateKernel(
      module, spec.kernelName(), spec.argTypes(module.getContext()),
      [&](ImplicitLocOpBuilder &b, ValueRange args) {
        KVAttentionEmitter(spec, module, b, args).emit();
      });
  setKernelTargetFeatures(fn, spec.target);
  return fn;
}
