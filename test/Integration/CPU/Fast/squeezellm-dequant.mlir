// lut_dequant of the SqueezeLLM test vectors, straight from the packed
// qweight (the fast kernel reads the SqueezeLLM words in place): bit-exact
// against the reference packer's codes looked up by test/Utils/squant_ref.py.
// RUN: %python %utils/dequant_vector.py %inputs/squeezellm/sqllm_w3_n64_k128_m1.safetensors %t.w3.expected.safetensors
// RUN: %python %utils/dequant_vector.py %inputs/squeezellm/sqllm_w4_n64_k128_m3.safetensors %t.w4.expected.safetensors
// RUN: squant-run %s --function=w3 --inputs=%inputs/squeezellm/sqllm_w3_n64_k128_m1.safetensors --outputs=%t.w3.safetensors --pipeline-options=threads=2
// RUN: %python %utils/compare.py %t.w3.safetensors %t.w3.expected.safetensors --exact w | FileCheck %s
// RUN: squant-run %s --function=w4 --inputs=%inputs/squeezellm/sqllm_w4_n64_k128_m3.safetensors --outputs=%t.w4.safetensors --pipeline-options=threads=1
// RUN: %python %utils/compare.py %t.w4.safetensors %t.w4.expected.safetensors --exact w | FileCheck %s
// CHECK: OK w: 8192 elements bit-exact

func.func @w3(%q: tensor<12x64xi32> {squant.name = "layer.qweight"},
              %lut: tensor<64x8xf32> {squant.name = "layer.lookup_table"})
    -> (tensor<64x128xf32> {squant.name = "w"}) {
  %e = tensor.empty() : tensor<64x128xi3>
  %c = squant.unpack squeezellm ins(%q : tensor<12x64xi32>) outs(%e : tensor<64x128xi3>) -> tensor<64x128xi3>
  %we = tensor.empty() : tensor<64x128xf32>
  %w = squant.lut_dequant ins(%c, %lut : tensor<64x128xi3>, tensor<64x8xf32>) outs(%we : tensor<64x128xf32>) -> tensor<64x128xf32>
  return %w : tensor<64x128xf32>
}

func.func @w4(%q: tensor<16x64xi32> {squant.name = "layer.qweight"},
              %lut: tensor<64x16xf32> {squant.name = "layer.lookup_table"})
    -> (tensor<64x128xf32> {squant.name = "w"}) {
  %e = tensor.empty() : tensor<64x128xi4>
  %c = squant.unpack squeezellm ins(%q : tensor<16x64xi32>) outs(%e : tensor<64x128xi4>) -> tensor<64x128xi4>
  %we = tensor.empty() : tensor<64x128xf32>
  %w = squant.lut_dequant ins(%c, %lut : tensor<64x128xi4>, tensor<64x16xf32>) outs(%we : tensor<64x128xf32>) -> tensor<64x128xf32>
  return %w : tensor<64x128xf32>
}
