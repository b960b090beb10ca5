// RUN: squant-opt %s --squant-gpu-launch-to-loops | FileCheck %s
// RUN: squant-opt %s --squant-gpu-launch-to-loops --squant-cpu-pipeline | mlir-runner -e main -entry-point-result=void -shared-libs=%mlir_c_runner_utils,%mlir_runner_utils | FileCheck %s --check-prefix=EXEC
// REQUIRES: mlir_c_runner_utils

// A kernel with the three constructs the emulation handles: workgroup
// memory, a barrier, and a shuffle. Thread t of block b stores in[64b + t] to
// shared memory, reads back element 63 - t after the barrier, and adds the
// value of its xor-1 partner lane.

// CHECK-LABEL: func.func @host
// CHECK-NOT: gpu.
// Workgroup memory and the per-thread values living across phases: stack
// buffers at the function entry.
// CHECK-DAG: memref.alloca() : memref<64xf32>
// CHECK-DAG: memref.alloca() : memref<64xindex>
// Blocks (z, y, x), then one thread loop nest per phase.
// CHECK: scf.for %[[BZ:.*]] = %c0 to %c1 step %c1
// CHECK: scf.for %[[BY:.*]] = %c0 to %c1 step %c1
// CHECK: scf.for %[[BX:.*]] = %c0 to %c2 step %c1
// Phase 0: up to the barrier.
// CHECK: scf.for
// CHECK: scf.for
// CHECK: scf.for %[[TX:.*]] = %c0 to %c64 step %c1
// CHECK: memref.load %arg0
// Phase 1: after the barrier, up to the shuffle.
// CHECK: scf.for %{{.*}} = %c0 to %c64 step %c1
// Phase 2: the shuffle reads its partner's value (lane ^ 1) from the
// per-thread buffer.
// CHECK: scf.for %{{.*}} = %c0 to %c64 step %c1
// CHECK: arith.xori %{{.*}}, %c1_i32 : i32
// CHECK: memref.store %{{.*}}, %arg1
// CHECK-NOT: gpu.module

// Block 0: t = 0, 1 read 63 and 62 (sum 125); t = 2, 3 read 61 and 60;
// block 1, t = 0, 1: 127 + 126.
// EXEC: [125,  125,  121,  121,  253,  253]
module attributes {gpu.container_module} {
  gpu.module @kernels {
    gpu.func @reverse_pairs(%in: memref<?xf32>, %out: memref<?xf32>)
        workgroup(%s : memref<64xf32, #gpu.address_space<workgroup>>) kernel {
      %c64 = arith.constant 64 : index
      %c63 = arith.constant 63 : index
      %one = arith.constant 1 : i32
      %width = arith.constant 32 : i32
      %t = gpu.thread_id x
      %b = gpu.block_id x
      %base = arith.muli %b, %c64 : index
      %i = arith.addi %base, %t : index
      %v = memref.load %in[%i] : memref<?xf32>
      memref.store %v, %s[%t] : memref<64xf32, #gpu.address_space<workgroup>>
      gpu.barrier
      %j = arith.subi %c63, %t : index
      %w = memref.load %s[%j] : memref<64xf32, #gpu.address_space<workgroup>>
      %r, %valid = gpu.shuffle xor %w, %one, %width : f32
      %sum = arith.addf %w, %r : f32
      memref.store %sum, %out[%i] : memref<?xf32>
      gpu.return
    }
  }

  func.func @host(%in: memref<?xf32>, %out: memref<?xf32>) {
    %c1 = arith.constant 1 : index
    %c2 = arith.constant 2 : index
    %c64 = arith.constant 64 : index
    gpu.launch_func @kernels::@reverse_pairs blocks in (%c2, %c1, %c1) threads in (%c64, %c1, %c1)
        args(%in : memref<?xf32>, %out : memref<?xf32>)
    return
  }

  func.func private @printMemrefF32(memref<*xf32>)

  func.func @main() {
    %c0 = arith.constant 0 : index
    %c1 = arith.constant 1 : index
    %c128 = arith.constant 128 : index
    %in = memref.alloc(%c128) : memref<?xf32>
    %out = memref.alloc(%c128) : memref<?xf32>
    scf.for %i = %c0 to %c128 step %c1 {
      %ii = arith.index_cast %i : index to i32
      %f = arith.sitofp %ii : i32 to f32
      memref.store %f, %in[%i] : memref<?xf32>
    }
    call @host(%in, %out) : (memref<?xf32>, memref<?xf32>) -> ()
    %head = memref.alloc() : memref<6xf32>
    %c4 = arith.constant 4 : index
    %c64 = arith.constant 64 : index
    // out[0..3] and out[64..65]; the pipeline frees the buffers.
    scf.for %k = %c0 to %c4 step %c1 {
      %x = memref.load %out[%k] : memref<?xf32>
      memref.store %x, %head[%k] : memref<6xf32>
    }
    %k4 = arith.constant 4 : index
    %k5 = arith.constant 5 : index
    %c65 = arith.constant 65 : index
    %a = memref.load %out[%c64] : memref<?xf32>
    %b = memref.load %out[%c65] : memref<?xf32>
    memref.store %a, %head[%k4] : memref<6xf32>
    memref.store %b, %head[%k5] : memref<6xf32>
    %u = memref.cast %head : memref<6xf32> to memref<*xf32>
    call @printMemrefF32(%u) : (memref<*xf32>) -> ()
    return
  }
}
