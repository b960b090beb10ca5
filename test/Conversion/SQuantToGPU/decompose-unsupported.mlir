// convert-squant-to-gpu{decompose-unsupported}: an op without a fused kernel
// (here dynamic N) takes its reference decomposition (linalg), which
// squant-gpu-map-linalg maps later; ops with a kernel still get it.
// RUN: squant-opt %s --convert-squant-to-gpu="decompose-unsupported=true" | FileCheck %s
// Without the option the same input is an error (invalid.mlir).
// RUN: not squant-opt %s --convert-squant-to-gpu 2>&1 | FileCheck %s --check-prefix=ERR
// ERR: error: 'squant.lut_matmul' op cannot be lowered to GPU kernels: the GPU kernels need static N and K (codes shape)

// CHECK-LABEL: func.func @mixed(
// CHECK-NOT: squant.
// CHECK: linalg.generic
// CHECK: gpu.launch_func @squant_kernels::@lut_matmul
// CHECK-NOT: squant.lut_matmul
func.func @mixed(%x: tensor<1x64xf32>, %c: tensor<?x64xi4>, %l: tensor<?x16xf32>, %y: tensor<1x?xf32>,
                 %c8: tensor<8x64xi4>, %l8: tensor<8x16xf32>, %y8: tensor<1x8xf32>) -> (tensor<1x?xf32>, tensor<1x8xf32>) {
  %r = squant.lut_matmul ins(%x, %c, %l : tensor<1x64xf32>, tensor<?x64xi4>, tensor<?x16xf32>) outs(%y : tensor<1x?xf32>) -> tensor<1x?xf32>
  %s = squant.lut_matmul ins(%x, %c8, %l8 : tensor<1x64xf32>, tensor<8x64xi4>, tensor<8x16xf32>) outs(%y8 : tensor<1x8xf32>) -> tensor<1x8xf32>
  return %r, %s : tensor<1x?xf32>, tensor<1x8xf32>
}
