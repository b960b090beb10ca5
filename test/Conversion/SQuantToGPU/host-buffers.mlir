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

// The host may not touch device memory (here a result of a public
// function, device memory by contract).
func.func @touch(%n: index) -> memref<?xf32> {
  %c0 = arith.constant 0 : index
  %a = memref.alloc(%n) : memref<?xf32>
  %s = memref.subview %a[0] [2] [1] : memref<?xf32> to memref<2xf32, strided<[1]>>
  // expected-error @+1 {{squant-gpu-host-buffers: host code reads or writes a buffer that lives in device memory}}
  %v = memref.load %s[%c0] : memref<2xf32, strided<[1]>>
  // Host buffers are fine.
  %h = memref.alloca() : memref<2xf32>
  memref.store %v, %h[%c0] : memref<2xf32>
  return %a : memref<?xf32>
}

// -----

// Buffers that never reach the device stay on the host (e.g. the pointer
// arrays of the deallocation helpers).
// CHECK-LABEL: func.func @host_only
// CHECK: memref.alloc
// CHECK: memref.store
// CHECK: memref.dealloc
// CHECK-NOT: gpu.
func.func @host_only(%v: index) {
  %c0 = arith.constant 0 : index
  %a = memref.alloc() : memref<4xindex>
  memref.store %v, %a[%c0] : memref<4xindex>
  memref.dealloc %a : memref<4xindex>
  return
}

// -----

memref.global "private" constant @table : memref<4xf32> = dense<[1.0, 2.0, 3.0, 4.0]>
func.func @constant() -> memref<4xf32> {
  // expected-error @+1 {{squant-gpu-host-buffers: host constants cannot reach GPU kernels; pass the data as a function argument or copy it to device memory}}
  %g = memref.get_global @table : memref<4xf32>
  return %g : memref<4xf32>
}

// -----

// Uploading a host constant is fine.
// CHECK-LABEL: func.func @upload
// CHECK: %[[G:.*]] = memref.get_global @weights
// CHECK: %[[D:.*]] = gpu.alloc () : memref<4xf32>
// CHECK: gpu.memcpy %[[D]], %[[G]]
memref.global "private" constant @weights : memref<4xf32> = dense<[1.0, 2.0, 3.0, 4.0]>
func.func @upload() -> memref<4xf32> {
  %g = memref.get_global @weights : memref<4xf32>
  %d = memref.alloc() : memref<4xf32>
  memref.copy %g, %d : memref<4xf32> to memref<4xf32>
  return %d : memref<4xf32>
}

// -----

// An argument marked squant.host stays in host memory: the host code may
// read it (here a position), and it is not treated as device memory.
// CHECK-LABEL: func.func @host_arg
// CHECK: memref.load %arg1
// CHECK: gpu.alloc
func.func @host_arg(%x: memref<?xf32>, %pos: memref<1xi64> {squant.host}) -> memref<?xf32> {
  %c0 = arith.constant 0 : index
  %p = memref.load %pos[%c0] : memref<1xi64>
  %n = arith.index_cast %p : i64 to index
  %a = memref.alloc(%n) : memref<?xf32>
  memref.copy %x, %a : memref<?xf32> to memref<?xf32>
  return %a : memref<?xf32>
}

// -----

// A host argument that reaches device code is an error.
// expected-error @+1 {{squant-gpu-host-buffers: argument #0 is marked squant.host but reaches device code}}
func.func @host_arg_on_device(%pos: memref<4xf32> {squant.host}) -> memref<4xf32> {
  return %pos : memref<4xf32>
}
