// RUN: squant-opt %s --split-input-file --squant-gpu-host-buffers -verify-diagnostics | FileCheck %s

// Host allocations, frees and copies move to device memory.
// CHECK-LABEL: func.func @host
// CHECK: %[[A:.*]] = gpu.alloc (%{{.*}}) : memref<?xf32>
// CHECK: gpu.memcpy %[[A]], %arg0 : memref<?xf32>, memref<?xf32>
// CHECK: gpu.dealloc %[[A]] : memref<?xf32>
// CHECK-NOT: memref.alloc
func.func @host(%in: memref<?xf32>, %n: index) {
  %a = memref.alloc(%n) : memref<?xf32>
  memref.copy %in, %a : memref<?xf32> to memref<?xf32>
  memref.dealloc %a : memref<?xf32>
  return
}

// -----

// The host may not touch device memory itself.
func.func @touch(%in: memref<4xf32>) -> f32 {
  %c0 = arith.constant 0 : index
  // expected-error @+1 {{squant-gpu-host-buffers: host code reads or writes a buffer that lives in device memory}}
  %v = memref.load %in[%c0] : memref<4xf32>
  return %v : f32
}

// -----

memref.global "private" constant @table : memref<4xf32> = dense<[1.0, 2.0, 3.0, 4.0]>
func.func @constant() -> memref<4xf32> {
  // expected-error @+1 {{squant-gpu-host-buffers: host constants cannot reach GPU kernels; pass the data as a function argument}}
  %g = memref.get_global @table : memref<4xf32>
  return %g : memref<4xf32>
}
