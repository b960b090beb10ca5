//===- KVAttentionToGPU.cpp - squant.kv_attention to GPU kernels -----------===//
//
// Fused decode attention over a quantized cache, flash-decoding style
// (docs/gpu-kernels.md has the design and its reasons):
//
//  * main kernel, grid (H / hb, splits, Bt), 32 * hb threads: a block owns
//    hb KV heads (warp w = KV head) and all Hq / H = G query heads of each
//    (GQA: every K/V vector is read and decoded once and used by G query
//    heads), and a split of the tokens, which it walks in tiles of 32
//    tokens (a loop whose body synchronizes with barriers and shuffles):
//      1. RoPE table: cos/sin of (token, pair) for the tile, computed once
//         per block into shared memory and used by all its heads (an f32
//         sine/cosine of the specification's f32 angle, no libdevice);
//      2. scores: lane l of warp w takes token l of the tile for KV head w:
//         wide loads of the packed key codes, decode in registers, table
//         (kvquant: per-channel key table; kivi: scale/zero rows) or sink /
//         residual floats, rotation, dot products with the G rotated
//         queries (128-bit shared-memory loads); kvquant key outliers are
//         added as corrections w * (value - dense), w the rotated query
//         weight of the channel. The lane also copies the token's packed
//         value codes into shared memory with the same wide loads.
//      3. online softmax, one warp per KV head and a lane per token: the
//         tile max and sum are butterflies of gpu.shuffle; scores become
//         exp2 weights (log2 e folded into the query scale), the running
//         max/sum and the rescale factor of each query head are updated.
//      4. P.V: lane l of warp w owns channel group l (cpt consecutive
//         channels, decoded from two shared-memory words) for all G query
//         heads and accumulates over the tile's tokens in registers.
//    Each block writes, per query head, its unnormalized output row and
//    (max, sum) to a workspace.
//  * combine kernel, grid (Hq, Bt): a thread per channel walks the splits
//    in order, rescales and sums: deterministic, no atomics.
//
//===----------------------------------------------------------------------===//

#include "KVCacheKernels.h"
#include "squant/Conversion/SQuantToGPU/SQuantToGPU.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Bufferization/IR/Bufferization.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include "llvm/Support/FormatVariadic.h"

#include <cmath>
#include <limits>

using namespace mlir;
using namespace mlir::squant;
using namespace mlir::squant::gpugen;

namespace {

constexpr int64_t kTile = 32;
constexpr int64_t kSharedBudget = 48 * 1024;
constexpr int64_t kMaxSplits = 1024;

std::string attentionBlocker(KVAttentionOp op) {
  std::string reason = checkMemrefOperands(op->getOperands());
  if (!reason.empty())
    return reason;
  auto qType = cast<ShapedType>(op.getQuery().getType());
  if (qType.isDynamicDim(1))
    return "the GPU kernels need a static number of query heads";
  int64_t d = qType.getDimSize(2);
  FailureOr<KVLayout> lay =
      KVLayout::get(op.getFormat(), op.getTables(), op.getCache(), d, reason);
  if (failed(lay))
    return reason;
  if (qType.getDimSize(1) % lay->heads != 0)
    return "the number of query heads must be a multiple of the KV heads";
  return "";
}

struct AttnPlan {
  KVLayout lay;
  int64_t qHeads = 0, groupQ = 1; // Hq, G = Hq / H
  int64_t hb = 1;                 // KV heads per block (warps)
  int64_t splits = 1;
  int64_t cpt = 1, cgpt = 1, channelGroups = 1;
  int64_t vStride = 1; // words per token row of staged value codes
  bool smemKeyLut = false;
  RopeStyle rope = RopeStyle::None;
  float theta = 10000.0f, scale = 1.0f;
  Type qType, outType;

