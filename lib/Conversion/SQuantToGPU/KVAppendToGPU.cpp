//===- KVAppendToGPU.cpp - squant.kv_append to GPU kernels -----------------===//
//
// Quantize-on-append, in place, as one kernel per op (docs/kv-cache.md has
// the exact semantics the kernels reproduce bit for bit):
//
//  * kvquant: a warp per (new token, batch row, KV head) -- W = min(H, 4)
//    heads per block, grid (n, ceil(H / W), Bt). Lanes own channels
//    c = lane + 32 j. Each lane finds its channels' nearest key-table entry
//    (the channel's 2^B entries read with vector loads) and error; the O
//    outlier slots are O rounds of a warp arg-max (largest error, lower
//    channel on ties: a butterfly of gpu.shuffle on (error, channel)); the
//    value outliers are the same on |v|, the value scale is a warp max over
//    the remaining channels; codes go to shared memory, and after a barrier
//    every lane packs 32-bit units of the token vector and stores them.
//    Tokens are independent, so new tokens run in parallel.
//  * kivi: a block per (batch row, KV head), grid (H, Bt), 256 threads. The
//    sequential semantics (a token's value leaves the residual window R
//    tokens later; a full block of R keys is flushed) are resolved up
//    front: the value a slot holds when it is evicted or flushed is either
//    in the residual buffer (tokens appended before this op) or one of this
//    op's inputs, rounded as the residual would store it. Phase 1 computes
//    every group's min/max scale and zero point (value evictions: groups of
//    G channels; key flushes: groups of G tokens per channel); phase 2, after
//    a barrier, the codes from the stored scales, packed per 32-bit unit;
//    phase 3, after another barrier (the old residual contents are no
//    longer read), writes the residual slots, each by the last new token
//    that maps to it.
//
//===----------------------------------------------------------------------===//

#include "KVCacheKernels.h"
#include "squant/Conversion/SQuantToGPU/SQuantToGPU.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Bufferization/IR/Bufferization.h"
#include "llvm/Support/FormatVariadic.h"

#include <limits>

using namespace mlir;
using namespace mlir::squant;
using namespace mlir::squant::gpugen;

