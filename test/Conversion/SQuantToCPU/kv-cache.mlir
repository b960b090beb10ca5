// convert-squant-to-cpu on the KV-cache ops: the memref form becomes calls
// of fused kernels (operands cast to the kernels' strided types; the caches
// of kv_append are updated in place), one kernel per signature, with the
// instruction sequences of each target; the tensor form is left for
// bufferization; unsupported operands keep the op for squant-decompose.
// RUN: squant-opt %s --convert-squant-to-cpu="target=avx512 threads=2" | FileCheck %s --check-prefixes=CHECK,AVX512
// RUN: squant-opt %s --convert-squant-to-cpu="target=avx2 threads=2" | FileCheck %s --check-prefixes=CHECK,AVX2
// RUN: squant-opt %s --convert-squant-to-cpu="target=generic threads=1" | FileCheck %s --check-prefixes=CHECK,GENERIC

#kvq = #squant.kv_format<kvquant, bits = 3, sink = 1, outliers = 2>
#kivi = #squant.kv_format<kivi, bits = 2, group = 32, residual = 64>

// CHECK-LABEL: func.func @append
// CHECK-SAME: (%[[K:arg[0-9]+]]: memref<1x8x1x128xf16>, %{{.*}}: memref<1x8x1x128xf16>, %[[POS:arg[0-9]+]]: index, %{{.*}}: memref<8x128x8xf32>, %{{.*}}: memref<8xf32>, %[[KC:arg[0-9]+]]: memref<1x8x4096x48xi8>
// CHECK-NOT: squant.kv_append
// CHECK-DAG: %[[KA:.*]] = memref.cast %[[K]] : memref<1x8x1x128xf16> to memref<?x?x?x?xf16, strided<[?, ?, ?, 1], offset: ?>>
// CHECK-DAG: %[[KCA:.*]] = memref.cast %[[KC]] : memref<1x8x4096x48xi8> to memref<?x?x?x?xi8, strided<[?, ?, ?, 1], offset: ?>>
// CHECK: call @[[APPEND:__squant_cpu_kv_append_[a-z0-9]+_t[0-9]_kvquant_b3_g0_s1_r0_o2_d128[A-Za-z0-9_]*]](%[[KA]], %{{.*}}, %[[POS]], %{{.*}}, %{{.*}}, %[[KCA]],
// CHECK-NOT: squant.kv_append
func.func @append(%k: memref<1x8x1x128xf16>, %v: memref<1x8x1x128xf16>, %pos: index,
                  %kl: memref<8x128x8xf32>, %vl: memref<8xf32>,
                  %kc: memref<1x8x4096x48xi8>, %vc: memref<1x8x4096x48xi8>, %vs: memref<1x8x4096xf16>,
                  %kov: memref<1x8x4096x2xf16>, %koi: memref<1x8x4096x2xi8>,
                  %vov: memref<1x8x4096x2xf16>, %voi: memref<1x8x4096x2xi8>,
                  %ks: memref<1x8x1x128xf16>, %vsk: memref<1x8x1x128xf16>) {
  squant.kv_append #kvq keys(%k : memref<1x8x1x128xf16>) values(%v : memref<1x8x1x128xf16>) at(%pos)
      tables(%kl, %vl : memref<8x128x8xf32>, memref<8xf32>)
      cache(%kc, %vc, %vs, %kov, %koi, %vov, %voi, %ks, %vsk : memref<1x8x4096x48xi8>, memref<1x8x4096x48xi8>, memref<1x8x4096xf16>,
            memref<1x8x4096x2xf16>, memref<1x8x4096x2xi8>, memref<1x8x4096x2xf16>, memref<1x8x4096x2xi8>,
            memref<1x8x1x128xf16>, memref<1x8x1x128xf16>)
  return
}

