// squant-gpu-map-linalg: linalg ops and copies on buffers become gpu.launch
// ops in @squant_kernels. Reductions get cooperative kernels (a warp or a
// block per output, or lanes along a contiguous output dim) combined with
// xor shuffles and shared memory, never atomics; the fill that initializes a
// reduction's output is folded into it; everything else is one thread per
// point of the collapsed parallel dims, 256 per block.
//
// RUN: squant-opt %s --squant-gpu-map-linalg | FileCheck %s
// RUN: squant-opt %s --squant-gpu-map-linalg | FileCheck %s --check-prefix=NOATOMIC
// NOATOMIC-NOT: atomic
// NOATOMIC-NOT: linalg.
// NOATOMIC-NOT: SCFToGPU_visited
//
// The kernels run on the host (squant-gpu-launch-to-loops) and print their
// results; the inputs are small integers, so every sum is exact in f32
// whatever the order, and the expected values are closed forms:
// rowsum_short a[i][j] = 10i + j (5x10): 100i + 45;
// rowsum_long a[i][j] = i + j (3x300): 300i + 44850;
// rowmax_dyn a[i][j] = (7j mod 13) - i (4x20, dynamic): 12 - i;
// colsum a[i][j] = i + j (40x33): 780 + 40j (plus the initial 1);
// scale a[i][j] = 45i + j (7x45): 2 a, shown for row 6 (j = 40..44);
// copy: the 5 row sums copied, then rows 1..3 moved to 0..2 by a copy
// kernel: [145, 245, 345, 345, 445].
// RUN: squant-opt %s --squant-gpu-map-linalg --gpu-kernel-outlining --squant-gpu-launch-to-loops --squant-cpu-pipeline | mlir-runner -e main -entry-point-result=void -shared-libs=%mlir_c_runner_utils,%mlir_runner_utils | FileCheck %s --check-prefix=EXEC
// EXEC: [45,  145,  245,  345,  445]
// EXEC: [44850,  45150,  45450]
// EXEC: [12,  11,  10,  9]
// EXEC: [781,  821,  861,  901,  941,  981,  1021,  1061,  1101,  1141,  1181,  1221,  1261,  1301,  1341,  1381,  1421,  1461,  1501,  1541,  1581,  1621,  1661,  1701,  1741,  1781,  1821,  1861,  1901,  1941,  1981,  2021,  2061]
// EXEC: [620,  622,  624,  626,  628]
// EXEC: [145,  245,  345,  345,  445]

