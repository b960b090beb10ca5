// RUN: squant-opt %s --squant-cpu-pipeline="threads=1" | mlir-runner -e main -entry-point-result=void -shared-libs=%mlir_c_runner_utils,%mlir_runner_utils | FileCheck %s
// REQUIRES: mlir_c_runner_utils

// The worked examples of docs/kv-cache.md, computed by hand.

#kvq = #squant.kv_format<kvquant, bits = 3>
#kivi = #squant.kv_format<kivi, bits = 2, group = 4, residual = 4>

func.func private @printMemrefI32(memref<*xi32>)
func.func private @printMemrefF32(memref<*xf32>)

func.func @print_codes(%t: tensor<?x?x?x?xi8>) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c2 = arith.constant 2 : index
  %c3 = arith.constant 3 : index
  %d0 = tensor.dim %t, %c0 : tensor<?x?x?x?xi8>
  %d1 = tensor.dim %t, %c1 : tensor<?x?x?x?xi8>
  %d2 = tensor.dim %t, %c2 : tensor<?x?x?x?xi8>
  %d3 = tensor.dim %t, %c3 : tensor<?x?x?x?xi8>
  %e = tensor.empty(%d0, %d1, %d2, %d3) : tensor<?x?x?x?xi32>
  %w = linalg.generic {indexing_maps = [affine_map<(a, b, c, d) -> (a, b, c, d)>, affine_map<(a, b, c, d) -> (a, b, c, d)>],
                       iterator_types = ["parallel", "parallel", "parallel", "parallel"]}
      ins(%t : tensor<?x?x?x?xi8>) outs(%e : tensor<?x?x?x?xi32>) {
  ^bb0(%x: i8, %o: i32):
    %y = arith.extui %x : i8 to i32
    linalg.yield %y : i32
  } -> tensor<?x?x?x?xi32>
  %m = bufferization.to_buffer %w : tensor<?x?x?x?xi32> to memref<?x?x?x?xi32>
  %u = memref.cast %m : memref<?x?x?x?xi32> to memref<*xi32>
  call @printMemrefI32(%u) : (memref<*xi32>) -> ()
  return
}

func.func @print_f16(%t: tensor<?x?x?x?xf16>) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c2 = arith.constant 2 : index
  %c3 = arith.constant 3 : index
  %d0 = tensor.dim %t, %c0 : tensor<?x?x?x?xf16>
  %d1 = tensor.dim %t, %c1 : tensor<?x?x?x?xf16>
  %d2 = tensor.dim %t, %c2 : tensor<?x?x?x?xf16>
  %d3 = tensor.dim %t, %c3 : tensor<?x?x?x?xf16>
  %e = tensor.empty(%d0, %d1, %d2, %d3) : tensor<?x?x?x?xf32>
  %w = linalg.generic {indexing_maps = [affine_map<(a, b, c, d) -> (a, b, c, d)>, affine_map<(a, b, c, d) -> (a, b, c, d)>],
                       iterator_types = ["parallel", "parallel", "parallel", "parallel"]}
      ins(%t : tensor<?x?x?x?xf16>) outs(%e : tensor<?x?x?x?xf32>) {
  ^bb0(%x: f16, %o: f32):
    %y = arith.extf %x : f16 to f32
    linalg.yield %y : f32
  } -> tensor<?x?x?x?xf32>
  %m = bufferization.to_buffer %w : tensor<?x?x?x?xf32> to memref<?x?x?x?xf32>
  %u = memref.cast %m : memref<?x?x?x?xf32> to memref<*xf32>
  call @printMemrefF32(%u) : (memref<*xf32>) -> ()
  return
}

