// squant-cpu-pipeline on a decode step (append one token, then attend) on
// tensors: with kernels=fast (the default) the KV-cache ops are bufferized in
// place and become calls of the fused kernels (no copy of the cache), whose
// parallel loops become OpenMP unless threads=1; kernels=reference keeps the
// reference lowering. (The caches are updated where the caller passed them;
// returning them too would make the deallocation pipeline clone them, since
// a function does not own its arguments.)
// RUN: squant-opt %s --squant-cpu-pipeline="target=avx512 threads=2" | FileCheck %s --check-prefix=CHECK-OMP
// RUN: squant-opt %s --squant-cpu-pipeline="target=generic threads=1" | FileCheck %s --check-prefix=CHECK-SEQ
// RUN: squant-opt %s --squant-cpu-pipeline="kernels=reference" | FileCheck %s --check-prefix=CHECK-REF

// CHECK-OMP-LABEL: llvm.func @decode_step
// CHECK-OMP-NOT: memcpy
// CHECK-OMP-NOT: memrefCopy
// CHECK-OMP: llvm.call @__squant_cpu_kv_append_avx512_t2_kivi_b2_g4_s0_r4_o0_d16
// CHECK-OMP-NOT: memcpy
// CHECK-OMP-NOT: memrefCopy
// CHECK-OMP: llvm.call @__squant_cpu_kv_attention_avx512_t2_kivi_b2_g4_s0_r4_o0_d16
// CHECK-OMP-NOT: memcpy
// CHECK-OMP-NOT: memrefCopy
// CHECK-OMP: llvm.return
// CHECK-OMP: llvm.func @__squant_cpu_kv_append_avx512_t2
// CHECK-OMP: omp.parallel
// CHECK-OMP: llvm.func @__squant_cpu_kv_attention_avx512_t2
// CHECK-OMP: omp.parallel
// CHECK-OMP: llvm.call @llvm.masked.gather.v16i32.v16p0

// CHECK-SEQ: llvm.func @__squant_cpu_kv_append_generic_t1
// CHECK-SEQ-NOT: omp.
// CHECK-SEQ-NOT: llvm.x86
// CHECK-SEQ: llvm.func @__squant_cpu_kv_attention_generic_t1

// CHECK-REF-NOT: __squant_cpu_kv
// CHECK-REF: llvm.func @decode_step

func.func @decode_step(%k: tensor<1x2x1x16xf32>, %pos: index, %q: tensor<1x4x16xf32>,
                       %kc: tensor<1x2x8x4xi8>, %vc: tensor<1x2x8x4xi8>,
                       %ks: tensor<1x2x2x16xf16>, %kz: tensor<1x2x2x16xf16>,
                       %vs: tensor<1x2x8x4xf16>, %vz: tensor<1x2x8x4xf16>,
                       %rk: tensor<1x2x4x16xf16>, %rv: tensor<1x2x4x16xf16>)
    -> tensor<1x4x16xf32> {
  %c:8 = squant.kv_append #squant.kv_format<kivi, bits = 2, group = 4, residual = 4>
    keys(%k : tensor<1x2x1x16xf32>) values(%k : tensor<1x2x1x16xf32>) at(%pos)
    cache(%kc, %vc, %ks, %kz, %vs, %vz, %rk, %rv
          : tensor<1x2x8x4xi8>, tensor<1x2x8x4xi8>, tensor<1x2x2x16xf16>, tensor<1x2x2x16xf16>,
            tensor<1x2x8x4xf16>, tensor<1x2x8x4xf16>, tensor<1x2x4x16xf16>, tensor<1x2x4x16xf16>)
    -> tensor<1x2x8x4xi8>, tensor<1x2x8x4xi8>, tensor<1x2x2x16xf16>, tensor<1x2x2x16xf16>,
       tensor<1x2x8x4xf16>, tensor<1x2x8x4xf16>, tensor<1x2x4x16xf16>, tensor<1x2x4x16xf16>
  %c1 = arith.constant 1 : index
  %len = arith.addi %pos, %c1 : index
  %e = tensor.empty() : tensor<1x4x16xf32>
  %o = squant.kv_attention #squant.kv_format<kivi, bits = 2, group = 4, residual = 4>
    query(%q : tensor<1x4x16xf32>) len(%len) position(%pos)
    cache(%c#0, %c#1, %c#2, %c#3, %c#4, %c#5, %c#6, %c#7
          : tensor<1x2x8x4xi8>, tensor<1x2x8x4xi8>, tensor<1x2x2x16xf16>, tensor<1x2x2x16xf16>,
            tensor<1x2x8x4xf16>, tensor<1x2x8x4xf16>, tensor<1x2x4x16xf16>, tensor<1x2x4x16xf16>)
    rope(half) outs(%e : tensor<1x4x16xf32>) -> tensor<1x4x16xf32>
  return %o : tensor<1x4x16xf32>
}
