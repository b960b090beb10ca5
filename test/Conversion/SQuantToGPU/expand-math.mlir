// squant-gpu-expand-math: kernels compute math without libdevice calls.
// RUN: squant-opt %s --squant-gpu-expand-math | FileCheck %s
// RUN: squant-opt %s --squant-gpu-expand-math="intrinsics=false" | FileCheck %s --check-prefix=POLY
// POLY-LABEL: func.func @kernel(
// POLY-NOT: llvm.call_intrinsic
// POLY-NOT: math.exp
// POLY-NOT: math.sin
// POLY-NOT: math.cos
// POLY-NOT: math.rsqrt
// POLY: gpu.terminator
// After the NVVM lowering no __nv_* function is declared or called.
// RUN: squant-opt %s --squant-gpu-expand-math --gpu-kernel-outlining --convert-math-to-llvm --convert-gpu-to-nvvm | FileCheck %s --check-prefix=NVVM
// NVVM-NOT: __nv_
// NVVM: llvm.call_intrinsic "llvm.sqrt.f32"

// CHECK-LABEL: func.func @kernel(
// Transcendental ops become polynomials (arith only, floor for the range
// reduction); rsqrt is 1 / sqrt; sqrt, floor and fabs are LLVM intrinsics.
// CHECK: gpu.launch
// CHECK-NOT: math.exp
// CHECK-NOT: math.sin
// CHECK-NOT: math.cos
// CHECK-NOT: math.rsqrt
// CHECK-NOT: math.sqrt
// CHECK-NOT: math.absf
// CHECK-NOT: math.floor
// CHECK-DAG: llvm.call_intrinsic "llvm.sqrt.f32"
// CHECK-DAG: llvm.call_intrinsic "llvm.fabs.f32"
// CHECK-DAG: llvm.call_intrinsic "llvm.floor.f32"
// CHECK-DAG: arith.divf
// math.fma stays (convert-math-to-llvm makes it llvm.intr.fma).
// CHECK: math.fma
// CHECK: gpu.terminator
// Host code is left alone.
// CHECK: math.exp
// CHECK: return
func.func @kernel(%p: memref<8xf32>) -> f32 {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  gpu.launch blocks(%b0, %b1, %b2) in (%g0 = %c1, %g1 = %c1, %g2 = %c1)
             threads(%t0, %t1, %t2) in (%s0 = %c1, %s1 = %c1, %s2 = %c1) {
    %x = memref.load %p[%c0] : memref<8xf32>
    %a = math.sqrt %x : f32
    %b = math.rsqrt %a : f32
    %c = math.exp %b : f32
    %d = math.sin %c : f32
    %e = math.cos %d : f32
    %f = math.absf %e : f32
    %g = math.fma %f, %d, %c : f32
    memref.store %g, %p[%c0] : memref<8xf32>
    gpu.terminator
  }
  %h = memref.load %p[%c0] : memref<8xf32>
  %r = math.exp %h : f32
  return %r : f32
}