#id2 = affine_map<(d0, d1) -> (d0, d1)>
#row = affine_map<(d0, d1) -> (d0)>
#col = affine_map<(d0, d1) -> (d1)>
module {
  // One warp per row (10 <= 256 elements), 8 rows per block; five xor
  // butterflies; the fill is the initial value (no fill kernel).
  // CHECK-LABEL: func.func @rowsum_short(
  // CHECK-NOT: gpu.launch
  // CHECK: %[[G:.*]] = arith.ceildivui %{{.*}}, %c8 : index
  // CHECK: gpu.launch blocks({{.*}}) in ({{.*}} = %[[G]], {{.*}}) threads({{.*}}) in ({{.*}} = %c256, {{.*}}) module(@squant_kernels) function(@rowsum_short_reduce_warp_0) {
  // CHECK: scf.for
  // CHECK-COUNT-5: gpu.shuffle  xor
  // CHECK: scf.if
  // CHECK-NEXT: arith.addf %cst
  // CHECK-NEXT: memref.store
  // CHECK-NOT: gpu.launch
  // CHECK: return
  func.func @rowsum_short(%a: memref<5x10xf32>, %out: memref<5xf32>) {
    %z = arith.constant 0.0 : f32
    linalg.fill ins(%z : f32) outs(%out : memref<5xf32>)
    linalg.generic {indexing_maps = [#id2, #row], iterator_types = ["parallel", "reduction"]}
        ins(%a : memref<5x10xf32>) outs(%out : memref<5xf32>) {
    ^bb0(%x: f32, %acc: f32):
      %s = arith.addf %acc, %x : f32
      linalg.yield %s : f32
    }
    return
  }
  // 300 > 256 elements: a block per row, the 8 warp sums in shared memory.
  // CHECK-LABEL: func.func @rowsum_long(
  // CHECK: gpu.launch {{.*}} function(@rowsum_long_reduce_block_0) workgroup(%[[S:.*]] : memref<8xf32, #gpu.address_space<workgroup>>)
  // CHECK-COUNT-5: gpu.shuffle  xor
  // CHECK: memref.store %{{.*}}, %[[S]]
  // CHECK: gpu.barrier
  // CHECK-COUNT-8: memref.load %[[S]]
  func.func @rowsum_long(%a: memref<3x300xf32>, %out: memref<3xf32>) {
    %z = arith.constant 0.0 : f32
    linalg.fill ins(%z : f32) outs(%out : memref<3xf32>)
    linalg.generic {indexing_maps = [#id2, #row], iterator_types = ["parallel", "reduction"]}
        ins(%a : memref<3x300xf32>) outs(%out : memref<3xf32>) {
    ^bb0(%x: f32, %acc: f32):
      %s = arith.addf %x, %acc : f32
      linalg.yield %s : f32
    }
    return
  }
  // Dynamic reduction size: a block per row; maximumf combines.
  // CHECK-LABEL: func.func @rowmax_dyn(
  // CHECK: gpu.launch {{.*}} function(@rowmax_dyn_reduce_block_0)
  // CHECK-COUNT-5: arith.maximumf
  func.func @rowmax_dyn(%a: memref<?x?xf32>, %out: memref<?xf32>) {
    %z = arith.constant -1000.0 : f32
    linalg.fill ins(%z : f32) outs(%out : memref<?xf32>)
    linalg.generic {indexing_maps = [#id2, #row], iterator_types = ["parallel", "reduction"]}
        ins(%a : memref<?x?xf32>) outs(%out : memref<?xf32>) {
    ^bb0(%x: f32, %acc: f32):
      %s = arith.maximumf %acc, %x : f32
      linalg.yield %s : f32
    }
    return
  }
  // Reduction over rows of a row-major matrix: lanes along the columns
  // (contiguous loads), the 8 warps split the rows; no fill, so the output's
  // old value is the initial value.
  // CHECK-LABEL: func.func @colsum(
  // CHECK: gpu.launch {{.*}} function(@colsum_reduce_column_0) workgroup(%[[S:.*]] : memref<256xf32, #gpu.address_space<workgroup>>)
  // CHECK-NOT: gpu.shuffle
  // CHECK: gpu.barrier
  // CHECK: memref.load %arg1
  func.func @colsum(%a: memref<40x33xf32>, %out: memref<33xf32>) {
    linalg.generic {indexing_maps = [#id2, #col], iterator_types = ["reduction", "parallel"]}
        ins(%a : memref<40x33xf32>) outs(%out : memref<33xf32>) {
    ^bb0(%x: f32, %acc: f32):
      %s = arith.addf %acc, %x : f32
      linalg.yield %s : f32
    }
    return
  }
  // Elementwise: the 7x45 points collapsed into one dim, 256 threads per block.
  // CHECK-LABEL: func.func @scale(
  // CHECK: gpu.launch {{.*}} threads({{.*}}) in ({{.*}} = %{{.*}}, {{.*}}) module(@squant_kernels) function(@scale_map_0)
  // CHECK: arith.cmpi ult
  // CHECK: scf.if
  // CHECK: arith.mulf
  func.func @scale(%a: memref<7x45xf32>, %out: memref<7x45xf32>) {
    %two = arith.constant 2.0 : f32
    linalg.generic {indexing_maps = [#id2, #id2], iterator_types = ["parallel", "parallel"]}
        ins(%a : memref<7x45xf32>) outs(%out : memref<7x45xf32>) {
    ^bb0(%x: f32, %o: f32):
      %m = arith.mulf %x, %two : f32
      linalg.yield %m : f32
    }
    return
  }

  // A copy into a view (strided) becomes a copy kernel; a copy between
  // whole buffers is left for squant-gpu-host-buffers (gpu.memcpy), and so
  // is a copy from a host constant (an upload).
  // CHECK-LABEL: func.func @copy(
  // CHECK: memref.copy %{{.*}}, %arg1
  // CHECK: memref.copy %arg0, %arg1
  // CHECK: gpu.launch {{.*}} function(@copy_copy_0)
  // CHECK: return
  memref.global "private" constant @init : memref<5xf32> = dense<1.0>
  func.func @copy(%a: memref<5xf32>, %b: memref<5xf32>) {
    %g = memref.get_global @init : memref<5xf32>
    memref.copy %g, %b : memref<5xf32> to memref<5xf32>
    memref.copy %a, %b : memref<5xf32> to memref<5xf32>
    %s = memref.subview %a[1] [3] [1] : memref<5xf32> to memref<3xf32, strided<[1], offset: 1>>
    %t = memref.subview %b[0] [3] [1] : memref<5xf32> to memref<3xf32, strided<[1]>>
    memref.copy %s, %t : memref<3xf32, strided<[1], offset: 1>> to memref<3xf32, strided<[1]>>
    return
  }

  func.func private @printMemrefF32(memref<*xf32>)

  func.func @print(%m: memref<?xf32>) {
    %u = memref.cast %m : memref<?xf32> to memref<*xf32>
    call @printMemrefF32(%u) : (memref<*xf32>) -> ()
    return
  }

  // a[i][j] = f(i, j) for a 2-D buffer.
  func.func @init2(%a: memref<?x?xf32>, %ci: i32, %cj: i32, %mod: i32, %neg: i32) {
    %c0 = arith.constant 0 : index
    %c1 = arith.constant 1 : index
    %n = memref.dim %a, %c0 : memref<?x?xf32>
    %m = memref.dim %a, %c1 : memref<?x?xf32>
    scf.for %i = %c0 to %n step %c1 {
      scf.for %j = %c0 to %m step %c1 {
        %ii = arith.index_cast %i : index to i32
        %jj = arith.index_cast %j : index to i32
        %x = arith.muli %ii, %ci : i32
        %y = arith.muli %jj, %cj : i32
        %ym = arith.remsi %y, %mod : i32
        %in = arith.muli %ii, %neg : i32
        %s0 = arith.addi %x, %ym : i32
        %s = arith.subi %s0, %in : i32
        %f = arith.sitofp %s : i32 to f32
        memref.store %f, %a[%i, %j] : memref<?x?xf32>
      }
    }
    return
  }

  func.func @main() {
    %c0 = arith.constant 0 : index
    %c3 = arith.constant 3 : index
    %c4 = arith.constant 4 : index
    %c5 = arith.constant 5 : index
    %c20 = arith.constant 20 : index
    %i0 = arith.constant 0 : i32
    %i1 = arith.constant 1 : i32
    %i7 = arith.constant 7 : i32
    %i10 = arith.constant 10 : i32
    %i13 = arith.constant 13 : i32
    %i45 = arith.constant 45 : i32
    %big = arith.constant 1000000 : i32
    %one = arith.constant 1.0 : f32

    %a1 = memref.alloc() : memref<5x10xf32>
    %a1d = memref.cast %a1 : memref<5x10xf32> to memref<?x?xf32>
    call @init2(%a1d, %i10, %i1, %big, %i0) : (memref<?x?xf32>, i32, i32, i32, i32) -> ()
    %r1 = memref.alloc() : memref<5xf32>
    call @rowsum_short(%a1, %r1) : (memref<5x10xf32>, memref<5xf32>) -> ()
    %r1d = memref.cast %r1 : memref<5xf32> to memref<?xf32>
    call @print(%r1d) : (memref<?xf32>) -> ()

    %a2 = memref.alloc() : memref<3x300xf32>
    %a2d = memref.cast %a2 : memref<3x300xf32> to memref<?x?xf32>
    call @init2(%a2d, %i1, %i1, %big, %i0) : (memref<?x?xf32>, i32, i32, i32, i32) -> ()
    %r2 = memref.alloc() : memref<3xf32>
    call @rowsum_long(%a2, %r2) : (memref<3x300xf32>, memref<3xf32>) -> ()
    %r2d = memref.cast %r2 : memref<3xf32> to memref<?xf32>
    call @print(%r2d) : (memref<?xf32>) -> ()

    %a3 = memref.alloc(%c4, %c20) : memref<?x?xf32>
    call @init2(%a3, %i0, %i7, %i13, %i1) : (memref<?x?xf32>, i32, i32, i32, i32) -> ()
    %r3 = memref.alloc(%c4) : memref<?xf32>
    call @rowmax_dyn(%a3, %r3) : (memref<?x?xf32>, memref<?xf32>) -> ()
    call @print(%r3) : (memref<?xf32>) -> ()

    %a4 = memref.alloc() : memref<40x33xf32>
    %a4d = memref.cast %a4 : memref<40x33xf32> to memref<?x?xf32>
    call @init2(%a4d, %i1, %i1, %big, %i0) : (memref<?x?xf32>, i32, i32, i32, i32) -> ()
    %r4 = memref.alloc() : memref<33xf32>
    linalg.fill ins(%one : f32) outs(%r4 : memref<33xf32>)
    call @colsum(%a4, %r4) : (memref<40x33xf32>, memref<33xf32>) -> ()
    %r4d = memref.cast %r4 : memref<33xf32> to memref<?xf32>
    call @print(%r4d) : (memref<?xf32>) -> ()

    %a5 = memref.alloc() : memref<7x45xf32>
    %a5d = memref.cast %a5 : memref<7x45xf32> to memref<?x?xf32>
    call @init2(%a5d, %i45, %i1, %big, %i0) : (memref<?x?xf32>, i32, i32, i32, i32) -> ()
    %r5 = memref.alloc() : memref<7x45xf32>
    call @scale(%a5, %r5) : (memref<7x45xf32>, memref<7x45xf32>) -> ()
    %row = memref.subview %r5[6, 40] [1, 5] [1, 1] : memref<7x45xf32> to memref<5xf32, strided<[1], offset: 310>>
    %tail = memref.alloc() : memref<5xf32>
    memref.copy %row, %tail : memref<5xf32, strided<[1], offset: 310>> to memref<5xf32>
    %taild = memref.cast %tail : memref<5xf32> to memref<?xf32>
    call @print(%taild) : (memref<?xf32>) -> ()

    %r6 = memref.alloc() : memref<5xf32>
    call @copy(%r1, %r6) : (memref<5xf32>, memref<5xf32>) -> ()
    %r6d = memref.cast %r6 : memref<5xf32> to memref<?xf32>
    call @print(%r6d) : (memref<?xf32>) -> ()
    return
  }
}
