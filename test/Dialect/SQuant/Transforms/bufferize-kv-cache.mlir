// RUN: squant-opt %s --one-shot-bufferize="bufferize-function-boundaries function-boundary-type-conversion=identity-layout-map" --split-input-file | FileCheck %s

// A decode step (append, then attend) bufferizes in place: the cache
// arguments are updated where they are, attention reads them, and only the
// output is allocated.
// CHECK-LABEL: func @decode_step
// CHECK-SAME: (%[[K:[a-z0-9]+]]: memref<1x2x1x16xf32>, %[[P:[a-z0-9]+]]: index, %[[Q:[a-z0-9]+]]: memref<1x4x16xf32>, %[[C0:[a-z0-9]+]]: memref<1x2x8x4xi8>, %[[C1:[a-z0-9]+]]: memref<1x2x8x4xi8>, %[[C2:[a-z0-9]+]]: memref<1x2x2x16xf16>, %[[C3:[a-z0-9]+]]: memref<1x2x2x16xf16>, %[[C4:[a-z0-9]+]]: memref<1x2x8x4xf16>, %[[C5:[a-z0-9]+]]: memref<1x2x8x4xf16>, %[[C6:[a-z0-9]+]]: memref<1x2x4x16xf16>, %[[C7:[a-z0-9]+]]: memref<1x2x4x16xf16>)
// CHECK-NOT: memref.copy
// CHECK: squant.kv_append #squant.kv_format<kivi, bits = 2, group = 4, residual = 4> keys(%[[K]] : memref<1x2x1x16xf32>) values(%[[K]] : memref<1x2x1x16xf32>) at(%[[P]]) cache(%[[C0]], %[[C1]], %[[C2]], %[[C3]], %[[C4]], %[[C5]], %[[C6]], %[[C7]] : {{.*}}){{$}}
// CHECK: %[[O:.*]] = memref.alloc() {{.*}} : memref<1x4x16xf32>
// CHECK-NOT: memref.copy
// CHECK: squant.kv_attention {{.*}} query(%[[Q]] : memref<1x4x16xf32>) {{.*}} cache(%[[C0]], %[[C1]], %[[C2]], %[[C3]], %[[C4]], %[[C5]], %[[C6]], %[[C7]] : {{.*}}) rope(half) outs(%[[O]] : memref<1x4x16xf32>){{$}}
// CHECK: return %[[O]], %[[C0]], %[[C1]], %[[C2]], %[[C3]], %[[C4]], %[[C5]], %[[C6]], %[[C7]]
func.func @decode_step(%k: tensor<1x2x1x16xf32>, %pos: index, %q: tensor<1x4x16xf32>,
                       %kc: tensor<1x2x8x4xi8>, %vc: tensor<1x2x8x4xi8>,
                       %ks: tensor<1x2x2x16xf16>, %kz: tensor<1x2x2x16xf16>,
                       %vs: tensor<1x2x8x4xf16>, %vz: tensor<1x2x8x4xf16>,
                       %rk: tensor<1x2x4x16xf16>, %rv: tensor<1x2x4x16xf16>)
    -> (tensor<1x4x16xf32>, tensor<1x2x8x4xi8>, tensor<1x2x8x4xi8>, tensor<1x2x2x16xf16>,
        tensor<1x2x2x16xf16>, tensor<1x2x8x4xf16>, tensor<1x2x8x4xf16>, tensor<1x2x4x16xf16>,
        tensor<1x2x4x16xf16>) {
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
  return %o, %c#0, %c#1, %c#2, %c#3, %c#4, %c#5, %c#6, %c#7
      : tensor<1x4x16xf32>, tensor<1x2x8x4xi8>, tensor<1x2x8x4xi8>, tensor<1x2x2x16xf16>,
        tensor<1x2x2x16xf16>, tensor<1x2x8x4xf16>, tensor<1x2x8x4xf16>, tensor<1x2x4x16xf16>,
        tensor<1x2x4x16xf16>
}

// -----

// kv_append reads its cache: keeping the old cache alive forces a copy of
// it into the updated buffer.
// CHECK-LABEL: func @append_reads_cache
// CHECK-SAME: %[[KC:[a-z0-9]+]]: memref<1x2x8x8xi8>, %[[VC:[a-z0-9]+]]: memref<1x2x8x8xi8>, %[[VS:[a-z0-9]+]]: memref<1x2x8xf16>)
// CHECK: %[[NEW:.*]] = memref.alloc() {{.*}} : memref<1x2x8x8xi8>
// CHECK: memref.copy %[[KC]], %[[NEW]]
// CHECK: squant.kv_append {{.*}} cache(%[[NEW]], %[[VC]], %[[VS]] :
// CHECK: return %[[NEW]], %[[KC]]
func.func @append_reads_cache(%k: tensor<1x2x1x16xf32>, %pos: index,
                              %klut: tensor<2x16x16xf32>, %vlut: tensor<16xf32>,
                              %kc: tensor<1x2x8x8xi8>, %vc: tensor<1x2x8x8xi8>, %vs: tensor<1x2x8xf16>)
    -> (tensor<1x2x8x8xi8>, tensor<1x2x8x8xi8>) {
  %c:3 = squant.kv_append #squant.kv_format<kvquant, bits = 4>
    keys(%k : tensor<1x2x1x16xf32>) values(%k : tensor<1x2x1x16xf32>) at(%pos)
    tables(%klut, %vlut : tensor<2x16x16xf32>, tensor<16xf32>)
    cache(%kc, %vc, %vs : tensor<1x2x8x8xi8>, tensor<1x2x8x8xi8>, tensor<1x2x8xf16>)
    -> tensor<1x2x8x8xi8>, tensor<1x2x8x8xi8>, tensor<1x2x8xf16>
  return %c#0, %kc : tensor<1x2x8x8xi8>, tensor<1x2x8x8xi8>
}

// -----

// kv_attention overwrites its `outs` without reading it: a conflicting
// `outs` gets a fresh buffer, not a copy.
// CHECK-LABEL: func @attention_outs_not_read
// CHECK: %[[O:.*]] = memref.alloc() {{.*}} : memref<1x2x16xf32>
// CHECK-NOT: memref.copy
// CHECK: squant.kv_attention {{.*}} outs(%[[O]] : memref<1x2x16xf32>)
func.func @attention_outs_not_read(%q: tensor<1x2x16xf32>, %len: index,
                                   %klut: tensor<2x16x16xf32>, %vlut: tensor<16xf32>,
                                   %kc: tensor<1x2x8x8xi8>, %vc: tensor<1x2x8x8xi8>,
                                   %vs: tensor<1x2x8xf16>, %o: tensor<1x2x16xf32>)
    -> (tensor<1x2x16xf32>, tensor<1x2x16xf32>) {
  %r = squant.kv_attention #squant.kv_format<kvquant, bits = 4>
    query(%q : tensor<1x2x16xf32>) len(%len) position(%len)
    tables(%klut, %vlut : tensor<2x16x16xf32>, tensor<16xf32>)
    cache(%kc, %vc, %vs : tensor<1x2x8x8xi8>, tensor<1x2x8x8xi8>, tensor<1x2x8xf16>)
    rope(none) outs(%o : tensor<1x2x16xf32>) -> tensor<1x2x16xf32>
  return %r, %o : tensor<1x2x16xf32>, tensor<1x2x16xf32>
}