namespace {

constexpr int64_t kKiviThreads = 256;

std::string appendBlocker(KVAppendOp op) {
  std::string reason = checkMemrefOperands(op->getOperands());
  if (!reason.empty())
    return reason;
  int64_t d = cast<ShapedType>(op.getKeys().getType()).getDimSize(3);
  if (failed(KVLayout::get(op.getFormat(), op.getTables(), op.getCache(), d,
                           reason)))
    return reason;
  return "";
}

/// Bits of the units the packed codes are written in: 32-bit words when the
/// vector is a whole number of words, else bytes.
int64_t unitBitsOf(const KVLayout &lay) {
  return lay.packed % 4 == 0 ? 32 : 8;
}

//===----------------------------------------------------------------------===//
// kvquant
//===----------------------------------------------------------------------===//

struct KVQuantPlan {
  KVLayout lay;
  Type keyType, valueType;
  int64_t warps = 1;
};

/// Nearest entry of `row` (2^B entries, each scaled by `scale` if given) to
/// x: (code as i32, error); the first entry on ties.
std::pair<Value, Value> nearestEntry(Emitter &e, Value x, FloatRow &row,
                                     int64_t levels, Value scale) {
  auto entry = [&](int64_t k) {
    Value v = row.get(k);
    return scale ? e.fmul(v, scale) : v;
  };
  Value best = e.fabs(e.fsub(x, entry(0)));
  Value code = e.i32(0);
  for (int64_t k = 1; k < levels; ++k) {
    Value err = e.fabs(e.fsub(x, entry(k)));
    Value better = e.fcmp(arith::CmpFPredicate::OLT, err, best);
    best = e.select(better, err, best);
    code = e.select(better, e.i32(k), code);
  }
  return {code, best};
}

/// One round of the outlier selection: the channel (i32) of the largest
/// score over the warp, lower channel on ties. Every lane gets it.
Value warpArgMax(Emitter &e, ArrayRef<Value> scores, ArrayRef<Value> channels) {
  Value best = scores[0], chan = channels[0];
  for (size_t j = 1; j < scores.size(); ++j) {
    // Channels grow with j: strictly greater keeps the lower one on ties.
    Value take = e.fcmp(arith::CmpFPredicate::OGT, scores[j], best);
    best = e.select(take, scores[j], best);
    chan = e.select(take, channels[j], chan);
  }
  for (int32_t off = kWarpSize / 2; off >= 1; off /= 2) {
    Value ob = gpu::ShuffleOp::create(e.b, e.loc, best, off, kWarpSize,
                                      gpu::ShuffleMode::XOR)
                   .getShuffleResult();
    Value oc = gpu::ShuffleOp::create(e.b, e.loc, chan, off, kWarpSize,
                                      gpu::ShuffleMode::XOR)
                   .getShuffleResult();
    Value greater = e.fcmp(arith::CmpFPredicate::OGT, ob, best);
    Value tie = e.andi(e.fcmp(arith::CmpFPredicate::OEQ, ob, best),
                       e.ult(oc, chan));
    Value take = e.ori(greater, tie);
    best = e.select(take, ob, best);
    chan = e.select(take, oc, chan);
  }
  return chan;
}

/// Arguments: keys, values, key_lut, value_lut, cache..., position, n, L.
void buildKVQuantAppend(Emitter &e, const KVQuantPlan &p, ValueRange args,
                        ValueRange workgroup) {
  const KVLayout &lay = p.lay;
  unsigned a = 0;
  Value keys = args[a++], values = args[a++];
  KVCacheView view;
  view.lay = &lay;
  view.keyLut = args[a++];
  view.valueLut = args[a++];
  for (size_t i = 0; i < lay.kinds.size(); ++i)
    view.comps.push_back(args[a++]);
  Value position = args[a++], n = args[a++], slotsArg = args[a++];
  view.slots = ShapedType::isDynamic(lay.slots) ? slotsArg : e.idx(lay.slots);
  Value codesS = workgroup[0];
  const int64_t d = lay.headDim, levels = lay.levels, o = lay.outliers;
  const int64_t cpl = ceilDiv(d, kWarpSize);
  const float inf = std::numeric_limits<float>::infinity();

  Value tid = threadIdX(e);
  Value lane = e.remu(tid, kWarpSize);
  Value warp = e.divu(tid, kWarpSize);
  Value i = blockId(e, gpu::Dimension::x);
  Value h = e.add(e.mul(blockId(e, gpu::Dimension::y), p.warps), warp);
  Value b = blockId(e, gpu::Dimension::z);
  Value headOk = e.ult(h, lay.heads);
  Value hc = e.minu(h, lay.heads - 1);
  Value t = e.add(position, i);
  Value inL = e.ult(t, view.slots);
  Value store = e.andi(inL, headOk);
  Value quant = store;
  if (lay.sink > 0)
    quant = e.andi(quant, e.sle(e.idx(lay.sink), t));
  Value inBase = e.mul(e.add(e.mul(e.add(e.mul(b, lay.heads), hc), n), i), d);
  Value tokRow = view.row(e, b, hc, view.slots, t);

  // This lane's channels.
  SmallVector<Value> chan, chan32, valid, k, v;
  for (int64_t j = 0; j < cpl; ++j) {
    Value c = e.add(lane, j * kWarpSize);
    bool always = (j + 1) * kWarpSize <= d;
    valid.push_back(always ? Value() : e.ult(c, d));
    Value cc = always ? c : e.minu(c, d - 1);
    chan.push_back(cc);
    chan32.push_back(e.toI32(c));
    k.push_back(e.toF32(e.load(keys, e.add(inBase, cc))));
    v.push_back(e.toF32(e.load(values, e.add(inBase, cc))));
  }
  auto ifValid = [&](int64_t j, llvm::function_ref<void()> fn) {
    if (valid[j])
      e.ifThen(valid[j], fn);
    else
      fn();
  };
  auto masked = [&](int64_t j, Value x) {
    return valid[j] ? e.select(valid[j], x, e.f32(-inf)) : x;
  };

  // Sinks.
  if (lay.sink > 0) {
    Value isSink = e.andi(store, e.ult(t, lay.sink));
    e.ifThen(isSink, [&]() {
      Value base = view.rowBase(e, view.row(e, b, hc, lay.sink, t));
      for (int64_t j = 0; j < cpl; ++j)
        ifValid(j, [&]() {
          Value ks = view.get(KVComponent::KeySink);
          Value vs = view.get(KVComponent::ValueSink);
          e.store(e.fromF32(k[j], lay.type(KVComponent::KeySink)), ks,
                  e.add(base, chan[j]));
          e.store(e.fromF32(v[j], lay.type(KVComponent::ValueSink)), vs,
                  e.add(base, chan[j]));
        });
    });
  }

  // Outlier slot s of this token: the channel's input value and index.
  auto storeSlot = [&](bool key, int64_t s, Value c32) {
    Value cond = e.andi(quant, e.ult(lane, 1));
    e.ifThen(cond, [&]() {
      Value c = e.toIndex(c32);
      Value x = e.toF32(e.load(key ? keys : values, e.add(inBase, c)));
      KVComponent valK = key ? KVComponent::KeyOutlierValues
                             : KVComponent::ValueOutlierValues;
      KVComponent idxK = key ? KVComponent::KeyOutlierIndices
                             : KVComponent::ValueOutlierIndices;
      Value at = e.add(e.mul(tokRow, o), s);
      e.store(e.fromF32(x, lay.type(valK)), view.get(valK), at);
      Type idxType = lay.type(idxK);
      Value idx = idxType.isInteger(32)
                      ? c32
                      : Value(arith::TruncIOp::create(e.b, e.loc, idxType, c32));
      e.store(idx, view.get(idxK), at);
    });
  };
  auto selectOutliers = [&](bool key, SmallVectorImpl<Value> &score) {
    for (int64_t s = 0; s < o; ++s) {
      Value c = warpArgMax(e, score, chan32);
      storeSlot(key, s, c);
      for (int64_t j = 0; j < cpl; ++j)
        score[j] = e.select(e.eq(chan32[j], c), e.f32(-inf), score[j]);
    }
  };

  // Keys: nearest entry of the channel's table; outliers by error.
  Value wBase = e.mul(warp, 2 * d);
  SmallVector<Value> err;
  for (int64_t j = 0; j < cpl; ++j) {
    FloatRow row(e, view.keyLut,
                 e.mul(e.add(e.mul(hc, d), chan[j]), levels), levels);
    auto [code, er] = nearestEntry(e, k[j], row, levels, Value());
    err.push_back(masked(j, er));
    ifValid(j, [&]() { e.store(code, codesS, e.add(wBase, chan[j])); });
  }
  if (o > 0)
    selectOutliers(/*key=*/true, err);

  // Values: outliers by magnitude; the scale is the largest remaining one.
  SmallVector<Value> mag;
  for (int64_t j = 0; j < cpl; ++j)
    mag.push_back(masked(j, e.fabs(v[j])));
  if (o > 0)
    selectOutliers(/*key=*/false, mag);
  Value amax = e.f32(0.0);
  for (int64_t j = 0; j < cpl; ++j)
    amax = e.fmax(amax, mag[j]);
  amax = warpReduce(e, amax, [&](Value x, Value y) { return e.fmax(x, y); });
  Type scaleType = lay.type(KVComponent::ValueScale);
  Value stored = e.fromF32(amax, scaleType);
  e.ifThen(e.andi(quant, e.ult(lane, 1)), [&]() {
    e.store(stored, view.get(KVComponent::ValueScale), tokRow);
  });
  Value scale = e.toF32(stored);
  FloatRow vlut(e, view.valueLut, e.idx(0), levels);
  for (int64_t j = 0; j < cpl; ++j) {
    Value code = nearestEntry(e, v[j], vlut, levels, scale).first;
    ifValid(j, [&]() {
      e.store(code, codesS, e.add(e.add(wBase, d), chan[j]));
    });
  }
  gpu::BarrierOp::create(e.b, e.loc);

  // Pack both vectors, a 32-bit unit (or byte) per lane at a time.
  int64_t unitBits = unitBitsOf(lay);
  int64_t units = lay.packed * 8 / unitBits;
  e.ifThen(quant, [&]() {
    Value codesBase = view.codesBase(e, b, hc, t);
    e.forLoop(lane, e.idx(units), e.idx(kWarpSize), [&](Value u) {
      Value at = e.add(codesBase, e.mul(u, unitBits / 8));
      for (bool key : {true, false}) {
        Value off = key ? wBase : e.add(wBase, d);
        Value unit = packUnit(e, u, unitBits, d, lay.bits, [&](Value c) {
          return e.load(codesS, e.add(off, c));
        });
        storeUnit(e, unit,
                  view.get(key ? KVComponent::KeyCodes : KVComponent::ValueCodes),
                  at, unitBits);
      }
    });
  });
}

//===----------------------------------------------------------------------===//
// kivi
//===----------------------------------------------------------------------===//

/// Arguments: keys, values, cache..., position, n, L.
void buildKiviAppend(Emitter &e, const KVLayout &lay, ValueRange args) {
  unsigned a = 0;
  Value keys = args[a++], values = args[a++];
  KVCacheView view;
  view.lay = &lay;
  for (size_t i = 0; i < lay.kinds.size(); ++i)
    view.comps.push_back(args[a++]);
  Value position = args[a++], n = args[a++], slotsArg = args[a++];
  view.slots = ShapedType::isDynamic(lay.slots) ? slotsArg : e.idx(lay.slots);
  view.keyRows = e.divu(e.sub(view.slots, e.idx(lay.sink)), lay.group);
  const int64_t d = lay.headDim, g = lay.group, r = lay.residual;
  const int64_t groupsD = d / g, levels = lay.levels;
  const float inf = std::numeric_limits<float>::infinity();
  Value threads = e.idx(kKiviThreads);

  Value tid = threadIdX(e);
  Value h = blockId(e, gpu::Dimension::x);
  Value b = blockId(e, gpu::Dimension::y);
  Value s = e.idx(lay.sink), rr = e.idx(r);
  // New tokens that land in the cache (the others are dropped).
  Value room = e.maxs(e.sub(view.slots, position), e.idx(0));
  Value count = e.minu(n, room);
  Value end = e.add(position, count);
  auto inBase = [&](Value i) {
    return e.mul(e.add(e.mul(e.add(e.mul(b, lay.heads), h), n), i), d);
  };
  // The value of token `tok`, channel c, that the residual holds when it
  // is quantized: this op's input (rounded as stored) or the buffer.
  auto source = [&](bool key, Value tok, Value c) {
    KVComponent resK =
        key ? KVComponent::KeyResidual : KVComponent::ValueResidual;
    Value isNew = e.sle(position, tok);
    Value i = e.select(isNew, e.sub(tok, position), e.idx(0));
    Value x = e.toF32(e.load(key ? keys : values, e.add(inBase(i), c)));
    x = roundTo(e, x, lay.type(resK));
    Value slot = e.remu(e.sub(tok, s), r);
    Value old = e.toF32(e.load(
        view.get(resK), e.add(view.rowBase(e, view.row(e, b, h, r, slot)), c)));
    return e.select(isNew, x, old);
  };
  // min/max over `members` values (a group) and the stored scale and zero.
  auto storeGroup = [&](llvm::function_ref<Value(Value)> member,
                        KVComponent scaleK, KVComponent zeroK, Value at) {
    SmallVector<Value> mm = e.forLoop(
        e.idx(0), e.idx(g), e.idx(1), ValueRange{e.f32(inf), e.f32(-inf)},
        [&](Value m, ValueRange it) -> SmallVector<Value> {
          Value x = member(m);
          return {e.fmin(it[0], x), e.fmax(it[1], x)};
        });
    Value sc = e.fdiv(e.fsub(mm[1], mm[0]), e.f32(double(levels - 1)));
    e.store(e.fromF32(sc, lay.type(scaleK)), view.get(scaleK), at);
    e.store(e.fromF32(mm[0], lay.type(zeroK)), view.get(zeroK), at);
  };

  // Sinks.
  if (lay.sink > 0) {
    e.forLoop(tid, e.mul(count, d), threads, [&](Value idx) {
      Value i = e.divu(idx, d), c = e.remu(idx, d);
      Value t = e.add(position, i);
      e.ifThen(e.ult(t, lay.sink), [&]() {
        Value base = view.rowBase(e, view.row(e, b, h, lay.sink, t));
        Value in = e.add(inBase(i), c);
        e.store(e.fromF32(e.toF32(e.load(keys, in)),
                          lay.type(KVComponent::KeySink)),
                view.get(KVComponent::KeySink), e.add(base, c));
        e.store(e.fromF32(e.toF32(e.load(values, in)),
                          lay.type(KVComponent::ValueSink)),
                view.get(KVComponent::ValueSink), e.add(base, c));
      });
    });
  }

  // Value evictions: tokens t in [max(pos, S + R), end) evict t - R.
  Value e0 = e.maxs(position, e.idx(lay.sink + r));
  Value evictions = e.maxs(e.sub(end, e0), e.idx(0));
  // Key flushes: tokens t with (t - S + 1) % R == 0, t >= S + R - 1.
  int64_t first = lay.sink + r - 1;
  Value f0 = e.add(e.idx(first),
                   e.mul(e.ceilDiv(e.sub(e.maxs(position, e.idx(first)),
                                         e.idx(first)),
                                   r),
                         r));
  Value flushes = e.select(e.slt(f0, end),
                           e.add(e.divu(e.sub(e.sub(end, e.idx(1)), f0), r),
                                 e.idx(1)),
                           e.idx(0));
  auto flushStart = [&](Value f) {
    return e.sub(e.add(f0, e.mul(f, r)), e.idx(r - 1));
  };

  // Phase 1: scales and zero points.
  e.forLoop(tid, e.mul(evictions, groupsD), threads, [&](Value idx) {
    Value te = e.sub(e.add(e0, e.divu(idx, groupsD)), rr);
    Value grp = e.remu(idx, groupsD);
    Value at = e.add(e.mul(view.row(e, b, h, view.slots, te), groupsD), grp);
    storeGroup(
        [&](Value m) {
          return source(false, te, e.add(e.mul(grp, g), m));
        },
        KVComponent::ValueScale, KVComponent::ValueZero, at);
  });
  int64_t rowsPerFlush = r / g;
  e.forLoop(tid, e.mul(flushes, rowsPerFlush * d), threads, [&](Value idx) {
    Value f = e.divu(idx, rowsPerFlush * d);
    Value rem = e.remu(idx, rowsPerFlush * d);
    Value j = e.divu(rem, d), c = e.remu(rem, d);
    Value st = flushStart(f);
    Value keyRow = e.add(e.divu(e.sub(st, s), g), j);
    Value at = e.add(view.rowBase(e, view.row(e, b, h, view.keyRows, keyRow)), c);
    storeGroup(
        [&](Value m) {
          return source(true, e.add(e.add(st, e.mul(j, g)), m), c);
        },
        KVComponent::KeyScale, KVComponent::KeyZero, at);
  });
  gpu::BarrierOp::create(e.b, e.loc);

  // Phase 2: codes against the stored scales and zero points, packed.
  int64_t unitBits = unitBitsOf(lay);
  int64_t units = lay.packed * 8 / unitBits;
  e.forLoop(tid, e.mul(evictions, units), threads, [&](Value idx) {
    Value te = e.sub(e.add(e0, e.divu(idx, units)), rr);
    Value u = e.remu(idx, units);
    Value sRow = e.mul(view.row(e, b, h, view.slots, te), groupsD);
    Value unit = packUnit(e, u, unitBits, d, lay.bits, [&](Value c) {
      Value at = e.add(sRow, e.divu(c, g));
      Value sc = e.toF32(e.load(view.get(KVComponent::ValueScale), at));
      Value z = e.toF32(e.load(view.get(KVComponent::ValueZero), at));
      return kiviCode(e, source(false, te, c), sc, z, levels);
    });
    storeUnit(e, unit, view.get(KVComponent::ValueCodes),
              e.add(view.codesBase(e, b, h, te), e.mul(u, unitBits / 8)),
              unitBits);
  });
  e.forLoop(tid, e.mul(flushes, r * units), threads, [&](Value idx) {
    Value f = e.divu(idx, r * units);
    Value tr = e.remu(e.divu(idx, units), r);
    Value u = e.remu(idx, units);
    Value st = flushStart(f);
    Value tok = e.add(st, tr);
    Value keyRow = e.add(e.divu(e.sub(st, s), g), e.divu(tr, g));
    Value sBase = view.rowBase(e, view.row(e, b, h, view.keyRows, keyRow));
    Value unit = packUnit(e, u, unitBits, d, lay.bits, [&](Value c) {
      Value sc = e.toF32(e.load(view.get(KVComponent::KeyScale), e.add(sBase, c)));
      Value z = e.toF32(e.load(view.get(KVComponent::KeyZero), e.add(sBase, c)));
      return kiviCode(e, source(true, tok, c), sc, z, levels);
    });
    storeUnit(e, unit, view.get(KVComponent::KeyCodes),
              e.add(view.codesBase(e, b, h, tok), e.mul(u, unitBits / 8)),
              unitBits);
  });
  gpu::BarrierOp::create(e.b, e.loc);

  // Phase 3: the residual slots, each written by the last new token that
  // maps to it.
  e.forLoop(tid, e.mul(count, d), threads, [&](Value idx) {
    Value i = e.divu(idx, d), c = e.remu(idx, d);
    Value t = e.add(position, i);
    Value last = e.ult(e.sub(count, e.idx(1)), e.add(i, rr));
    e.ifThen(e.andi(e.sle(s, t), last), [&]() {
      Value slot = e.remu(e.sub(t, s), r);
      Value base = view.rowBase(e, view.row(e, b, h, r, slot));
      Value in = e.add(inBase(i), c);
      for (bool key : {true, false}) {
        KVComponent resK =
            key ? KVComponent::KeyResidual : KVComponent::ValueResidual;
        Value x = e.toF32(e.load(key ? keys : values, in));
        e.store(e.fromF32(x, lay.type(resK)), view.get(resK), e.add(base, c));
      }
    });
  });
}

//===----------------------------------------------------------------------===//
// Pattern
//===----------------------------------------------------------------------===//

struct KVAppendToGPU : OpRewritePattern<KVAppendOp> {
  using OpRewritePattern::OpRewritePattern;

