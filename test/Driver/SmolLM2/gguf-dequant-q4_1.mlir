// Q4_1 as a LUT specialization: the squant parameters the runtime derives
// from blk.0.attn_k.weight ([192, 576], per-32-group d and m) dequantized by
// compiled squant code (build_lut affine + unpack row_major + lut_dequant)
// equal gguf.quants.dequantize within 1e-6 of max|w|.
//
// REQUIRES: smollm2, py-gguf, py-numpy
// RUN: squant-run --gguf=%smollm2_gguf --export=blk.0.attn_k.weight --gguf-outputs=%t.params.safetensors > %t.txt
// RUN: squant-run %s --function=dequant --inputs=%t.params.safetensors --outputs=%t.w.safetensors
// RUN: %pymodels %utils/check_gguf.py %smollm2_gguf %t.txt --compiled %t.w.safetensors --tensor blk.0.attn_k.weight | FileCheck %s
// CHECK: OK blk.0.attn_k.weight: compiled squant dequantization within

func.func @dequant(%codes: tensor<192x72xi32> {squant.name = "blk.0.attn_k.weight.codes"},
                   %scale: tensor<192x18xf16> {squant.name = "blk.0.attn_k.weight.scale"},
                   %zero: tensor<192x18xf32> {squant.name = "blk.0.attn_k.weight.zero"})
    -> (tensor<192x576xf32> {squant.name = "w"}) {
  %t0 = tensor.empty() : tensor<192x18x16xf32>
  %lut = squant.build_lut affine scale(%scale : tensor<192x18xf16>) zero(%zero : tensor<192x18xf32>)
           outs(%t0 : tensor<192x18x16xf32>) -> tensor<192x18x16xf32>
  %c0 = tensor.empty() : tensor<192x576xi4>
  %c = squant.unpack row_major ins(%codes : tensor<192x72xi32>) outs(%c0 : tensor<192x576xi4>) -> tensor<192x576xi4>
  %w0 = tensor.empty() : tensor<192x576xf32>
  %w = squant.lut_dequant ins(%c, %lut : tensor<192x576xi4>, tensor<192x18x16xf32>)
         outs(%w0 : tensor<192x576xf32>) -> tensor<192x576xf32>
  return %w : tensor<192x576xf32>
}
