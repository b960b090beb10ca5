// RUN: squant-opt %s --squant-decompose --split-input-file | FileCheck %s

// Per-group tables: lut[n, k / G, code] with G = K / groups.
// CHECK-LABEL: func @dequant_grouped
// CHECK-SAME: (%[[C:.*]]: tensor<8x64xi4>, %[[L:.*]]: tensor<8x4x16xf32>, %[[I:.*]]: tensor<8x64xf16>)
// CHECK-DAG: %[[K:.*]] = arith.constant 64 : index
// CHECK-DAG: %[[GR:.*]] = arith.constant 4 : index
// CHECK: %[[G:.*]] = arith.divui %[[K]], %[[GR]] : index
// CHECK: linalg.generic {{.*}} iterator_types = ["parallel", "parallel"]} ins(%[[C]] : tensor<8x64xi4>) outs(%[[I]] : tensor<8x64xf16>)
// CHECK: ^bb0(%[[CODE:.*]]: i4, %{{.*}}: f16):
// CHECK:   %[[IDX:.*]] = arith.index_castui %[[CODE]] : i4 to index
// CHECK:   %[[N:.*]] = linalg.index 0
// CHECK:   %[[KK:.*]] = linalg.index 1
// CHECK:   %[[GI:.*]] = arith.divui %[[KK]], %[[G]]
// CHECK:   %[[V:.*]] = tensor.extract %[[L]][%[[N]], %[[GI]], %[[IDX]]] : tensor<8x4x16xf32>
// CHECK:   %[[T:.*]] = arith.truncf %[[V]] : f32 to f16
// CHECK:   linalg.yield %[[T]]
func.func @dequant_grouped(%c: tensor<8x64xi4>, %l: tensor<8x4x16xf32>, %i: tensor<8x64xf16>) -> tensor<8x64xf16> {
  %0 = squant.lut_dequant ins(%c, %l : tensor<8x64xi4>, tensor<8x4x16xf32>) outs(%i : tensor<8x64xf16>) -> tensor<8x64xf16>
  return %0 : tensor<8x64xf16>
}

// -----

// A global table is indexed by the code alone.
// CHECK-LABEL: func @dequant_global
// CHECK: ^bb0(%[[CODE:.*]]: i2, %{{.*}}: f32):
// CHECK:   %[[IDX:.*]] = arith.index_castui %[[CODE]] : i2 to index
// CHECK:   tensor.extract %{{.*}}[%[[IDX]]] : tensor<4xf32>
func.func @dequant_global(%c: tensor<8x64xi2>, %l: tensor<4xf32>, %i: tensor<8x64xf32>) -> tensor<8x64xf32> {
  %0 = squant.lut_dequant ins(%c, %l : tensor<8x64xi2>, tensor<4xf32>) outs(%i : tensor<8x64xf32>) -> tensor<8x64xf32>
  return %0 : tensor<8x64xf32>
}

// -----

// 3-bit codes may straddle two words: the next word is selected when the
// code's bits pass bit 31, and the two words are joined in 64 bits.
// CHECK-LABEL: func @unpack_3bit
// CHECK: linalg.generic {{.*}} outs(%{{.*}} : tensor<4x32xi3>)
// CHECK:   %[[N:.*]] = linalg.index 0
// CHECK:   %[[K:.*]] = linalg.index 1
// CHECK:   %[[POS:.*]] = arith.muli %[[K]], %c3
// CHECK:   %[[W:.*]] = arith.divui %[[POS]], %c32
// CHECK:   %[[SH:.*]] = arith.remui %[[POS]], %c32
// CHECK:   %[[LO:.*]] = tensor.extract %{{.*}}[%[[W]], %[[N]]] : tensor<3x4xi32>
// CHECK:   arith.cmpi ugt
// CHECK:   %[[W1:.*]] = arith.select
// CHECK:   tensor.extract %{{.*}}[%[[W1]], %[[N]]] : tensor<3x4xi32>
// CHECK:   arith.shli {{.*}}, %c32_i64
// CHECK:   arith.ori
// CHECK:   arith.shrui
// CHECK:   arith.trunci {{.*}} : i64 to i3
func.func @unpack_3bit(%p: tensor<3x4xi32>, %i: tensor<4x32xi3>) -> tensor<4x32xi3> {
  %0 = squant.unpack squeezellm ins(%p : tensor<3x4xi32>) outs(%i : tensor<4x32xi3>) -> tensor<4x32xi3>
  return %0 : tensor<4x32xi3>
}

// -----

