// A SqueezeLLM-quantized linear layer: 4-bit codes packed in SqueezeLLM's
// qweight layout, one 16-entry codebook per output channel, and 1% of the
// weights kept exactly as CSR outliers. y = x * (lut[codes] + S)^T for a
// batch of three activation rows.
//
// The weights in layer.safetensors were packed by the SqueezeLLM reference
// packer (they are the test vector sqllm_w4_n64_k128_m3).
//
//   build/bin/squant-run examples/squeezellm-linear/linear.mlir \
//     --function=linear --inputs=examples/squeezellm-linear/layer.safetensors --print

#CSR = #sparse_tensor.encoding<{map = (d0, d1) -> (d0 : dense, d1 : compressed),
                                posWidth = 32, crdWidth = 32}>

func.func @linear(%x: tensor<3x128xf32> {squant.name = "x"},
                  %qweight: tensor<16x64xi32> {squant.name = "layer.qweight"},
                  %lut: tensor<64x16xf32> {squant.name = "layer.lookup_table"},
                  %rows: tensor<65xi32> {squant.name = "layer.rows"},
                  %cols: tensor<?xi32> {squant.name = "layer.cols"},
                  %vals: tensor<?xf32> {squant.name = "layer.vals"})
    -> (tensor<3x64xf32> {squant.name = "y"}) {
  // Codes [N = 64, K = 128] from the packed words.
  %e = tensor.empty() : tensor<64x128xi4>
  %codes = squant.unpack squeezellm ins(%qweight : tensor<16x64xi32>)
             outs(%e : tensor<64x128xi4>) -> tensor<64x128xi4>
  // The outliers as an upstream sparse tensor.
  %S = sparse_tensor.assemble (%rows, %cols), %vals
         : (tensor<65xi32>, tensor<?xi32>), tensor<?xf32> to tensor<64x128xf32, #CSR>
  %init = tensor.empty() : tensor<3x64xf32>
  %y = squant.lut_matmul ins(%x, %codes, %lut : tensor<3x128xf32>, tensor<64x128xi4>, tensor<64x16xf32>)
         outliers(%S : tensor<64x128xf32, #CSR>)
         outs(%init : tensor<3x64xf32>) -> tensor<3x64xf32>
  return %y : tensor<3x64xf32>
}
