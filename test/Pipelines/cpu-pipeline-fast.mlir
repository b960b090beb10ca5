// squant-cpu-pipeline with kernels=fast (the default): the kernel's row loop
// becomes an OpenMP parallel loop unless threads=1; kernels=reference keeps
// the reference lowering (no kernel function).
// RUN: squant-opt %s --squant-cpu-pipeline="target=avx512 threads=2" | FileCheck %s --check-prefix=CHECK-OMP
// RUN: squant-opt %s --squant-cpu-pipeline="target=avx2 threads=1" | FileCheck %s --check-prefix=CHECK-SEQ
// RUN: squant-opt %s --squant-cpu-pipeline="kernels=reference" | FileCheck %s --check-prefix=CHECK-REF
// The kernel's instruction set travels with it: a baseline-CPU build
// (llc -mcpu=x86-64) still compiles the AVX-512 kernel.
// RUN: squant-opt %s --squant-cpu-pipeline="target=avx512 threads=2" | mlir-translate --mlir-to-llvmir | llc -O2 -mtriple=x86_64-linux-gnu -mcpu=x86-64 | FileCheck %s --check-prefix=CHECK-AOT
// CHECK-AOT: vpermps %zmm
// RUN: not squant-opt %s --pass-pipeline="builtin.module(squant-cpu-pipeline{target=sse9})" 2>&1 | FileCheck %s --check-prefix=CHECK-BADOPT

// CHECK-OMP: llvm.func @linear
// CHECK-OMP: llvm.call @__squant_cpu_lut_matmul_avx512_t2_words
// CHECK-OMP: llvm.func @__squant_cpu_lut_matmul_avx512_t2_words
// CHECK-OMP-SAME: target_features = #llvm.target_features<["+avx2", "+fma", "+avx512f", "+avx512bw", "+avx512vl"]>
// CHECK-OMP: omp.parallel num_threads
// CHECK-OMP: omp.wsloop
// CHECK-OMP: llvm.call @llvm.x86.avx512.permvar.sf.512

// CHECK-SEQ: llvm.func @__squant_cpu_lut_matmul_avx2_t1_words
// CHECK-SEQ-NOT: omp.
// CHECK-SEQ: llvm.call @llvm.x86.avx2.permps

// CHECK-REF-NOT: __squant_cpu
// CHECK-REF: llvm.func @linear

// CHECK-BADOPT: for the --target option: Cannot find option named 'sse9'!

func.func @linear(%x: tensor<1x128xf32>, %q: tensor<16x64xi32>, %lut: tensor<64x16xf32>) -> tensor<1x64xf32> {
  %e = tensor.empty() : tensor<64x128xi4>
  %c = squant.unpack squeezellm ins(%q : tensor<16x64xi32>) outs(%e : tensor<64x128xi4>) -> tensor<64x128xi4>
  %i = tensor.empty() : tensor<1x64xf32>
  %y = squant.lut_matmul ins(%x, %c, %lut : tensor<1x128xf32>, tensor<64x128xi4>, tensor<64x16xf32>)
         outs(%i : tensor<1x64xf32>) -> tensor<1x64xf32>
  return %y : tensor<1x64xf32>
}
