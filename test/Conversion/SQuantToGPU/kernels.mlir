// RUN: squant-opt %s --split-input-file --convert-squant-to-gpu | FileCheck %s

// unpack squeezellm, 3-bit: a thread decodes a group of 3 words (32 codes)
// of 4 channels, read with 128-bit loads.
// CHECK-LABEL: func.func @unpack_w3
// CHECK: gpu.launch_func @squant_kernels::@[[K:unpack_squeezellm_b3_n64_k128_v4]] blocks in (%c1, %c1, %c1) threads in (%c256, %c1, %c1) args(%{{.*}} : memref<?xi32>, %{{.*}} : memref<?xi3>)
// CHECK: gpu.func @[[K]](%{{.*}}: memref<?xi32> {llvm.readonly}, %{{.*}}: memref<?xi3>) kernel
// CHECK-COUNT-3: vector.load %arg0[%{{.*}}] {alignment = 16 : i64} : memref<?xi32>, vector<4xi32>
// CHECK: arith.trunci %{{.*}} : i32 to i3
// CHECK: memref.store %{{.*}}, %arg1[%{{.*}}] : memref<?xi3>
func.func @unpack_w3(%q: tensor<12x64xi32>) -> tensor<64x128xi3> {
  %e = tensor.empty() : tensor<64x128xi3>
  %c = squant.unpack squeezellm ins(%q : tensor<12x64xi32>) outs(%e : tensor<64x128xi3>) -> tensor<64x128xi3>
  return %c : tensor<64x128xi3>
}

// -----

// unpack row_major with a short last group (K = 40: 120 bits in 4 words,
// the second group of 3 words has one): missing words read as zero, codes
// past K are not stored.
// CHECK-LABEL: func.func @unpack_row_major
// CHECK: gpu.func @unpack_row_major_b3_n33_k40_v1
// CHECK: arith.cmpi ult, %{{.*}}, %c4 : index
// CHECK: arith.select %{{.*}}, %{{.*}}, %c0_i32 : i32
// CHECK: arith.cmpi ult, %{{.*}}, %c40 : index
// CHECK: scf.if
func.func @unpack_row_major(%q: tensor<33x4xi32>) -> tensor<33x40xi3> {
  %e = tensor.empty() : tensor<33x40xi3>
  %c = squant.unpack row_major ins(%q : tensor<33x4xi32>) outs(%e : tensor<33x40xi3>) -> tensor<33x40xi3>
  return %c : tensor<33x40xi3>
}

// -----

// pack squeezellm, 4-bit: eight codes shifted into a word, four channels'
// words written with one 128-bit store.
// CHECK-LABEL: func.func @pack_w4
// CHECK: gpu.func @pack_squeezellm_b4_n64_k64_v4(%{{.*}}: memref<?xi4> {llvm.readonly}, %{{.*}}: memref<?xi32>)
// CHECK: arith.shli %{{.*}}, %c28_i32 : i32
// CHECK: vector.store %{{.*}}, %arg1[%{{.*}}] {alignment = 16 : i64} : memref<?xi32>, vector<4xi32>
func.func @pack_w4(%c: tensor<64x64xi4>) -> tensor<8x64xi32> {
  %e = tensor.empty() : tensor<8x64xi32>
  %p = squant.pack squeezellm ins(%c : tensor<64x64xi4>) outs(%e : tensor<8x64xi32>) -> tensor<8x64xi32>
  return %p : tensor<8x64xi32>
}

// -----

// lut_dequant fused with the unpack: packed words of two channels in (one
// 64-bit load), W out with 16-byte stores; the unpack disappears.
// CHECK-LABEL: func.func @dequant_fused
// CHECK-NOT: unpack
// CHECK: gpu.launch_func @squant_kernels::@lut_dequant_b4_sq_t2x1_n64_k64_lf16_wf16_v2
// CHECK-SAME: args(%{{.*}} : memref<?xi32>, %{{.*}} : memref<?xf16>, %{{.*}} : memref<?xf16>)
// CHECK: gpu.func @lut_dequant_b4_sq_t2x1_n64_k64_lf16_wf16_v2
// CHECK: vector.load %arg0[%{{.*}}] {alignment = 8 : i64} : memref<?xi32>, vector<2xi32>
// CHECK-COUNT-2: vector.store %{{.*}}, %arg2[%{{.*}}] {alignment = 16 : i64} : memref<?xf16>, vector<8xf16>
func.func @dequant_fused(%q: tensor<8x64xi32>, %lut: tensor<64x16xf16>) -> tensor<64x64xf16> {
  %e = tensor.empty() : tensor<64x64xi4>
  %c = squant.unpack squeezellm ins(%q : tensor<8x64xi32>) outs(%e : tensor<64x64xi4>) -> tensor<64x64xi4>
  %we = tensor.empty() : tensor<64x64xf16>
  %w = squant.lut_dequant ins(%c, %lut : tensor<64x64xi4>, tensor<64x16xf16>) outs(%we : tensor<64x64xf16>) -> tensor<64x64xf16>
  return %w : tensor<64x64xf16>
}

// -----

// lut_dequant of unpacked codes with per-group tables: lanes along K.
// CHECK-LABEL: func.func @dequant_codes
// CHECK: gpu.func @lut_dequant_b2_codes_t3x4_n8_k64_lf32_wf32_v1
// CHECK: memref.load %arg0[%{{.*}}] : memref<?xi2>
func.func @dequant_codes(%c: tensor<8x64xi2>, %lut: tensor<8x4x4xf32>) -> tensor<8x64xf32> {
  %we = tensor.empty() : tensor<8x64xf32>
  %w = squant.lut_dequant ins(%c, %lut : tensor<8x64xi2>, tensor<8x4x4xf32>) outs(%we : tensor<8x64xf32>) -> tensor<8x64xf32>
  return %w : tensor<8x64xf32>
}

// -----

// build_lut: one thread per entry; NF4 levels as a select chain.
// CHECK-LABEL: func.func @build_nf4
// CHECK: gpu.launch_func @squant_kernels::@build_lut_nf4_n1024_e16_sf32_tf16 blocks in (%c4, %c1, %c1) threads in (%c256, %c1, %c1)
// CHECK: gpu.func @build_lut_nf4_n1024_e16_sf32_tf16
// CHECK-COUNT-15: arith.select
// CHECK: arith.mulf
// CHECK: arith.truncf %{{.*}} : f32 to f16
func.func @build_nf4(%s: tensor<64xf32>) -> tensor<64x16xf16> {
  %e = tensor.empty() : tensor<64x16xf16>
  %l = squant.build_lut nf4 scale(%s : tensor<64xf32>) outs(%e : tensor<64x16xf16>) -> tensor<64x16xf16>
  return %l : tensor<64x16xf16>
}

// -----

// build_lut affine with integer zero points (GPTQ).
// CHECK-LABEL: func.func @build_affine
// CHECK: gpu.func @build_lut_affine_n512_e16_sf16_zi8_tf32
// CHECK: arith.uitofp
// CHECK: arith.sitofp %{{.*}} : i8 to f32
// CHECK: arith.subf
func.func @build_affine(%s: tensor<8x4xf16>, %z: tensor<8x4xi8>) -> tensor<8x4x16xf32> {
  %e = tensor.empty() : tensor<8x4x16xf32>
  %l = squant.build_lut affine scale(%s : tensor<8x4xf16>) zero(%z : tensor<8x4xi8>) outs(%e : tensor<8x4x16xf32>) -> tensor<8x4x16xf32>
  return %l : tensor<8x4x16xf32>
}