// Two identical attention ops share one kernel; the query is a strided view.
// CHECK-LABEL: func.func @attend
// CHECK: %[[QA:.*]] = memref.cast %{{.*}} : memref<1x32x128xf32, strided<[4096, 128, 1], offset: ?>> to memref<?x?x?xf32, strided<[?, ?, 1], offset: ?>>
// CHECK: call @[[ATT:__squant_cpu_kv_attention_[a-z0-9]+_t[0-9]_kvquant_b3_g0_s1_r0_o2_d128[A-Za-z0-9_]*_q4_half[A-Za-z0-9_]*]](%[[QA]], %{{.*}}, %{{.*}},
// CHECK: call @[[ATT]](
// CHECK-NOT: squant.kv_attention
func.func @attend(%qs: memref<2x32x128xf32>, %i: index, %len: index, %pos: index,
                  %kl: memref<8x128x8xf32>, %vl: memref<8xf32>,
                  %kc: memref<1x8x4096x48xi8>, %vc: memref<1x8x4096x48xi8>, %vs: memref<1x8x4096xf16>,
                  %kov: memref<1x8x4096x2xf16>, %koi: memref<1x8x4096x2xi8>,
                  %vov: memref<1x8x4096x2xf16>, %voi: memref<1x8x4096x2xi8>,
                  %ks: memref<1x8x1x128xf16>, %vsk: memref<1x8x1x128xf16>,
                  %o1: memref<1x32x128xf32>, %o2: memref<1x32x128xf32>) {
  %q = memref.subview %qs[%i, 0, 0] [1, 32, 128] [1, 1, 1] : memref<2x32x128xf32> to memref<1x32x128xf32, strided<[4096, 128, 1], offset: ?>>
  squant.kv_attention #kvq query(%q : memref<1x32x128xf32, strided<[4096, 128, 1], offset: ?>>) len(%len) position(%pos)
      tables(%kl, %vl : memref<8x128x8xf32>, memref<8xf32>)
      cache(%kc, %vc, %vs, %kov, %koi, %vov, %voi, %ks, %vsk : memref<1x8x4096x48xi8>, memref<1x8x4096x48xi8>, memref<1x8x4096xf16>,
            memref<1x8x4096x2xf16>, memref<1x8x4096x2xi8>, memref<1x8x4096x2xf16>, memref<1x8x4096x2xi8>,
            memref<1x8x1x128xf16>, memref<1x8x1x128xf16>)
      rope(half) outs(%o1 : memref<1x32x128xf32>)
  squant.kv_attention #kvq query(%q : memref<1x32x128xf32, strided<[4096, 128, 1], offset: ?>>) len(%len) position(%pos)
      tables(%kl, %vl : memref<8x128x8xf32>, memref<8xf32>)
      cache(%kc, %vc, %vs, %kov, %koi, %vov, %voi, %ks, %vsk : memref<1x8x4096x48xi8>, memref<1x8x4096x48xi8>, memref<1x8x4096xf16>,
            memref<1x8x4096x2xf16>, memref<1x8x4096x2xi8>, memref<1x8x4096x2xf16>, memref<1x8x4096x2xi8>,
            memref<1x8x1x128xf16>, memref<1x8x1x128xf16>)
      rope(half) outs(%o2 : memref<1x32x128xf32>)
  return
}

// KIVI attention and dequantize (no tables).
// CHECK-LABEL: func.func @kivi
// CHECK: call @[[KIVIATT:__squant_cpu_kv_attention_[a-z0-9]+_t[0-9]_kivi_b2_g32_s0_r64_o0_d128[A-Za-z0-9_]*_q1_interleaved[A-Za-z0-9_]*]](
// CHECK: call @[[KIVIDEQ:__squant_cpu_kv_dequantize_[a-z0-9]+_t[0-9]_kivi_b2_g32_s0_r64_o0_d128[A-Za-z0-9_]*]](
// CHECK-NOT: squant.kv_
func.func @kivi(%q: memref<2x4x128xf32>, %len: index, %pos: index,
                %kc: memref<2x4x256x32xi8>, %vc: memref<2x4x256x32xi8>,
                %ks: memref<2x4x8x128xf16>, %kz: memref<2x4x8x128xf16>,
                %vs: memref<2x4x256x4xf16>, %vz: memref<2x4x256x4xf16>,
                %kr: memref<2x4x64x128xf16>, %vr: memref<2x4x64x128xf16>,
                %o: memref<2x4x128xf32>, %dk: memref<2x4x16x128xf16>, %dv: memref<2x4x16x128xf32>) {
  squant.kv_attention #kivi query(%q : memref<2x4x128xf32>) len(%len) position(%pos)
      cache(%kc, %vc, %ks, %kz, %vs, %vz, %kr, %vr : memref<2x4x256x32xi8>, memref<2x4x256x32xi8>,
            memref<2x4x8x128xf16>, memref<2x4x8x128xf16>, memref<2x4x256x4xf16>, memref<2x4x256x4xf16>,
            memref<2x4x64x128xf16>, memref<2x4x64x128xf16>)
      rope(interleaved) outs(%o : memref<2x4x128xf32>)
  squant.kv_dequantize #kivi
      cache(%kc, %vc, %ks, %kz, %vs, %vz, %kr, %vr : memref<2x4x256x32xi8>, memref<2x4x256x32xi8>,
            memref<2x4x8x128xf16>, memref<2x4x8x128xf16>, memref<2x4x256x4xf16>, memref<2x4x256x4xf16>,
            memref<2x4x64x128xf16>, memref<2x4x64x128xf16>)
      start(%pos) len(%len) outs(%dk, %dv : memref<2x4x16x128xf16>, memref<2x4x16x128xf32>)
  return
}