  LogicalResult matchAndRewrite(KVAppendOp op,
                                PatternRewriter &rewriter) const override {
    std::string reason = appendBlocker(op);
    if (!reason.empty())
      return rewriter.notifyMatchFailure(op, reason);
    Location loc = op.getLoc();
    Value keysV = op.getKeys(), valuesV = op.getValues();
    int64_t d = cast<ShapedType>(keysV.getType()).getDimSize(3);
    KVLayout lay =
        *KVLayout::get(op.getFormat(), op.getTables(), op.getCache(), d, reason);
    rewriter.setInsertionPoint(op);
    Emitter e{rewriter, loc};

    FailureOr<SmallVector<Value>> inputs =
        getFlatInputs(rewriter, loc, ValueRange{keysV, valuesV}, reason);
    FailureOr<SmallVector<Value>> tables =
        getFlatInputs(rewriter, loc, op.getTables(), reason);
    if (failed(inputs) || failed(tables))
      return rewriter.notifyMatchFailure(op, reason);
    FailureOr<InPlaceCache> cache =
        InPlaceCache::create(rewriter, loc, op, op.getCache(), reason);
    if (failed(cache))
      return rewriter.notifyMatchFailure(op, reason);
    Value n = hostDim(rewriter, loc, keysV, 2);
    Value batch = hostDim(rewriter, loc, op.getCache()[0], 0);
    Value slots = hostDim(rewriter, loc, op.getCache()[0], 2);
    Type keyType = cast<ShapedType>(keysV.getType()).getElementType();
    Type valueType = cast<ShapedType>(valuesV.getType()).getElementType();

    SmallVector<Value> args(inputs->begin(), inputs->end());
    args.append(tables->begin(), tables->end());
    args.append(cache->buffers.begin(), cache->buffers.end());
    args.append({op.getPosition(), n, slots});

    KernelSpec spec;
    for (Value v : args)
      spec.argTypes.push_back(v.getType());
    spec.readOnly.assign(args.size(), true);
    for (size_t i = 0; i < cache->buffers.size(); ++i)
      spec.readOnly[2 + tables->size() + i] = false;
    std::array<Value, 3> grid;
    ModuleOp module = op->getParentOfType<ModuleOp>();
    gpu::GPUFuncOp kernel;
    if (lay.kivi) {
      spec.name = llvm::formatv("kv_append_{0}_k{1}_v{2}", lay.tag(),
                                typeTag(keyType), typeTag(valueType));
      spec.block = {int32_t(kKiviThreads), 1, 1};
      spec.strategy = "block per (batch, KV head): scales of evicted value "
                      "groups and flushed key blocks, barrier, codes packed "
                      "in 32-bit units, barrier, residual slots";
      kernel = getOrCreateKernel(module, spec,
                                 [&](Emitter &ke, ValueRange kargs, ValueRange) {
                                   buildKiviAppend(ke, lay, kargs);
                                 });
      grid = {e.idx(lay.heads), batch, e.idx(1)};
    } else {
      KVQuantPlan plan{lay, keyType, valueType,
                       std::min<int64_t>(lay.heads, 4)};
      spec.name = llvm::formatv("kv_append_{0}_k{1}_v{2}_w{3}", lay.tag(),
                                typeTag(keyType), typeTag(valueType),
                                plan.warps);
      spec.block = {int32_t(plan.warps * kWarpSize), 1, 1};
      spec.workgroupF32 = {plan.warps * 2 * d};
      spec.workgroupTypes = {rewriter.getI32Type()};
      spec.strategy = llvm::formatv(
          "warp per (token, batch, KV head), {0} heads per block: nearest "
          "codes per lane, {1} outlier rounds of warp arg-max (shuffles), "
          "warp max scale, codes packed from shared memory",
          plan.warps, lay.outliers);
      kernel = getOrCreateKernel(module, spec,
                                 [&](Emitter &ke, ValueRange kargs,
                                     ValueRange wg) {
                                   buildKVQuantAppend(ke, plan, kargs, wg);
                                 });
      grid = {n, e.idx(ceilDiv(lay.heads, plan.warps)), batch};
    }
    launchKernel(rewriter, loc, kernel, grid, args);
    if (cache->tensorForm)
      rewriter.replaceOp(op, cache->finish(rewriter, loc));
    else
      rewriter.eraseOp(op);
    return success();
  }
};

} // namespace

void mlir::squant::populateKVAppendToGPUPatterns(
    RewritePatternSet &patterns, const SQuantToGPUOptions &) {
  patterns.add<KVAppendToGPU>(patterns.getContext());
}

std::string mlir::squant::getKVAppendGPUBlocker(Operation *op) {
  return appendBlocker(cast<KVAppendOp>(op));
}
