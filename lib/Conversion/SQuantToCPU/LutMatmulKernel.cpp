//===- LutMatmulKernel.cpp - the lut_matmul CPU kernel --------------------===//
//
// y[m, n] = sum_k x[m, k] * (lut[n, .., code(n, k)] + S[n, k]), f32 sums.
//
// Vector path (avx512 / avx2, 2..4-bit packed words): for each output row n
// the row's table sits in registers (one zmm, or one or two ymm); a chunk of
// GS codes (16 on AVX-512, 8 on AVX2) is one broadcast load from the packed
// bit stream plus one per-lane variable shift, which leaves code t in the low
// bits of lane laneOf(t) (bits above the code are ignored: vpermps reads only
// the low 4 (zmm) or 3 (ymm) bits, and short tables are replicated to fill the
// register); one permute does GS look-ups; FMAs accumulate into vector
// accumulators. x is copied once per call into f32 with each chunk permuted
// the same way (xp), so that lanes of the looked-up weights meet their x.
// AVX-512 4-bit rows walk whole 128-code blocks with byte-offset loads first
// (see usesBlocks). M is register-blocked: each looked-up weight vector feeds
// up to 16 rows of x. K is tiled so that the x tile stays in L1; partial sums
// wait in a per-row-block scratch buffer. K tails, the CSR outliers of the
// row and the rows whose chunk loads would read outside the buffer
// (first/last row for some bit widths) go through the scalar path, which is
// also the whole kernel on the generic target.
//
// Affine tables (spec.affine(): the lut operand was `squant.build_lut affine`,
// as for ggml Q4_0/Q4_1/Q8_0) are never built in memory. Up to 4 bits, a
// table group's 2^B entries are computed into the table registers, (iota -
// zero) * scale, the arithmetic build_lut's lowering does per entry (so the
// sums equal those over the built tables), and looked up as above. 8-bit
// codes compute their weights per chunk instead, (float(code) - zero) *
// scale, which gives them a vector path: 16 (8) bytes zero-extended to dword
// lanes.
//
//===----------------------------------------------------------------------===//

#include "LutMatmulKernel.h"

#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"

using namespace mlir;
using namespace mlir::squant;
using namespace mlir::squant::cpu;

unsigned LutMatmulSpec::vectorWidth() const {
  switch (target) {
  case CPUTarget::AVX512:
    return 16;
  case CPUTarget::AVX2:
    return 8;
  default:
    return 0;
  }
}

bool LutMatmulSpec::usesVectorPath() const {
  unsigned gs = vectorWidth();
  bool bitsOk = (bits >= 2 && bits <= 4) || (affine() && bits == 8);
  if (gs == 0 || !packedWords || !bitsOk)
    return false;
  if (lut.getRank() == 3) {
    // A chunk must not straddle two tables.
    int64_t k = x.getDimSize(1), groups = lut.getDimSize(1);
    if (ShapedType::isDynamic(k) || ShapedType::isDynamic(groups) ||
        groups == 0 || (k / groups) % gs != 0)
      return false;
  }
  return true;
}

SmallVector<Type> LutMatmulSpec::argTypes() const {
  SmallVector<Type> types = {x, w};
  if (affine())
    types.append({scale, zero});
  else
    types.push_back(lut);
  if (hasOutliers())
    types.append({pos, crd, val});
  types.push_back(y);
  return types;
}

std::string LutMatmulSpec::kernelName() const {
  std::string name = "__squant_cpu_lut_matmul_";
  name += stringifyCPUTarget(target).str();
  name += "_t" + std::to_string(threads);
  name += packedWords ? "_words" : "_codes";
  if (affine())
    name += "_affine_" + mangleType(lut.getElementType());
  for (Type t : argTypes())
    name += "_" + mangleType(t);
  return name;
}

namespace {

/// Iterations [begin, end) unrolled by `factor`: a main loop whose body runs
/// `body(b, i + u, u, accs)` for u < factor, then a remainder loop running
/// `body(b, i, 0, accs)`. The accumulators are carried through both.
SmallVector<Value> emitUnrolledFor(
    ImplicitLocOpBuilder &b, Value begin, Value end, int64_t factor,
    ValueRange inits,
    llvm::function_ref<void(ImplicitLocOpBuilder &, Value, unsigned,
                            SmallVector<Value> &)>
        body) {
  Value count = arith::SubIOp::create(b, end, begin);
  Value mainEnd = arith::AddIOp::create(
      b, begin,
      arith::MulIOp::create(
          b, arith::DivUIOp::create(b, count, cIdx(b, factor)),
          cIdx(b, factor)));
  SmallVector<Value> accs = emitFor(
      b, begin, mainEnd, cIdx(b, factor), inits,
      [&](ImplicitLocOpBuilder &ib, Value i, ValueRange a) {
        SmallVector<Value> accs(a.begin(), a.end());
        for (int64_t u = 0; u < factor; ++u)
          body(ib, arith::AddIOp::create(ib, i, cIdx(ib, u)), u, accs);
        return accs;
      });
  if (factor == 1)
    return accs;
  return emitFor(b, mainEnd, end, cIdx(b, 1), accs,
                 [&](ImplicitLocOpBuilder &ib, Value i, ValueRange a) {
                   SmallVector<Value> accs(a.begin(), a.end());
                   body(ib, i, 0, accs);
                   return accs;
                 });
}

class LutMatmulEmitter {
public:
  LutMatmulEmitter(const LutMatmulSpec &spec, ModuleOp module,
                   ImplicitLocOpBuilder &b, ValueRange args)
      : spec(spec), module(module), b(b), f32(b.getF32Type()) {
    x = args[0];
    w = args[1];
    unsigned next = 2;
    if (spec.affine()) {
      scale = args[next++];
      zero = args[next++];
    } else {
      lut = args[next++];
    }
    if (spec.hasOutliers()) {
      pos = args[next++];
      crd = args[next++];
      val = args[next++];
    }
    y = args.back();
    gs = spec.usesVectorPath() ? spec.vectorWidth() : 0;
  }

