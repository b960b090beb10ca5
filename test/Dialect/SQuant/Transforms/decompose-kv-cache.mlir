// RUN: squant-opt %s --squant-decompose --split-input-file | FileCheck %s

// The reference lowering of the KV-cache ops (DecomposeKVCache.cpp); the
// numerics are checked against the Python reference in
// test/Integration/CPU/kv-cache-*.test.

// kv_append, kvquant: an scf.for over the new tokens carrying the cache, a
// bound check, then per token: nearest key-table entry (8 entries at 3 bits),
// ranks of the errors (a reduction over the channels), the outlier slot,
// packed codes, the value scale and value codes, each written into the
// token's slice.
// CHECK-LABEL: func @append_kvquant
// CHECK-SAME: %[[POS:[a-z0-9]+]]: index
// CHECK: scf.for %[[I:.*]] = %{{.*}} to %{{.*}} step %{{.*}} iter_args({{.*}}) -> (tensor<1x2x8x6xi8>, tensor<1x2x8x6xi8>, tensor<1x2x8xf16>, tensor<1x2x8x1xf16>, tensor<1x2x8x1xi8>, tensor<1x2x8x1xf16>, tensor<1x2x8x1xi8>)
// CHECK: %[[T:.*]] = arith.addi %[[POS]], %[[I]] : index
// CHECK: arith.cmpi ult, %[[T]], %{{.*}} : index
// CHECK: scf.if
// CHECK-COUNT-8: tensor.extract %{{.*}} : tensor<2x16x8xf32>
// CHECK: linalg.generic {{.*}} iterator_types = ["parallel", "parallel", "parallel", "reduction"]
// CHECK: arith.cmpf ogt
// CHECK: linalg.generic {{.*}} iterator_types = ["parallel", "parallel", "parallel", "reduction"]
// CHECK: tensor.insert_slice %{{.*}} into %{{.*}}[0, 0, %[[T]], 0] [1, 2, 1, 1] [1, 1, 1, 1] : tensor<1x2x1x1xf16> into tensor<1x2x8x1xf16>
// CHECK: tensor.insert_slice %{{.*}} into %{{.*}}[0, 0, %[[T]], 0] [1, 2, 1, 1] [1, 1, 1, 1] : tensor<1x2x1x1xi8> into tensor<1x2x8x1xi8>
// CHECK: tensor.insert_slice %{{.*}} into %{{.*}}[0, 0, %[[T]], 0] [1, 2, 1, 6] [1, 1, 1, 1] : tensor<1x2x1x6xi8> into tensor<1x2x8x6xi8>
// CHECK: math.absf
// CHECK: tensor.insert_slice %{{.*}} into %{{.*}}[0, 0, %[[T]]] [1, 2, 1] [1, 1, 1] : tensor<1x2x1xf16> into tensor<1x2x8xf16>
// CHECK: tensor.insert_slice %{{.*}} into %{{.*}}[0, 0, %[[T]], 0] [1, 2, 1, 6] [1, 1, 1, 1] : tensor<1x2x1x6xi8> into tensor<1x2x8x6xi8>
// CHECK: scf.yield
// CHECK-NOT: squant.
func.func @append_kvquant(%k: tensor<1x2x3x16xf32>, %v: tensor<1x2x3x16xf32>, %pos: index,
                          %klut: tensor<2x16x8xf32>, %vlut: tensor<8xf32>,
                          %kc: tensor<1x2x8x6xi8>, %vc: tensor<1x2x8x6xi8>, %vs: tensor<1x2x8xf16>,
                          %kov: tensor<1x2x8x1xf16>, %koi: tensor<1x2x8x1xi8>,
                          %vov: tensor<1x2x8x1xf16>, %voi: tensor<1x2x8x1xi8>)
    -> (tensor<1x2x8x6xi8>, tensor<1x2x8x6xi8>, tensor<1x2x8xf16>, tensor<1x2x8x1xf16>,
        tensor<1x2x8x1xi8>, tensor<1x2x8x1xf16>, tensor<1x2x8x1xi8>) {
  %c:7 = squant.kv_append #squant.kv_format<kvquant, bits = 3, outliers = 1>
           keys(%k : tensor<1x2x3x16xf32>) values(%v : tensor<1x2x3x16xf32>) at(%pos)
           tables(%klut, %vlut : tensor<2x16x8xf32>, tensor<8xf32>)
           cache(%kc, %vc, %vs, %kov, %koi, %vov, %voi
                 : tensor<1x2x8x6xi8>, tensor<1x2x8x6xi8>, tensor<1x2x8xf16>, tensor<1x2x8x1xf16>,
                   tensor<1x2x8x1xi8>, tensor<1x2x8x1xf16>, tensor<1x2x8x1xi8>)
           -> tensor<1x2x8x6xi8>, tensor<1x2x8x6xi8>, tensor<1x2x8xf16>, tensor<1x2x8x1xf16>,
              tensor<1x2x8x1xi8>, tensor<1x2x8x1xf16>, tensor<1x2x8x1xi8>
  return %c#0, %c#1, %c#2, %c#3, %c#4, %c#5, %c#6
      : tensor<1x2x8x6xi8>, tensor<1x2x8x6xi8>, tensor<1x2x8xf16>, tensor<1x2x8x1xf16>,
        tensor<1x2x8x1xi8>, tensor<1x2x8x1xf16>, tensor<1x2x8x1xi8>
}

