// convert-squant-to-cpu: call sites on tensors, one kernel per signature,
// and the instruction sequence of each target.
// RUN: squant-opt %s --convert-squant-to-cpu="target=avx512 threads=2" | FileCheck %s --check-prefixes=CHECK,AVX512
// RUN: squant-opt %s --convert-squant-to-cpu="target=avx2 threads=2" | FileCheck %s --check-prefixes=CHECK,AVX2
// RUN: squant-opt %s --convert-squant-to-cpu="target=generic threads=1" | FileCheck %s --check-prefixes=CHECK,GENERIC
// RUN: not squant-opt %s --convert-squant-to-cpu="target=avx1024" 2>&1 | FileCheck %s --check-prefix=BADOPT
// BADOPT: Cannot find option named 'avx1024'!

// Intrinsics are called through private declarations named after them.
// AVX512: func.func private @llvm.x86.avx512.permvar.sf.512(vector<16xf32>, vector<16xi32>) -> vector<16xf32>
// AVX2: func.func private @llvm.x86.avx2.permps(vector<8xf32>, vector<8xi32>) -> vector<8xf32>

#CSR = #sparse_tensor.encoding<{map = (d0, d1) -> (d0 : dense, d1 : compressed), posWidth = 32, crdWidth = 32}>

// SqueezeLLM words are transposed into row_major words (the load-time
// re-layout), the CSR buffers are taken from the sparse tensor, and the
// kernel writes a fresh buffer that becomes the result.
// CHECK-LABEL: func.func @squeezellm
// CHECK-SAME: (%[[X:.*]]: tensor<1x128xf32>, %[[Q:.*]]: tensor<16x64xi32>, %[[L:.*]]: tensor<64x16xf32>
// CHECK-NOT: squant.
// CHECK: %[[T:.*]] = linalg.transpose ins(%[[Q]] : tensor<16x64xi32>) outs(%{{.*}} : tensor<64x16xi32>) permutation = [1, 0]
// CHECK-DAG: %[[XB:.*]] = bufferization.to_buffer %[[X]] read_only
// CHECK-DAG: %[[WB:.*]] = bufferization.to_buffer %[[T]] read_only
// CHECK-DAG: %[[LB:.*]] = bufferization.to_buffer %[[L]] read_only
// CHECK-DAG: %[[POS:.*]] = sparse_tensor.positions %{{.*}} {level = 1 : index}
// CHECK-DAG: %[[CRD:.*]] = sparse_tensor.coordinates %{{.*}} {level = 1 : index}
// CHECK-DAG: %[[VAL:.*]] = sparse_tensor.values
// CHECK: %[[Y:.*]] = memref.alloc() {alignment = 64 : i64} : memref<1x64xf32>
// CHECK: call @[[K1:__squant_cpu_lut_matmul_[a-z0-9]+_t[0-9]_words[A-Za-z0-9_]*]](%[[XB]], %[[WB]], %[[LB]], %[[POS]], %[[CRD]], %[[VAL]], %[[Y]])
// CHECK: %[[R:.*]] = bufferization.to_tensor %[[Y]] restrict writable
// CHECK: return %[[R]]
func.func @squeezellm(%x: tensor<1x128xf32>, %q: tensor<16x64xi32>, %lut: tensor<64x16xf32>,
                      %rows: tensor<65xi32>, %cols: tensor<?xi32>, %vals: tensor<?xf32>) -> tensor<1x64xf32> {
  %e = tensor.empty() : tensor<64x128xi4>
  %c = squant.unpack squeezellm ins(%q : tensor<16x64xi32>) outs(%e : tensor<64x128xi4>) -> tensor<64x128xi4>
  %S = sparse_tensor.assemble (%rows, %cols), %vals : (tensor<65xi32>, tensor<?xi32>), tensor<?xf32> to tensor<64x128xf32, #CSR>
  %i = tensor.empty() : tensor<1x64xf32>
  %y = squant.lut_matmul ins(%x, %c, %lut : tensor<1x128xf32>, tensor<64x128xi4>, tensor<64x16xf32>)
         outliers(%S : tensor<64x128xf32, #CSR>) outs(%i : tensor<1x64xf32>) -> tensor<1x64xf32>
  return %y : tensor<1x64xf32>
}

// Two identical row_major layers share one kernel; no transpose is needed.
// CHECK-LABEL: func.func @two_layers
// CHECK-NOT: linalg.transpose
// CHECK: call @[[K2:__squant_cpu_lut_matmul_[A-Za-z0-9_]+]](
// CHECK: call @[[K2]](
func.func @two_layers(%x: tensor<4x64xf32>, %q0: tensor<32x6xi32>, %q1: tensor<32x6xi32>,
                      %lut: tensor<32x8xf32>) -> (tensor<4x32xf32>, tensor<4x32xf32>) {
  %e = tensor.empty() : tensor<32x64xi3>
  %c0 = squant.unpack row_major ins(%q0 : tensor<32x6xi32>) outs(%e : tensor<32x64xi3>) -> tensor<32x64xi3>
  %c1 = squant.unpack row_major ins(%q1 : tensor<32x6xi32>) outs(%e : tensor<32x64xi3>) -> tensor<32x64xi3>
  %i = tensor.empty() : tensor<4x32xf32>
  %y0 = squant.lut_matmul ins(%x, %c0, %lut : tensor<4x64xf32>, tensor<32x64xi3>, tensor<32x8xf32>)
          outs(%i : tensor<4x32xf32>) -> tensor<4x32xf32>
  %y1 = squant.lut_matmul ins(%x, %c1, %lut : tensor<4x64xf32>, tensor<32x64xi3>, tensor<32x8xf32>)
          outs(%i : tensor<4x32xf32>) -> tensor<4x32xf32>
  return %y0, %y1 : tensor<4x32xf32>, tensor<4x32xf32>
}

// Codes that do not come from squant.unpack are read one per element.
// CHECK-LABEL: func.func @codes
// CHECK: call @{{__squant_cpu_lut_matmul_[a-z0-9]+_t[0-9]_codes_memref_2x48xf32_memref_8x48xi6}}
func.func @codes(%x: tensor<2x48xf32>, %c: tensor<8x48xi6>, %lut: tensor<8x64xf32>) -> tensor<2x8xf32> {
  %i = tensor.empty() : tensor<2x8xf32>
  %y = squant.lut_matmul ins(%x, %c, %lut : tensor<2x48xf32>, tensor<8x48xi6>, tensor<8x64xf32>)
         outs(%i : tensor<2x8xf32>) -> tensor<2x8xf32>
  return %y : tensor<2x8xf32>
}

// The memref form is left to squant-decompose.
// CHECK-LABEL: func.func @memref_form
// CHECK: squant.lut_matmul
func.func @memref_form(%x: memref<1x64xf32>, %c: memref<8x64xi4>, %lut: memref<8x16xf32>, %y: memref<1x8xf32>) {
  squant.lut_matmul ins(%x, %c, %lut : memref<1x64xf32>, memref<8x64xi4>, memref<8x16xf32>)
    outs(%y : memref<1x8xf32>)
  return
}

// An affine table (ggml Q8_0: 8-bit codes, f16 scale, zero 128 per group of
// 32 codes) is not built: the kernel takes the scale and zero. A table of
// another format is built and read.
// CHECK-LABEL: func.func @affine
// CHECK-SAME: (%[[X:.*]]: tensor<1x64xf32>, %[[Q:.*]]: tensor<8x16xi32>, %[[S:.*]]: tensor<8x2xf16>, %[[Z:.*]]: tensor<8x2xf32>
// CHECK-NOT: squant.build_lut affine
// CHECK-DAG: %[[SB:.*]] = bufferization.to_buffer %[[S]] read_only
// CHECK-DAG: %[[ZB:.*]] = bufferization.to_buffer %[[Z]] read_only
// CHECK: call @{{__squant_cpu_lut_matmul_[a-z0-9]+_t[0-9]_words_affine_f32_memref_1x64xf32_memref_8x16xi32_memref_8x2xf16_memref_8x2xf32_memref_1x8xf32}}(%{{.*}}, %{{.*}}, %[[SB]], %[[ZB]], %{{.*}})
// CHECK: squant.build_lut nf4
// CHECK: call @{{__squant_cpu_lut_matmul_[a-z0-9]+_t[0-9]_words_memref_1x64xf32_memref_8x8xi32_memref_8x16xf32_memref_1x8xf32}}(
func.func @affine(%x: tensor<1x64xf32>, %q: tensor<8x16xi32>, %s: tensor<8x2xf16>, %z: tensor<8x2xf32>,
                  %q4: tensor<8x8xi32>, %s4: tensor<8xf32>) -> (tensor<1x8xf32>, tensor<1x8xf32>) {
  %le = tensor.empty() : tensor<8x2x256xf32>
  %lut = squant.build_lut affine scale(%s : tensor<8x2xf16>) zero(%z : tensor<8x2xf32>) outs(%le : tensor<8x2x256xf32>) -> tensor<8x2x256xf32>
  %ce = tensor.empty() : tensor<8x64xi8>
  %c = squant.unpack row_major ins(%q : tensor<8x16xi32>) outs(%ce : tensor<8x64xi8>) -> tensor<8x64xi8>
  %i = tensor.empty() : tensor<1x8xf32>
  %y = squant.lut_matmul ins(%x, %c, %lut : tensor<1x64xf32>, tensor<8x64xi8>, tensor<8x2x256xf32>)
         outs(%i : tensor<1x8xf32>) -> tensor<1x8xf32>
  %le4 = tensor.empty() : tensor<8x16xf32>
  %lut4 = squant.build_lut nf4 scale(%s4 : tensor<8xf32>) outs(%le4 : tensor<8x16xf32>) -> tensor<8x16xf32>
  %ce4 = tensor.empty() : tensor<8x64xi4>
  %c4 = squant.unpack row_major ins(%q4 : tensor<8x8xi32>) outs(%ce4 : tensor<8x64xi4>) -> tensor<8x64xi4>
  %y4 = squant.lut_matmul ins(%x, %c4, %lut4 : tensor<1x64xf32>, tensor<8x64xi4>, tensor<8x16xf32>)
          outs(%i : tensor<1x8xf32>) -> tensor<1x8xf32>
  return %y, %y4 : tensor<1x8xf32>, tensor<1x8xf32>
}

// A 4-bit affine table is computed into the table register per group.
// CHECK-LABEL: func.func @affine4
// CHECK-NOT: squant.build_lut
// CHECK: call @{{__squant_cpu_lut_matmul_[a-z0-9]+_t[0-9]_words_affine_f32_memref_1x64xf32_memref_8x8xi32_memref_8x2xf16_memref_8x2xf32_memref_1x8xf32}}(
func.func @affine4(%x: tensor<1x64xf32>, %q: tensor<8x8xi32>, %s: tensor<8x2xf16>, %z: tensor<8x2xf32>) -> tensor<1x8xf32> {
  %le = tensor.empty() : tensor<8x2x16xf32>
  %lut = squant.build_lut affine scale(%s : tensor<8x2xf16>) zero(%z : tensor<8x2xf32>) outs(%le : tensor<8x2x16xf32>) -> tensor<8x2x16xf32>
  %ce = tensor.empty() : tensor<8x64xi4>
  %c = squant.unpack row_major ins(%q : tensor<8x8xi32>) outs(%ce : tensor<8x64xi4>) -> tensor<8x64xi4>
  %i = tensor.empty() : tensor<1x8xf32>
  %y = squant.lut_matmul ins(%x, %c, %lut : tensor<1x64xf32>, tensor<8x64xi4>, tensor<8x2x16xf32>)
         outs(%i : tensor<1x8xf32>) -> tensor<1x8xf32>
  return %y : tensor<1x8xf32>
}

// The kernels. AVX-512: a row's 16-entry table in one vector<16xf32>, a
// 64-bit broadcast load from the packed stream, one per-lane shift, one
// vpermps, FMA into vector accumulators, rows split by scf.parallel.
// AVX512-LABEL: func.func private @__squant_cpu_lut_matmul_avx512_t2_words_memref_1x128xf32
// AVX512-SAME: attributes {target_features = #llvm.target_features<["+avx2", "+fma", "+avx512f", "+avx512bw", "+avx512vl"]>}
// AVX512: memref.alloc({{.*}}) {alignment = 64 : i64} : memref<?x?xf32>
// AVX512: scf.parallel
// AVX512: vector.load %{{.*}} : memref<64x16xf32>, vector<16xf32>
// AVX512: llvm.load %{{.*}} {alignment = 1 : i64} : !llvm.ptr -> i64
// AVX512: vector.broadcast %{{.*}} : i64 to vector<8xi64>
// AVX512: vector.bitcast %{{.*}} : vector<8xi64> to vector<16xi32>
// AVX512: arith.shrui %{{.*}}, %{{.*}} : vector<16xi32>
// AVX512: call @llvm.x86.avx512.permvar.sf.512
// AVX512: vector.fma %{{.*}} : vector<16xf32>
// AVX512: vector.reduction <add>, %{{.*}} fastmath<reassoc> : vector<16xf32> into f32
// The outliers of the row are added in the same pass.
// AVX512: memref.load %{{.*}} : memref<?xi32>
// AVX512: memref.load %{{.*}} : memref<?xf32>
// 3-bit tables are replicated to fill the register.
// AVX512-LABEL: func.func private @__squant_cpu_lut_matmul_avx512_t2_words_memref_4x64xf32
// AVX512: vector.shuffle %{{.*}}, %{{.*}} [0, 1, 2, 3, 4, 5, 6, 7, 0, 1, 2, 3, 4, 5, 6, 7] : vector<8xf32>, vector<8xf32>

// Affine tables: the group's scale and zero broadcast, 8-bit codes
// zero-extended from 16 bytes, entries (q - zero) * scale in registers.
// AVX512-LABEL: func.func private @__squant_cpu_lut_matmul_avx512_t2_words_affine_f32_memref_1x64xf32_memref_8x16xi32
// AVX512-NOT: permvar
// AVX512: vector.broadcast %{{.*}} : f32 to vector<16xf32>
// AVX512: llvm.load %{{.*}} {alignment = 1 : i64} : !llvm.ptr -> vector<16xi8>
// AVX512: arith.extui %{{.*}} : vector<16xi8> to vector<16xi32>
// AVX512: arith.uitofp %{{.*}} : vector<16xi32> to vector<16xf32>
// AVX512: arith.subf %{{.*}}, %{{.*}} : vector<16xf32>
// AVX512: arith.mulf %{{.*}}, %{{.*}} : vector<16xf32>
// AVX512: vector.fma %{{.*}} : vector<16xf32>
// AVX512-LABEL: func.func private @__squant_cpu_lut_matmul_avx512_t2_words_memref_1x64xf32
// 4 bits: the table register is (0..15 - zero) * scale, then vpermps.
// AVX512-LABEL: func.func private @__squant_cpu_lut_matmul_avx512_t2_words_affine_f32_memref_1x64xf32_memref_8x8xi32
// AVX512: %[[IOTA:.*]] = arith.constant dense<[0.000000e+00, 1.000000e+00, {{.*}}, 1.500000e+01]> : vector<16xf32>
// AVX512: %[[LEVEL:.*]] = arith.subf %[[IOTA]], %{{.*}} : vector<16xf32>
// AVX512: %[[TABLE:.*]] = arith.mulf %{{.*}}, %[[LEVEL]] : vector<16xf32>
// AVX512: call @llvm.x86.avx512.permvar.sf.512(%[[TABLE]], %{{.*}})

// On AVX2 a 16-entry table is two vector<8xf32>: two vpermps and a select.
// AVX2-LABEL: func.func private @__squant_cpu_lut_matmul_avx2_t2_words_memref_1x128xf32
// AVX2-SAME: attributes {target_features = #llvm.target_features<["+avx2", "+fma"]>}
// AVX2: scf.parallel
// AVX2: llvm.load %{{.*}} {alignment = 1 : i64} : !llvm.ptr -> i32
// AVX2: vector.broadcast %{{.*}} : i32 to vector<8xi32>
// AVX2: call @llvm.x86.avx2.permps
// AVX2: call @llvm.x86.avx2.permps
// AVX2: arith.select %{{.*}} : vector<8xi1>, vector<8xf32>
// AVX2: vector.fma %{{.*}} : vector<8xf32>

// Generic: scalar loops only, and threads=1 emits no scf.parallel.
// GENERIC-NOT: llvm.x86
// GENERIC-LABEL: func.func private @__squant_cpu_lut_matmul_generic_t1_words_memref_1x128xf32
// GENERIC-NOT: target_features
// GENERIC-NOT: scf.parallel
// GENERIC-NOT: vector.
// GENERIC: arith.shrui %{{.*}}, %{{.*}} : i64
// GENERIC: arith.mulf %{{.*}}, %{{.*}} : f32