  void emit();

private:
  // Scalar pieces.
  Value xAt(ImplicitLocOpBuilder &b, Value m, Value k);
  Value codeAt(ImplicitLocOpBuilder &b, Value n, Value k);
  Value tableAt(ImplicitLocOpBuilder &b, Value n, Value k, Value code);
  Value groupsOf(ImplicitLocOpBuilder &b);
  SmallVector<Value, 2> affineIndex(Value n, Value tg);
  Value affineLoad(ImplicitLocOpBuilder &b, Value buf, ArrayRef<Value> idx);
  Value affineEntry(ImplicitLocOpBuilder &b, Value q, Value s, Value z);
  Value scalarDot(ImplicitLocOpBuilder &b, Value n, Value m, Value k0,
                  Value k1, Value acc);
  Value addOutliers(ImplicitLocOpBuilder &b, Value n, Value m, Value acc);
  void store(ImplicitLocOpBuilder &b, Value n, Value m, Value acc);
  void scalarRow(ImplicitLocOpBuilder &b, Value n);

  // Vector pieces.
  unsigned laneOf(unsigned t) const;
  bool usesBlocks() const;
  unsigned shiftOfLane(unsigned lane) const;
  void fillPermutedX(ImplicitLocOpBuilder &b);
  SmallVector<Value> loadTable(ImplicitLocOpBuilder &b, Value n, Value tg);
  Value codesChunk(ImplicitLocOpBuilder &b, Value rowPtr, Value chunk);
  Value loadBlockBytes(ImplicitLocOpBuilder &b, Value rowPtr, Value block,
                       int64_t offset);
  Value lookup(ImplicitLocOpBuilder &b, ArrayRef<Value> table, Value idx);
  void vectorRow(ImplicitLocOpBuilder &b, Value n, Value kLo, Value kHi,
                 Value scratch, Value r);
  void vectorBlock(ImplicitLocOpBuilder &b, Value n, Value rowPtr,
                   Value mStart, unsigned mb, unsigned unroll, Value kLo,
                   Value kHi, Value scratch, Value r);
  void finish(ImplicitLocOpBuilder &b, Value n, Value m, Value acc);

