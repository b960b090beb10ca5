// Malformed squant ops are parse errors with a location; squant-opt exits
// non-zero and does not crash.
// RUN: not squant-opt %s --split-input-file 2>&1 | FileCheck %s

func.func @missing_outs(%c: tensor<4x32xi4>, %l: tensor<4x16xf32>) {
  // CHECK: malformed.mlir:[[@LINE+1]]:{{[0-9]+}}: error: custom op 'squant.lut_dequant' expected 'outs'
  %0 = squant.lut_dequant ins(%c, %l : tensor<4x32xi4>, tensor<4x16xf32>) -> tensor<4x32xf32>
  return
}

// -----

func.func @missing_type(%c: tensor<4x32xi4>, %l: tensor<4x16xf32>, %i: tensor<4x32xf32>) {
  // CHECK: malformed.mlir:[[@LINE+1]]:{{[0-9]+}}: error: {{.*}}expected ':'
  %0 = squant.lut_dequant ins(%c, %l) outs(%i : tensor<4x32xf32>) -> tensor<4x32xf32>
  return
}

// -----

func.func @too_few_operands(%x: tensor<1x32xf32>, %i: tensor<1x4xf32>) {
  // CHECK: malformed.mlir:[[@LINE+1]]:{{[0-9]+}}: error: {{.*}}expected ','
  %0 = squant.lut_matmul ins(%x : tensor<1x32xf32>) outs(%i : tensor<1x4xf32>) -> tensor<1x4xf32>
  return
}

// -----

func.func @unknown_op(%x: tensor<1x32xf32>) {
  // CHECK: malformed.mlir:[[@LINE+1]]:{{[0-9]+}}: error: custom op 'squant.lut_conv' is unknown
  %0 = squant.lut_conv %x : tensor<1x32xf32>
  return
}

// -----

func.func @unknown_format(%s: tensor<4xf32>, %i: tensor<4x16xf32>) {
  // CHECK: malformed.mlir:[[@LINE+1]]:{{[0-9]+}}: error: {{.*}}expected string or keyword containing one of the following enum values for attribute 'format' [affine, nf4, fp4_e2m1, iq4_nl]
  %0 = squant.build_lut nf5 scale(%s : tensor<4xf32>) outs(%i : tensor<4x16xf32>) -> tensor<4x16xf32>
  return
}

// -----

func.func @generic_form_missing_attr(%p: tensor<4x4xi32>, %c: tensor<4x32xi4>) {
  // CHECK: malformed.mlir:[[@LINE+1]]:{{[0-9]+}}: error: 'squant.unpack' op requires attribute 'layout'
  %0 = "squant.unpack"(%p, %c) : (tensor<4x4xi32>, tensor<4x32xi4>) -> tensor<4x32xi4>
  return
}