// -----

// kv_append, kivi with a sink: sink tokens are copied; otherwise the value
// leaving the window (t - S >= R) is quantized per group of G channels, the
// token is written to the residual ring slot (t - S) mod R, and a complete
// block (slot R - 1) of keys is quantized per channel in groups of G tokens
// (a reduction over the G members) into R packed tokens.
// CHECK-LABEL: func @append_kivi
// CHECK: scf.for
// CHECK: scf.if
// CHECK: %[[SINK:.*]] = arith.cmpi ult, %{{.*}}, %c2 : index
// CHECK: scf.if %[[SINK]]
// CHECK: tensor.insert_slice {{.*}} : tensor<1x1x1x8xf16> into tensor<1x1x2x8xf16>
// CHECK: tensor.insert_slice {{.*}} : tensor<1x1x1x8xf16> into tensor<1x1x2x8xf16>
// CHECK: } else {
// CHECK: %[[EVICT:.*]] = arith.cmpi sge, %{{.*}}, %c4{{.*}} : index
// CHECK: scf.if %[[EVICT]]
// CHECK: linalg.generic {{.*}} iterator_types = ["parallel", "parallel", "parallel", "parallel", "reduction"]
// CHECK: arith.minimumf
// CHECK: arith.maximumf
// CHECK: tensor.insert_slice {{.*}} : tensor<1x1x1x2xf16> into tensor<1x1x12x2xf16>
// CHECK: tensor.insert_slice {{.*}} : tensor<1x1x1x2xf16> into tensor<1x1x12x2xf16>
// CHECK: math.floor
// CHECK: tensor.insert_slice {{.*}} : tensor<1x1x1x2xi8> into tensor<1x1x12x2xi8>
// CHECK: tensor.insert_slice {{.*}} : tensor<1x1x1x8xf16> into tensor<1x1x4x8xf16>
// CHECK: tensor.insert_slice {{.*}} : tensor<1x1x1x8xf16> into tensor<1x1x4x8xf16>
// CHECK: %[[FULL:.*]] = arith.cmpi eq, %{{.*}}, %c3{{.*}} : index
// CHECK: scf.if %[[FULL]]
// CHECK: linalg.generic {{.*}} iterator_types = ["parallel", "parallel", "parallel", "parallel", "reduction"]
// CHECK: tensor.insert_slice {{.*}} : tensor<1x1x1x8xf16> into tensor<1x1x2x8xf16>
// CHECK: tensor.insert_slice {{.*}} : tensor<1x1x1x8xf16> into tensor<1x1x2x8xf16>
// CHECK: math.floor
// CHECK: tensor.insert_slice {{.*}} : tensor<1x1x4x2xi8> into tensor<1x1x12x2xi8>
// CHECK-NOT: squant.
func.func @append_kivi(%k: tensor<1x1x1x8xf32>, %pos: index,
    %kc: tensor<1x1x12x2xi8>, %vc: tensor<1x1x12x2xi8>,
    %ks: tensor<1x1x2x8xf16>, %kz: tensor<1x1x2x8xf16>,
    %vs: tensor<1x1x12x2xf16>, %vz: tensor<1x1x12x2xf16>,
    %sk: tensor<1x1x2x8xf16>, %sv: tensor<1x1x2x8xf16>,
    %rk: tensor<1x1x4x8xf16>, %rv: tensor<1x1x4x8xf16>)
    -> (tensor<1x1x12x2xi8>, tensor<1x1x12x2xi8>, tensor<1x1x2x8xf16>, tensor<1x1x2x8xf16>,
        tensor<1x1x12x2xf16>, tensor<1x1x12x2xf16>, tensor<1x1x2x8xf16>, tensor<1x1x2x8xf16>,
        tensor<1x1x4x8xf16>, tensor<1x1x4x8xf16>) {
  %c:10 = squant.kv_append #squant.kv_format<kivi, bits = 2, group = 4, sink = 2, residual = 4>
    keys(%k : tensor<1x1x1x8xf32>) values(%k : tensor<1x1x1x8xf32>) at(%pos)
    cache(%kc, %vc, %ks, %kz, %vs, %vz, %sk, %sv, %rk, %rv
          : tensor<1x1x12x2xi8>, tensor<1x1x12x2xi8>, tensor<1x1x2x8xf16>, tensor<1x1x2x8xf16>,
            tensor<1x1x12x2xf16>, tensor<1x1x12x2xf16>, tensor<1x1x2x8xf16>, tensor<1x1x2x8xf16>,
            tensor<1x1x4x8xf16>, tensor<1x1x4x8xf16>)
    -> tensor<1x1x12x2xi8>, tensor<1x1x12x2xi8>, tensor<1x1x2x8xf16>, tensor<1x1x2x8xf16>,
       tensor<1x1x12x2xf16>, tensor<1x1x12x2xf16>, tensor<1x1x2x8xf16>, tensor<1x1x2x8xf16>,
       tensor<1x1x4x8xf16>, tensor<1x1x4x8xf16>
  return %c#0, %c#1, %c#2, %c#3, %c#4, %c#5, %c#6, %c#7, %c#8, %c#9
      : tensor<1x1x12x2xi8>, tensor<1x1x12x2xi8>, tensor<1x1x2x8xf16>, tensor<1x1x2x8xf16>,
        tensor<1x1x12x2xf16>, tensor<1x1x12x2xf16>, tensor<1x1x2x8xf16>, tensor<1x1x2x8xf16>,
        tensor<1x1x4x8xf16>, tensor<1x1x4x8xf16>
}