// 4-bit codes never straddle; row_major indexes words as [n, w].
// CHECK-LABEL: func @unpack_4bit_row_major
// CHECK:   %[[N:.*]] = linalg.index 0
// CHECK:   %[[W:.*]] = arith.divui
// CHECK:   tensor.extract %{{.*}}[%[[N]], %[[W]]] : tensor<4x4xi32>
// CHECK-NOT: arith.select
// CHECK:   arith.trunci {{.*}} : i64 to i4
func.func @unpack_4bit_row_major(%p: tensor<4x4xi32>, %i: tensor<4x32xi4>) -> tensor<4x32xi4> {
  %0 = squant.unpack row_major ins(%p : tensor<4x4xi32>) outs(%i : tensor<4x32xi4>) -> tensor<4x32xi4>
  return %0 : tensor<4x32xi4>
}

// -----

// Packing ORs the (at most floor(31/B) + 2) codes that overlap each word.
// CHECK-LABEL: func @pack_3bit
// CHECK: linalg.generic {{.*}} outs(%{{.*}} : tensor<3x4xi32>)
// CHECK-COUNT-12: tensor.extract %{{.*}} : tensor<4x32xi3>
// CHECK-NOT: tensor.extract
// CHECK: arith.trunci {{.*}} : i64 to i32
func.func @pack_3bit(%c: tensor<4x32xi3>, %i: tensor<3x4xi32>) -> tensor<3x4xi32> {
  %0 = squant.pack squeezellm ins(%c : tensor<4x32xi3>) outs(%i : tensor<3x4xi32>) -> tensor<3x4xi32>
  return %0 : tensor<3x4xi32>
}

// -----

// lut[n, g, q] = scale[n, g] * (q - zero[n, g]).
// CHECK-DAG: #[[LEAD:.*]] = affine_map<(d0, d1, d2) -> (d0, d1)>
// CHECK-DAG: #[[ID:.*]] = affine_map<(d0, d1, d2) -> (d0, d1, d2)>
// CHECK-LABEL: func @build_affine
// CHECK: linalg.generic {indexing_maps = [#[[LEAD]], #[[LEAD]], #[[ID]]]
// CHECK: ^bb0(%[[S:.*]]: f32, %[[Z:.*]]: i32, %{{.*}}: f32):
// CHECK:   %[[Q:.*]] = linalg.index 2
// CHECK:   %[[QI:.*]] = arith.index_castui %[[Q]] : index to i32
// CHECK:   %[[QF:.*]] = arith.uitofp %[[QI]] : i32 to f32
// CHECK:   %[[ZF:.*]] = arith.sitofp %[[Z]] : i32 to f32
// CHECK:   %[[D:.*]] = arith.subf %[[QF]], %[[ZF]]
// CHECK:   %[[E:.*]] = arith.mulf %[[S]], %[[D]]
// CHECK:   linalg.yield %[[E]]
func.func @build_affine(%s: tensor<8x2xf32>, %z: tensor<8x2xi32>, %i: tensor<8x2x16xf32>) -> tensor<8x2x16xf32> {
  %0 = squant.build_lut affine scale(%s : tensor<8x2xf32>) zero(%z : tensor<8x2xi32>) outs(%i : tensor<8x2x16xf32>) -> tensor<8x2x16xf32>
  return %0 : tensor<8x2x16xf32>
}

// -----

// Fixed codebooks select among their 16 levels (a rank-0 scale gives one
// global table).
// CHECK-DAG: #[[S0:.*]] = affine_map<(d0) -> ()>
// CHECK-DAG: #[[ID1:.*]] = affine_map<(d0) -> (d0)>
// CHECK-LABEL: func @build_nf4_global
// CHECK: linalg.generic {indexing_maps = [#[[S0]], #[[ID1]]]
// CHECK: arith.constant -1.000000e+00 : f32
// CHECK-COUNT-15: arith.select
// CHECK: arith.mulf
func.func @build_nf4_global(%s: tensor<f32>, %i: tensor<16xf32>) -> tensor<16xf32> {
  %0 = squant.build_lut nf4 scale(%s : tensor<f32>) outs(%i : tensor<16xf32>) -> tensor<16xf32>
  return %0 : tensor<16xf32>
}

// -----

