// RUN: squant-opt %s --split-input-file --convert-squant-to-gpu="num-sms=4" | FileCheck %s
// RUN: squant-opt %s --split-input-file --convert-squant-to-gpu="num-sms=4" | FileCheck %s --check-prefix=NOATOMIC

// No kernel uses atomics: every reduction (warp butterflies, the combine of
// the attention splits) has a fixed order.
// NOATOMIC-NOT: atomic

#kvq = #squant.kv_format<kvquant, bits = 3, sink = 1, outliers = 2>

// Decode attention, GQA 4:1 (2 KV heads, 8 query heads), head dim 128,
// batch 2. One block owns both KV heads (a warp each) and their 4 query
// heads; 8 splits of the 256 token slots (two blocks per SM on 4 SMs);
// then the combine kernel, a block per (query head, batch row).
// CHECK-LABEL: func.func @attention_gqa
// CHECK: %[[WS:.*]] = memref.alloc(%c16640) : memref<?xf32>
// CHECK: gpu.launch_func @squant_kernels::@[[MAIN:kv_attention_kvq_b3_[a-z0-9_]*_hq8_qf16_half[a-z0-9_]*_hb2_s8_c4x1_lsm]] blocks in (%c1, %c8, %c2) threads in (%c64, %c1, %c1)
// CHECK: gpu.launch_func @squant_kernels::@[[COMB:kv_attention_combine_hq8_d128_s8_of16]] blocks in (%c8, %c2, %c1) threads in (%c128, %c1, %c1) args(%[[WS]] : memref<?xf32>, %{{.*}} : memref<?xf16>)
// CHECK: bufferization.to_tensor %{{.*}} restrict writable
//
// Shared memory: rotated queries [8 rows x 128], scores and rescale
// factors [8 x 32 + 8], packed value codes of the tile [2 heads x 32
// tokens x 13 words], the tile's cos and sin [64 pairs x 32 tokens], the
// inverse frequencies, the value table and the two heads' key tables.
// CHECK: gpu.func @[[MAIN]](
// CHECK-SAME: workgroup(%{{.*}} : memref<1024xf32, #gpu.address_space<workgroup>> {llvm.align = 16 : i64}, %{{.*}} : memref<264xf32, #gpu.address_space<workgroup>> {llvm.align = 16 : i64}, %{{.*}} : memref<832xi32, #gpu.address_space<workgroup>> {llvm.align = 16 : i64}, %{{.*}} : memref<2048xf32, #gpu.address_space<workgroup>> {llvm.align = 16 : i64}, %{{.*}} : memref<2048xf32, #gpu.address_space<workgroup>> {llvm.align = 16 : i64}, %{{.*}} : memref<64xf32, #gpu.address_space<workgroup>> {llvm.align = 16 : i64}, %{{.*}} : memref<8xf32, #gpu.address_space<workgroup>> {llvm.align = 16 : i64}, %{{.*}} : memref<2048xf32, #gpu.address_space<workgroup>> {llvm.align = 16 : i64})
// CHECK-SAME: known_block_size = array<i32: 64, 1, 1>, nvvm.maxnreg = 144 : i32
// The tables, then the rotated queries.
// CHECK: gpu.barrier
// CHECK: gpu.barrier
// The tile loop: its body synchronizes (barriers, shuffles) and carries
// the running max and sum of the 4 query heads and the P.V accumulators.
// CHECK: scf.for %{{.*}} = %c0 to %{{.*}} step %c1 iter_args(
// 1. cos/sin of the tile's tokens.
// CHECK: gpu.barrier
// 2. Scores: the packed codes with 128-bit loads (value codes staged in
// shared memory, then the key codes), the queries with 128-bit
// shared-memory loads.
// CHECK: vector.load %{{.*}} {alignment = 16 : i64} : memref<?xi8>, vector<16xi8>
// CHECK: vector.bitcast %{{.*}} : vector<16xi8> to vector<4xi32>
// CHECK: vector.load %{{.*}} {alignment = 16 : i64} : memref<?xi8>, vector<16xi8>
// CHECK: vector.load %{{.*}} {alignment = 16 : i64} : memref<1024xf32, #gpu.address_space<workgroup>>, vector<4xf32>
// CHECK: math.fma
// CHECK: gpu.barrier
// 3. Online softmax per query head: a butterfly max, exp2, a butterfly sum.
// CHECK-COUNT-5: gpu.shuffle xor %{{.*}}, %{{.*}}, %c32_i32 : f32
// CHECK: math.exp2
// CHECK-COUNT-5: gpu.shuffle xor %{{.*}}, %{{.*}}, %c32_i32 : f32
// CHECK: math.exp2
// CHECK: gpu.barrier
// 4. P.V over the tile's tokens.
// CHECK: scf.for
// CHECK: math.fma
// CHECK: gpu.barrier
// CHECK-NEXT: scf.yield
// CHECK: gpu.return
//
// The combine walks the splits in order: no barriers, no shuffles.
// CHECK: gpu.func @[[COMB]](%{{.*}}: memref<?xf32> {llvm.readonly}, %{{.*}}: memref<?xf16>) kernel
// CHECK-NOT: gpu.barrier
// CHECK-NOT: gpu.shuffle
// CHECK: scf.for %{{.*}} = %c0 to %c8 step %c1 iter_args(
// CHECK: arith.maximumf
// CHECK: scf.for %{{.*}} = %c0 to %c8 step %c1 iter_args(
// CHECK: math.exp2
// CHECK: arith.divf
// CHECK: arith.truncf %{{.*}} : f32 to f16
// CHECK: gpu.return
func.func @attention_gqa(%q: tensor<2x8x128xf16>, %len: index, %pos: index,
    %klut: tensor<2x128x8xf32>, %vlut: tensor<8xf32>,
    %kc: tensor<2x2x256x48xi8>, %vc: tensor<2x2x256x48xi8>, %vs: tensor<2x2x256xf16>,
    %kov: tensor<2x2x256x2xf16>, %koi: tensor<2x2x256x2xi8>, %vov: tensor<2x2x256x2xf16>, %voi: tensor<2x2x256x2xi8>,
    %ks: tensor<2x2x1x128xf16>, %vsk: tensor<2x2x1x128xf16>) -> tensor<2x8x128xf16> {
  %e = tensor.empty() : tensor<2x8x128xf16>
  %o = squant.kv_attention #kvq query(%q : tensor<2x8x128xf16>) len(%len) position(%pos)
     tables(%klut, %vlut : tensor<2x128x8xf32>, tensor<8xf32>)
     cache(%kc, %vc, %vs, %kov, %koi, %vov, %voi, %ks, %vsk : tensor<2x2x256x48xi8>, tensor<2x2x256x48xi8>, tensor<2x2x256xf16>, tensor<2x2x256x2xf16>, tensor<2x2x256x2xi8>, tensor<2x2x256x2xf16>, tensor<2x2x256x2xi8>, tensor<2x2x1x128xf16>, tensor<2x2x1x128xf16>)
     rope(half) outs(%e : tensor<2x8x128xf16>) -> tensor<2x8x128xf16>
  return %o : tensor<2x8x128xf16>
}

