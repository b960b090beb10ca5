// squant-cpu-pipeline takes func + squant ops on tensors all the way to the
// LLVM dialect, the sparse outliers included.
// RUN: squant-opt %s --squant-cpu-pipeline | FileCheck %s
// RUN: squant-opt %s --pass-pipeline="builtin.module(squant-cpu-pipeline{kernels=reference})" | FileCheck %s
// RUN: not squant-opt %s --pass-pipeline="builtin.module(squant-cpu-pipeline{kernels=fastest})" 2>&1 | FileCheck %s --check-prefix=BADOPT
// BADOPT: for the --kernels option: Cannot find option named 'fastest'!

// CHECK-LABEL: llvm.func @linear
// CHECK-NOT: squant.
// CHECK-NOT: linalg.
// CHECK-NOT: sparse_tensor.
// CHECK-NOT: tensor.
// CHECK-NOT: memref.
// CHECK: llvm.call @malloc
// The f32 accumulator of an f16 result is a temporary, and it is freed.
// CHECK: llvm.call @free
// CHECK: llvm.return
#CSR = #sparse_tensor.encoding<{map = (d0, d1) -> (d0 : dense, d1 : compressed), posWidth = 32, crdWidth = 32}>
func.func @linear(%x: tensor<1x64xf32>, %q: tensor<8x8xi32>, %lut: tensor<8x16xf32>,
                  %rows: tensor<9xi32>, %cols: tensor<?xi32>, %vals: tensor<?xf32>) -> tensor<1x8xf16> {
  %e = tensor.empty() : tensor<8x64xi4>
  %c = squant.unpack squeezellm ins(%q : tensor<8x8xi32>) outs(%e : tensor<8x64xi4>) -> tensor<8x64xi4>
  %S = sparse_tensor.assemble (%rows, %cols), %vals : (tensor<9xi32>, tensor<?xi32>), tensor<?xf32> to tensor<8x64xf32, #CSR>
  %i = tensor.empty() : tensor<1x8xf16>
  %y = squant.lut_matmul ins(%x, %c, %lut : tensor<1x64xf32>, tensor<8x64xi4>, tensor<8x16xf32>)
         outliers(%S : tensor<8x64xf32, #CSR>) outs(%i : tensor<1x8xf16>) -> tensor<1x8xf16>
  return %y : tensor<1x8xf16>
}
