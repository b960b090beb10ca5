// Q8_0 as a LUT specialization: codes q + 128 (8-bit, row_major), tables
// d * (c - 128) per 32-group from squant.build_lut affine with zero 128;
// token_embd.weight [49152, 576] dequantized by compiled squant code equals
// gguf.quants.dequantize within 1e-6 of max|w|.
//
// REQUIRES: smollm2, py-gguf, py-numpy
// RUN: squant-run --gguf=%smollm2_gguf --export=token_embd.weight --gguf-outputs=%t.params.safetensors > %t.txt
// RUN: squant-run %s --function=dequant --inputs=%t.params.safetensors --outputs=%t.w.safetensors
// RUN: %pymodels %utils/check_gguf.py %smollm2_gguf %t.txt --compiled %t.w.safetensors --tensor token_embd.weight | FileCheck %s
// CHECK: OK token_embd.weight: compiled squant dequantization within

func.func @dequant(%codes: tensor<49152x144xi32> {squant.name = "token_embd.weight.codes"},
                   %scale: tensor<49152x18xf16> {squant.name = "token_embd.weight.scale"})
    -> (tensor<49152x576xf32> {squant.name = "w"}) {
  %z0 = tensor.empty() : tensor<49152x18xf32>
  %c128 = arith.constant 128.0 : f32
  %zero = linalg.fill ins(%c128 : f32) outs(%z0 : tensor<49152x18xf32>) -> tensor<49152x18xf32>
  %t0 = tensor.empty() : tensor<49152x18x256xf32>
  %lut = squant.build_lut affine scale(%scale : tensor<49152x18xf16>) zero(%zero : tensor<49152x18xf32>)
           outs(%t0 : tensor<49152x18x256xf32>) -> tensor<49152x18x256xf32>
  %c0 = tensor.empty() : tensor<49152x576xi8>
  %c = squant.unpack row_major ins(%codes : tensor<49152x144xi32>) outs(%c0 : tensor<49152x576xi8>) -> tensor<49152x576xi8>
  %w0 = tensor.empty() : tensor<49152x576xf32>
  %w = squant.lut_dequant ins(%c, %lut : tensor<49152x576xi8>, tensor<49152x18x256xf32>)
         outs(%w0 : tensor<49152x576xf32>) -> tensor<49152x576xf32>
  return %w : tensor<49152x576xf32>
}
