// RUN: squant-opt %s --split-input-file --convert-squant-to-gpu | FileCheck %s
// RUN: squant-opt %s --split-input-file --convert-squant-to-gpu | FileCheck %s --check-prefix=NOATOMIC
// RUN: squant-opt %s --split-input-file --convert-squant-to-gpu="split-k=4 warps-k=2" | FileCheck %s --check-prefix=FORCED

// The final reductions (across warps, across K splits) are ordered sums and
// shuffle butterflies: no atomics anywhere, and nothing is dequantized into
// a weight buffer.
// NOATOMIC-NOT: atomic
// NOATOMIC-NOT: gpu.all_reduce
// NOATOMIC-NOT: memref<4096x4096xf16>

// Decode matvec (M = 1), 4-bit SqueezeLLM weights of a 4096 x 4096 layer:
// 32 blocks of 128 channels x 8 K splits (to fill the SMs), 8 warps per
// block splitting K again, then a combine kernel.
// CHECK-LABEL: func.func @matvec_w4
// CHECK-DAG: %[[C1:.*]] = arith.constant 1 : index
// CHECK-DAG: %[[C8:.*]] = arith.constant 8 : index
// CHECK-DAG: %[[C32:.*]] = arith.constant 32 : index
// CHECK-DAG: %[[C256:.*]] = arith.constant 256 : index
// CHECK-DAG: %[[C512:.*]] = arith.constant 512 : index
// CHECK-NOT: squant.
// CHECK: bufferization.to_buffer %arg1 read_only : tensor<512x4096xi32> to memref<512x4096xi32>
// CHECK: %[[WS:.*]] = memref.alloc(%{{.*}}) : memref<?xf32>
// CHECK: gpu.launch_func @squant_kernels::@[[MAIN:lut_matmul_b4_sq_channel_m1_n4096_k4096_xf16_lf16_ws_v4_mt1_wk8_s8_u4]] blocks in (%[[C32]], %[[C8]], %[[C1]]) threads in (%[[C256]], %[[C1]], %[[C1]]) args(%{{.*}} : memref<?xf16>, %{{.*}} : memref<?xi32>, %{{.*}} : memref<?xf16>, %[[WS]] : memref<?xf32>)
// CHECK: gpu.launch_func @squant_kernels::@[[COMB:lut_matmul_combine_m1_n4096_k4096_s8_xf16_yf16_r1]] blocks in (%[[C512]], %[[C1]], %[[C1]]) threads in (%[[C256]], %[[C1]], %[[C1]]) args(%[[WS]] : memref<?xf32>, %{{.*}} : memref<?xf16>)
// CHECK: bufferization.to_tensor %{{.*}} restrict writable : memref<1x4096xf16> to tensor<1x4096xf16>
//
// CHECK: gpu.module @squant_kernels
// CHECK: gpu.func @[[MAIN]](%{{.*}}: memref<?xf16> {llvm.readonly}, %{{.*}}: memref<?xi32> {llvm.readonly}, %{{.*}}: memref<?xf16> {llvm.readonly}, %{{.*}}: memref<?xf32>) workgroup(%[[TBL:.*]] : memref<2048xf32, #gpu.address_space<workgroup>> {llvm.align = 16 : i64}) kernel attributes {known_block_size = array<i32: 256, 1, 1>, known_grid_size = array<i32: 32, 8, 1>, squant.strategy = "bucket=m1 channels/thread=4 rows/thread=1 warps(K)=8 splitK=8 unroll=4 tables=shared"}
// The block's 128 tables (f16 -> f32) go to shared memory, entry e of
// channel slot j of lane l at [(j * 16 + e) * 32 + l]: lane l always reads
// bank l.
// CHECK: scf.for
// CHECK: memref.load %arg2
// CHECK: arith.extf
// CHECK: memref.store %{{.*}}, %[[TBL]][%{{.*}}] : memref<2048xf32, #gpu.address_space<workgroup>>
// CHECK: gpu.barrier
// Four word groups in flight: 128-bit loads of the packed words of 4
// channels, then 16-byte loads of x, shifts and masks, shared-memory look-ups
// (base lane + code * 32), fp32 FMAs.
// CHECK: scf.for
// CHECK-COUNT-4: vector.load %arg1[%{{.*}}] {alignment = 16 : i64} : memref<?xi32>, vector<4xi32>
// CHECK: vector.load %arg0[%{{.*}}] {alignment = 16 : i64} : memref<?xf16>, vector<8xf16>
// CHECK: %[[CODE:.*]] = arith.andi %{{.*}}, %c15_i32 : i32
// CHECK: %[[CI:.*]] = arith.index_castui %[[CODE]] : i32 to index
// CHECK: %[[OFF:.*]] = arith.muli %[[CI]], %c32 : index
// CHECK: %[[AT:.*]] = arith.addi %{{.*}}, %[[OFF]] : index
// CHECK: memref.load %[[TBL]][%[[AT]]] : memref<2048xf32, #gpu.address_space<workgroup>>
// CHECK: math.fma %{{.*}} : f32
// CHECK: arith.shrui %{{.*}}, %c28_i32 : i32
// Cross-warp reduction in shared memory (the table buffer, reused after a
// barrier), summed in warp order.
// CHECK: gpu.barrier
// CHECK: vector.store %{{.*}}, %[[TBL]][%{{.*}}] {alignment = 16 : i64} : memref<2048xf32, #gpu.address_space<workgroup>>, vector<4xf32>
// CHECK: gpu.barrier
// CHECK: scf.for
// CHECK-COUNT-7: arith.addf
// CHECK: memref.store %{{.*}}, %arg3[%{{.*}}] : memref<?xf32>
// CHECK: gpu.return
// Combine: lane s of the channel's warp holds split s; five xor shuffles.
// CHECK: gpu.func @[[COMB]](%{{.*}}: memref<?xf32> {llvm.readonly}, %{{.*}}: memref<?xf16>) kernel attributes {known_block_size = array<i32: 256, 1, 1>, known_grid_size = array<i32: 512, 1, 1>
// CHECK: arith.select
// CHECK: gpu.shuffle  xor %{{.*}}, %c16_i32, %c32_i32 : f32
// CHECK: gpu.shuffle  xor %{{.*}}, %c8_i32, %c32_i32 : f32
// CHECK: gpu.shuffle  xor %{{.*}}, %c4_i32, %c32_i32 : f32
// CHECK: gpu.shuffle  xor %{{.*}}, %c2_i32, %c32_i32 : f32
// CHECK: gpu.shuffle  xor %{{.*}}, %c1_i32, %c32_i32 : f32
// CHECK: arith.truncf %{{.*}} : f32 to f16
// CHECK: memref.store
// FORCED-LABEL: func.func @matvec_w4
// FORCED: gpu.launch_func @squant_kernels::@lut_matmul_b4_sq_channel_m1_n4096_k4096_xf16_lf16_ws_v4_mt1_wk2_s4_u4 blocks in (%c32, %c4, %c1) threads in (%c64, %c1, %c1)
func.func @matvec_w4(%x: tensor<1x4096xf16>, %q: tensor<512x4096xi32>, %lut: tensor<4096x16xf16>) -> tensor<1x4096xf16> {
  %ce = tensor.empty() : tensor<4096x4096xi4>
  %codes = squant.unpack squeezellm ins(%q : tensor<512x4096xi32>) outs(%ce : tensor<4096x4096xi4>) -> tensor<4096x4096xi4>
  %ye = tensor.empty() : tensor<1x4096xf16>
  %y = squant.lut_matmul ins(%x, %codes, %lut : tensor<1x4096xf16>, tensor<4096x4096xi4>, tensor<4096x16xf16>) outs(%ye : tensor<1x4096xf16>) -> tensor<1x4096xf16>
  return %y : tensor<1x4096xf16>
}

