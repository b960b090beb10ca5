// RUN: squant-opt %s --squant-cpu-pipeline="kernels=reference" | mlir-runner -e main -entry-point-result=void -shared-libs=%mlir_c_runner_utils,%mlir_runner_utils | sed -e 's/base@ = 0x[0-9a-f]*//' > %t.tensor
// RUN: squant-opt %s --one-shot-bufferize="bufferize-function-boundaries function-boundary-type-conversion=identity-layout-map" --buffer-deallocation-pipeline --convert-bufferization-to-memref --squant-decompose --convert-linalg-to-loops --expand-strided-metadata --lower-affine --convert-scf-to-cf --convert-math-to-llvm --convert-math-to-libm --convert-to-llvm --reconcile-unrealized-casts | mlir-runner -e main -entry-point-result=void -shared-libs=%mlir_c_runner_utils,%mlir_runner_utils | sed -e 's/base@ = 0x[0-9a-f]*//' > %t.memref
// RUN: diff %t.tensor %t.memref
// RUN: FileCheck %s < %t.tensor
// RUN: squant-opt %s --squant-cpu-pipeline="threads=1" | mlir-runner -e main -entry-point-result=void -shared-libs=%mlir_c_runner_utils,%mlir_runner_utils > %t.fast
// RUN: FileCheck %s < %t.fast
// RUN: %python %utils/compare_printed_runs.py %t.fast %t.tensor 1e-5 | FileCheck %s --check-prefix=FAST
// REQUIRES: mlir_c_runner_utils

// The memref form of the KV-cache ops (bufferized first, then
// squant-decompose) computes exactly what the tensor form computes (checked
// against the Python reference in kv-cache-*.test): both are run and their
// printed results compared. The fast kernels (convert-squant-to-cpu, also
// on these edge cases) agree within 1e-5 (dequantized caches are bit-exact
// in kv-cache-*.test; printing rounds to 6 digits). Attention over an empty cache (len = 0) is 0;
// tokens appended past L are dropped and len is clamped to L.

#kivi = #squant.kv_format<kivi, bits = 3, group = 4, residual = 8, sink = 2>
#kvq = #squant.kv_format<kvquant, bits = 3, sink = 1, outliers = 2>

func.func private @printMemrefF32(memref<*xf32>)

// x = 3 sin(0.37 (7919 i0 + 1009 i1 + 101 i2 + 7 i3) + phase).
func.func @fill(%t: tensor<?x?x?x?xf32>, %phase: f32) -> tensor<?x?x?x?xf32> {
  %r = linalg.generic {indexing_maps = [affine_map<(a, b, c, d) -> (a, b, c, d)>],
                       iterator_types = ["parallel", "parallel", "parallel", "parallel"]}
      outs(%t : tensor<?x?x?x?xf32>) {
  ^bb0(%o: f32):
    %i0 = linalg.index 0 : index
    %i1 = linalg.index 1 : index
    %i2 = linalg.index 2 : index
    %i3 = linalg.index 3 : index
    %c0 = arith.constant 7919 : index
    %c1 = arith.constant 1009 : index
    %c2 = arith.constant 101 : index
    %c3 = arith.constant 7 : index
    %a0 = arith.muli %i0, %c0 : index
    %a1 = arith.muli %i1, %c1 : index
    %a2 = arith.muli %i2, %c2 : index
    %a3 = arith.muli %i3, %c3 : index
    %s0 = arith.addi %a0, %a1 : index
    %s1 = arith.addi %s0, %a2 : index
    %s2 = arith.addi %s1, %a3 : index
    %si = arith.index_cast %s2 : index to i64
    %sf = arith.sitofp %si : i64 to f32
    %k = arith.constant 0.37 : f32
    %x = arith.mulf %sf, %k : f32
    %y = arith.addf %x, %phase : f32
    %z = math.sin %y : f32
    %three = arith.constant 3.0 : f32
    %w = arith.mulf %z, %three : f32
    linalg.yield %w : f32
  } -> tensor<?x?x?x?xf32>
  return %r : tensor<?x?x?x?xf32>
}

