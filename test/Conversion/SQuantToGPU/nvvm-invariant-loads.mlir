// RUN: squant-opt %s --squant-nvvm-invariant-loads | FileCheck %s

// Loads rooted at a read-only kernel argument become invariant and the
// read-only pointers noalias (NVPTX: ld.global.nc); loads of written
// buffers, and functions that are not kernels, are left alone.
module attributes {gpu.container_module} {
  gpu.module @m {
    // CHECK-LABEL: llvm.func @kernel
    // CHECK-SAME: %[[A:.*]]: !llvm.ptr {llvm.noalias, llvm.readonly}, %[[B:.*]]: !llvm.ptr {llvm.noalias, llvm.readonly}, %[[O:.*]]: !llvm.ptr)
    // CHECK: %[[G:.*]] = llvm.getelementptr %[[B]]
    // CHECK: llvm.load %[[G]] invariant {alignment = 16 : i64} : !llvm.ptr -> vector<4xi32>
    // CHECK: %[[G2:.*]] = llvm.getelementptr %[[O]]
    // CHECK: llvm.load %[[G2]] : !llvm.ptr -> f32
    llvm.func @kernel(%a: !llvm.ptr {llvm.readonly}, %b: !llvm.ptr {llvm.readonly}, %o: !llvm.ptr) attributes {gpu.kernel, nvvm.kernel} {
      %i = llvm.mlir.constant(4 : i64) : i64
      %p = llvm.getelementptr %b[%i] : (!llvm.ptr, i64) -> !llvm.ptr, i32
      %v = llvm.load %p {alignment = 16 : i64} : !llvm.ptr -> vector<4xi32>
      %q = llvm.getelementptr %o[%i] : (!llvm.ptr, i64) -> !llvm.ptr, f32
      %f = llvm.load %q : !llvm.ptr -> f32
      llvm.store %f, %o : f32, !llvm.ptr
      llvm.return
    }
    // CHECK-LABEL: llvm.func @helper
    // CHECK-SAME: (%{{.*}}: !llvm.ptr {llvm.readonly})
    // CHECK: llvm.load %{{.*}} : !llvm.ptr -> f32
    llvm.func @helper(%a: !llvm.ptr {llvm.readonly}) -> f32 {
      %f = llvm.load %a : !llvm.ptr -> f32
      llvm.return %f : f32
    }
  }
}