// -----

// Prefill tile (M = 16), native 3-bit: a word group is 3 words (3 128-bit
// loads) holding 32 codes; codes 10 and 21 straddle two words. 16 rows per
// thread, 4 warps along K.
// CHECK-LABEL: func.func @gemm_w3
// CHECK: gpu.launch_func @squant_kernels::@[[MAIN3:lut_matmul_b3_sq_channel_m16_n4096_k11008_xf16_lf16_ws_v4_mt16_wk4_s[0-9]+_u1]] blocks in
// CHECK: gpu.func @[[MAIN3]]({{.*}}) workgroup(%[[TBL3:.*]] : memref<8192xf32, #gpu.address_space<workgroup>> {llvm.align = 16 : i64}) kernel attributes {known_block_size = array<i32: 128, 1, 1>{{.*}}squant.strategy = "bucket=m9+ channels/thread=4 rows/thread=16 warps(K)=4
// CHECK: scf.for
// CHECK-COUNT-3: vector.load %arg1[%{{.*}}] {alignment = 16 : i64} : memref<?xi32>, vector<4xi32>
// Code 10: bits 30..32 = (word0 >> 30) | (word1 << 2).
// CHECK: %[[LO:.*]] = arith.shrui %{{.*}}, %c30_i32 : i32
// CHECK: %[[HI:.*]] = arith.shli %{{.*}}, %c2_i32 : i32
// CHECK: %[[OR:.*]] = arith.ori %[[LO]], %[[HI]] : i32
// CHECK: arith.andi %[[OR]], %c7_i32 : i32
// Code 21: bits 63..65 = (word1 >> 31) | (word2 << 1).
// CHECK: arith.shrui %{{.*}}, %c31_i32 : i32
// CHECK: arith.shli %{{.*}}, %c1_i32 : i32
func.func @gemm_w3(%x: tensor<16x11008xf16>, %q: tensor<1032x4096xi32>, %lut: tensor<4096x8xf16>) -> tensor<16x4096xf16> {
  %ce = tensor.empty() : tensor<4096x11008xi3>
  %codes = squant.unpack squeezellm ins(%q : tensor<1032x4096xi32>) outs(%ce : tensor<4096x11008xi3>) -> tensor<4096x11008xi3>
  %ye = tensor.empty() : tensor<16x4096xf16>
  %y = squant.lut_matmul ins(%x, %codes, %lut : tensor<16x11008xf16>, tensor<4096x11008xi3>, tensor<4096x8xf16>) outs(%ye : tensor<16x4096xf16>) -> tensor<16x4096xf16>
  return %y : tensor<16x4096xf16>
}