// -----

// kv_attention: len clamped to [0, L]; q rotated (powf, cos, sin); scores
// reduce over the channels reading keys on the fly (unpacked codes, table,
// the outlier slot, rotated by the token index); max, exp, sum; the
// weighted values reduce over the tokens; o = acc / sum (0 for no tokens).
// CHECK-LABEL: func @attention
// CHECK: %[[CLAMP:.*]] = arith.maxsi %{{.*}}, %c0{{.*}} : index
// CHECK: %[[N:.*]] = arith.minsi %[[CLAMP]], %c8{{.*}} : index
// CHECK: math.powf
// CHECK: math.cos
// CHECK: math.sin
// CHECK: tensor.empty(%[[N]]) : tensor<1x4x?xf32>
// CHECK: linalg.generic {{.*}} iterator_types = ["parallel", "parallel", "parallel", "reduction"]
// CHECK: arith.shrui
// CHECK: tensor.extract %{{.*}} : tensor<2x16x8xf32>
// CHECK: tensor.extract %{{.*}} : tensor<1x2x8x1xi8>
// CHECK: math.cos
// CHECK: linalg.generic {{.*}} iterator_types = ["parallel", "parallel", "reduction"]
// CHECK: arith.maximumf
// CHECK: math.exp
// CHECK: linalg.generic {{.*}} iterator_types = ["parallel", "parallel", "parallel", "reduction"]
// CHECK: tensor.extract %{{.*}} : tensor<1x2x8xf16>
// CHECK: arith.divf
// CHECK-NOT: squant.
func.func @attention(%q: tensor<1x4x16xf16>, %len: index, %pos: index,
                     %klut: tensor<2x16x8xf32>, %vlut: tensor<8xf32>,
                     %kc: tensor<1x2x8x6xi8>, %vc: tensor<1x2x8x6xi8>, %vs: tensor<1x2x8xf16>,
                     %kov: tensor<1x2x8x1xf16>, %koi: tensor<1x2x8x1xi8>,
                     %vov: tensor<1x2x8x1xf16>, %voi: tensor<1x2x8x1xi8>,
                     %o: tensor<1x4x16xf32>) -> tensor<1x4x16xf32> {
  %r = squant.kv_attention #squant.kv_format<kvquant, bits = 3, outliers = 1>
         query(%q : tensor<1x4x16xf16>) len(%len) position(%pos)
         tables(%klut, %vlut : tensor<2x16x8xf32>, tensor<8xf32>)
         cache(%kc, %vc, %vs, %kov, %koi, %vov, %voi
               : tensor<1x2x8x6xi8>, tensor<1x2x8x6xi8>, tensor<1x2x8xf16>, tensor<1x2x8x1xf16>,
                 tensor<1x2x8x1xi8>, tensor<1x2x8x1xf16>, tensor<1x2x8x1xi8>)
         rope(half) outs(%o : tensor<1x4x16xf32>) -> tensor<1x4x16xf32>
  return %r : tensor<1x4x16xf32>
}

// -----

// The memref form: subviews written in place, temporaries allocated and
// freed inside the loop, no tensors.
// CHECK-LABEL: func @append_memref
// CHECK-NOT: tensor.
// CHECK: scf.for
// CHECK: memref.alloc() : memref<1x2x16xi32>
// CHECK: memref.subview %{{.*}}[0, 0, %{{.*}}, 0] [1, 2, 1, 6] [1, 1, 1, 1]
// CHECK: memref.dealloc
// CHECK-NOT: tensor.
// CHECK-NOT: squant.
func.func @append_memref(%k: memref<1x2x3x16xf32>, %pos: index,
                         %klut: memref<2x16x8xf32>, %vlut: memref<8xf32>,
                         %kc: memref<1x2x8x6xi8>, %vc: memref<1x2x8x6xi8>, %vs: memref<1x2x8xf16>) {
  squant.kv_append #squant.kv_format<kvquant, bits = 3>
    keys(%k : memref<1x2x3x16xf32>) values(%k : memref<1x2x3x16xf32>) at(%pos)
    tables(%klut, %vlut : memref<2x16x8xf32>, memref<8xf32>)
    cache(%kc, %vc, %vs : memref<1x2x8x6xi8>, memref<1x2x8x6xi8>, memref<1x2x8xf16>)
  return
}
