// RUN: squant-opt %s --one-shot-bufferize="bufferize-function-boundaries function-boundary-type-conversion=identity-layout-map" --split-input-file -verify-diagnostics | FileCheck %s

// Destination-style ops bufferize in place into their outs buffer: the
// memref forms have no results and the chain needs no copies.
// CHECK-LABEL: func @chain
// CHECK-SAME: (%[[X:.*]]: memref<1x64xf32>, %[[P:.*]]: memref<8x8xi32>, %[[L:.*]]: memref<8x16xf32>) -> memref<1x8xf32>
// CHECK: %[[C:.*]] = memref.alloc() {{.*}} : memref<8x64xi4>
// CHECK: squant.unpack squeezellm ins(%[[P]] : memref<8x8xi32>) outs(%[[C]] : memref<8x64xi4>)
// CHECK: %[[Y:.*]] = memref.alloc() {{.*}} : memref<1x8xf32>
// CHECK: squant.lut_matmul ins(%[[X]], %[[C]], %[[L]] : memref<1x64xf32>, memref<8x64xi4>, memref<8x16xf32>) outs(%[[Y]] : memref<1x8xf32>)
// CHECK-NOT: memref.copy
// CHECK: return %[[Y]]
func.func @chain(%x: tensor<1x64xf32>, %p: tensor<8x8xi32>, %l: tensor<8x16xf32>) -> tensor<1x8xf32> {
  %e = tensor.empty() : tensor<8x64xi4>
  %c = squant.unpack squeezellm ins(%p : tensor<8x8xi32>) outs(%e : tensor<8x64xi4>) -> tensor<8x64xi4>
  %i = tensor.empty() : tensor<1x8xf32>
  %y = squant.lut_matmul ins(%x, %c, %l : tensor<1x64xf32>, tensor<8x64xi4>, tensor<8x16xf32>) outs(%i : tensor<1x8xf32>) -> tensor<1x8xf32>
  return %y : tensor<1x8xf32>
}

// -----

// Writing into a function argument that is read again afterwards forces a
// copy (the op's init is a real read-after-write conflict).
// CHECK-LABEL: func @conflict
// CHECK-SAME: (%[[S:.*]]: memref<8xf32>, %[[T:.*]]: memref<8x16xf32>)
// CHECK: %[[A:.*]] = memref.alloc() {{.*}} : memref<8x16xf32>
// CHECK: memref.copy %[[T]], %[[A]]
// CHECK: squant.build_lut nf4 scale(%[[S]] : memref<8xf32>) outs(%[[A]] : memref<8x16xf32>)
func.func @conflict(%s: tensor<8xf32>, %t: tensor<8x16xf32>) -> (tensor<8x16xf32>, tensor<8x16xf32>) {
  %0 = squant.build_lut nf4 scale(%s : tensor<8xf32>) outs(%t : tensor<8x16xf32>) -> tensor<8x16xf32>
  return %0, %t : tensor<8x16xf32>, tensor<8x16xf32>
}

// -----

#CSR = #sparse_tensor.encoding<{map = (d0, d1) -> (d0 : dense, d1 : compressed)}>
func.func @outliers(%x: tensor<1x64xf32>, %c: tensor<8x64xi4>, %l: tensor<8x16xf32>,
                    %s: tensor<8x64xf32, #CSR>, %i: tensor<1x8xf32>) -> tensor<1x8xf32> {
  // expected-error @+2 {{cannot bufferize sparse outliers: lower the op first}}
  // expected-error @+1 {{failed to bufferize op}}
  %y = squant.lut_matmul ins(%x, %c, %l : tensor<1x64xf32>, tensor<8x64xi4>, tensor<8x16xf32>)
         outliers(%s : tensor<8x64xf32, #CSR>) outs(%i : tensor<1x8xf32>) -> tensor<1x8xf32>
  return %y : tensor<1x8xf32>
}