// lut_matmul: W materialized in f32, acc = 0, acc += x * W^T, acc += x * S^T
// over the sparse operand, then conversion to the result type.
// CHECK-DAG: #[[MK:.*]] = affine_map<(d0, d1, d2) -> (d0, d2)>
// CHECK-DAG: #[[NK:.*]] = affine_map<(d0, d1, d2) -> (d1, d2)>
// CHECK-DAG: #[[MN:.*]] = affine_map<(d0, d1, d2) -> (d0, d1)>
// CHECK-LABEL: func @matmul_outliers_f16
// CHECK-SAME: (%[[X:.*]]: tensor<3x64xf16>, %[[C:.*]]: tensor<8x64xi3>, %[[L:.*]]: tensor<8x8xf32>, %[[S:.*]]: tensor<8x64xf32, #sparse>, %[[I:.*]]: tensor<3x8xf16>)
// CHECK: %[[WE:.*]] = tensor.empty() : tensor<8x64xf32>
// CHECK: %[[W:.*]] = linalg.generic {{.*}} ins(%[[C]] : tensor<8x64xi3>) outs(%[[WE]] : tensor<8x64xf32>)
// CHECK: %[[AE:.*]] = tensor.empty() : tensor<3x8xf32>
// CHECK: %[[Z:.*]] = linalg.fill ins(%{{.*}} : f32) outs(%[[AE]] : tensor<3x8xf32>)
// CHECK: %[[A1:.*]] = linalg.generic {indexing_maps = [#[[MK]], #[[NK]], #[[MN]]], iterator_types = ["parallel", "parallel", "reduction"]} ins(%[[X]], %[[W]] : tensor<3x64xf16>, tensor<8x64xf32>) outs(%[[Z]] : tensor<3x8xf32>)
// CHECK:   arith.extf {{.*}} : f16 to f32
// CHECK:   arith.mulf
// CHECK:   arith.addf
// CHECK: %[[A2:.*]] = linalg.generic {indexing_maps = [#[[MK]], #[[NK]], #[[MN]]], {{.*}} ins(%[[X]], %[[S]] : tensor<3x64xf16>, tensor<8x64xf32, #sparse>) outs(%[[A1]] : tensor<3x8xf32>)
// CHECK: %[[R:.*]] = linalg.generic {{.*}} ins(%[[A2]] : tensor<3x8xf32>) outs(%[[I]] : tensor<3x8xf16>)
// CHECK:   arith.truncf {{.*}} : f32 to f16
// CHECK: return %[[R]]
#CSR = #sparse_tensor.encoding<{map = (d0, d1) -> (d0 : dense, d1 : compressed)}>
func.func @matmul_outliers_f16(%x: tensor<3x64xf16>, %c: tensor<8x64xi3>, %l: tensor<8x8xf32>,
                               %s: tensor<8x64xf32, #CSR>, %i: tensor<3x8xf16>) -> tensor<3x8xf16> {
  %0 = squant.lut_matmul ins(%x, %c, %l : tensor<3x64xf16>, tensor<8x64xi3>, tensor<8x8xf32>)
         outliers(%s : tensor<8x64xf32, #CSR>) outs(%i : tensor<3x8xf16>) -> tensor<3x8xf16>
  return %0 : tensor<3x8xf16>
}

// -----

// Dynamic M: the accumulator takes its size from x.
// CHECK-LABEL: func @matmul_dynamic_m
// CHECK-SAME: (%[[X:.*]]: tensor<?x64xf32>
// CHECK: linalg.fill {{.*}} outs(%{{.*}} : tensor<?x8xf32>)
func.func @matmul_dynamic_m(%x: tensor<?x64xf32>, %c: tensor<8x64xi4>, %l: tensor<8x16xf32>, %i: tensor<?x8xf32>) -> tensor<?x8xf32> {
  %0 = squant.lut_matmul ins(%x, %c, %l : tensor<?x64xf32>, tensor<8x64xi4>, tensor<8x16xf32>) outs(%i : tensor<?x8xf32>) -> tensor<?x8xf32>
  return %0 : tensor<?x8xf32>
}

// -----

// The memref form writes its outs buffer; temporaries are freed.
// CHECK-LABEL: func @matmul_memref
// CHECK-SAME: (%[[X:.*]]: memref<1x64xf32>, %[[C:.*]]: memref<8x64xi4>, %[[L:.*]]: memref<8x16xf32>, %[[Y:.*]]: memref<1x8xf32>)
// CHECK: %[[W:.*]] = memref.alloc() : memref<8x64xf32>
// CHECK: linalg.generic {{.*}} ins(%[[C]] : memref<8x64xi4>) outs(%[[W]] : memref<8x64xf32>)
// CHECK:   memref.load %[[L]]
// CHECK: linalg.fill {{.*}} outs(%[[Y]] : memref<1x8xf32>)
// CHECK: linalg.generic {{.*}} ins(%[[X]], %[[W]] : memref<1x64xf32>, memref<8x64xf32>) outs(%[[Y]] : memref<1x8xf32>)
// CHECK: memref.dealloc %[[W]]
// CHECK-NOT: squant.
func.func @matmul_memref(%x: memref<1x64xf32>, %c: memref<8x64xi4>, %l: memref<8x16xf32>, %y: memref<1x8xf32>) {
  squant.lut_matmul ins(%x, %c, %l : memref<1x64xf32>, memref<8x64xi4>, memref<8x16xf32>) outs(%y : memref<1x8xf32>)
  return
}