// -----

#kvq = #squant.kv_format<kvquant, bits = 3, sink = 1, outliers = 2>

// kvquant append: a warp per (token, batch row, KV head), 4 heads per
// block. The cache tensors are written in place (writable to_buffer, the
// results are to_tensor of the same buffers).
// CHECK-LABEL: func.func @append_kvquant
// CHECK: %[[KC:.*]] = bufferization.to_buffer %arg5 : tensor<2x8x64x48xi8> to memref<2x8x64x48xi8>
// CHECK: gpu.launch_func @squant_kernels::@[[K:kv_append_kvq_b3_[a-z0-9_]*_kf16_vf16_w4]] blocks in (%c1, %c2, %c2) threads in (%c128, %c1, %c1)
// CHECK: bufferization.to_tensor %[[KC]] restrict writable
// Codes of the 4 warps' vectors in shared memory (i32).
// CHECK: gpu.func @[[K]](
// CHECK-SAME: workgroup(%{{.*}} : memref<1024xi32, #gpu.address_space<workgroup>>
// Nearest entries of each channel's key table (16-byte loads of 4 f32).
// CHECK: vector.load %{{.*}} {alignment = 16 : i64} : memref<?xf32>, vector<4xf32>
// Two key outlier slots: two rounds of a warp arg-max on (error, channel).
// CHECK-COUNT-10: gpu.shuffle xor
// CHECK: memref.store %{{.*}} : memref<?xi8>
// Two value outlier rounds and the butterfly max of the value scale.
// CHECK-COUNT-25: gpu.shuffle xor
// CHECK: gpu.barrier
// Packing: 32-bit units of codes stored as 4 bytes.
// CHECK: scf.for
// CHECK: vector.bitcast %{{.*}} : vector<1xi32> to vector<4xi8>
// CHECK: vector.store %{{.*}} {alignment = 4 : i64} : memref<?xi8>, vector<4xi8>
// CHECK-NOT: gpu.shuffle
// CHECK: gpu.return
func.func @append_kvquant(%k: tensor<2x8x1x128xf16>, %v: tensor<2x8x1x128xf16>, %pos: index,
    %klut: tensor<8x128x8xf32>, %vlut: tensor<8xf32>,
    %kc: tensor<2x8x64x48xi8>, %vc: tensor<2x8x64x48xi8>, %vs: tensor<2x8x64xf16>,
    %kov: tensor<2x8x64x2xf16>, %koi: tensor<2x8x64x2xi8>, %vov: tensor<2x8x64x2xf16>, %voi: tensor<2x8x64x2xi8>,
    %ks: tensor<2x8x1x128xf16>, %vsk: tensor<2x8x1x128xf16>) -> tensor<2x8x64x48xi8> {
  %r:9 = squant.kv_append #kvq keys(%k : tensor<2x8x1x128xf16>) values(%v : tensor<2x8x1x128xf16>) at(%pos)
     tables(%klut, %vlut : tensor<8x128x8xf32>, tensor<8xf32>)
     cache(%kc, %vc, %vs, %kov, %koi, %vov, %voi, %ks, %vsk : tensor<2x8x64x48xi8>, tensor<2x8x64x48xi8>, tensor<2x8x64xf16>, tensor<2x8x64x2xf16>, tensor<2x8x64x2xi8>, tensor<2x8x64x2xf16>, tensor<2x8x64x2xi8>, tensor<2x8x1x128xf16>, tensor<2x8x1x128xf16>)
     -> tensor<2x8x64x48xi8>, tensor<2x8x64x48xi8>, tensor<2x8x64xf16>, tensor<2x8x64x2xf16>, tensor<2x8x64x2xi8>, tensor<2x8x64x2xf16>, tensor<2x8x64x2xi8>, tensor<2x8x1x128xf16>, tensor<2x8x1x128xf16>
  return %r#0 : tensor<2x8x64x48xi8>
}