func.func @main() {
  %c0 = arith.constant 0 : index
  %zi8 = arith.constant 0 : i8
  %zf16 = arith.constant 0.0 : f16

  // Example 1 (kvquant, 3 bits, D = 8). Every key channel's table is
  // 0, 1, ..., 7, so key k = [1 2 3 4 5 6 7 0] gets the codes 1 2 3 4 5 6 7 0:
  // bits 001 010 011 100 101 110 111 000, little-endian in 24 bits:
  //   byte 0 = 1 | 2 << 3 | (3 & 3) << 6              = 209
  //   byte 1 = 3 >> 2 | 4 << 1 | 5 << 4 | (6 & 1) << 7 = 88
  //   byte 2 = 6 >> 1 | 7 << 2 | 0 << 5               = 31
  // Values v = [0.5 -1 0.25 1 0 -0.5 0.75 -0.25]: scale = max|v| = 1, the
  // table -1, -0.75, ..., 0.75 gives the codes 6 0 5 7 4 2 7 3 (1 -> 0.75):
  //   byte 0 = 6 | 0 << 3 | (5 & 3) << 6              = 70
  //   byte 1 = 5 >> 2 | 7 << 1 | 4 << 4 | (2 & 1) << 7 = 79
  //   byte 2 = 2 >> 1 | 7 << 2 | 3 << 5               = 125
  // CHECK: sizes = [1, 1, 2, 3]
  // CHECK-NEXT: {{\[\[\[\[}}209, 88, 31],
  // CHECK-NEXT: [0, 0, 0]]]]
  // CHECK: sizes = [1, 1, 2, 3]
  // CHECK-NEXT: {{\[\[\[\[}}70, 79, 125],
  // CHECK-NEXT: [0, 0, 0]]]]
  %klut0 = arith.constant dense<[0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0]> : tensor<8xf32>
  %klute = tensor.empty() : tensor<1x8x8xf32>
  %klut = linalg.generic {indexing_maps = [affine_map<(a, b, c) -> (c)>, affine_map<(a, b, c) -> (a, b, c)>],
                          iterator_types = ["parallel", "parallel", "parallel"]}
      ins(%klut0 : tensor<8xf32>) outs(%klute : tensor<1x8x8xf32>) {
  ^bb0(%x: f32, %o: f32):
    linalg.yield %x : f32
  } -> tensor<1x8x8xf32>
  %vlut = arith.constant dense<[-1.0, -0.75, -0.5, -0.25, 0.0, 0.25, 0.5, 0.75]> : tensor<8xf32>
  %k = arith.constant dense<[[[[1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 0.0]]]]> : tensor<1x1x1x8xf32>
  %v = arith.constant dense<[[[[0.5, -1.0, 0.25, 1.0, 0.0, -0.5, 0.75, -0.25]]]]> : tensor<1x1x1x8xf32>
  %ce = tensor.empty() : tensor<1x1x2x3xi8>
  %codes = linalg.fill ins(%zi8 : i8) outs(%ce : tensor<1x1x2x3xi8>) -> tensor<1x1x2x3xi8>
  %se = tensor.empty() : tensor<1x1x2xf16>
  %scale = linalg.fill ins(%zf16 : f16) outs(%se : tensor<1x1x2xf16>) -> tensor<1x1x2xf16>
  %a:3 = squant.kv_append #kvq keys(%k : tensor<1x1x1x8xf32>) values(%v : tensor<1x1x1x8xf32>) at(%c0)
      tables(%klut, %vlut : tensor<1x8x8xf32>, tensor<8xf32>)
      cache(%codes, %codes, %scale : tensor<1x1x2x3xi8>, tensor<1x1x2x3xi8>, tensor<1x1x2xf16>)
      -> tensor<1x1x2x3xi8>, tensor<1x1x2x3xi8>, tensor<1x1x2xf16>
  %kc = tensor.cast %a#0 : tensor<1x1x2x3xi8> to tensor<?x?x?x?xi8>
  %vc = tensor.cast %a#1 : tensor<1x1x2x3xi8> to tensor<?x?x?x?xi8>
  call @print_codes(%kc) : (tensor<?x?x?x?xi8>) -> ()
  call @print_codes(%vc) : (tensor<?x?x?x?xi8>) -> ()

  // Example 2 (kivi, 2 bits, G = R = 4, D = 8). Token t has keys t in every
  // channel and values [0 1 2 3 4 5 6 7]; 5 tokens are appended.
  // Appending token 3 completes a block: per channel the keys 0 1 2 3 give
  // s = (3 - 0) / 3 = 1, z = 0, codes 0 1 2 3, so token t's 8 codes are all t:
  // bytes t * (1 + 4 + 16 + 64) = 0, 85, 170, 255; token 4 stays in the
  // residual (its code bytes stay 0).
  // Appending token 4 evicts the value of token 0: channels 0..3 give s = 1,
  // z = 0; channels 4..7 s = 1, z = 4; codes 0 1 2 3 in both groups: bytes
  // 0 | 1 << 2 | 2 << 4 | 3 << 6 = 228.
  // CHECK: sizes = [1, 1, 6, 2]
  // CHECK-NEXT: {{\[\[\[\[}}0, 0],
  // CHECK-NEXT: [85, 85],
  // CHECK-NEXT: [170, 170],
  // CHECK-NEXT: [255, 255],
  // CHECK-NEXT: [0, 0],
  // CHECK-NEXT: [0, 0]]]]
  // CHECK: sizes = [1, 1, 6, 2]
  // CHECK-NEXT: {{\[\[\[\[}}228, 228],
  // CHECK-NEXT: [0, 0],
  // CHECK: sizes = [1, 1, 6, 2]
  // CHECK-NEXT: {{\[\[\[\[}}1, 1],
  // CHECK: sizes = [1, 1, 6, 2]
  // CHECK-NEXT: {{\[\[\[\[}}0, 4],
  %kk = arith.constant dense<[[[[0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0],
                                [1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0],
                                [2.0, 2.0, 2.0, 2.0, 2.0, 2.0, 2.0, 2.0],
                                [3.0, 3.0, 3.0, 3.0, 3.0, 3.0, 3.0, 3.0],
                                [4.0, 4.0, 4.0, 4.0, 4.0, 4.0, 4.0, 4.0]]]]> : tensor<1x1x5x8xf32>
  %vv = arith.constant dense<[[[[0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0],
                                [0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0],
                                [0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0],
                                [0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0],
                                [0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0]]]]> : tensor<1x1x5x8xf32>
  %ke = tensor.empty() : tensor<1x1x6x2xi8>
  %kcodes = linalg.fill ins(%zi8 : i8) outs(%ke : tensor<1x1x6x2xi8>) -> tensor<1x1x6x2xi8>
  %kse = tensor.empty() : tensor<1x1x1x8xf16>
  %ks = linalg.fill ins(%zf16 : f16) outs(%kse : tensor<1x1x1x8xf16>) -> tensor<1x1x1x8xf16>
  %vse = tensor.empty() : tensor<1x1x6x2xf16>
  %vs = linalg.fill ins(%zf16 : f16) outs(%vse : tensor<1x1x6x2xf16>) -> tensor<1x1x6x2xf16>
  %re = tensor.empty() : tensor<1x1x4x8xf16>
  %r = linalg.fill ins(%zf16 : f16) outs(%re : tensor<1x1x4x8xf16>) -> tensor<1x1x4x8xf16>
  %b:8 = squant.kv_append #kivi keys(%kk : tensor<1x1x5x8xf32>) values(%vv : tensor<1x1x5x8xf32>) at(%c0)
      cache(%kcodes, %kcodes, %ks, %ks, %vs, %vs, %r, %r
            : tensor<1x1x6x2xi8>, tensor<1x1x6x2xi8>, tensor<1x1x1x8xf16>, tensor<1x1x1x8xf16>,
              tensor<1x1x6x2xf16>, tensor<1x1x6x2xf16>, tensor<1x1x4x8xf16>, tensor<1x1x4x8xf16>)
      -> tensor<1x1x6x2xi8>, tensor<1x1x6x2xi8>, tensor<1x1x1x8xf16>, tensor<1x1x1x8xf16>,
         tensor<1x1x6x2xf16>, tensor<1x1x6x2xf16>, tensor<1x1x4x8xf16>, tensor<1x1x4x8xf16>
  %bk = tensor.cast %b#0 : tensor<1x1x6x2xi8> to tensor<?x?x?x?xi8>
  %bv = tensor.cast %b#1 : tensor<1x1x6x2xi8> to tensor<?x?x?x?xi8>
  %bs = tensor.cast %b#4 : tensor<1x1x6x2xf16> to tensor<?x?x?x?xf16>
  %bz = tensor.cast %b#5 : tensor<1x1x6x2xf16> to tensor<?x?x?x?xf16>
  call @print_codes(%bk) : (tensor<?x?x?x?xi8>) -> ()
  call @print_codes(%bv) : (tensor<?x?x?x?xi8>) -> ()
  call @print_f16(%bs) : (tensor<?x?x?x?xf16>) -> ()
  call @print_f16(%bz) : (tensor<?x?x?x?xf16>) -> ()
  return
}
