// RUN: squant-opt %s | squant-opt | FileCheck %s
// RUN: squant-opt %s --mlir-print-op-generic | squant-opt | FileCheck %s

#CSR = #sparse_tensor.encoding<{map = (d0, d1) -> (d0 : dense, d1 : compressed), posWidth = 32, crdWidth = 32}>

// CHECK-LABEL: func @dequant_per_channel
func.func @dequant_per_channel(%codes: tensor<64x128xi4>, %lut: tensor<64x16xf32>,
                               %init: tensor<64x128xf16>) -> tensor<64x128xf16> {
  // CHECK: squant.lut_dequant ins(%{{.*}}, %{{.*}} : tensor<64x128xi4>, tensor<64x16xf32>) outs(%{{.*}} : tensor<64x128xf16>) -> tensor<64x128xf16>
  %w = squant.lut_dequant ins(%codes, %lut : tensor<64x128xi4>, tensor<64x16xf32>)
         outs(%init : tensor<64x128xf16>) -> tensor<64x128xf16>
  return %w : tensor<64x128xf16>
}

// CHECK-LABEL: func @dequant_global_and_grouped
func.func @dequant_global_and_grouped(%codes: tensor<8x64xi2>, %g: tensor<4xbf16>,
                                      %lut: tensor<8x2x4xf32>, %init: tensor<8x64xf32>)
    -> (tensor<8x64xf32>, tensor<8x64xf32>) {
  // CHECK: squant.lut_dequant ins(%{{.*}}, %{{.*}} : tensor<8x64xi2>, tensor<4xbf16>)
  %a = squant.lut_dequant ins(%codes, %g : tensor<8x64xi2>, tensor<4xbf16>)
         outs(%init : tensor<8x64xf32>) -> tensor<8x64xf32>
  // CHECK: squant.lut_dequant ins(%{{.*}}, %{{.*}} : tensor<8x64xi2>, tensor<8x2x4xf32>)
  %b = squant.lut_dequant ins(%codes, %lut : tensor<8x64xi2>, tensor<8x2x4xf32>)
         outs(%init : tensor<8x64xf32>) -> tensor<8x64xf32>
  return %a, %b : tensor<8x64xf32>, tensor<8x64xf32>
}

// CHECK-LABEL: func @dequant_dynamic
func.func @dequant_dynamic(%codes: tensor<?x?xi8>, %lut: tensor<?x256xf32>,
                           %init: tensor<?x?xf32>) -> tensor<?x?xf32> {
  // CHECK: squant.lut_dequant {{.*}} -> tensor<?x?xf32>
  %w = squant.lut_dequant ins(%codes, %lut : tensor<?x?xi8>, tensor<?x256xf32>)
         outs(%init : tensor<?x?xf32>) -> tensor<?x?xf32>
  return %w : tensor<?x?xf32>
}