// -----

#kivi = #squant.kv_format<kivi, bits = 2, group = 32, residual = 64>

// kivi append: a block of 256 threads per (KV head, batch row) resolves
// the value evictions and key-block flushes of all new tokens: scales and
// zero points, a barrier, codes packed in 32-bit units, a barrier, then
// the residual slots. No cross-lane shuffles.
// CHECK-LABEL: func.func @append_kivi
// CHECK: gpu.launch_func @squant_kernels::@[[K:kv_append_kivi_b2_g32_s0_r64_o0_d128_h4_l256_[a-z0-9_]*]] blocks in (%c4, %c1, %c1) threads in (%c256, %c1, %c1)
// CHECK: gpu.func @[[K]](
// CHECK-NOT: workgroup(
// CHECK-SAME: known_block_size = array<i32: 256, 1, 1>
// CHECK-NOT: gpu.shuffle
// CHECK: arith.minimumf
// CHECK: arith.maximumf
// CHECK: arith.divf
// CHECK: gpu.barrier
// CHECK: vector.store %{{.*}} {alignment = 4 : i64} : memref<?xi8>, vector<4xi8>
// CHECK: gpu.barrier
// CHECK-NOT: gpu.shuffle
// CHECK: gpu.return
func.func @append_kivi(%k: tensor<1x4x7x128xf16>, %v: tensor<1x4x7x128xf16>, %pos: index,
    %kc: tensor<1x4x256x32xi8>, %vc: tensor<1x4x256x32xi8>, %ks: tensor<1x4x8x128xf16>, %kz: tensor<1x4x8x128xf16>,
    %vs: tensor<1x4x256x4xf16>, %vz: tensor<1x4x256x4xf16>, %kr: tensor<1x4x64x128xf16>, %vr: tensor<1x4x64x128xf16>) -> tensor<1x4x256x32xi8> {
  %r:8 = squant.kv_append #kivi keys(%k : tensor<1x4x7x128xf16>) values(%v : tensor<1x4x7x128xf16>) at(%pos)
     cache(%kc, %vc, %ks, %kz, %vs, %vz, %kr, %vr : tensor<1x4x256x32xi8>, tensor<1x4x256x32xi8>, tensor<1x4x8x128xf16>, tensor<1x4x8x128xf16>, tensor<1x4x256x4xf16>, tensor<1x4x256x4xf16>, tensor<1x4x64x128xf16>, tensor<1x4x64x128xf16>)
     -> tensor<1x4x256x32xi8>, tensor<1x4x256x32xi8>, tensor<1x4x8x128xf16>, tensor<1x4x8x128xf16>, tensor<1x4x256x4xf16>, tensor<1x4x256x4xf16>, tensor<1x4x64x128xf16>, tensor<1x4x64x128xf16>
  return %r#0 : tensor<1x4x256x32xi8>
}