// -----

// M = 3 with one global table: the table is replicated 32 times (one copy
// per bank, [e][lane]); N = 72 is not a multiple of the 128 channels of a
// block, so loads are guarded and rows past N are not stored.
// CHECK-LABEL: func.func @small_global
// CHECK: gpu.func @{{.*}}({{.*}}) workgroup(%[[T:.*]] : memref<3072xf32, #gpu.address_space<workgroup>> {llvm.align = 16 : i64}) kernel attributes {{{.*}}squant.strategy = "bucket=m2-4 channels/thread=4 rows/thread=3
// CHECK: scf.for %[[I:.*]] = %{{.*}} to %c512 step %c256
// CHECK: %[[E:.*]] = arith.divui %[[I]], %c32 : index
// CHECK: memref.load %arg2[%[[E]]] : memref<?xf32>
// CHECK: memref.store %{{.*}}, %[[T]][%[[I]]]
// CHECK: gpu.barrier
// CHECK: %[[IN:.*]] = arith.cmpi ult, %{{.*}}, %c72 : index
// CHECK: scf.if %[[IN]] -> (f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32)
func.func @small_global(%x: tensor<3x128xf32>, %q: tensor<16x72xi32>, %lut: tensor<16xf32>) -> tensor<3x72xf32> {
  %ce = tensor.empty() : tensor<72x128xi4>
  %codes = squant.unpack squeezellm ins(%q : tensor<16x72xi32>) outs(%ce : tensor<72x128xi4>) -> tensor<72x128xi4>
  %ye = tensor.empty() : tensor<3x72xf32>
  %y = squant.lut_matmul ins(%x, %codes, %lut : tensor<3x128xf32>, tensor<72x128xi4>, tensor<16xf32>) outs(%ye : tensor<3x72xf32>) -> tensor<3x72xf32>
  return %y : tensor<3x72xf32>
}

// -----

