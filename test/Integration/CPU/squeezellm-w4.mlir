// The SqueezeLLM test vector sqllm_w4_n64_k128_m3: qweight packed by the
// reference packer (QuantLinearLUT.pack2), expected outputs computed in float64.
// Unpack must equal `codes` bit-exactly; y_dense and y_dense_sparse must be
// within 1e-5 normwise relative error.
//
// RUN: squant-run %s --function=linear --inputs=%inputs/squeezellm/sqllm_w4_n64_k128_m3.safetensors --outputs=%t.out.safetensors
// RUN: %python %utils/compare.py %t.out.safetensors %inputs/squeezellm/sqllm_w4_n64_k128_m3.safetensors --exact codes --close y_dense=1e-5,y_dense_sparse=1e-5 | FileCheck %s
// CHECK: OK codes: 8192 elements bit-exact
// CHECK: OK y_dense: relative error
// CHECK: OK y_dense_sparse: relative error

#CSR = #sparse_tensor.encoding<{map = (d0, d1) -> (d0 : dense, d1 : compressed), posWidth = 32, crdWidth = 32}>

func.func @linear(%x: tensor<3x128xf32> {squant.name = "x"},
                  %qweight: tensor<16x64xi32> {squant.name = "layer.qweight"},
                  %lut: tensor<64x16xf32> {squant.name = "layer.lookup_table"},
                  %rows: tensor<65xi32> {squant.name = "layer.rows"},
                  %cols: tensor<?xi32> {squant.name = "layer.cols"},
                  %vals: tensor<?xf32> {squant.name = "layer.vals"})
    -> (tensor<64x128xi4> {squant.name = "codes"},
        tensor<3x64xf32> {squant.name = "y_dense"},
        tensor<3x64xf32> {squant.name = "y_dense_sparse"}) {
  %e = tensor.empty() : tensor<64x128xi4>
  %codes = squant.unpack squeezellm ins(%qweight : tensor<16x64xi32>)
             outs(%e : tensor<64x128xi4>) -> tensor<64x128xi4>
  %i0 = tensor.empty() : tensor<3x64xf32>
  %yd = squant.lut_matmul ins(%x, %codes, %lut : tensor<3x128xf32>, tensor<64x128xi4>, tensor<64x16xf32>)
          outs(%i0 : tensor<3x64xf32>) -> tensor<3x64xf32>
  %S = sparse_tensor.assemble (%rows, %cols), %vals
         : (tensor<65xi32>, tensor<?xi32>), tensor<?xf32> to tensor<64x128xf32, #CSR>
  %i1 = tensor.empty() : tensor<3x64xf32>
  %ys = squant.lut_matmul ins(%x, %codes, %lut : tensor<3x128xf32>, tensor<64x128xi4>, tensor<64x16xf32>)
          outliers(%S : tensor<64x128xf32, #CSR>)
          outs(%i1 : tensor<3x64xf32>) -> tensor<3x64xf32>
  return %codes, %yd, %ys : tensor<64x128xi4>, tensor<3x64xf32>, tensor<3x64xf32>
}
