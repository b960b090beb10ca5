// The worked examples of the SqueezeLLM bit layout (test vectors README),
// executed with mlir-runner: codes k mod 16 pack to 0x76543210, 0xFEDCBA98
// (4-bit), and codes k mod 8 pack to w0 = 0x88FAC688, w1 = 0xC688FAC6,
// w2 = 0xFAC688FA (3-bit). Unpack must give the codes back; pack must give
// the words back. The expected values below are the README's, not ours.
//
// REQUIRES: mlir_c_runner_utils
// RUN: squant-opt %s --squant-cpu-pipeline | mlir-runner -e main -entry-point-result=void -shared-libs=%mlir_c_runner_utils,%mlir_runner_utils | FileCheck %s

func.func private @printMemrefI32(tensor<*xi32>) attributes {llvm.emit_c_interface}

func.func @main() {
  // Two channels (N = 2), K = 16 codes of 4 bits: words [2, 2].
  %w4 = arith.constant dense<[[1985229328, 1985229328], [-19088744, -19088744]]> : tensor<2x2xi32>
  %e4 = tensor.empty() : tensor<2x16xi4>
  %c4 = squant.unpack squeezellm ins(%w4 : tensor<2x2xi32>) outs(%e4 : tensor<2x16xi4>) -> tensor<2x16xi4>
  %c4w = arith.extui %c4 : tensor<2x16xi4> to tensor<2x16xi32>
  %c4u = tensor.cast %c4w : tensor<2x16xi32> to tensor<*xi32>
  // CHECK: [0,   1,   2,   3,   4,   5,   6,   7,   8,   9,   10,   11,   12,   13,   14,   15]
  // CHECK: [0,   1,   2,   3,   4,   5,   6,   7,   8,   9,   10,   11,   12,   13,   14,   15]
  call @printMemrefI32(%c4u) : (tensor<*xi32>) -> ()

  // One channel, K = 32 codes of 3 bits: words [3, 1].
  %w3 = arith.constant dense<[[-1996831096], [-964101434], [-87652102]]> : tensor<3x1xi32>
  %e3 = tensor.empty() : tensor<1x32xi3>
  %c3 = squant.unpack squeezellm ins(%w3 : tensor<3x1xi32>) outs(%e3 : tensor<1x32xi3>) -> tensor<1x32xi3>
  %c3w = arith.extui %c3 : tensor<1x32xi3> to tensor<1x32xi32>
  %c3u = tensor.cast %c3w : tensor<1x32xi32> to tensor<*xi32>
  // CHECK: [0,   1,   2,   3,   4,   5,   6,   7,   0,   1,   2,   3,   4,   5,   6,   7,   0,   1,   2,   3,   4,   5,   6,   7,   0,   1,   2,   3,   4,   5,   6,   7]
  call @printMemrefI32(%c3u) : (tensor<*xi32>) -> ()

  // Packing the codes again gives the words back.
  %p3e = tensor.empty() : tensor<3x1xi32>
  %p3 = squant.pack squeezellm ins(%c3 : tensor<1x32xi3>) outs(%p3e : tensor<3x1xi32>) -> tensor<3x1xi32>
  %p3u = tensor.cast %p3 : tensor<3x1xi32> to tensor<*xi32>
  // CHECK: [-1996831096]
  // CHECK: [-964101434]
  // CHECK: [-87652102]
  call @printMemrefI32(%p3u) : (tensor<*xi32>) -> ()
  return
}