func.func @print(%t: tensor<?x?x?x?xf32>) {
  %m = bufferization.to_buffer %t : tensor<?x?x?x?xf32> to memref<?x?x?x?xf32>
  %u = memref.cast %m : memref<?x?x?x?xf32> to memref<*xf32>
  call @printMemrefF32(%u) : (memref<*xf32>) -> ()
  return
}

func.func @print3(%t: tensor<1x4x16xf32>) {
  %m = bufferization.to_buffer %t : tensor<1x4x16xf32> to memref<1x4x16xf32>
  %u = memref.cast %m : memref<1x4x16xf32> to memref<*xf32>
  call @printMemrefF32(%u) : (memref<*xf32>) -> ()
  return
}

#small = #squant.kv_format<kvquant, bits = 4>

// Appends 6 tokens at `pos` into a 4-slot cache (tokens at positions >= L
// are dropped), and returns the largest difference between reading it with
// len = 6 (clamped to L = 4) and a cache that received only tokens 0..3:
// dequantized keys and values, attention, and a dequantization starting at
// token -2 (zeros before token 0).
func.func @overflow(%k: tensor<1x1x6x16xf32>, %pos: index, %len: index) -> tensor<f32> {
  %c0 = arith.constant 0 : index
  %c4 = arith.constant 4 : index
  %zi8 = arith.constant 0 : i8
  %zf16 = arith.constant 0.0 : f16
  %lut = arith.constant dense<[-1.0, -0.8, -0.6, -0.45, -0.3, -0.2, -0.1, -0.05, 0.05, 0.1, 0.2, 0.3, 0.45, 0.6, 0.8, 1.0]> : tensor<16xf32>
  %klut = tensor.empty() : tensor<1x16x16xf32>
  %kl = linalg.generic {indexing_maps = [affine_map<(a, b, c) -> (c)>, affine_map<(a, b, c) -> (a, b, c)>],
                        iterator_types = ["parallel", "parallel", "parallel"]}
      ins(%lut : tensor<16xf32>) outs(%klut : tensor<1x16x16xf32>) {
  ^bb0(%x: f32, %o: f32):
    %three = arith.constant 3.0 : f32
    %y = arith.mulf %x, %three : f32
    linalg.yield %y : f32
  } -> tensor<1x16x16xf32>
  %e0 = tensor.empty() : tensor<1x1x4x8xi8>
  %codes = linalg.fill ins(%zi8 : i8) outs(%e0 : tensor<1x1x4x8xi8>) -> tensor<1x1x4x8xi8>
  %e1 = tensor.empty() : tensor<1x1x4xf16>
  %scale = linalg.fill ins(%zf16 : f16) outs(%e1 : tensor<1x1x4xf16>) -> tensor<1x1x4xf16>
  %a:3 = squant.kv_append #small keys(%k : tensor<1x1x6x16xf32>) values(%k : tensor<1x1x6x16xf32>) at(%pos)
      tables(%kl, %lut : tensor<1x16x16xf32>, tensor<16xf32>)
      cache(%codes, %codes, %scale : tensor<1x1x4x8xi8>, tensor<1x1x4x8xi8>, tensor<1x1x4xf16>)
      -> tensor<1x1x4x8xi8>, tensor<1x1x4x8xi8>, tensor<1x1x4xf16>
  %k4 = tensor.extract_slice %k[0, 0, 0, 0] [1, 1, 4, 16] [1, 1, 1, 1] : tensor<1x1x6x16xf32> to tensor<1x1x4x16xf32>
  %b:3 = squant.kv_append #small keys(%k4 : tensor<1x1x4x16xf32>) values(%k4 : tensor<1x1x4x16xf32>) at(%c0)
      tables(%kl, %lut : tensor<1x16x16xf32>, tensor<16xf32>)
      cache(%codes, %codes, %scale : tensor<1x1x4x8xi8>, tensor<1x1x4x8xi8>, tensor<1x1x4xf16>)
      -> tensor<1x1x4x8xi8>, tensor<1x1x4x8xi8>, tensor<1x1x4xf16>
  %dk = tensor.empty() : tensor<1x1x4x16xf32>
  %da:2 = squant.kv_dequantize #small tables(%kl, %lut : tensor<1x16x16xf32>, tensor<16xf32>)
      cache(%a#0, %a#1, %a#2 : tensor<1x1x4x8xi8>, tensor<1x1x4x8xi8>, tensor<1x1x4xf16>)
      start(%c0) len(%len) outs(%dk, %dk : tensor<1x1x4x16xf32>, tensor<1x1x4x16xf32>) -> tensor<1x1x4x16xf32>, tensor<1x1x4x16xf32>
  %db:2 = squant.kv_dequantize #small tables(%kl, %lut : tensor<1x16x16xf32>, tensor<16xf32>)
      cache(%b#0, %b#1, %b#2 : tensor<1x1x4x8xi8>, tensor<1x1x4x8xi8>, tensor<1x1x4xf16>)
      start(%c0) len(%c4) outs(%dk, %dk : tensor<1x1x4x16xf32>, tensor<1x1x4x16xf32>) -> tensor<1x1x4x16xf32>, tensor<1x1x4x16xf32>
  %q = tensor.extract_slice %k[0, 0, 5, 0] [1, 1, 1, 16] [1, 1, 1, 1] : tensor<1x1x6x16xf32> to tensor<1x1x16xf32>
  %oe = tensor.empty() : tensor<1x1x16xf32>
  %oa = squant.kv_attention #small query(%q : tensor<1x1x16xf32>) len(%len) position(%c4)
      tables(%kl, %lut : tensor<1x16x16xf32>, tensor<16xf32>)
      cache(%a#0, %a#1, %a#2 : tensor<1x1x4x8xi8>, tensor<1x1x4x8xi8>, tensor<1x1x4xf16>)
      rope(half) outs(%oe : tensor<1x1x16xf32>) -> tensor<1x1x16xf32>
  %ob = squant.kv_attention #small query(%q : tensor<1x1x16xf32>) len(%c4) position(%c4)
      tables(%kl, %lut : tensor<1x16x16xf32>, tensor<16xf32>)
      cache(%b#0, %b#1, %b#2 : tensor<1x1x4x8xi8>, tensor<1x1x4x8xi8>, tensor<1x1x4xf16>)
      rope(half) outs(%oe : tensor<1x1x16xf32>) -> tensor<1x1x16xf32>
  %zero = arith.constant 0.0 : f32
  %m0 = tensor.empty() : tensor<f32>
  %m = linalg.fill ins(%zero : f32) outs(%m0 : tensor<f32>) -> tensor<f32>
  %m1 = linalg.generic {indexing_maps = [affine_map<(a, b, c, d) -> (a, b, c, d)>, affine_map<(a, b, c, d) -> (a, b, c, d)>,
                                         affine_map<(a, b, c, d) -> (a, b, c, d)>, affine_map<(a, b, c, d) -> (a, b, c, d)>,
                                         affine_map<(a, b, c, d) -> ()>],
                        iterator_types = ["reduction", "reduction", "reduction", "reduction"]}
      ins(%da#0, %db#0, %da#1, %db#1 : tensor<1x1x4x16xf32>, tensor<1x1x4x16xf32>, tensor<1x1x4x16xf32>, tensor<1x1x4x16xf32>)
      outs(%m : tensor<f32>) {
  ^bb0(%x0: f32, %y0: f32, %x1: f32, %y1: f32, %acc: f32):
    %d0 = arith.subf %x0, %y0 : f32
    %a0 = math.absf %d0 : f32
    %d1 = arith.subf %x1, %y1 : f32
    %a1 = math.absf %d1 : f32
    %r0 = arith.maximumf %acc, %a0 : f32
    %r1 = arith.maximumf %r0, %a1 : f32
    linalg.yield %r1 : f32
  } -> tensor<f32>
  %m2 = linalg.generic {indexing_maps = [affine_map<(a, b, c) -> (a, b, c)>, affine_map<(a, b, c) -> (a, b, c)>,
                                         affine_map<(a, b, c) -> ()>],
                        iterator_types = ["reduction", "reduction", "reduction"]}
      ins(%oa, %ob : tensor<1x1x16xf32>, tensor<1x1x16xf32>) outs(%m1 : tensor<f32>) {
  ^bb0(%x: f32, %y: f32, %acc: f32):
    %d = arith.subf %x, %y : f32
    %ad = math.absf %d : f32
    %r = arith.maximumf %acc, %ad : f32
    linalg.yield %r : f32
  } -> tensor<f32>
  // start = -2 (dynamic): tokens -2 and -1 read as zeros, then tokens 0, 1.
  %cm2 = arith.constant -2 : index
  %neg = arith.addi %pos, %cm2 : index
  %dn:2 = squant.kv_dequantize #small tables(%kl, %lut : tensor<1x16x16xf32>, tensor<16xf32>)
      cache(%a#0, %a#1, %a#2 : tensor<1x1x4x8xi8>, tensor<1x1x4x8xi8>, tensor<1x1x4xf16>)
      start(%neg) len(%len) outs(%dk, %dk : tensor<1x1x4x16xf32>, tensor<1x1x4x16xf32>) -> tensor<1x1x4x16xf32>, tensor<1x1x4x16xf32>
  %m3 = linalg.generic {indexing_maps = [affine_map<(a, b, c, d) -> (a, b, c, d)>, affine_map<(a, b, c, d) -> (a, b, c, d)>,
                                         affine_map<(a, b, c, d) -> ()>],
                        iterator_types = ["reduction", "reduction", "reduction", "reduction"]}
      ins(%dn#0, %db#0 : tensor<1x1x4x16xf32>, tensor<1x1x4x16xf32>) outs(%m2 : tensor<f32>) {
  ^bb0(%x: f32, %y: f32, %acc: f32):
    // out[t] must be 0 for t < 2 and db[t - 2] otherwise.
    %t = linalg.index 2 : index
    %d = linalg.index 3 : index
    %c2 = arith.constant 2 : index
    %lo = arith.cmpi ult, %t, %c2 : index
    %ts = arith.subi %t, %c2 : index
    %tc = arith.select %lo, %c0, %ts : index
    %ref = tensor.extract %db#0[%c0, %c0, %tc, %d] : tensor<1x1x4x16xf32>
    %expect = arith.select %lo, %zero, %ref : f32
    %df = arith.subf %x, %expect : f32
    %ad = math.absf %df : f32
    %r = arith.maximumf %acc, %ad : f32
    linalg.yield %r : f32
  } -> tensor<f32>
  return %m3 : tensor<f32>
}

func.func @print0(%t: tensor<f32>) {
  %m = bufferization.to_buffer %t : tensor<f32> to memref<f32>
  %u = memref.cast %m : memref<f32> to memref<*xf32>
  call @printMemrefF32(%u) : (memref<*xf32>) -> ()
  return
}

func.func @main() {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %n = arith.constant 13 : index
  %last = arith.constant 12 : index
  %p0 = arith.constant 0.0 : f32
  %p1 = arith.constant 1.0 : f32
  %p2 = arith.constant 2.0 : f32
  %e = tensor.empty(%c1, %c1, %n, %c1) : tensor<?x?x?x?xf32>
  %ek = tensor.empty() : tensor<1x2x13x16xf32>
  %ekd = tensor.cast %ek : tensor<1x2x13x16xf32> to tensor<?x?x?x?xf32>
  %kd = call @fill(%ekd, %p0) : (tensor<?x?x?x?xf32>, f32) -> tensor<?x?x?x?xf32>
  %vd = call @fill(%ekd, %p1) : (tensor<?x?x?x?xf32>, f32) -> tensor<?x?x?x?xf32>
  %k = tensor.cast %kd : tensor<?x?x?x?xf32> to tensor<1x2x13x16xf32>
  %v = tensor.cast %vd : tensor<?x?x?x?xf32> to tensor<1x2x13x16xf32>
  %eq = tensor.empty() : tensor<1x1x4x16xf32>
  %eqd = tensor.cast %eq : tensor<1x1x4x16xf32> to tensor<?x?x?x?xf32>
  %qd = call @fill(%eqd, %p2) : (tensor<?x?x?x?xf32>, f32) -> tensor<?x?x?x?xf32>
  %q4 = tensor.cast %qd : tensor<?x?x?x?xf32> to tensor<1x1x4x16xf32>
  %q = tensor.collapse_shape %q4 [[0, 1], [2], [3]] : tensor<1x1x4x16xf32> into tensor<1x4x16xf32>
  %zf16 = arith.constant 0.0 : f16
  %zi8 = arith.constant 0 : i8
  %zf32 = arith.constant 0.0 : f32

  // ---- KIVI: one-by-one appends (evictions, two key flushes, sinks).
  %kc0 = tensor.empty() : tensor<1x2x16x6xi8>
  %kc = linalg.fill ins(%zi8 : i8) outs(%kc0 : tensor<1x2x16x6xi8>) -> tensor<1x2x16x6xi8>
  %ks0 = tensor.empty() : tensor<1x2x3x16xf16>
  %ks = linalg.fill ins(%zf16 : f16) outs(%ks0 : tensor<1x2x3x16xf16>) -> tensor<1x2x3x16xf16>
  %vs0 = tensor.empty() : tensor<1x2x16x4xf16>
  %vs = linalg.fill ins(%zf16 : f16) outs(%vs0 : tensor<1x2x16x4xf16>) -> tensor<1x2x16x4xf16>
  %sk0 = tensor.empty() : tensor<1x2x2x16xf16>
  %sk = linalg.fill ins(%zf16 : f16) outs(%sk0 : tensor<1x2x2x16xf16>) -> tensor<1x2x2x16xf16>
  %rs0 = tensor.empty() : tensor<1x2x8x16xf16>
  %rs = linalg.fill ins(%zf16 : f16) outs(%rs0 : tensor<1x2x8x16xf16>) -> tensor<1x2x8x16xf16>
  %kivi:10 = scf.for %i = %c0 to %n step %c1
      iter_args(%a0 = %kc, %a1 = %kc, %a2 = %ks, %a3 = %ks, %a4 = %vs, %a5 = %vs, %a6 = %sk, %a7 = %sk, %a8 = %rs, %a9 = %rs)
      -> (tensor<1x2x16x6xi8>, tensor<1x2x16x6xi8>, tensor<1x2x3x16xf16>, tensor<1x2x3x16xf16>, tensor<1x2x16x4xf16>, tensor<1x2x16x4xf16>, tensor<1x2x2x16xf16>, tensor<1x2x2x16xf16>, tensor<1x2x8x16xf16>, tensor<1x2x8x16xf16>) {
    %ki = tensor.extract_slice %k[0, 0, %i, 0] [1, 2, 1, 16] [1, 1, 1, 1] : tensor<1x2x13x16xf32> to tensor<1x2x1x16xf32>
    %vi = tensor.extract_slice %v[0, 0, %i, 0] [1, 2, 1, 16] [1, 1, 1, 1] : tensor<1x2x13x16xf32> to tensor<1x2x1x16xf32>
    %r:10 = squant.kv_append #kivi keys(%ki : tensor<1x2x1x16xf32>) values(%vi : tensor<1x2x1x16xf32>) at(%i)
        cache(%a0, %a1, %a2, %a3, %a4, %a5, %a6, %a7, %a8, %a9 : tensor<1x2x16x6xi8>, tensor<1x2x16x6xi8>, tensor<1x2x3x16xf16>, tensor<1x2x3x16xf16>, tensor<1x2x16x4xf16>, tensor<1x2x16x4xf16>, tensor<1x2x2x16xf16>, tensor<1x2x2x16xf16>, tensor<1x2x8x16xf16>, tensor<1x2x8x16xf16>)
        -> tensor<1x2x16x6xi8>, tensor<1x2x16x6xi8>, tensor<1x2x3x16xf16>, tensor<1x2x3x16xf16>, tensor<1x2x16x4xf16>, tensor<1x2x16x4xf16>, tensor<1x2x2x16xf16>, tensor<1x2x2x16xf16>, tensor<1x2x8x16xf16>, tensor<1x2x8x16xf16>
    scf.yield %r#0, %r#1, %r#2, %r#3, %r#4, %r#5, %r#6, %r#7, %r#8, %r#9 : tensor<1x2x16x6xi8>, tensor<1x2x16x6xi8>, tensor<1x2x3x16xf16>, tensor<1x2x3x16xf16>, tensor<1x2x16x4xf16>, tensor<1x2x16x4xf16>, tensor<1x2x2x16xf16>, tensor<1x2x2x16xf16>, tensor<1x2x8x16xf16>, tensor<1x2x8x16xf16>
  }
  %dk0 = tensor.empty() : tensor<1x2x14x16xf32>
  %dv0 = tensor.empty() : tensor<1x2x14x16xf32>
  %d:2 = squant.kv_dequantize #kivi cache(%kivi#0, %kivi#1, %kivi#2, %kivi#3, %kivi#4, %kivi#5, %kivi#6, %kivi#7, %kivi#8, %kivi#9 : tensor<1x2x16x6xi8>, tensor<1x2x16x6xi8>, tensor<1x2x3x16xf16>, tensor<1x2x3x16xf16>, tensor<1x2x16x4xf16>, tensor<1x2x16x4xf16>, tensor<1x2x2x16xf16>, tensor<1x2x2x16xf16>, tensor<1x2x8x16xf16>, tensor<1x2x8x16xf16>)
      start(%c0) len(%n) outs(%dk0, %dv0 : tensor<1x2x14x16xf32>, tensor<1x2x14x16xf32>) -> tensor<1x2x14x16xf32>, tensor<1x2x14x16xf32>
  %o0 = tensor.empty() : tensor<1x4x16xf32>
  %o = squant.kv_attention #kivi query(%q : tensor<1x4x16xf32>) len(%n) position(%last)
      cache(%kivi#0, %kivi#1, %kivi#2, %kivi#3, %kivi#4, %kivi#5, %kivi#6, %kivi#7, %kivi#8, %kivi#9 : tensor<1x2x16x6xi8>, tensor<1x2x16x6xi8>, tensor<1x2x3x16xf16>, tensor<1x2x3x16xf16>, tensor<1x2x16x4xf16>, tensor<1x2x16x4xf16>, tensor<1x2x2x16xf16>, tensor<1x2x2x16xf16>, tensor<1x2x8x16xf16>, tensor<1x2x8x16xf16>)
      rope(half) outs(%o0 : tensor<1x4x16xf32>) -> tensor<1x4x16xf32>
  %dkd = tensor.cast %d#0 : tensor<1x2x14x16xf32> to tensor<?x?x?x?xf32>
  %dvd = tensor.cast %d#1 : tensor<1x2x14x16xf32> to tensor<?x?x?x?xf32>
  call @print(%dkd) : (tensor<?x?x?x?xf32>) -> ()
  call @print(%dvd) : (tensor<?x?x?x?xf32>) -> ()
  call @print3(%o) : (tensor<1x4x16xf32>) -> ()

  // ---- KVQuant: a 5-token prefill, then the rest.
  %lut0 = tensor.empty() : tensor<1x2x16x8xf32>
  %lutd0 = tensor.cast %lut0 : tensor<1x2x16x8xf32> to tensor<?x?x?x?xf32>
  %lutd = call @fill(%lutd0, %p2) : (tensor<?x?x?x?xf32>, f32) -> tensor<?x?x?x?xf32>
  %lut4 = tensor.cast %lutd : tensor<?x?x?x?xf32> to tensor<1x2x16x8xf32>
  %klut = tensor.collapse_shape %lut4 [[0, 1], [2], [3]] : tensor<1x2x16x8xf32> into tensor<2x16x8xf32>
  %vlut = arith.constant dense<[-1.0, -0.6, -0.3, -0.1, 0.1, 0.3, 0.6, 1.0]> : tensor<8xf32>
  %qs0 = tensor.empty() : tensor<1x2x16xf16>
  %qs = linalg.fill ins(%zf16 : f16) outs(%qs0 : tensor<1x2x16xf16>) -> tensor<1x2x16xf16>
  %ov0 = tensor.empty() : tensor<1x2x16x2xf16>
  %ov = linalg.fill ins(%zf16 : f16) outs(%ov0 : tensor<1x2x16x2xf16>) -> tensor<1x2x16x2xf16>
  %oi0 = tensor.empty() : tensor<1x2x16x2xi8>
  %oi = linalg.fill ins(%zi8 : i8) outs(%oi0 : tensor<1x2x16x2xi8>) -> tensor<1x2x16x2xi8>
  %qk0 = tensor.empty() : tensor<1x2x1x16xf16>
  %qk = linalg.fill ins(%zf16 : f16) outs(%qk0 : tensor<1x2x1x16xf16>) -> tensor<1x2x1x16xf16>
  %kp = tensor.extract_slice %k[0, 0, 0, 0] [1, 2, 5, 16] [1, 1, 1, 1] : tensor<1x2x13x16xf32> to tensor<1x2x5x16xf32>
  %vp = tensor.extract_slice %v[0, 0, 0, 0] [1, 2, 5, 16] [1, 1, 1, 1] : tensor<1x2x13x16xf32> to tensor<1x2x5x16xf32>
  %r1:9 = squant.kv_append #kvq keys(%kp : tensor<1x2x5x16xf32>) values(%vp : tensor<1x2x5x16xf32>) at(%c0)
      tables(%klut, %vlut : tensor<2x16x8xf32>, tensor<8xf32>)
      cache(%kc, %kc, %qs, %ov, %oi, %ov, %oi, %qk, %qk : tensor<1x2x16x6xi8>, tensor<1x2x16x6xi8>, tensor<1x2x16xf16>, tensor<1x2x16x2xf16>, tensor<1x2x16x2xi8>, tensor<1x2x16x2xf16>, tensor<1x2x16x2xi8>, tensor<1x2x1x16xf16>, tensor<1x2x1x16xf16>)
      -> tensor<1x2x16x6xi8>, tensor<1x2x16x6xi8>, tensor<1x2x16xf16>, tensor<1x2x16x2xf16>, tensor<1x2x16x2xi8>, tensor<1x2x16x2xf16>, tensor<1x2x16x2xi8>, tensor<1x2x1x16xf16>, tensor<1x2x1x16xf16>
  %c5 = arith.constant 5 : index
  %kr = tensor.extract_slice %k[0, 0, 5, 0] [1, 2, 8, 16] [1, 1, 1, 1] : tensor<1x2x13x16xf32> to tensor<1x2x8x16xf32>
  %vr = tensor.extract_slice %v[0, 0, 5, 0] [1, 2, 8, 16] [1, 1, 1, 1] : tensor<1x2x13x16xf32> to tensor<1x2x8x16xf32>
  %r2:9 = squant.kv_append #kvq keys(%kr : tensor<1x2x8x16xf32>) values(%vr : tensor<1x2x8x16xf32>) at(%c5)
      tables(%klut, %vlut : tensor<2x16x8xf32>, tensor<8xf32>)
      cache(%r1#0, %r1#1, %r1#2, %r1#3, %r1#4, %r1#5, %r1#6, %r1#7, %r1#8 : tensor<1x2x16x6xi8>, tensor<1x2x16x6xi8>, tensor<1x2x16xf16>, tensor<1x2x16x2xf16>, tensor<1x2x16x2xi8>, tensor<1x2x16x2xf16>, tensor<1x2x16x2xi8>, tensor<1x2x1x16xf16>, tensor<1x2x1x16xf16>)
      -> tensor<1x2x16x6xi8>, tensor<1x2x16x6xi8>, tensor<1x2x16xf16>, tensor<1x2x16x2xf16>, tensor<1x2x16x2xi8>, tensor<1x2x16x2xf16>, tensor<1x2x16x2xi8>, tensor<1x2x1x16xf16>, tensor<1x2x1x16xf16>
  %ek0 = tensor.empty() : tensor<1x2x14x16xf32>
  %ev0 = tensor.empty() : tensor<1x2x14x16xf32>
  %d2:2 = squant.kv_dequantize #kvq tables(%klut, %vlut : tensor<2x16x8xf32>, tensor<8xf32>)
      cache(%r2#0, %r2#1, %r2#2, %r2#3, %r2#4, %r2#5, %r2#6, %r2#7, %r2#8 : tensor<1x2x16x6xi8>, tensor<1x2x16x6xi8>, tensor<1x2x16xf16>, tensor<1x2x16x2xf16>, tensor<1x2x16x2xi8>, tensor<1x2x16x2xf16>, tensor<1x2x16x2xi8>, tensor<1x2x1x16xf16>, tensor<1x2x1x16xf16>)
      start(%c0) len(%n) outs(%ek0, %ev0 : tensor<1x2x14x16xf32>, tensor<1x2x14x16xf32>) -> tensor<1x2x14x16xf32>, tensor<1x2x14x16xf32>
  %o1 = tensor.empty() : tensor<1x4x16xf32>
  %oq = squant.kv_attention #kvq query(%q : tensor<1x4x16xf32>) len(%n) position(%last)
      tables(%klut, %vlut : tensor<2x16x8xf32>, tensor<8xf32>)
      cache(%r2#0, %r2#1, %r2#2, %r2#3, %r2#4, %r2#5, %r2#6, %r2#7, %r2#8 : tensor<1x2x16x6xi8>, tensor<1x2x16x6xi8>, tensor<1x2x16xf16>, tensor<1x2x16x2xf16>, tensor<1x2x16x2xi8>, tensor<1x2x16x2xf16>, tensor<1x2x16x2xi8>, tensor<1x2x1x16xf16>, tensor<1x2x1x16xf16>)
      rope(interleaved) outs(%o1 : tensor<1x4x16xf32>) -> tensor<1x4x16xf32>
  // Nothing appended yet: len = 0.
  %o2 = tensor.empty() : tensor<1x4x16xf32>
  %oe = squant.kv_attention #kvq query(%q : tensor<1x4x16xf32>) len(%c0) position(%c0)
      tables(%klut, %vlut : tensor<2x16x8xf32>, tensor<8xf32>)
      cache(%kc, %kc, %qs, %ov, %oi, %ov, %oi, %qk, %qk : tensor<1x2x16x6xi8>, tensor<1x2x16x6xi8>, tensor<1x2x16xf16>, tensor<1x2x16x2xf16>, tensor<1x2x16x2xi8>, tensor<1x2x16x2xf16>, tensor<1x2x16x2xi8>, tensor<1x2x1x16xf16>, tensor<1x2x1x16xf16>)
      rope(half) outs(%o2 : tensor<1x4x16xf32>) -> tensor<1x4x16xf32>
  %d2k = tensor.cast %d2#0 : tensor<1x2x14x16xf32> to tensor<?x?x?x?xf32>
  %d2v = tensor.cast %d2#1 : tensor<1x2x14x16xf32> to tensor<?x?x?x?xf32>
  call @print(%d2k) : (tensor<?x?x?x?xf32>) -> ()
  call @print(%d2v) : (tensor<?x?x?x?xf32>) -> ()
  call @print3(%oq) : (tensor<1x4x16xf32>) -> ()
  call @print3(%oe) : (tensor<1x4x16xf32>) -> ()

  // ---- Positions past L: 6 tokens into 4 slots, read with len = 6.
  %k6 = tensor.extract_slice %k[0, 0, 0, 0] [1, 1, 6, 16] [1, 1, 1, 1] : tensor<1x2x13x16xf32> to tensor<1x1x6x16xf32>
  %c6 = arith.constant 6 : index
  %diff = call @overflow(%k6, %c0, %c6) : (tensor<1x1x6x16xf32>, index, index) -> tensor<f32>
  call @print0(%diff) : (tensor<f32>) -> ()
  return
}

// Seven results in order; the last (attention with len = 0) is all zeros.
// Then: a cache that received 6 tokens into 4 slots and is read with
// len = 6 equals one that received only tokens 0..3 (difference 0).
// FAST: OK 8 memrefs
// CHECK-COUNT-2: sizes = [1, 2, 14, 16]
// CHECK: sizes = [1, 4, 16]
// CHECK-COUNT-2: sizes = [1, 2, 14, 16]
// CHECK: sizes = [1, 4, 16]
// CHECK: sizes = [1, 4, 16]
// CHECK-NEXT: {{\[\[\[0, +0, +0, +0, +0, +0, +0, +0, +0, +0, +0, +0, +0, +0, +0, +0\]}}
// CHECK-COUNT-3: {{^ +\[0, +0, +0, +0, +0, +0, +0, +0, +0, +0, +0, +0, +0, +0, +0, +0\]}}
// CHECK: rank = 0
// CHECK-NEXT: [0]