// -----

#kvq = #squant.kv_format<kvquant, bits = 4>

// A cache carried by a loop is updated in place: to_buffer of the
// iteration arguments, and the results materialized in them, so that the
// loop yields the same buffers. Where the old cache is read after the
// append, the kernel updates a copy instead.
// CHECK-LABEL: func.func @append_in_loop
// CHECK: scf.for
// CHECK-COUNT-3: bufferization.to_buffer %arg{{[0-9]+}} : tensor<1x2x64x
// CHECK: gpu.launch_func @squant_kernels::@kv_append_kvq_b4
// CHECK-COUNT-3: bufferization.materialize_in_destination
// CHECK: scf.yield
// CHECK-LABEL: func.func @append_then_read_old
// CHECK: %[[OLD:.*]] = bufferization.to_buffer %arg4 read_only
// CHECK: %[[NEW:.*]] = memref.alloc() : memref<1x2x64x32xi8>
// CHECK: memref.copy %[[OLD]], %[[NEW]]
// CHECK: gpu.launch_func @squant_kernels::@kv_append_kvq_b4
// CHECK: bufferization.to_tensor %[[NEW]] restrict writable
// CHECK-NOT: materialize_in_destination
func.func @append_in_loop(%k: tensor<1x2x1x64xf32>, %v: tensor<1x2x1x64xf32>, %n: index,
    %klut: tensor<2x64x16xf32>, %vlut: tensor<16xf32>,
    %kc: tensor<1x2x64x32xi8>, %vc: tensor<1x2x64x32xi8>, %vs: tensor<1x2x64xf32>) -> tensor<1x2x64x32xi8> {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %r:3 = scf.for %i = %c0 to %n step %c1 iter_args(%a = %kc, %b = %vc, %c = %vs) -> (tensor<1x2x64x32xi8>, tensor<1x2x64x32xi8>, tensor<1x2x64xf32>) {
    %u:3 = squant.kv_append #kvq keys(%k : tensor<1x2x1x64xf32>) values(%v : tensor<1x2x1x64xf32>) at(%i)
       tables(%klut, %vlut : tensor<2x64x16xf32>, tensor<16xf32>)
       cache(%a, %b, %c : tensor<1x2x64x32xi8>, tensor<1x2x64x32xi8>, tensor<1x2x64xf32>)
       -> tensor<1x2x64x32xi8>, tensor<1x2x64x32xi8>, tensor<1x2x64xf32>
    scf.yield %u#0, %u#1, %u#2 : tensor<1x2x64x32xi8>, tensor<1x2x64x32xi8>, tensor<1x2x64xf32>
  }
  return %r#0 : tensor<1x2x64x32xi8>
}
func.func @append_then_read_old(%k: tensor<1x2x1x64xf32>, %v: tensor<1x2x1x64xf32>,
    %klut: tensor<2x64x16xf32>, %vlut: tensor<16xf32>,
    %kc: tensor<1x2x64x32xi8>, %vc: tensor<1x2x64x32xi8>, %vs: tensor<1x2x64xf32>) -> (tensor<1x2x64x32xi8>, tensor<1x2x64x32xi8>) {
  %c5 = arith.constant 5 : index
  %u:3 = squant.kv_append #kvq keys(%k : tensor<1x2x1x64xf32>) values(%v : tensor<1x2x1x64xf32>) at(%c5)
     tables(%klut, %vlut : tensor<2x64x16xf32>, tensor<16xf32>)
     cache(%kc, %vc, %vs : tensor<1x2x64x32xi8>, tensor<1x2x64x32xi8>, tensor<1x2x64xf32>)
     -> tensor<1x2x64x32xi8>, tensor<1x2x64x32xi8>, tensor<1x2x64xf32>
  return %u#0, %kc : tensor<1x2x64x32xi8>, tensor<1x2x64x32xi8>
}

