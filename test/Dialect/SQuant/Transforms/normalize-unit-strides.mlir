// squant-normalize-unit-strides: a size-1 dim's stride becomes 1 in slices
// and subviews (it only reads its offset). The first case is the MLIR fuzz
// target's finding: squant-cpu-pipeline crashed in MLIR 22's
// expand-strided-metadata (SubViewOp::getDroppedDims) on the subview that
// this slice bufferizes to; both CPU pipelines now compile it.
// RUN: squant-opt %s --squant-normalize-unit-strides | FileCheck %s
// RUN: squant-opt %s --squant-cpu-pipeline -o /dev/null
// RUN: squant-opt %s --squant-cpu-pipeline=kernels=reference -o /dev/null

// CHECK-LABEL: func @strided_unit_dim
// CHECK: tensor.extract_slice %{{.*}}[0, 0, 0, 0] [1, 1, 4, 16] [1, 1, 1, 1] : tensor<1x1x4x16xf32> to tensor<1x4x16xf32>
func.func @strided_unit_dim(%q: tensor<1x1x4x16xf32>) -> tensor<1x4x16xf32> {
  %s = tensor.extract_slice %q[0, 0, 0, 0] [1, 1, 4, 16] [128, 1, 1, 1] : tensor<1x1x4x16xf32> to tensor<1x4x16xf32>
  return %s : tensor<1x4x16xf32>
}

// A stride on a non-unit dim is kept; insert_slice is normalized too.
// CHECK-LABEL: func @insert
// CHECK: tensor.insert_slice %{{.*}} into %{{.*}}[0, 0] [1, 4] [1, 2]
func.func @insert(%d: tensor<4x8xf32>, %s: tensor<4xf32>) -> tensor<4x8xf32> {
  %r = tensor.insert_slice %s into %d[0, 0] [1, 4] [5, 2] : tensor<4xf32> into tensor<4x8xf32>
  return %r : tensor<4x8xf32>
}

// A dropped unit dim of a subview; a kept one would change the result
// layout and is left alone.
// CHECK-LABEL: func @subview_dropped
// CHECK: memref.subview %{{.*}}[0, 0, 0, 0] [2, 1, 4, 16] [1, 1, 1, 1]
func.func @subview_dropped(%m: memref<2x1x4x16xf32>) -> memref<2x4x16xf32, strided<[64, 16, 1]>> {
  %s = memref.subview %m[0, 0, 0, 0] [2, 1, 4, 16] [1, 7, 1, 1] : memref<2x1x4x16xf32> to memref<2x4x16xf32, strided<[64, 16, 1]>>
  return %s : memref<2x4x16xf32, strided<[64, 16, 1]>>
}