// Dynamic M, per-group tables (read through the read-only cache, not staged)
// and CSR outliers: M is a kernel argument, the grid grows with M, and the
// combine kernel receives the CSR buffers of the assembled outliers.
// CHECK-LABEL: func.func @dynamic_outliers
// CHECK: %[[M7:.*]] = arith.addi %{{.*}}, %c7 : index
// CHECK: %[[MT:.*]] = arith.divui %[[M7]], %c8 : index
// CHECK: gpu.launch_func @squant_kernels::@[[K:lut_matmul_b4_sq_group4_mdyn_n64_k256_xf32_lf32_ws_v4_mt8_wk4_s[0-9]+_u1]] blocks in (%c1, %{{.*}}, %[[MT]]) threads in (%c128, %c1, %c1) args({{.*}}, %[[M:.*]] : index)
// CHECK: %[[ROWS:.*]] = bufferization.to_buffer %arg3 read_only : tensor<65xi32>
// CHECK: %[[COLS:.*]] = bufferization.to_buffer %arg4 read_only : tensor<?xi32>
// CHECK: %[[VALS:.*]] = bufferization.to_buffer %arg5 read_only : tensor<?xf32>
// CHECK: gpu.launch_func @squant_kernels::@[[C:lut_matmul_combine_mdyn_n64_k256_s[0-9]+_xf32_csri32i32f32_yf32_r8]] blocks in (%c8, %{{.*}}, %c1) threads in (%c256, %c1, %c1) args(%{{.*}} : memref<?xf32>, %{{.*}} : memref<?xf32>, %{{.*}} : memref<?xi32>, %{{.*}} : memref<?xi32>, %{{.*}} : memref<?xf32>, %{{.*}} : memref<?xf32>, %[[M]] : index)
// CHECK: gpu.func @[[K]](%{{.*}}: memref<?xf32> {llvm.readonly}, %{{.*}}: memref<?xi32> {llvm.readonly}, %{{.*}}: memref<?xf32> {llvm.readonly}, %{{.*}}: memref<?xf32>, %{{.*}}: index) workgroup(%{{.*}} : memref<4096xf32, #gpu.address_space<workgroup>> {llvm.align = 16 : i64}) kernel attributes {known_block_size = array<i32: 128, 1, 1>, squant.strategy = "bucket=m9+ channels/thread=4 rows/thread=8 {{.*}} tables=global"}
// CHECK-NOT: gpu.barrier
// CHECK: scf.for
// CHECK: memref.load %arg2[%{{.*}}] : memref<?xf32>
// CHECK: gpu.barrier
// CHECK: gpu.func @[[C]]
// Lanes stride over the channel's outliers: x[row, col] * val.
// CHECK: %[[P0:.*]] = arith.index_castui %{{.*}} : i32 to index
// CHECK: %[[P1:.*]] = arith.index_castui %{{.*}} : i32 to index
// CHECK: %[[START:.*]] = arith.addi %[[P0]], %{{.*}} : index
// CHECK: scf.for %{{.*}} = %[[START]] to %[[P1]] step %c32
// CHECK-COUNT-5: gpu.shuffle  xor
#CSR = #sparse_tensor.encoding<{map = (d0, d1) -> (d0 : dense, d1 : compressed), posWidth = 32, crdWidth = 32}>
func.func @dynamic_outliers(%x: tensor<?x256xf32>, %q: tensor<32x64xi32>, %lut: tensor<64x4x16xf32>,
                            %rows: tensor<65xi32>, %cols: tensor<?xi32>, %vals: tensor<?xf32>) -> tensor<?x64xf32> {
  %c0 = arith.constant 0 : index
  %m = tensor.dim %x, %c0 : tensor<?x256xf32>
  %ce = tensor.empty() : tensor<64x256xi4>
  %codes = squant.unpack squeezellm ins(%q : tensor<32x64xi32>) outs(%ce : tensor<64x256xi4>) -> tensor<64x256xi4>
  %S = sparse_tensor.assemble (%rows, %cols), %vals : (tensor<65xi32>, tensor<?xi32>), tensor<?xf32> to tensor<64x256xf32, #CSR>
  %ye = tensor.empty(%m) : tensor<?x64xf32>
  %y = squant.lut_matmul ins(%x, %codes, %lut : tensor<?x256xf32>, tensor<64x256xi4>, tensor<64x4x16xf32>) outliers(%S : tensor<64x256xf32, #CSR>) outs(%ye : tensor<?x64xf32>) -> tensor<?x64xf32>
  return %y : tensor<?x64xf32>
}

// -----

// Codes that do not come from a SqueezeLLM unpack: one channel per lane,
// codes read one byte each (correct, not the fast path).
// CHECK-LABEL: func.func @unpacked_codes
// CHECK: gpu.func @{{.*}}codes{{.*}}({{.*}}memref<?xi4> {llvm.readonly}{{.*}}squant.strategy = "bucket=m1 channels/thread=1 {{.*}} codes=unpacked"
// CHECK: memref.load %arg1[%{{.*}}] : memref<?xi4>
// CHECK: arith.extui %{{.*}} : i4 to i32
func.func @unpacked_codes(%x: tensor<1x64xf32>, %codes: tensor<40x64xi4>, %lut: tensor<40x16xf32>) -> tensor<1x40xf32> {
  %ye = tensor.empty() : tensor<1x40xf32>
  %y = squant.lut_matmul ins(%x, %codes, %lut : tensor<1x64xf32>, tensor<40x64xi4>, tensor<40x16xf32>) outs(%ye : tensor<1x40xf32>) -> tensor<1x40xf32>
  return %y : tensor<1x40xf32>
}

// -----

// Memref form: the kernel reads the words the unpack would have written (the
// unpack and its buffer disappear), writes y in place and frees its
// workspace.
// CHECK-LABEL: func.func @memref_form
// CHECK-SAME: (%[[X:.*]]: memref<1x256xf32>, %[[Q:.*]]: memref<32x64xi32>, %[[L:.*]]: memref<64x16xf32>, %[[Y:.*]]: memref<1x64xf32>)
// CHECK-NOT: squant.unpack
// CHECK-NOT: memref<64x256xi4>
// CHECK: memref.collapse_shape %[[Q]]
// CHECK: memref.collapse_shape %[[Y]]
// CHECK: %[[WS:.*]] = memref.alloc
// CHECK: gpu.launch_func
// CHECK: gpu.launch_func
// CHECK: memref.dealloc %[[WS]] : memref<?xf32>
// CHECK-NEXT: return
func.func @memref_form(%x: memref<1x256xf32>, %q: memref<32x64xi32>, %lut: memref<64x16xf32>, %y: memref<1x64xf32>) {
  %c = memref.alloc() : memref<64x256xi4>
  squant.unpack squeezellm ins(%q : memref<32x64xi32>) outs(%c : memref<64x256xi4>)
  squant.lut_matmul ins(%x, %c, %lut : memref<1x256xf32>, memref<64x256xi4>, memref<64x16xf32>) outs(%y : memref<1x64xf32>)
  memref.dealloc %c : memref<64x256xi4>
  return
}

// -----

// Identical layers share one kernel.
// CHECK-LABEL: func.func @two_layers
// CHECK: gpu.launch_func @squant_kernels::@[[K:lut_matmul_[a-z0-9_]*]] blocks
// CHECK: gpu.launch_func @squant_kernels::@[[K]] blocks
// CHECK: gpu.module @squant_kernels
// CHECK: gpu.func @[[K]](
// CHECK-NOT: gpu.func @lut_matmul_b4
func.func @two_layers(%x: tensor<1x128xf32>, %q0: tensor<16x128xi32>, %l0: tensor<128x16xf32>,
                      %q1: tensor<16x128xi32>, %l1: tensor<128x16xf32>) -> tensor<1x128xf32> {
  %ce = tensor.empty() : tensor<128x128xi4>
  %c0 = squant.unpack squeezellm ins(%q0 : tensor<16x128xi32>) outs(%ce : tensor<128x128xi4>) -> tensor<128x128xi4>
  %c1 = squant.unpack squeezellm ins(%q1 : tensor<16x128xi32>) outs(%ce : tensor<128x128xi4>) -> tensor<128x128xi4>
  %ye = tensor.empty() : tensor<1x128xf32>
  %h = squant.lut_matmul ins(%x, %c0, %l0 : tensor<1x128xf32>, tensor<128x128xi4>, tensor<128x16xf32>) outs(%ye : tensor<1x128xf32>) -> tensor<1x128xf32>
  %y = squant.lut_matmul ins(%h, %c1, %l1 : tensor<1x128xf32>, tensor<128x128xi4>, tensor<128x16xf32>) outs(%ye : tensor<1x128xf32>) -> tensor<1x128xf32>
  return %y : tensor<1x128xf32>
}
