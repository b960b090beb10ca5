// convert-squant-to-cpu: lut_dequant reads the words of its unpack in place
// (no codes tensor); an unpack whose codes are still used gets its own kernel.
// RUN: squant-opt %s --convert-squant-to-cpu="threads=2" | FileCheck %s

// CHECK-LABEL: func.func @dequant
// CHECK-SAME: (%[[Q:.*]]: tensor<12x64xi32>, %[[L:.*]]: tensor<64x8xf32>)
// CHECK-NOT: squant.
// CHECK-NOT: linalg.transpose
// CHECK: %[[QB:.*]] = bufferization.to_buffer %[[Q]] read_only
// CHECK: %[[LB:.*]] = bufferization.to_buffer %[[L]] read_only
// CHECK: %[[W:.*]] = memref.alloc() {alignment = 64 : i64} : memref<64x128xf16>
// CHECK: call @__squant_cpu_lut_dequant_t2_squeezellm_b3_memref_12x64xi32_memref_64x8xf32_memref_64x128xf16(%[[QB]], %[[LB]], %[[W]])
// CHECK: bufferization.to_tensor %[[W]] restrict writable
func.func @dequant(%q: tensor<12x64xi32>, %lut: tensor<64x8xf32>) -> tensor<64x128xf16> {
  %e = tensor.empty() : tensor<64x128xi3>
  %c = squant.unpack squeezellm ins(%q : tensor<12x64xi32>) outs(%e : tensor<64x128xi3>) -> tensor<64x128xi3>
  %we = tensor.empty() : tensor<64x128xf16>
  %w = squant.lut_dequant ins(%c, %lut : tensor<64x128xi3>, tensor<64x8xf32>) outs(%we : tensor<64x128xf16>) -> tensor<64x128xf16>
  return %w : tensor<64x128xf16>
}

// CHECK-LABEL: func.func @codes_returned
// CHECK: call @__squant_cpu_unpack_t2_rowmajor_memref_8x5xi32_memref_8x40xi4
// CHECK: call @__squant_cpu_lut_dequant_t2_rowmajor_b4_memref_8x5xi32_memref_16xf32
func.func @codes_returned(%q: tensor<8x5xi32>, %lut: tensor<4x16xf32>) -> (tensor<8x40xi4>, tensor<8x40xf32>) {
  %e = tensor.empty() : tensor<8x40xi4>
  %c = squant.unpack row_major ins(%q : tensor<8x5xi32>) outs(%e : tensor<8x40xi4>) -> tensor<8x40xi4>
  %lut0 = tensor.extract_slice %lut[0, 0] [1, 16] [1, 1] : tensor<4x16xf32> to tensor<16xf32>
  %we = tensor.empty() : tensor<8x40xf32>
  %w = squant.lut_dequant ins(%c, %lut0 : tensor<8x40xi4>, tensor<16xf32>) outs(%we : tensor<8x40xf32>) -> tensor<8x40xf32>
  return %c, %w : tensor<8x40xi4>, tensor<8x40xf32>
}

// The kernels: row blocks split across threads, codes read from the words.
// CHECK-LABEL: func.func private @__squant_cpu_lut_dequant_t2_squeezellm_b3
// CHECK: scf.parallel
// CHECK: memref.load %{{.*}} : memref<12x64xi32>
// CHECK: arith.shrui %{{.*}}, %{{.*}} : i64
// CHECK: memref.load %{{.*}} : memref<64x8xf32>
// CHECK: arith.truncf %{{.*}} : f32 to f16
// CHECK: memref.store %{{.*}} : memref<64x128xf16>
