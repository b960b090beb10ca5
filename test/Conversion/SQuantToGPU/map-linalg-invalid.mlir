// RUN: squant-opt %s --split-input-file --squant-gpu-map-linalg -verify-diagnostics

// Before bufferization there is nothing to launch on.
func.func @tensors(%a: tensor<4xf32>, %b: tensor<4xf32>) -> tensor<4xf32> {
  // expected-error @+1 {{squant-gpu-map-linalg: expected linalg ops on buffers (run after bufferization)}}
  %r = linalg.add ins(%a, %a : tensor<4xf32>, tensor<4xf32>) outs(%b : tensor<4xf32>) -> tensor<4xf32>
  return %r : tensor<4xf32>
}

// -----

func.func @rank0(%a: memref<f32>) {
  %z = arith.constant 0.0 : f32
  // expected-error @+1 {{squant-gpu-map-linalg: rank-0 linalg ops are not mapped to the GPU}}
  linalg.fill ins(%z : f32) outs(%a : memref<f32>)
  return
}