// Left for squant-decompose: the tensor form (bufferized first), a dynamic
// number of query heads, and a cache whose innermost stride is not 1.
// CHECK-LABEL: func.func @unsupported
// CHECK: squant.kv_attention {{.*}} query(%{{.*}} : memref<1x?x128xf32>)
// CHECK: squant.kv_attention {{.*}} strided<[65536, 16384, 256, 2]>
// CHECK: squant.kv_attention {{.*}} -> tensor<1x4x128xf32>
func.func @unsupported(%qd: memref<1x?x128xf32>, %q: memref<1x4x128xf32>, %qt: tensor<1x4x128xf32>, %len: index,
                       %kc: memref<1x4x64x32xi8>, %vc: memref<1x4x64x32xi8>,
                       %ks: memref<1x4x2x128xf16>, %kz: memref<1x4x2x128xf16>,
                       %vs: memref<1x4x64x4xf16>, %vz: memref<1x4x64x4xf16>,
                       %kr: memref<1x4x64x128xf16>, %vr: memref<1x4x64x128xf16>,
                       %vr2: memref<1x4x64x256xf16>,
                       %od: memref<1x?x128xf32>, %o: memref<1x4x128xf32>,
                       %kct: tensor<1x4x64x32xi8>, %vct: tensor<1x4x64x32xi8>,
                       %kst: tensor<1x4x2x128xf16>, %vst: tensor<1x4x64x4xf16>, %krt: tensor<1x4x64x128xf16>) -> tensor<1x4x128xf32> {
  squant.kv_attention #kivi query(%qd : memref<1x?x128xf32>) len(%len) position(%len)
      cache(%kc, %vc, %ks, %kz, %vs, %vz, %kr, %vr : memref<1x4x64x32xi8>, memref<1x4x64x32xi8>,
            memref<1x4x2x128xf16>, memref<1x4x2x128xf16>, memref<1x4x64x4xf16>, memref<1x4x64x4xf16>,
            memref<1x4x64x128xf16>, memref<1x4x64x128xf16>)
      rope(half) outs(%od : memref<1x?x128xf32>)
  %vs2 = memref.subview %vr2[0, 0, 0, 0] [1, 4, 64, 128] [1, 1, 1, 2] : memref<1x4x64x256xf16> to memref<1x4x64x128xf16, strided<[65536, 16384, 256, 2]>>
  squant.kv_attention #kivi query(%q : memref<1x4x128xf32>) len(%len) position(%len)
      cache(%kc, %vc, %ks, %kz, %vs, %vz, %kr, %vs2 : memref<1x4x64x32xi8>, memref<1x4x64x32xi8>,
            memref<1x4x2x128xf16>, memref<1x4x2x128xf16>, memref<1x4x64x4xf16>, memref<1x4x64x4xf16>,
            memref<1x4x64x128xf16>, memref<1x4x64x128xf16, strided<[65536, 16384, 256, 2]>>)
      rope(half) outs(%o : memref<1x4x128xf32>)
  %e = tensor.empty() : tensor<1x4x128xf32>
  %r = squant.kv_attention #kivi query(%qt : tensor<1x4x128xf32>) len(%len) position(%len)
      cache(%kct, %vct, %kst, %kst, %vst, %vst, %krt, %krt : tensor<1x4x64x32xi8>, tensor<1x4x64x32xi8>,
            tensor<1x4x2x128xf16>, tensor<1x4x2x128xf16>, tensor<1x4x64x4xf16>, tensor<1x4x64x4xf16>,
            tensor<1x4x64x128xf16>, tensor<1x4x64x128xf16>)
      rope(half) outs(%e : tensor<1x4x128xf32>) -> tensor<1x4x128xf32>
  return %r : tensor<1x4x128xf32>
}

// The kernels. kv_append: parallel over (batch row, KV head) (a sequential
// loop with threads=1), no target intrinsics, O selection passes.
// CHECK: func.func private @[[APPEND]](
// AVX512-SAME: target_features
// CHECK-NOT: llvm.x86
// CHECK-NOT: func.func
// AVX512: scf.parallel
// GENERIC-NOT: scf.parallel
// CHECK: memref.alloc() : memref<128xf32>
// CHECK: return

// kv_attention: the RoPE table (vectorized sincos), then tasks over blocks
// x item groups in parallel, key tiles gathered (AVX targets) and looked up
// in per-channel register tables, then the deterministic combine.
// CHECK: func.func private @[[ATT]](
// AVX512-SAME: target_features = #llvm.target_features<["+avx2", "+fma", "+avx512f", "+avx512bw", "+avx512vl"]>
// AVX2-SAME: target_features = #llvm.target_features<["+avx2", "+fma"]>
// GENERIC-NOT: target_features
// CHECK: math.powf
// AVX512: scf.parallel
// AVX512: call @llvm.masked.gather.v16i32.v16p0
// AVX512: call @llvm.x86.avx512.permvar.sf.512
// AVX512: scf.parallel
// AVX2: call @llvm.masked.gather.v8i32.v8p0
// AVX2: call @llvm.x86.avx2.permps
// GENERIC-NOT: llvm.x86
// GENERIC-NOT: llvm.masked
// GENERIC-NOT: scf.parallel
// CHECK: return