  int64_t rows() const { return hb * groupQ; }
  int64_t threads() const { return hb * kWarpSize; }
  int64_t pairs() const { return lay.headDim / 2; }
  bool hasRope() const { return rope != RopeStyle::None; }
  /// Shared memory in bytes (without the per-channel key tables).
  int64_t sharedBytes() const {
    int64_t d = lay.headDim;
    int64_t bytes = rows() * d * 4                  // rotated queries
                    + (rows() * kTile + rows()) * 4 // scores, rescales
                    + hb * kTile * vStride * 4;     // staged value codes
    if (hasRope())
      bytes += 2 * pairs() * kTile * 4 + pairs() * 4;
    if (!lay.kivi)
      bytes += lay.levels * 4;
    return bytes;
  }
  int64_t keyLutBytes() const { return hb * lay.headDim * lay.levels * 4; }
};

FailureOr<AttnPlan> planAttention(KVAttentionOp op,
                                  const SQuantToGPUOptions &options,
                                  std::string &reason) {
  AttnPlan p;
  auto qType = cast<ShapedType>(op.getQuery().getType());
  int64_t d = qType.getDimSize(2);
  p.lay = *KVLayout::get(op.getFormat(), op.getTables(), op.getCache(), d,
                         reason);
  p.qHeads = qType.getDimSize(1);
  p.groupQ = p.qHeads / p.lay.heads;
  p.qType = qType.getElementType();
  p.outType = cast<ShapedType>(op.getInit().getType()).getElementType();
  p.rope = op.getRope();
  p.theta = op.getRopeTheta().convertToFloat();
  p.scale = op.getScale() ? op.getScale()->convertToFloat()
                          : 1.0f / std::sqrt(float(d));

  // Channel groups of the P.V phase: cpt consecutive channels per lane
  // (their codes fit one 64-bit window), cgpt groups per lane.
  int64_t want = ceilDiv(d, kWarpSize);
  int64_t cap = std::max<int64_t>(1, 32 / p.lay.bits);
  p.cpt = 0;
  for (int64_t c = want; c <= cap; ++c)
    if (d % c == 0) {
      p.cpt = c;
      break;
    }
  if (!p.cpt)
    for (int64_t c = std::min(cap, d); c >= 1; --c)
      if (d % c == 0) {
        p.cpt = c;
        break;
      }
  p.channelGroups = d / p.cpt;
  p.cgpt = ceilDiv(p.channelGroups, kWarpSize);
  int64_t pw = p.lay.packedWords();
  p.vStride = (pw + 1) % 2 == 1 ? pw + 1 : pw + 2; // odd: no bank conflicts

  // KV heads per block: as many as shared memory allows (the RoPE table
  // is shared by all of them), dividing H.
  p.hb = 0;
  for (int64_t hb : {8, 4, 2, 1}) {
    if (p.lay.heads % hb != 0)
      continue;
    p.hb = hb;
    if (p.sharedBytes() <= kSharedBudget)
      break;
  }
  if (p.sharedBytes() > kSharedBudget) {
    reason = llvm::formatv("the attention kernel would need {0} bytes of "
                           "shared memory (head dim {1}, {2} query heads per "
                           "KV head); at most {3} are supported",
                           p.sharedBytes(), d, p.groupQ, kSharedBudget);
    return failure();
  }
  p.smemKeyLut =
      !p.lay.kivi && p.sharedBytes() + p.keyLutBytes() <= kSharedBudget;

  // Splits over tokens: about two blocks per SM for one sequence, at most
  // one per tile of the cache.
  int64_t headTiles = p.lay.heads / p.hb;
  int64_t maxSplits = ShapedType::isDynamic(p.lay.slots)
                          ? kMaxSplits
                          : std::max<int64_t>(1, ceilDiv(p.lay.slots, kTile));
  if (options.kvSplits > 0)
    p.splits = std::min<int64_t>(options.kvSplits, kMaxSplits);
  else
    p.splits = std::min(maxSplits, std::max<int64_t>(
                                       1, ceilDiv(2 * options.numSMs,
                                                  headTiles)));
  return p;
}

std::string mainName(const AttnPlan &p) {
  return llvm::formatv(
      "kv_attention_{0}_hq{1}_q{2}_{3}{4}_sc{5}_hb{6}_s{7}_c{8}x{9}{10}",
      p.lay.tag(), p.qHeads, typeTag(p.qType), stringifyRopeStyle(p.rope),
      p.hasRope() ? floatTag(p.theta) : std::string(), floatTag(p.scale),
      p.hb, p.splits, p.cpt, p.cgpt, p.smemKeyLut ? "_lsm" : "");
}

//===----------------------------------------------------------------------===//
// Main kernel
//===----------------------------------------------------------------------===//

struct SharedBuffers {
  Value qs, sc, vc, cosT, sinT, inv, vlut, klut;
};

/// Arguments: query, [key_lut, value_lut,] cache..., workspace, len,
/// position, L, tiles per split.
void buildMainKernel(Emitter &e, const AttnPlan &p, ValueRange args,
                     ValueRange wg) {
  const KVLayout &lay = p.lay;
  const int64_t d = lay.headDim, g = p.groupQ, hb = p.hb, rowsN = p.rows();
  const int64_t half = p.pairs(), levels = lay.levels;
  const float inf = std::numeric_limits<float>::infinity();
  Type f32 = e.b.getF32Type();

  unsigned a = 0;
  Value q = args[a++];
  KVCacheView view;
  view.lay = &lay;
  if (!lay.kivi) {
    view.keyLut = args[a++];
    view.valueLut = args[a++];
  }
  for (size_t i = 0; i < lay.kinds.size(); ++i)
    view.comps.push_back(args[a++]);
  Value ws = args[a++], len = args[a++], position = args[a++];
  Value slotsArg = args[a++], tilesPerSplit = args[a++];
  view.slots = ShapedType::isDynamic(lay.slots) ? slotsArg : e.idx(lay.slots);
  if (lay.kivi)
    view.keyRows = e.divu(e.sub(view.slots, e.idx(lay.sink)), lay.group);

  SharedBuffers sm;
  unsigned w_ = 0;
  sm.qs = wg[w_++];
  sm.sc = wg[w_++];
  sm.vc = wg[w_++];
  if (p.hasRope()) {
    sm.cosT = wg[w_++];
    sm.sinT = wg[w_++];
    sm.inv = wg[w_++];
  }
  if (!lay.kivi)
    sm.vlut = wg[w_++];
  if (p.smemKeyLut)
    sm.klut = wg[w_++];

  Value threads = e.idx(p.threads());
  Value tid = threadIdX(e);
  Value lane = e.remu(tid, kWarpSize);
  Value warp = e.divu(tid, kWarpSize);
  Value headTile = blockId(e, gpu::Dimension::x);
  Value split = blockId(e, gpu::Dimension::y);
  Value b = blockId(e, gpu::Dimension::z);
  Value h = e.add(e.mul(headTile, hb), warp);
  KVBounds bounds = computeBounds(e, lay, len, view.slots);
  Value nTiles = e.ceilDiv(bounds.n, kTile);
  Value tBeg = e.mul(split, tilesPerSplit);
  Value tEnd = e.minu(e.add(tBeg, tilesPerSplit), nTiles);
  Value numTiles = e.select(e.ult(tBeg, tEnd), e.sub(tEnd, tBeg), e.idx(0));
  // log2(e) is folded into the query scale: scores are in the exp2 domain.
  double qscale = double(p.scale) * 1.4426950408889634;

  // Phase A0: tables.
  if (p.hasRope())
    e.ifThen(e.ult(tid, 1), [&]() {
      for (int64_t i = 0; i < half; ++i)
        e.store(e.f32(ropeInverseFrequency(p.theta, i, d)), sm.inv, e.idx(i));
    });
  if (!lay.kivi) {
    e.forLoop(tid, e.idx(levels), threads, [&](Value i) {
      e.store(e.toF32(e.load(view.valueLut, i)), sm.vlut, i);
    });
    if (p.smemKeyLut) {
      Value base = e.mul(headTile, hb * d * levels);
      e.forLoop(tid, e.idx(hb * d * levels), threads, [&](Value i) {
        e.store(e.toF32(e.load(view.keyLut, e.add(base, i))), sm.klut, i);
      });
    }
  }
  gpu::BarrierOp::create(e.b, e.loc);

  // Phase A1: the rotated, scaled queries of the block's rows.
  int64_t perRow = p.hasRope() ? half : d;
  e.forLoop(tid, e.idx(rowsN * perRow), threads, [&](Value idx) {
    Value row = e.divu(idx, perRow), i = e.remu(idx, perRow);
    Value hq = e.add(e.mul(headTile, rowsN), row);
    Value qBase = e.mul(e.add(e.mul(b, p.qHeads), hq), d);
    Value rowBase = e.mul(row, d);
    if (!p.hasRope()) {
      Value x = e.toF32(e.load(q, e.add(qBase, i)));
      e.store(e.fmul(x, e.f32(qscale)), sm.qs, e.add(rowBase, i));
      return;
    }
    Value ca, cb;
    if (p.rope == RopeStyle::Half) {
      ca = i;
      cb = e.add(i, half);
    } else {
      ca = e.mul(i, 2);
      cb = e.add(ca, 1);
    }
    Value xa = e.toF32(e.load(q, e.add(qBase, ca)));
    Value xb = e.toF32(e.load(q, e.add(qBase, cb)));
    Value angle = e.fmul(e.uitofp(position), e.load(sm.inv, i));
    auto [sn, cs] = sinCos(e, angle);
    Value ra = e.fsub(e.fmul(xa, cs), e.fmul(xb, sn));
    Value rb = e.fadd(e.fmul(xb, cs), e.fmul(xa, sn));
    e.store(e.fmul(ra, e.f32(qscale)), sm.qs, e.add(rowBase, ca));
    e.store(e.fmul(rb, e.f32(qscale)), sm.qs, e.add(rowBase, cb));
  });
  gpu::BarrierOp::create(e.b, e.loc);

  // The token loop. Per thread: the running max and sum of its warp's G
  // rows, and the P.V accumulators of its channel groups.
  const int64_t accN = g * p.cgpt * p.cpt;
  auto accIndex = [&](int64_t gi, int64_t j, int64_t k) {
    return (gi * p.cgpt + j) * p.cpt + k;
  };
  SmallVector<Value> inits;
  for (int64_t gi = 0; gi < g; ++gi)
    inits.push_back(e.f32(-inf));
  for (int64_t gi = 0; gi < g; ++gi)
    inits.push_back(e.f32(0.0));
  for (int64_t i = 0; i < accN; ++i)
    inits.push_back(e.f32(0.0));
  Value keyLut = p.smemKeyLut ? sm.klut : view.keyLut;
  Value keyLutBase =
      lay.kivi ? Value()
               : e.mul(p.smemKeyLut ? warp : h, d * levels);
  SmallVector<Value> rowOf;
  for (int64_t gi = 0; gi < g; ++gi)
    rowOf.push_back(e.add(e.mul(warp, g), gi));
  // Channel groups of this lane (clamped for reads).
  SmallVector<Value> group, groupOk;
  for (int64_t j = 0; j < p.cgpt; ++j) {
    Value cg = e.add(lane, j * kWarpSize);
    bool always = (j + 1) * kWarpSize <= p.channelGroups;
    groupOk.push_back(always ? Value() : e.ult(cg, p.channelGroups));
    group.push_back(always ? cg : e.minu(cg, p.channelGroups - 1));
  }
  Value scRescale = e.idx(rowsN * kTile);

  SmallVector<Value> loopOut = e.forLoop(
      e.idx(0), numTiles, e.idx(1), inits,
      [&](Value kk, ValueRange it) -> SmallVector<Value> {
        SmallVector<Value> m(it.begin(), it.begin() + g);
        SmallVector<Value> l(it.begin() + g, it.begin() + 2 * g);
        SmallVector<Value> acc(it.begin() + 2 * g, it.end());
        Value t0 = e.mul(e.add(tBeg, kk), kTile);
        Value nValid = e.minu(e.sub(bounds.n, t0), kTile);

        // 1. cos/sin of the tile's tokens.
        if (p.hasRope()) {
          e.forLoop(tid, e.idx(kTile * half), threads, [&](Value idx) {
            Value tl = e.remu(idx, kTile), i = e.divu(idx, kTile);
            e.ifThen(e.ult(tl, nValid), [&]() {
              Value angle =
                  e.fmul(e.uitofp(e.add(t0, tl)), e.load(sm.inv, i));
              auto [sn, cs] = sinCos(e, angle);
              Value at = e.add(e.mul(i, kTile), tl);
              e.store(cs, sm.cosT, at);
              e.store(sn, sm.sinT, at);
            });
          });
          gpu::BarrierOp::create(e.b, e.loc);
        }

        // 2. Scores of token t0 + lane for KV head `warp`.
        Value t = e.add(t0, lane);
        SmallVector<Type> scoreTypes(g, f32);
        auto trigAt = [&](Value i) -> std::pair<Value, Value> {
          Value at = e.add(e.mul(i, kTile), lane);
          return {e.load(sm.cosT, at), e.load(sm.sinT, at)};
        };
        auto scoreBody = [&](const ElementFn &elem,
                             QuantTokenReader *quant) -> SmallVector<Value> {
          SmallVector<Value> sco(g, e.f32(0.0));
          auto qv = [&](int64_t gi, int64_t c) {
            return e.vload(sm.qs, e.add(e.mul(rowOf[gi], d), c),
                           VectorType::get({4}, f32), 16);
          };
          if (!p.hasRope()) {
            for (int64_t c0 = 0; c0 < d; c0 += 4) {
              SmallVector<Value> qvec;
              for (int64_t gi = 0; gi < g; ++gi)
                qvec.push_back(qv(gi, c0));
              for (int64_t k = 0; k < 4; ++k) {
                Value kc = elem(c0 + k);
                for (int64_t gi = 0; gi < g; ++gi)
                  sco[gi] = e.fma(e.extract(qvec[gi], k), kc, sco[gi]);
              }
            }
          } else {
            for (int64_t i0 = 0; i0 < half; i0 += 4) {
              // Rotate the 4 pairs' keys once, then use them for every query
              // head (the queries' channels come in 128-bit loads).
              SmallVector<Value> ra, rb;
              for (int64_t k = 0; k < 4; ++k) {
                int64_t i = i0 + k;
                auto [ca, cb] = ropeChannels(p.rope, i, d);
                Value ka = elem(ca), kb = elem(cb);
                auto [cs, sn] = trigAt(e.idx(i));
                ra.push_back(e.fsub(e.fmul(ka, cs), e.fmul(kb, sn)));
                rb.push_back(e.fadd(e.fmul(kb, cs), e.fmul(ka, sn)));
              }
              for (int64_t gi = 0; gi < g; ++gi) {
                Value qa0, qb0;
                if (p.rope == RopeStyle::Half) {
                  qa0 = qv(gi, i0);
                  qb0 = qv(gi, half + i0);
                } else {
                  qa0 = qv(gi, 2 * i0);
                  qb0 = qv(gi, 2 * i0 + 4);
                }
                for (int64_t k = 0; k < 4; ++k) {
                  Value qa, qb;
                  if (p.rope == RopeStyle::Half) {
                    qa = e.extract(qa0, k);
                    qb = e.extract(qb0, k);
                  } else {
                    Value src = k < 2 ? qa0 : qb0;
                    qa = e.extract(src, (2 * k) % 4);
                    qb = e.extract(src, (2 * k) % 4 + 1);
                  }
                  sco[gi] = e.fma(qa, ra[k], sco[gi]);
                  sco[gi] = e.fma(qb, rb[k], sco[gi]);
                }
              }
            }
          }
          // kvquant outliers: each slot replaces its channel, i.e. adds
          // w * (value - current) with w the rotated query's weight.
          if (quant && !lay.kivi && lay.outliers > 0) {
            SmallVector<Value> chans, vals;
            Value tokRow = view.row(e, b, h, view.slots, t);
            loadOutliers(e, view.get(KVComponent::KeyOutlierIndices),
                         view.get(KVComponent::KeyOutlierValues),
                         e.mul(tokRow, lay.outliers), lay.outliers, chans,
                         vals);
            Value codesBase = e.mul(tokRow, lay.packed);
            for (int64_t s = 0; s < lay.outliers; ++s) {
              Value c = chans[s];
              Value code = codeAt(e, view.get(KVComponent::KeyCodes),
                                  codesBase, c, lay.bits, lay.packed);
              Value cur = e.toF32(e.load(
                  keyLut, e.add(e.add(keyLutBase, e.mul(c, levels)),
                                e.toIndex(code))));
              for (int64_t s2 = 0; s2 < s; ++s2)
                cur = e.select(e.eq(chans[s2], c), vals[s2], cur);
              Value delta = e.fsub(vals[s], cur);
              Value first, pair, partner;
              if (p.rope == RopeStyle::Half) {
                first = e.ult(c, half);
                pair = e.select(first, c, e.sub(c, e.idx(half)));
                partner = e.select(first, e.add(c, half), pair);
              } else if (p.rope == RopeStyle::Interleaved) {
                first = e.eq(e.remu(c, 2), e.idx(0));
                pair = e.divu(c, 2);
                partner = e.select(first, e.add(c, 1), e.sub(c, e.idx(1)));
              }
              std::pair<Value, Value> trig;
              if (p.hasRope())
                trig = trigAt(pair);
              for (int64_t gi = 0; gi < g; ++gi) {
                Value rb = e.mul(rowOf[gi], d);
                Value qd = e.load(sm.qs, e.add(rb, c));
                Value w = qd;
                if (p.hasRope()) {
                  Value qp = e.load(sm.qs, e.add(rb, partner));
                  Value x = e.fmul(qd, trig.first);
                  Value y = e.fmul(qp, trig.second);
                  w = e.select(first, e.fadd(x, y), e.fsub(x, y));
                }
                sco[gi] = e.fma(w, delta, sco[gi]);
              }
            }
          }
          return sco;
        };
        Value tokOk = e.ult(lane, nValid);
        SmallVector<Value> scores = e.ifThenElse(
            tokOk, scoreTypes,
            [&]() -> SmallVector<Value> {
              // Stage the token's packed value codes for phase 4.
              Value quantV = lay.sink > 0 ? e.sle(e.idx(lay.sink), t)
                                          : Value();
              if (lay.kivi) {
                Value below = e.slt(t, bounds.valueEnd);
                quantV = quantV ? e.andi(quantV, below) : below;
              }
              auto stage = [&]() {
                SmallVector<Value> words = loadPackedWords(
                    e, view.get(KVComponent::ValueCodes),
                    view.codesBase(e, b, h, t), lay.packed);
                Value rowW = e.mul(e.add(e.mul(warp, kTile), lane), p.vStride);
                for (auto [j, wv] : llvm::enumerate(words))
                  e.store(wv, sm.vc, e.add(rowW, int64_t(j)));
              };
              if (quantV)
                e.ifThen(quantV, stage);
              else
                stage();
              return forTokenSource(e, view, /*key=*/true, b, h, t, bounds,
                                    scoreTypes, keyLut, keyLutBase,
                                    /*withOutliers=*/false, scoreBody);
            },
            [&]() -> SmallVector<Value> {
              return SmallVector<Value>(g, e.f32(-inf));
            });
        for (int64_t gi = 0; gi < g; ++gi)
          e.store(scores[gi], sm.sc, e.add(e.mul(rowOf[gi], kTile), lane));
        gpu::BarrierOp::create(e.b, e.loc);

        // 3. Online softmax over the tile, a lane per token.
        SmallVector<Value> mNew(g), lNew(g);
        for (int64_t gi = 0; gi < g; ++gi) {
          Value at = e.add(e.mul(rowOf[gi], kTile), lane);
          Value x = e.load(sm.sc, at);
          Value mx =
              warpReduce(e, x, [&](Value u, Value v) { return e.fmax(u, v); });
          mNew[gi] = e.fmax(m[gi], mx);
          Value mUse = e.select(
              e.fcmp(arith::CmpFPredicate::OEQ, mNew[gi], e.f32(-inf)),
              e.f32(0.0), mNew[gi]);
          Value pv = e.exp2(e.fsub(x, mUse));
          e.store(pv, sm.sc, at);
          Value sum = warpSum(e, pv);
          Value alpha = e.exp2(e.fsub(m[gi], mUse));
          lNew[gi] = e.fadd(e.fmul(l[gi], alpha), sum);
          e.ifThen(e.ult(lane, 1), [&]() {
            e.store(alpha, sm.sc, e.add(scRescale, rowOf[gi]));
          });
        }
        gpu::BarrierOp::create(e.b, e.loc);

        // 4. P.V: channel groups of this lane, all G query heads.
        for (int64_t gi = 0; gi < g; ++gi) {
          Value alpha = e.load(sm.sc, e.add(scRescale, rowOf[gi]));
          for (int64_t j = 0; j < p.cgpt; ++j)
            for (int64_t k = 0; k < p.cpt; ++k)
              acc[accIndex(gi, j, k)] = e.fmul(acc[accIndex(gi, j, k)], alpha);
        }
        SmallVector<Type> vTypes(p.cgpt * p.cpt, f32);
        acc = e.forLoop(
            e.idx(0), nValid, e.idx(1), acc,
            [&](Value tl, ValueRange accIt) -> SmallVector<Value> {
              Value tok = e.add(t0, tl);
              auto channel = [&](int64_t j, int64_t k) {
                return e.add(e.mul(group[j], p.cpt), k);
              };
              auto floatBranch = [&](KVComponent comp, int64_t rows,
                                     Value r) -> SmallVector<Value> {
                Value base = view.rowBase(e, view.row(e, b, h, rows, r));
                SmallVector<Value> vs;
                for (int64_t j = 0; j < p.cgpt; ++j)
                  for (int64_t k = 0; k < p.cpt; ++k)
                    vs.push_back(e.toF32(
                        e.load(view.get(comp), e.add(base, channel(j, k)))));
                return vs;
              };
              auto quantBranch = [&]() -> SmallVector<Value> {
                Value tokRow = view.row(e, b, h, view.slots, tok);
                Value rowW =
                    e.mul(e.add(e.mul(warp, kTile), tl), p.vStride);
                Value vscale;
                SmallVector<Value> chans, vals;
                if (!lay.kivi) {
                  vscale = e.toF32(
                      e.load(view.get(KVComponent::ValueScale), tokRow));
                  if (lay.outliers > 0)
                    loadOutliers(e, view.get(KVComponent::ValueOutlierIndices),
                                 view.get(KVComponent::ValueOutlierValues),
                                 e.mul(tokRow, lay.outliers), lay.outliers,
                                 chans, vals);
                }
                int64_t groupsD = lay.kivi ? d / lay.group : 1;
                SmallVector<Value> vs;
                for (int64_t j = 0; j < p.cgpt; ++j) {
                  Value bit0 = e.mul(group[j], p.cpt * lay.bits);
                  Value wi = e.add(rowW, e.divu(bit0, 32));
                  Type i64 = e.b.getI64Type();
                  Value w0 = arith::ExtUIOp::create(e.b, e.loc, i64,
                                                    e.load(sm.vc, wi));
                  Value w1 = arith::ExtUIOp::create(
                      e.b, e.loc, i64, e.load(sm.vc, e.add(wi, 1)));
                  Value x = e.ori(
                      w0, arith::ShLIOp::create(
                              e.b, e.loc, w1,
                              arith::ConstantIntOp::create(e.b, e.loc, i64, 32)));
                  Value sh = arith::IndexCastUIOp::create(
                      e.b, e.loc, i64, e.remu(bit0, 32));
                  x = arith::ShRUIOp::create(e.b, e.loc, x, sh);
                  Value x32 = arith::TruncIOp::create(e.b, e.loc,
                                                      e.b.getI32Type(), x);
                  Value sG, zG;
                  for (int64_t k = 0; k < p.cpt; ++k) {
                    Value code = x32;
                    if (k)
                      code = e.shru(code, e.i32(k * lay.bits));
                    code = e.andi(code, e.i32(levels - 1));
                    Value c = channel(j, k);
                    Value v;
                    if (!lay.kivi) {
                      v = e.fmul(e.load(sm.vlut, e.toIndex(code)), vscale);
                      for (auto [ch, val] : llvm::zip(chans, vals))
                        v = e.select(e.eq(ch, c), val, v);
                    } else {
                      if (!sG || lay.group % p.cpt != 0) {
                        Value at = e.add(e.mul(tokRow, groupsD),
                                         e.divu(c, lay.group));
                        sG = e.toF32(
                            e.load(view.get(KVComponent::ValueScale), at));
                        zG = e.toF32(
                            e.load(view.get(KVComponent::ValueZero), at));
                      }
                      v = e.fadd(e.fmul(e.uitofp(code), sG), zG);
                    }
                    vs.push_back(v);
                  }
                }
                return vs;
              };
              auto rest = [&]() -> SmallVector<Value> {
                if (!lay.kivi)
                  return quantBranch();
                return e.ifThenElse(
                    e.sle(bounds.valueEnd, tok), vTypes,
                    [&]() {
                      return floatBranch(
                          KVComponent::ValueResidual, lay.residual,
                          e.remu(e.sub(tok, e.idx(lay.sink)), lay.residual));
                    },
                    quantBranch);
              };
              SmallVector<Value> vs =
                  lay.sink > 0
                      ? e.ifThenElse(
                            e.slt(tok, e.idx(lay.sink)), vTypes,
                            [&]() {
                              return floatBranch(KVComponent::ValueSink,
                                                 lay.sink, tok);
                            },
                            rest)
                      : rest();
              SmallVector<Value> out(accIt.begin(), accIt.end());
              for (int64_t gi = 0; gi < g; ++gi) {
                Value pw = e.load(sm.sc, e.add(e.mul(rowOf[gi], kTile), tl));
                for (int64_t j = 0; j < p.cgpt; ++j)
                  for (int64_t k = 0; k < p.cpt; ++k) {
                    int64_t ai = accIndex(gi, j, k);
                    out[ai] = e.fma(pw, vs[j * p.cpt + k], out[ai]);
                  }
              }
              return out;
            });
        gpu::BarrierOp::create(e.b, e.loc);
        SmallVector<Value> next(mNew);
        next.append(lNew.begin(), lNew.end());
        next.append(acc.begin(), acc.end());
        return next;
      });

  // Partials: per query head, the unnormalized row, then (max, sum).
  for (int64_t gi = 0; gi < g; ++gi) {
    Value hq = e.add(e.mul(h, g), gi);
    Value rec = e.mul(
        e.add(e.mul(e.add(e.mul(b, p.qHeads), hq), p.splits), split), d + 2);
    Value mFin = loopOut[gi], lFin = loopOut[g + gi];
    e.ifThen(e.ult(lane, 1), [&]() {
      e.store(mFin, ws, e.add(rec, d));
      e.store(lFin, ws, e.add(rec, d + 1));
    });
    for (int64_t j = 0; j < p.cgpt; ++j) {
      auto st = [&]() {
        for (int64_t k = 0; k < p.cpt; ++k)
          e.store(loopOut[2 * g + accIndex(gi, j, k)], ws,
                  e.add(rec, e.add(e.mul(group[j], p.cpt), k)));
      };
      if (groupOk[j])
        e.ifThen(groupOk[j], st);
      else
        st();
    }
  }
}

//===----------------------------------------------------------------------===//
// Combine kernel
//===----------------------------------------------------------------------===//

/// Arguments: workspace, out.
void buildCombineKernel(Emitter &e, const AttnPlan &p, int64_t threads,
                        ValueRange args) {
  Value ws = args[0], out = args[1];
  const int64_t d = p.lay.headDim, splits = p.splits;
  const float inf = std::numeric_limits<float>::infinity();
  Value tid = threadIdX(e);
  Value hq = blockId(e, gpu::Dimension::x);
  Value b = blockId(e, gpu::Dimension::y);
  Value first = e.mul(e.add(e.mul(b, p.qHeads), hq), splits);
  auto rec = [&](Value s) { return e.mul(e.add(first, s), d + 2); };
  Value mMax = e.forLoop(e.idx(0), e.idx(splits), e.idx(1),
                         ValueRange{e.f32(-inf)},
                         [&](Value s, ValueRange it) -> SmallVector<Value> {
                           Value m = e.load(ws, e.add(rec(s), d));
                           return {e.fmax(it[0], m)};
                         })[0];
  e.forLoop(tid, e.idx(d), e.idx(threads), [&](Value c) {
    SmallVector<Value> sums = e.forLoop(
        e.idx(0), e.idx(splits), e.idx(1), ValueRange{e.f32(0.0), e.f32(0.0)},
        [&](Value s, ValueRange it) -> SmallVector<Value> {
          Value r = rec(s);
          Value m = e.load(ws, e.add(r, d));
          Value l = e.load(ws, e.add(r, d + 1));
          Value empty = e.fcmp(arith::CmpFPredicate::OEQ, m, e.f32(-inf));
          Value wgt = e.select(empty, e.f32(0.0), e.exp2(e.fsub(m, mMax)));
          Value o = e.load(ws, e.add(r, c));
          return {e.fadd(it[0], e.fmul(wgt, l)),
                  e.fadd(it[1], e.fmul(wgt, o))};
        });
    Value positive = e.fcmp(arith::CmpFPredicate::OGT, sums[0], e.f32(0.0));
    Value o = e.select(positive, e.fdiv(sums[1], sums[0]), e.f32(0.0));
    e.store(e.fromF32(o, p.outType), out,
            e.add(e.mul(e.add(e.mul(b, p.qHeads), hq), d), c));
  });
}

//===----------------------------------------------------------------------===//
// Pattern
//===----------------------------------------------------------------------===//

struct KVAttentionToGPU : OpRewritePattern<KVAttentionOp> {
  KVAttentionToGPU(MLIRContext *ctx, const SQuantToGPUOptions &options)
      : OpRewritePattern(ctx), options(options) {}