// CHECK-LABEL: func @matmul
func.func @matmul(%x: tensor<3x128xf32>, %codes: tensor<64x128xi3>, %lut: tensor<64x8xf32>,
                  %S: tensor<64x128xf32, #CSR>, %init: tensor<3x64xf32>)
    -> (tensor<3x64xf32>, tensor<3x64xf32>) {
  // CHECK: squant.lut_matmul ins(%{{.*}}, %{{.*}}, %{{.*}} : tensor<3x128xf32>, tensor<64x128xi3>, tensor<64x8xf32>) outs(%{{.*}} : tensor<3x64xf32>) -> tensor<3x64xf32>
  %y = squant.lut_matmul ins(%x, %codes, %lut : tensor<3x128xf32>, tensor<64x128xi3>, tensor<64x8xf32>)
         outs(%init : tensor<3x64xf32>) -> tensor<3x64xf32>
  // CHECK: squant.lut_matmul ins({{.*}}) outliers(%{{.*}} : tensor<64x128xf32, #sparse{{[0-9]*}}>) outs(%{{.*}} : tensor<3x64xf32>)
  %z = squant.lut_matmul ins(%x, %codes, %lut : tensor<3x128xf32>, tensor<64x128xi3>, tensor<64x8xf32>)
         outliers(%S : tensor<64x128xf32, #CSR>)
         outs(%init : tensor<3x64xf32>) -> tensor<3x64xf32>
  return %y, %z : tensor<3x64xf32>, tensor<3x64xf32>
}

// CHECK-LABEL: func @matmul_f16_grouped
func.func @matmul_f16_grouped(%x: tensor<?x4096xf16>, %codes: tensor<4096x4096xi4>,
                              %lut: tensor<4096x32x16xf16>, %init: tensor<?x4096xf16>) -> tensor<?x4096xf16> {
  // CHECK: squant.lut_matmul {{.*}} tensor<4096x32x16xf16>) outs(%{{.*}} : tensor<?x4096xf16>)
  %y = squant.lut_matmul ins(%x, %codes, %lut : tensor<?x4096xf16>, tensor<4096x4096xi4>, tensor<4096x32x16xf16>)
         outs(%init : tensor<?x4096xf16>) -> tensor<?x4096xf16>
  return %y : tensor<?x4096xf16>
}

// CHECK-LABEL: func @pack_unpack
func.func @pack_unpack(%codes: tensor<64x128xi3>, %p: tensor<12x64xi32>, %r: tensor<64x12xi32>,
                       %c2: tensor<4x50xi2>, %r2: tensor<4x4xi32>)
    -> (tensor<12x64xi32>, tensor<64x128xi3>, tensor<64x12xi32>, tensor<4x4xi32>) {
  // CHECK: squant.pack squeezellm ins(%{{.*}} : tensor<64x128xi3>) outs(%{{.*}} : tensor<12x64xi32>) -> tensor<12x64xi32>
  %0 = squant.pack squeezellm ins(%codes : tensor<64x128xi3>) outs(%p : tensor<12x64xi32>) -> tensor<12x64xi32>
  // CHECK: squant.unpack squeezellm ins(%{{.*}} : tensor<12x64xi32>) outs(%{{.*}} : tensor<64x128xi3>) -> tensor<64x128xi3>
  %1 = squant.unpack squeezellm ins(%0 : tensor<12x64xi32>) outs(%codes : tensor<64x128xi3>) -> tensor<64x128xi3>
  // CHECK: squant.pack row_major ins(%{{.*}} : tensor<64x128xi3>) outs(%{{.*}} : tensor<64x12xi32>)
  %2 = squant.pack row_major ins(%1 : tensor<64x128xi3>) outs(%r : tensor<64x12xi32>) -> tensor<64x12xi32>
  // A row_major row of 50 2-bit codes takes ceil(100 / 32) = 4 words.
  // CHECK: squant.pack row_major ins(%{{.*}} : tensor<4x50xi2>) outs(%{{.*}} : tensor<4x4xi32>)
  %3 = squant.pack row_major ins(%c2 : tensor<4x50xi2>) outs(%r2 : tensor<4x4xi32>) -> tensor<4x4xi32>
  return %0, %1, %2, %3 : tensor<12x64xi32>, tensor<64x128xi3>, tensor<64x12xi32>, tensor<4x4xi32>
}

// CHECK-LABEL: func @build_lut
func.func @build_lut(%s: tensor<64x4xf32>, %z: tensor<64x4xi32>, %zf: tensor<64x4xf32>,
                     %i16: tensor<64x4x16xf32>, %i8: tensor<64x4x8xf16>, %s0: tensor<f32>, %g: tensor<16xf32>)
    -> (tensor<64x4x16xf32>, tensor<64x4x8xf16>, tensor<64x4x16xf32>, tensor<64x4x16xf32>,
        tensor<64x4x16xf32>, tensor<16xf32>) {
  // CHECK: squant.build_lut affine scale(%{{.*}} : tensor<64x4xf32>) zero(%{{.*}} : tensor<64x4xi32>) outs(%{{.*}} : tensor<64x4x16xf32>)
  %0 = squant.build_lut affine scale(%s : tensor<64x4xf32>) zero(%z : tensor<64x4xi32>)
         outs(%i16 : tensor<64x4x16xf32>) -> tensor<64x4x16xf32>
  // CHECK: squant.build_lut affine {{.*}} outs(%{{.*}} : tensor<64x4x8xf16>)
  %1 = squant.build_lut affine scale(%s : tensor<64x4xf32>) zero(%zf : tensor<64x4xf32>)
         outs(%i8 : tensor<64x4x8xf16>) -> tensor<64x4x8xf16>
  // CHECK: squant.build_lut nf4 scale
  %2 = squant.build_lut nf4 scale(%s : tensor<64x4xf32>) outs(%i16 : tensor<64x4x16xf32>) -> tensor<64x4x16xf32>
  // CHECK: squant.build_lut fp4_e2m1 scale
  %3 = squant.build_lut fp4_e2m1 scale(%s : tensor<64x4xf32>) outs(%i16 : tensor<64x4x16xf32>) -> tensor<64x4x16xf32>
  // CHECK: squant.build_lut iq4_nl scale
  %4 = squant.build_lut iq4_nl scale(%s : tensor<64x4xf32>) outs(%i16 : tensor<64x4x16xf32>) -> tensor<64x4x16xf32>
  // CHECK: squant.build_lut nf4 scale(%{{.*}} : tensor<f32>) outs(%{{.*}} : tensor<16xf32>)
  %5 = squant.build_lut nf4 scale(%s0 : tensor<f32>) outs(%g : tensor<16xf32>) -> tensor<16xf32>
  return %0, %1, %2, %3, %4, %5 : tensor<64x4x16xf32>, tensor<64x4x8xf16>, tensor<64x4x16xf32>,
                                  tensor<64x4x16xf32>, tensor<64x4x16xf32>, tensor<16xf32>
}

// The memref forms (after bufferization) return nothing.
// CHECK-LABEL: func @memref_forms
func.func @memref_forms(%x: memref<1x128xf32>, %codes: memref<64x128xi4>, %lut: memref<64x16xf32>,
                        %y: memref<1x64xf32>, %p: memref<16x64xi32>, %w: memref<64x128xf32>,
                        %s: memref<64xf32>, %z: memref<64xf32>) {
  // CHECK: squant.lut_matmul ins({{.*}} : memref<1x128xf32>, memref<64x128xi4>, memref<64x16xf32>) outs(%{{.*}} : memref<1x64xf32>)
  // CHECK-NOT: ->
  squant.lut_matmul ins(%x, %codes, %lut : memref<1x128xf32>, memref<64x128xi4>, memref<64x16xf32>)
    outs(%y : memref<1x64xf32>)
  // CHECK: squant.lut_dequant ins({{.*}}) outs(%{{.*}} : memref<64x128xf32>)
  squant.lut_dequant ins(%codes, %lut : memref<64x128xi4>, memref<64x16xf32>) outs(%w : memref<64x128xf32>)
  // CHECK: squant.unpack squeezellm ins(%{{.*}} : memref<16x64xi32>) outs(%{{.*}} : memref<64x128xi4>)
  squant.unpack squeezellm ins(%p : memref<16x64xi32>) outs(%codes : memref<64x128xi4>)
  // CHECK: squant.pack squeezellm ins(%{{.*}} : memref<64x128xi4>) outs(%{{.*}} : memref<16x64xi32>)
  squant.pack squeezellm ins(%codes : memref<64x128xi4>) outs(%p : memref<16x64xi32>)
  // CHECK: squant.build_lut affine scale(%{{.*}} : memref<64xf32>) zero(%{{.*}} : memref<64xf32>) outs(%{{.*}} : memref<64x16xf32>)
  squant.build_lut affine scale(%s : memref<64xf32>) zero(%z : memref<64xf32>) outs(%lut : memref<64x16xf32>)
  return
}