  const LutMatmulSpec &spec;
  ModuleOp module;
  ImplicitLocOpBuilder &b;
  Type f32;
  Value x, w, lut, scale, zero, pos, crd, val, y;
  Value M, N, K, KV; // KV: codes covered by whole vector chunks
  Value KB;          // codes covered by whole 128-code blocks (block path)
  Value xp;          // permuted f32 copy of x [M, KV + 16]
  Value wBase;       // address of w as i64
  Value tileCodes;   // codes per K tile (x tile kept in L1)
  unsigned gs = 0;   // codes per chunk; 0 without the vector path
};

//===----------------------------------------------------------------------===//
// Scalar path
//===----------------------------------------------------------------------===//

Value LutMatmulEmitter::xAt(ImplicitLocOpBuilder &b, Value m, Value k) {
  Value v = memref::LoadOp::create(b, x, ValueRange{m, k});
  return convertFloat(b, v, f32);
}

Value LutMatmulEmitter::codeAt(ImplicitLocOpBuilder &b, Value n, Value k) {
  return emitCodeAt(b, w,
                    spec.packedWords ? CodeLayout::RowMajorWords
                                     : CodeLayout::Codes,
                    spec.bits, n, k);
}

Value LutMatmulEmitter::tableAt(ImplicitLocOpBuilder &b, Value n, Value k,
                                Value code) {
  if (!spec.affine())
    return emitTableAt(b, lut, K, n, k, code);
  Value tg;
  if (spec.lut.getRank() == 3)
    tg = arith::DivUIOp::create(b, k,
                                arith::DivUIOp::create(b, K, groupsOf(b)));
  SmallVector<Value, 2> idx = affineIndex(n, tg);
  // The code is an index; build_lut's lowering converts the entry index
  // the same way (index -> i32 -> f32, unsigned).
  Value q = arith::UIToFPOp::create(
      b, f32, arith::IndexCastUIOp::create(b, b.getI32Type(), code));
  return affineEntry(b, q, affineLoad(b, scale, idx), affineLoad(b, zero, idx));
}

/// Table groups per row (dimension 1 of a per-group table).
Value LutMatmulEmitter::groupsOf(ImplicitLocOpBuilder &b) {
  return spec.affine() ? dimOf(b, scale, 1) : dimOf(b, lut, 1);
}

/// Index of (row n, table group tg) into scale and zero: they have the
/// table's shape without its entries (global: rank 0, per channel: [N], per
/// group: [N, G]).
SmallVector<Value, 2> LutMatmulEmitter::affineIndex(Value n, Value tg) {
  SmallVector<Value, 2> idx;
  int64_t rank = spec.lut.getRank();
  if (rank >= 2)
    idx.push_back(n);
  if (rank == 3)
    idx.push_back(tg);
  return idx;
}

/// A scale or zero as f32 (integer zero points are signed).
Value LutMatmulEmitter::affineLoad(ImplicitLocOpBuilder &b, Value buf,
                                   ArrayRef<Value> idx) {
  Value v = memref::LoadOp::create(b, buf, idx);
  if (isa<IntegerType>(v.getType()))
    return arith::SIToFPOp::create(b, f32, v);
  return convertFloat(b, v, f32);
}

/// (q - z) * s rounded to the table's element type and back, exactly as
/// build_lut's lowering computes the entry (scalars or vectors).
Value LutMatmulEmitter::affineEntry(ImplicitLocOpBuilder &b, Value q, Value s,
                                    Value z) {
  Value entry =
      arith::MulFOp::create(b, s, arith::SubFOp::create(b, q, z));
  Type elt = spec.lut.getElementType();
  if (elt == f32)
    return entry;
  return convertFloat(b, convertFloat(b, entry, elt), f32);
}

Value LutMatmulEmitter::scalarDot(ImplicitLocOpBuilder &b, Value n, Value m,
                                  Value k0, Value k1, Value acc) {
  return emitFor(b, k0, k1, cIdx(b, 1), acc,
                 [&](ImplicitLocOpBuilder &ib, Value k, ValueRange args) {
                   Value wv = tableAt(ib, n, k, codeAt(ib, n, k));
                   Value prod =
                       arith::MulFOp::create(ib, xAt(ib, m, k), wv);
                   return SmallVector<Value>{
                       arith::AddFOp::create(ib, args[0], prod)};
                 })[0];
}

Value LutMatmulEmitter::addOutliers(ImplicitLocOpBuilder &b, Value n, Value m,
                                    Value acc) {
  if (!spec.hasOutliers())
    return acc;
  auto toIndex = [&](Value v) -> Value {
    if (v.getType().isIndex())
      return v;
    return arith::IndexCastUIOp::create(b, b.getIndexType(), v);
  };
  Value p0 = toIndex(memref::LoadOp::create(b, pos, ValueRange{n}));
  Value n1 = arith::AddIOp::create(b, n, cIdx(b, 1));
  Value p1 = toIndex(memref::LoadOp::create(b, pos, ValueRange{n1}));
  return emitFor(
      b, p0, p1, cIdx(b, 1), acc,
      [&](ImplicitLocOpBuilder &ib, Value p, ValueRange args) {
        Value c = memref::LoadOp::create(ib, crd, ValueRange{p});
        if (!c.getType().isIndex())
          c = arith::IndexCastUIOp::create(ib, ib.getIndexType(), c);
        Value v = convertFloat(
            ib, memref::LoadOp::create(ib, val, ValueRange{p}), f32);
        Value prod = arith::MulFOp::create(ib, xAt(ib, m, c), v);
        return SmallVector<Value>{arith::AddFOp::create(ib, args[0], prod)};
      })[0];
}

void LutMatmulEmitter::store(ImplicitLocOpBuilder &b, Value n, Value m,
                             Value acc) {
  Value v = convertFloat(b, acc, spec.y.getElementType());
  memref::StoreOp::create(b, v, y, ValueRange{m, n});
}

void LutMatmulEmitter::scalarRow(ImplicitLocOpBuilder &b, Value n) {
  Value zero = arith::ConstantOp::create(b, f32, b.getF32FloatAttr(0.0f));
  emitFor(b, cIdx(b, 0), M, cIdx(b, 1), {},
          [&](ImplicitLocOpBuilder &ib, Value m, ValueRange) {
            Value acc = scalarDot(ib, n, m, cIdx(ib, 0), K, zero);
            store(ib, n, m, addOutliers(ib, n, m, acc));
            return SmallVector<Value>();
          });
}

//===----------------------------------------------------------------------===//
// Vector path
//===----------------------------------------------------------------------===//

// Chunk layouts (B = bits, chunk c of a row, GS codes per chunk):
//   avx512, B = 4: the 64 bits at byte 8c, broadcast to the 8 qword lanes;
//                  code t < 8 sits at bit 4t of the low dword, code 8 + t at
//                  bit 4t of the high dword: lane 2t <- code t, lane 2t + 1
//                  <- code 8 + t, both shifted by 4t.
//   avx512, B = 3: the 64 bits at byte 6c - 1 (so that no code straddles a
//                  dword): code t < 8 at bit 8 + 3t (low dword), code 8 + t
//                  at bit 3t of the high dword; lanes as for B = 4.
//   avx512, B = 2: the 32 bits at byte 4c broadcast to 16 dword lanes; lane t
//                  <- code t at bit 2t.
//   avx2:          the 32 bits at byte B*c broadcast to 8 dword lanes; lane t
//                  <- code t at bit B*t.
// AVX-512, B = 4, whole 128-code blocks (64 bytes) of a row: four unaligned
// 64-byte loads at byte offsets o = 0..3 of the block put the low nibble of
// byte 4j + o, code 8j + 2o, in the low bits of lane j, and the same load
// shifted right by 4 puts code 8j + 2o + 1 there: 8 look-ups per block for 4
// shifts (instead of 8), since port 5 (vpermps) and port 0 (shifts, FMAs)
// are the bottleneck. Code t = 8j + s of a block meets xp[16 s + j].
bool LutMatmulEmitter::usesBlocks() const {
  if (!gs || spec.target != CPUTarget::AVX512 || spec.bits != 4)
    return false;
  if (spec.lut.getRank() == 3) {
    int64_t k = spec.x.getDimSize(1), groups = spec.lut.getDimSize(1);
    return (k / groups) % 128 == 0;
  }
  return true;
}

unsigned LutMatmulEmitter::laneOf(unsigned t) const {
  if (spec.target == CPUTarget::AVX512 && (spec.bits == 3 || spec.bits == 4))
    return t < 8 ? 2 * t : 2 * (t - 8) + 1;
  return t;
}

unsigned LutMatmulEmitter::shiftOfLane(unsigned lane) const {
  unsigned bits = spec.bits;
  if (spec.target == CPUTarget::AVX512 && bits == 4)
    return 4 * (lane / 2);
  if (spec.target == CPUTarget::AVX512 && bits == 3)
    return lane % 2 == 0 ? 8 + 3 * (lane / 2) : 3 * (lane / 2);
  return bits * lane;
}

void LutMatmulEmitter::fillPermutedX(ImplicitLocOpBuilder &b) {
  Value c0 = cIdx(b, 0), c1 = cIdx(b, 1);
  Value chunks = arith::DivUIOp::create(b, KV, cIdx(b, gs));
  Value firstChunk = c0;
  if (usesBlocks()) {
    firstChunk = arith::DivUIOp::create(b, KB, cIdx(b, gs));
    Value blocks = arith::DivUIOp::create(b, KB, cIdx(b, 128));
    emitFor(b, c0, M, c1, {}, [&](ImplicitLocOpBuilder &ib, Value m,
                                  ValueRange) {
      emitFor(ib, c0, blocks, c1, {},
              [&](ImplicitLocOpBuilder &jb, Value blk, ValueRange) {
                Value base = arith::MulIOp::create(jb, blk, cIdx(jb, 128));
                for (unsigned t = 0; t < 128; ++t) {
                  Value k = arith::AddIOp::create(jb, base, cIdx(jb, t));
                  Value kp = arith::AddIOp::create(
                      jb, base, cIdx(jb, 16 * (t % 8) + t / 8));
                  memref::StoreOp::create(jb, xAt(jb, m, k), xp,
                                          ValueRange{m, kp});
                }
                return SmallVector<Value>();
              });
      return SmallVector<Value>();
    });
  }
  emitFor(b, c0, M, c1, {}, [&](ImplicitLocOpBuilder &ib, Value m, ValueRange) {
    emitFor(ib, firstChunk, chunks, c1, {},
            [&](ImplicitLocOpBuilder &jb, Value c, ValueRange) {
              Value base = arith::MulIOp::create(jb, c, cIdx(jb, gs));
              for (unsigned t = 0; t < gs; ++t) {
                Value k = arith::AddIOp::create(jb, base, cIdx(jb, t));
                Value kp = arith::AddIOp::create(jb, base, cIdx(jb, laneOf(t)));
                memref::StoreOp::create(jb, xAt(jb, m, k), xp,
                                        ValueRange{m, kp});
              }
              return SmallVector<Value>();
            });
    return SmallVector<Value>();
  });
}

SmallVector<Value> LutMatmulEmitter::loadTable(ImplicitLocOpBuilder &b,
                                               Value n, Value tg) {
  int64_t entries = int64_t(1) << spec.bits;
  if (spec.affine()) {
    auto vt = VectorType::get({int64_t(gs)}, f32);
    SmallVector<Value, 2> idx = affineIndex(n, tg);
    Value s = vector::BroadcastOp::create(b, vt, affineLoad(b, scale, idx));
    Value z = vector::BroadcastOp::create(b, vt, affineLoad(b, zero, idx));
    // 8 bits: {scale, zero}; lookup() computes the entries of each chunk.
    if (spec.bits > 4)
      return {s, z};
    // Up to 4 bits: the table registers themselves, entry i of register r
    // being (16r + i) mod 2^B (replicated as the read tables are).
    SmallVector<Value> regs;
    int64_t regCount = entries > int64_t(gs) ? entries / gs : 1;
    for (int64_t r = 0; r < regCount; ++r) {
      SmallVector<float> levels;
      for (int64_t i = 0; i < int64_t(gs); ++i)
        levels.push_back(float((r * gs + i) % entries));
      Value q = arith::ConstantOp::create(
          b, vt, DenseElementsAttr::get(vt, ArrayRef<float>(levels)));
      regs.push_back(affineEntry(b, q, s, z));
    }
    return regs;
  }
  SmallVector<Value, 3> idx;
  int64_t rank = spec.lut.getRank();
  if (rank >= 2)
    idx.push_back(n);
  if (rank == 3)
    idx.push_back(tg);
  idx.push_back(cIdx(b, 0));
  auto rawType = VectorType::get({entries}, spec.lut.getElementType());
  Value raw = vector::LoadOp::create(b, rawType, lut, idx);
  Value t = convertFloat(b, raw, f32);
  auto replicate = [&](int64_t width) -> Value {
    SmallVector<int64_t> mask;
    for (int64_t i = 0; i < width; ++i)
      mask.push_back(i % entries);
    return vector::ShuffleOp::create(b, t, t, mask);
  };
  if (spec.target == CPUTarget::AVX512)
    return {entries == 16 ? t : replicate(16)};
  // AVX2: 8-entry registers.
  if (entries == 16) {
    SmallVector<int64_t> lo, hi;
    for (int64_t i = 0; i < 8; ++i) {
      lo.push_back(i);
      hi.push_back(8 + i);
    }
    return {vector::ShuffleOp::create(b, t, t, lo),
            vector::ShuffleOp::create(b, t, t, hi)};
  }
  return {entries == 8 ? t : replicate(8)};
}

Value LutMatmulEmitter::codesChunk(ImplicitLocOpBuilder &b, Value rowPtr,
                                   Value chunk) {
  unsigned bits = spec.bits;
  int64_t bytesPerChunk = gs * bits / 8;
  if (bits == 8) {
    // GS bytes, zero-extended: lane t <- code t.
    Type i64 = b.getI64Type();
    Value addr = arith::AddIOp::create(
        b, rowPtr,
        arith::MulIOp::create(b, arith::IndexCastOp::create(b, i64, chunk),
                              arith::ConstantIntOp::create(b, i64, gs)));
    Value ptr = LLVM::IntToPtrOp::create(
        b, LLVM::LLVMPointerType::get(b.getContext()), addr);
    Value bytes = LLVM::LoadOp::create(
        b, VectorType::get({int64_t(gs)}, b.getI8Type()), ptr,
        /*alignment=*/1);
    return arith::ExtUIOp::create(
        b, VectorType::get({int64_t(gs)}, b.getI32Type()), bytes);
  }
  bool wide = spec.target == CPUTarget::AVX512 && bits >= 3;
  int64_t bias = (spec.target == CPUTarget::AVX512 && bits == 3) ? -1 : 0;
  Type i64 = b.getI64Type();
  Value off = arith::MulIOp::create(
      b, arith::IndexCastOp::create(b, i64, chunk),
      arith::ConstantIntOp::create(b, i64, bytesPerChunk));
  Value addr = arith::AddIOp::create(b, rowPtr, off);
  if (bias)
    addr = arith::AddIOp::create(b, addr,
                                 arith::ConstantIntOp::create(b, i64, bias));
  auto ptrType = LLVM::LLVMPointerType::get(b.getContext());
  Value ptr = LLVM::IntToPtrOp::create(b, ptrType, addr);
  Type scalarType = wide ? i64 : b.getI32Type();
  Value bitsLoaded =
      LLVM::LoadOp::create(b, scalarType, ptr, /*alignment=*/1);
  auto lanesType = VectorType::get({int64_t(gs)}, b.getI32Type());
  Value lanes;
  if (wide) {
    Value q = vector::BroadcastOp::create(
        b, VectorType::get({int64_t(gs / 2)}, i64), bitsLoaded);
    lanes = vector::BitCastOp::create(b, lanesType, q);
  } else {
    lanes = vector::BroadcastOp::create(b, lanesType, bitsLoaded);
  }
  SmallVector<int32_t> shifts;
  for (unsigned l = 0; l < gs; ++l)
    shifts.push_back(shiftOfLane(l));
  Value shiftVec = arith::ConstantOp::create(
      b, lanesType, DenseElementsAttr::get(lanesType, ArrayRef(shifts)));
  return arith::ShRUIOp::create(b, lanes, shiftVec);
}

Value LutMatmulEmitter::loadBlockBytes(ImplicitLocOpBuilder &b, Value rowPtr,
                                       Value block, int64_t offset) {
  Type i64 = b.getI64Type();
  Value off = arith::MulIOp::create(
      b, arith::IndexCastOp::create(b, i64, block),
      arith::ConstantIntOp::create(b, i64, 64));
  Value addr = arith::AddIOp::create(b, rowPtr, off);
  if (offset)
    addr = arith::AddIOp::create(b, addr,
                                 arith::ConstantIntOp::create(b, i64, offset));
  Value ptr = LLVM::IntToPtrOp::create(
      b, LLVM::LLVMPointerType::get(b.getContext()), addr);
  return LLVM::LoadOp::create(b, VectorType::get({16}, b.getI32Type()), ptr,
                              /*alignment=*/1);
}

Value LutMatmulEmitter::lookup(ImplicitLocOpBuilder &b, ArrayRef<Value> table,
                               Value idx) {
  auto vt = VectorType::get({int64_t(gs)}, f32);
  if (spec.affine() && spec.bits > 4) {
    // table = {scale, zero}; only the low B bits of a lane are its code.
    auto it = cast<VectorType>(idx.getType());
    Value mask = arith::ConstantOp::create(
        b, it,
        DenseElementsAttr::get(
            it, b.getI32IntegerAttr((1 << spec.bits) - 1).getValue()));
    Value q = arith::UIToFPOp::create(b, vt, arith::AndIOp::create(b, idx, mask));
    return affineEntry(b, q, table[0], table[1]);
  }
  if (spec.target == CPUTarget::AVX512)
    return callIntrinsic(b, module, "llvm.x86.avx512.permvar.sf.512", vt,
                         ValueRange{table[0], idx});
  auto permps = [&](Value t) {
    return callIntrinsic(b, module, "llvm.x86.avx2.permps", vt, ValueRange{t, idx});
  };
  Value lo = permps(table[0]);
  if (table.size() == 1)
    return lo;
  Value hi = permps(table[1]);
  auto it = cast<VectorType>(idx.getType());
  Value eight = arith::ConstantOp::create(
      b, it, DenseElementsAttr::get(it, b.getI32IntegerAttr(8).getValue()));
  Value zero = arith::ConstantOp::create(
      b, it, DenseElementsAttr::get(it, b.getI32IntegerAttr(0).getValue()));
  Value bit = arith::AndIOp::create(b, idx, eight);
  Value upper = arith::CmpIOp::create(b, arith::CmpIPredicate::ne, bit, zero);
  return arith::SelectOp::create(b, upper, hi, lo);
}

void LutMatmulEmitter::finish(ImplicitLocOpBuilder &b, Value n, Value m,
                              Value acc) {
  // Codes past the last whole chunk.
  auto kStatic = getConstantIntValue(K), kvStatic = getConstantIntValue(KV);
  if (!(kStatic && kvStatic && *kStatic == *kvStatic))
    acc = scalarDot(b, n, m, KV, K, acc);
  store(b, n, m, addOutliers(b, n, m, acc));
}

void LutMatmulEmitter::vectorBlock(ImplicitLocOpBuilder &b, Value n,
                                   Value rowPtr, Value mStart, unsigned mb,
                                   unsigned unroll, Value kLo, Value kHi,
                                   Value scratch, Value r) {
  auto vt = VectorType::get({int64_t(gs)}, f32);
  Value zeroVec = arith::ConstantOp::create(
      b, vt, DenseElementsAttr::get(vt, b.getF32FloatAttr(0.0f).getValue()));
  Value c0 = cIdx(b, 0), c1 = cIdx(b, 1);
  // The partial sums of earlier K tiles come from the scratch buffer.
  SmallVector<Value> inits(mb * unroll, zeroVec);
  for (unsigned i = 0; i < mb; ++i)
    inits[i * unroll] = vector::LoadOp::create(
        b, vt, scratch,
        ValueRange{r, arith::AddIOp::create(b, mStart, cIdx(b, i)), c0});

  // Table groups: one for global and per-channel tables. Group tg covers
  // codes [tg * codesPerTG, ...): whole 128-code blocks first (block path),
  // then whole GS-code chunks.
  // Only the codes in [kLo, kHi) (one K tile, whole table groups).
  Value tgBegin, tgEnd, codesPerTG;
  if (spec.lut.getRank() == 3) {
    codesPerTG = arith::DivUIOp::create(b, K, groupsOf(b));
    tgBegin = arith::DivUIOp::create(b, kLo, codesPerTG);
    tgEnd = arith::DivUIOp::create(b, kHi, codesPerTG);
  } else {
    codesPerTG = KV;
    tgBegin = c0;
    tgEnd = c1;
  }
  SmallVector<Value> mIdx;
  for (unsigned i = 0; i < mb; ++i)
    mIdx.push_back(arith::AddIOp::create(b, mStart, cIdx(b, i)));

  auto fmaInto = [&](ImplicitLocOpBuilder &ib, Value wv, Value k, unsigned u,
                     SmallVector<Value> &accs) {
    for (unsigned i = 0; i < mb; ++i) {
      Value xv = vector::LoadOp::create(ib, vt, xp, ValueRange{mIdx[i], k});
      accs[i * unroll + u] =
          vector::FMAOp::create(ib, wv, xv, accs[i * unroll + u]);
    }
  };
  // One chunk: look it up once, FMA it into the accumulators of every row of
  // the block (slot u of the unrolled accumulators).
  auto step = [&](ImplicitLocOpBuilder &ib, ArrayRef<Value> table, Value chunk,
                  unsigned u, SmallVector<Value> &accs) {
    Value wv = lookup(ib, table, codesChunk(ib, rowPtr, chunk));
    fmaInto(ib, wv, arith::MulIOp::create(ib, chunk, cIdx(ib, gs)), u, accs);
  };
  // One 128-code block (AVX-512, 4-bit): 4 loads, 4 shifts, 8 look-ups.
  auto blockStep = [&](ImplicitLocOpBuilder &ib, ArrayRef<Value> table,
                       Value blk, SmallVector<Value> &accs) {
    auto it = VectorType::get({16}, ib.getI32Type());
    Value four = arith::ConstantOp::create(
        ib, it, DenseElementsAttr::get(it, ib.getI32IntegerAttr(4).getValue()));
    Value kBase = arith::MulIOp::create(ib, blk, cIdx(ib, 128));
    for (int64_t o = 0; o < 4; ++o) {
      Value v = loadBlockBytes(ib, rowPtr, blk, o);
      for (int64_t h = 0; h < 2; ++h) {
        Value idx = h ? Value(arith::ShRUIOp::create(ib, v, four)) : v;
        Value wv = lookup(ib, table, idx);
        Value k = arith::AddIOp::create(ib, kBase, cIdx(ib, 16 * (2 * o + h)));
        fmaInto(ib, wv, k, (2 * o + h) % unroll, accs);
      }
    }
  };

  // The accumulators of each row, summed, back to the scratch buffer.
  auto storeSums = [&](ArrayRef<Value> accs) {
    for (unsigned i = 0; i < mb; ++i) {
      Value sum = accs[i * unroll];
      for (unsigned u = 1; u < unroll; ++u)
        sum = arith::AddFOp::create(b, sum, accs[i * unroll + u]);
      vector::StoreOp::create(b, sum, scratch, ValueRange{r, mIdx[i], c0});
    }
  };

  bool blocks = usesBlocks();
  // Small table groups (e.g. ggml's 32 codes: 2 chunks on AVX-512) have
  // fewer chunks than accumulators to rotate through: unroll over groups
  // instead, so that consecutive chunks still feed independent FMA chains.
  // (Tiles are whole groups, and a group is whole chunks here.)
  int64_t chunksPerTG = 0;
  if (spec.lut.getRank() == 3 && !blocks) {
    int64_t k = spec.x.getDimSize(1), groups = spec.lut.getDimSize(1);
    if (!ShapedType::isDynamic(k) && !ShapedType::isDynamic(groups) &&
        groups > 0 && k % groups == 0 && (k / groups) % gs == 0)
      chunksPerTG = k / groups / gs;
  }
  if (chunksPerTG > 0 && chunksPerTG < unroll && unroll % chunksPerTG == 0) {
    // Group g of an unrolled step uses accumulator slots g * chunksPerTG...
    storeSums(emitUnrolledFor(
        b, tgBegin, tgEnd, unroll / chunksPerTG, inits,
        [&](ImplicitLocOpBuilder &ib, Value tg, unsigned g,
            SmallVector<Value> &accs) {
          SmallVector<Value> table = loadTable(ib, n, tg);
          Value chunk0 = arith::MulIOp::create(ib, tg, cIdx(ib, chunksPerTG));
          for (int64_t j = 0; j < chunksPerTG; ++j)
            step(ib, table, arith::AddIOp::create(ib, chunk0, cIdx(ib, j)),
                 g * chunksPerTG + j, accs);
        }));
    return;
  }
  SmallVector<Value> accs = emitFor(
      b, tgBegin, tgEnd, c1, inits,
      [&](ImplicitLocOpBuilder &ib, Value tg, ValueRange args) {
        SmallVector<Value> table = loadTable(ib, n, tg);
        Value tgStart = arith::MulIOp::create(ib, tg, codesPerTG);
        Value codeBase = arith::MaxUIOp::create(ib, kLo, tgStart);
        Value codeEnd = arith::MinUIOp::create(
            ib, kHi, arith::AddIOp::create(ib, tgStart, codesPerTG));
        SmallVector<Value> acc0(args.begin(), args.end());
        Value chunkBegin = arith::DivUIOp::create(ib, codeBase, cIdx(ib, gs));
        if (blocks) {
          Value blkBegin = arith::DivUIOp::create(ib, codeBase, cIdx(ib, 128));
          Value nBlk = arith::DivUIOp::create(
              ib, arith::SubIOp::create(ib, codeEnd, codeBase), cIdx(ib, 128));
          Value blkEnd = arith::AddIOp::create(ib, blkBegin, nBlk);
          acc0 = emitFor(ib, blkBegin, blkEnd, c1, acc0,
                         [&](ImplicitLocOpBuilder &jb, Value blk, ValueRange a) {
                           SmallVector<Value> accs(a.begin(), a.end());
                           blockStep(jb, table, blk, accs);
                           return accs;
                         });
          chunkBegin = arith::MulIOp::create(
              ib, blkEnd, cIdx(ib, 128 / gs));
        }
        Value chunkEnd = arith::DivUIOp::create(ib, codeEnd, cIdx(ib, gs));
        return emitUnrolledFor(
            ib, chunkBegin, chunkEnd, unroll, acc0,
            [&](ImplicitLocOpBuilder &jb, Value c, unsigned u,
                SmallVector<Value> &accs) { step(jb, table, c, u, accs); });
      });

  storeSums(accs);
}

void LutMatmulEmitter::vectorRow(ImplicitLocOpBuilder &b, Value n, Value kLo,
                                 Value kHi, Value scratch, Value r) {
  Type i64 = b.getI64Type();
  Value rowWords = dimOf(b, w, 1);
  Value rowBytes = arith::MulIOp::create(
      b, arith::IndexCastOp::create(b, i64, rowWords),
      arith::ConstantIntOp::create(b, i64, 4));
  Value rowPtr = arith::AddIOp::create(
      b, wBase,
      arith::MulIOp::create(b, arith::IndexCastOp::create(b, i64, n),
                            rowBytes));
  // Register blocking over M: (rows of x per block, chunks unrolled).
  SmallVector<std::pair<unsigned, unsigned>> blocks =
      spec.target == CPUTarget::AVX512
          ? SmallVector<std::pair<unsigned, unsigned>>{
                {16, 1}, {8, 1}, {4, 2}, {1, 4}}
          : SmallVector<std::pair<unsigned, unsigned>>{{4, 1}, {2, 2}, {1, 4}};
  Value m0 = cIdx(b, 0);
  for (auto [mb, unroll] : blocks) {
    Value count = arith::DivUIOp::create(
        b, arith::SubIOp::create(b, M, m0), cIdx(b, mb));
    Value start = m0;
    emitFor(b, cIdx(b, 0), count, cIdx(b, 1), {},
            [&](ImplicitLocOpBuilder &ib, Value i, ValueRange) {
              Value mStart = arith::AddIOp::create(
                  ib, start, arith::MulIOp::create(ib, i, cIdx(ib, mb)));
              vectorBlock(ib, n, rowPtr, mStart, mb, unroll, kLo, kHi,
                          scratch, r);
              return SmallVector<Value>();
            });
    m0 = arith::AddIOp::create(b, m0,
                               arith::MulIOp::create(b, count, cIdx(b, mb)));
  }
}

void LutMatmulEmitter::emit() {
  M = dimOf(b, x, 0);
  K = dimOf(b, x, 1);
  N = dimOf(b, y, 1);
  if (gs) {
    KV = arith::MulIOp::create(
        b, arith::DivUIOp::create(b, K, cIdx(b, gs)), cIdx(b, gs));
    KB = arith::MulIOp::create(
        b, arith::DivUIOp::create(b, K, cIdx(b, 128)), cIdx(b, 128));
    // Rows of xp are padded by one cache line: with a power-of-two stride
    // the rows of an M block map to the same L1 set and evict each other.
    Value stride = arith::AddIOp::create(b, KV, cIdx(b, 16));
    xp = memref::AllocOp::create(
        b, MemRefType::get({ShapedType::kDynamic, ShapedType::kDynamic}, f32),
        ValueRange{M, stride}, b.getI64IntegerAttr(64));
    fillPermutedX(b);
    Value addr = memref::ExtractAlignedPointerAsIndexOp::create(b, w);
    wBase = arith::IndexCastOp::create(b, b.getI64Type(), addr);
  }
  // Rows whose chunk loads would reach outside the buffer take the scalar
  // path: AVX-512 3-bit chunks read one byte before and after their codes,
  // AVX2 2- and 3-bit chunks read up to 2 bytes after theirs. (Inside the
  // buffer, reading a neighbouring row's bytes is harmless: bits above a
  // code are ignored.)
  int64_t firstSafe = 0, lastUnsafe = 0;
  if (gs && spec.target == CPUTarget::AVX512 && spec.bits == 3)
    firstSafe = lastUnsafe = 1;
  if (gs && spec.target == CPUTarget::AVX2 && spec.bits < 4)
    lastUnsafe = 1;
  // The 128-code blocks read up to 3 bytes past their last code.
  if (usesBlocks())
    lastUnsafe = 1;

  if (!gs) {
    emitRowBlocks(b, N, spec.threads,
                  [&](ImplicitLocOpBuilder &ib, Value begin, Value end) {
                    emitFor(ib, begin, end, cIdx(ib, 1), {},
                            [&](ImplicitLocOpBuilder &jb, Value n, ValueRange) {
                              scalarRow(jb, n);
                              return SmallVector<Value>();
                            });
                  });
    return;
  }

  // K tiles (M >= 4): the x tile of all M rows (tileCodes x M floats, about
  // 16 KiB) stays in L1 while the rows of a block stream their weights;
  // partial sums live in a per-block scratch buffer between tiles. Tiles are
  // whole table groups and whole 128-code blocks.
  {
    int64_t unit = usesBlocks() ? 128 : gs;
    Value unitV = cIdx(b, unit);
    if (spec.lut.getRank() == 3)
      unitV = arith::DivUIOp::create(b, K, groupsOf(b));
    Value m1 = arith::MaxUIOp::create(b, M, cIdx(b, 1));
    Value perM = arith::DivUIOp::create(b, cIdx(b, 4096), m1);
    Value units = arith::DivUIOp::create(b, perM, unitV);
    tileCodes = arith::MulIOp::create(
        b, arith::MaxUIOp::create(b, units, cIdx(b, 1)), unitV);
    // Below 4 rows of x the whole row is one tile: x (at most 3 x K floats)
    // stays in L2, and each weight row streams from memory in one piece,
    // which the hardware prefetchers follow much better than short segments.
    Value small =
        arith::CmpIOp::create(b, arith::CmpIPredicate::ult, M, cIdx(b, 4));
    tileCodes = arith::SelectOp::create(
        b, small, arith::MaxUIOp::create(b, KV, cIdx(b, 1)), tileCodes);
  }
  auto isSafe = [&](ImplicitLocOpBuilder &jb, Value n) -> Value {
    Value lo = arith::CmpIOp::create(jb, arith::CmpIPredicate::uge, n,
                                     cIdx(jb, firstSafe));
    Value hi = arith::CmpIOp::create(
        jb, arith::CmpIPredicate::ult,
        arith::AddIOp::create(jb, n, cIdx(jb, lastUnsafe)), N);
    return arith::AndIOp::create(jb, lo, hi);
  };
  auto vt = VectorType::get({int64_t(gs)}, f32);
  emitRowBlocks(
      b, N, spec.threads,
      [&](ImplicitLocOpBuilder &ib, Value begin, Value end) {
        Value c0 = cIdx(ib, 0), c1 = cIdx(ib, 1);
        Value scratch = memref::AllocOp::create(
            ib,
            MemRefType::get({kRowsPerBlock, ShapedType::kDynamic, int64_t(gs)},
                            f32),
            ValueRange{M}, ib.getI64IntegerAttr(64));
        Value zeroVec = arith::ConstantOp::create(
            ib, vt,
            DenseElementsAttr::get(vt, ib.getF32FloatAttr(0.0f).getValue()));
        Value rows = arith::SubIOp::create(ib, end, begin);
        emitFor(ib, c0, rows, c1, {},
                [&](ImplicitLocOpBuilder &jb, Value r, ValueRange) {
                  emitFor(jb, c0, M, c1, {},
                          [&](ImplicitLocOpBuilder &kb, Value m, ValueRange) {
                            vector::StoreOp::create(kb, zeroVec, scratch,
                                                    ValueRange{r, m, c0});
                            return SmallVector<Value>();
                          });
                  return SmallVector<Value>();
                });
        Value tiles = arith::CeilDivUIOp::create(ib, KV, tileCodes);
        emitFor(ib, c0, tiles, c1, {},
                [&](ImplicitLocOpBuilder &jb, Value t, ValueRange) {
                  Value kLo = arith::MulIOp::create(jb, t, tileCodes);
                  Value kHi = arith::MinUIOp::create(
                      jb, arith::AddIOp::create(jb, kLo, tileCodes), KV);
                  emitFor(jb, c0, rows, c1, {},
                          [&](ImplicitLocOpBuilder &kb, Value r, ValueRange) {
                            Value n = arith::AddIOp::create(kb, begin, r);
                            scf::IfOp::create(
                                kb, isSafe(kb, n),
                                [&](OpBuilder &nb, Location loc) {
                                  ImplicitLocOpBuilder lb(loc, nb);
                                  vectorRow(lb, n, kLo, kHi, scratch, r);
                                  scf::YieldOp::create(lb);
                                });
                            return SmallVector<Value>();
                          });
                  return SmallVector<Value>();
                });
        // Finish: reduce the partial sums (safe rows) or run the scalar
        // path (rows whose chunk loads would leave the buffer).
        emitFor(
            ib, c0, rows, c1, {},
            [&](ImplicitLocOpBuilder &jb, Value r, ValueRange) {
              Value n = arith::AddIOp::create(jb, begin, r);
              scf::IfOp::create(
                  jb, isSafe(jb, n),
                  [&](OpBuilder &nb, Location loc) {
                    ImplicitLocOpBuilder kb(loc, nb);
                    emitFor(kb, c0, M, c1, {},
                            [&](ImplicitLocOpBuilder &lb, Value m, ValueRange) {
                              Value acc = vector::LoadOp::create(
                                  lb, vt, scratch, ValueRange{r, m, c0});
                              // A tree reduction (reassoc): an ordered one
                              // is a 16-deep dependent chain per row.
                              Value s = vector::ReductionOp::create(
                                  lb, vector::CombiningKind::ADD, acc,
                                  arith::FastMathFlags::reassoc);
                              finish(lb, n, m, s);
                              return SmallVector<Value>();
                            });
                    scf::YieldOp::create(kb);
                  },
                  [&](OpBuilder &nb, Location loc) {
                    ImplicitLocOpBuilder kb(loc, nb);
                    scalarRow(kb, n);
                    scf::YieldOp::create(kb);
                  });
              return SmallVector<Value>();
            });
      });
}

} // namespace

func::FuncOp mlir::squant::cpu::getOrCreateLutMatmulKernel(
    ModuleOp module, const LutMatmulSpec &spec) {
  func::FuncOp fn =
      getOrCreateKernel(module, spec.kernelName(), spec.argTypes(),
                        [&](ImplicitLocOpBuilder &b, ValueRange args) {
                          LutMatmulEmitter(spec, module, b, args).emit();
                        });
  // The instruction set the kernel is written for travels with it (to the
  // llvm.func and the LLVM IR "target-features"), so that an ahead-of-time
  // build for a baseline CPU still compiles it.
  StringRef features;
  if (spec.target == CPUTarget::AVX512)
    features = "+avx2,+fma,+avx512f,+avx512bw,+avx512vl";
  else if (spec.target == CPUTarget::AVX2)
    features = "+avx2,+fma";
  if (!features.empty())
    fn->setAttr("target_features",
                LLVM::TargetFeaturesAttr::get(module.getContext(), features));
  return fn;
}