  LogicalResult matchAndRewrite(KVAttentionOp op,
                                PatternRewriter &rewriter) const override {
    std::string reason = attentionBlocker(op);
    if (!reason.empty())
      return rewriter.notifyMatchFailure(op, reason);
    FailureOr<AttnPlan> planOr = planAttention(op, options, reason);
    if (failed(planOr))
      return rewriter.notifyMatchFailure(op, reason);
    const AttnPlan &p = *planOr;
    const KVLayout &lay = p.lay;
    Location loc = op.getLoc();
    bool tensorForm = op.hasPureTensorSemantics();
    rewriter.setInsertionPoint(op);
    Emitter e{rewriter, loc};
    const int64_t d = lay.headDim;

    FailureOr<SmallVector<Value>> query =
        getFlatInputs(rewriter, loc, op.getQuery(), reason);
    FailureOr<SmallVector<Value>> tables =
        getFlatInputs(rewriter, loc, op.getTables(), reason);
    FailureOr<SmallVector<Value>> cache =
        getFlatInputs(rewriter, loc, op.getCache(), reason);
    if (failed(query) || failed(tables) || failed(cache))
      return rewriter.notifyMatchFailure(op, reason);
    Value init = op.getInit();
    Value out = tensorForm ? allocLike(rewriter, loc, init, p.outType) : init;
    Value batch = hostDim(rewriter, loc, op.getQuery(), 0);
    Value slots = hostDim(rewriter, loc, op.getCache()[0], 2);
    // Tiles of tokens per split, from the runtime length.
    Value n = e.mins(e.maxs(op.getLen(), e.idx(0)), slots);
    Value tiles = e.ceilDiv(n, kTile);
    Value tilesPerSplit = e.ceilDiv(tiles, p.splits);
    Value ws = allocWorkspace(
        rewriter, loc, e.mul(batch, p.qHeads * p.splits * (d + 2)));

    // Main kernel.
    SmallVector<Value> args((*query).begin(), (*query).end());
    args.append(tables->begin(), tables->end());
    args.append(cache->begin(), cache->end());
    args.append({ws, op.getLen(), op.getPosition(), slots, tilesPerSplit});
    KernelSpec spec;
    spec.name = mainName(p);
    for (Value v : args)
      spec.argTypes.push_back(v.getType());
    spec.readOnly.assign(args.size(), true);
    spec.readOnly[1 + tables->size() + cache->size()] = false; // workspace
    Type f32 = rewriter.getF32Type(), i32 = rewriter.getI32Type();
    auto addShared = [&](int64_t size, Type t) {
      spec.workgroupF32.push_back(size);
      spec.workgroupTypes.push_back(t);
    };
    addShared(p.rows() * d, f32);
    addShared(p.rows() * kTile + p.rows(), f32);
    addShared(p.hb * kTile * p.vStride, i32);
    if (p.hasRope()) {
      addShared(p.pairs() * kTile, f32);
      addShared(p.pairs() * kTile, f32);
      addShared(p.pairs(), f32);
    }
    if (!lay.kivi)
      addShared(lay.levels, f32);
    if (p.smemKeyLut)
      addShared(p.keyLutBytes() / 4, f32);
    spec.block = {int32_t(p.threads()), 1, 1};
    // Left alone, ptxas aims at three or four blocks per SM (80 registers
    // for 256 threads) and spills in the unrolled decode, or takes up to
    // 255 registers for 128 threads. A budget of two 256-thread (three
    // 128-thread) blocks per SM -- about what shared memory allows anyway
    // -- keeps the decode in registers. (ptxas's allocation is not monotonic
    // in the budget: 144 is one that CUDA 13's ptxas assembles without
    // spills for every shipped shape on sm_80 and sm_90; 168 is not.)
    spec.maxRegisters = p.threads() >= 256 ? 128 : 144;
    spec.strategy = llvm::formatv(
        "flash-decoding: {0} KV heads x {1} query heads per block, {2} "
        "splits over tokens in tiles of {3}; RoPE table per tile in shared "
        "memory; lane per token for scores, warp shuffles for the online "
        "softmax, lane per {4} channels x {5} for P.V; key tables {6}",
        p.hb, p.groupQ, p.splits, kTile, p.cpt, p.cgpt,
        lay.kivi ? "none (kivi)" : p.smemKeyLut ? "in shared memory"
                                                : "via the read-only cache");
    ModuleOp module = op->getParentOfType<ModuleOp>();
    gpu::GPUFuncOp mainKernel = getOrCreateKernel(
        module, spec, [&](Emitter &ke, ValueRange kargs, ValueRange wg) {
          buildMainKernel(ke, p, kargs, wg);
        });
    launchKernel(rewriter, loc, mainKernel,
                 {e.idx(lay.heads / p.hb), e.idx(p.splits), batch}, args);

    // Combine kernel.
    int64_t threads = std::min<int64_t>(1024, ceilDiv(d, kWarpSize) * kWarpSize);
    KernelSpec cspec;
    cspec.name = llvm::formatv("kv_attention_combine_hq{0}_d{1}_s{2}_o{3}",
                               p.qHeads, d, p.splits, typeTag(p.outType));
    Value outFlat = flatten(rewriter, loc, out);
    cspec.argTypes = {ws.getType(), outFlat.getType()};
    cspec.readOnly = {true, false};
    cspec.block = {int32_t(threads), 1, 1};
    cspec.strategy = llvm::formatv(
        "thread per channel; the {0} splits rescaled and summed in order "
        "(deterministic: a fixed order)",
        p.splits);
    gpu::GPUFuncOp combine = getOrCreateKernel(
        module, cspec, [&](Emitter &ke, ValueRange kargs, ValueRange) {
          buildCombineKernel(ke, p, threads, kargs);
        });
    launchKernel(rewriter, loc, combine, {e.idx(p.qHeads), batch, e.idx(1)},
                 ValueRange{ws, outFlat});
    if (!tensorForm)
      memref::DeallocOp::create(rewriter, loc, ws);
    if (tensorForm)
      rewriter.replaceOp(op, bufferization::ToTensorOp::create(
                                 rewriter, loc, op->getResult(0).getType(), out,
                                 /*restrict=*/true, /*writable=*/true));
    else
      rewriter.eraseOp(op);
    return success();
  }

  SQuantToGPUOptions options;
};

} // namespace

void mlir::squant::populateKVAttentionToGPUPatterns(
    RewritePatternSet &patterns, const SQuantToGPUOptions &options) {
  patterns.add<KVAttentionToGPU>(patterns.getContext(), options);
}

std::string mlir::squant::getKVAttentionGPUBlocker(Operation *op) {
  auto attn = cast<KVAttentionOp>(op);
  std::string reason = attentionBlocker(attn);
  if (!reason.empty())
    return reason;
  // The plan's shared-memory check (with the default options: the split
  // count does not change shared memory).
  if (failed(planAttention(attn, SQuantToGPUOptions(), reason)))
    return reason;
  return "";
}