// -----

#kvq = #squant.kv_format<kvquant, bits = 4, outliers = 1>

// Memref form: the kernel writes the cache buffers themselves; the op is
// gone. Dequantize: a thread per token vector, grid (ceil(n / 64), H, Bt),
// a rolled loop over steps of 8 channels: 8 4-bit codes are one 4-byte
// load, each step stored as one 16-byte vector of f16.
// CHECK-LABEL: func.func @memref_form
// CHECK-NOT: bufferization
// CHECK: gpu.launch_func @squant_kernels::@kv_append_kvq_b4_{{.*}} blocks in (%c3, %c1, %c1) threads in (%c64, %c1, %c1)
// CHECK: gpu.launch_func @squant_kernels::@[[DQ:kv_dequantize_kvq_b4_[a-z0-9_]*]] blocks in (%c2, %c2, %c1) threads in (%c64, %c1, %c1)
// CHECK-NOT: squant.
// CHECK: gpu.func @[[DQ]](
// CHECK: scf.for %{{.*}} = %c0 to %c8 step %c1
// CHECK: vector.load %{{.*}} {alignment = 4 : i64} : memref<?xi8>, vector<4xi8>
// CHECK: vector.store %{{.*}} {alignment = 16 : i64} : memref<?xf16>, vector<8xf16>
func.func @memref_form(%k: memref<1x2x3x64xf32>, %v: memref<1x2x3x64xf32>, %pos: index, %len: index,
    %klut: memref<2x64x16xf32>, %vlut: memref<16xf32>,
    %kc: memref<1x2x128x32xi8>, %vc: memref<1x2x128x32xi8>, %vs: memref<1x2x128xf32>,
    %kov: memref<1x2x128x1xf32>, %koi: memref<1x2x128x1xi8>, %vov: memref<1x2x128x1xf32>, %voi: memref<1x2x128x1xi8>,
    %dk: memref<1x2x100x64xf16>, %dv: memref<1x2x100x64xf16>) {
  squant.kv_append #kvq keys(%k : memref<1x2x3x64xf32>) values(%v : memref<1x2x3x64xf32>) at(%pos)
     tables(%klut, %vlut : memref<2x64x16xf32>, memref<16xf32>)
     cache(%kc, %vc, %vs, %kov, %koi, %vov, %voi : memref<1x2x128x32xi8>, memref<1x2x128x32xi8>, memref<1x2x128xf32>, memref<1x2x128x1xf32>, memref<1x2x128x1xi8>, memref<1x2x128x1xf32>, memref<1x2x128x1xi8>)
  %c0 = arith.constant 0 : index
  squant.kv_dequantize #kvq tables(%klut, %vlut : memref<2x64x16xf32>, memref<16xf32>)
     cache(%kc, %vc, %vs, %kov, %koi, %vov, %voi : memref<1x2x128x32xi8>, memref<1x2x128x32xi8>, memref<1x2x128xf32>, memref<1x2x128x1xf32>, memref<1x2x128x1xi8>, memref<1x2x128x1xf32>, memref<1x2x128x1xi8>)
     start(%c0) len(%len) outs(%dk, %dv : memref<1x2x100x64xf16>, memref<1x2x100x64xf16>)
  return
}
