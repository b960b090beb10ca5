// RUN: squant-opt %s -split-input-file -verify-diagnostics

// One case per verifier branch of the KV-cache ops and #squant.kv_format
// (lib/Dialect/SQuant/IR/SQuantKVCacheOps.cpp).

// Bits out of range.
// expected-error @+1 {{expected 2, 3 or 4 bits, found 5}}
func.func @f() attributes {fmt = #squant.kv_format<kvquant, bits = 5>} {
  return
}

// -----

// kvquant has no group.
// expected-error @+1 {{'group' applies to kivi only}}
func.func @f() attributes {fmt = #squant.kv_format<kvquant, bits = 3, group = 32>} {
  return
}

// -----

// kvquant has no residual window.
// expected-error @+1 {{'residual' applies to kivi only}}
func.func @f() attributes {fmt = #squant.kv_format<kvquant, bits = 3, residual = 32>} {
  return
}

// -----

// kivi needs a group.
// expected-error @+1 {{kivi requires a group size 'group' > 0}}
func.func @f() attributes {fmt = #squant.kv_format<kivi, bits = 2, residual = 32>} {
  return
}

// -----

// kivi residual must be a multiple of the group.
// expected-error @+1 {{kivi requires a 'residual' window that is a positive multiple of the group size 32, found 48}}
func.func @f() attributes {fmt = #squant.kv_format<kivi, bits = 2, group = 32, residual = 48>} {
  return
}

// -----

// kivi has no outlier slots.
// expected-error @+1 {{'outliers' applies to kvquant only}}
func.func @f() attributes {fmt = #squant.kv_format<kivi, bits = 2, group = 32, residual = 32, outliers = 1>} {
  return
}

// -----

// One result per cache tensor.
func.func @f(%k: tensor<1x2x1x16xf32>, %v: tensor<1x2x1x16xf32>, %p: index, %t0: tensor<2x16x16xf32>, %t1: tensor<16xf32>, %c0: tensor<1x2x8x8xi8>, %c1: tensor<1x2x8x8xi8>, %c2: tensor<1x2x8xf16>) {
  // expected-error @+1 {{expected 3 results (one per destination tensor), found 2}}
  %r:2 = squant.kv_append #squant.kv_format<kvquant, bits = 4> keys(%k : tensor<1x2x1x16xf32>) values(%v : tensor<1x2x1x16xf32>) at(%p) tables(%t0, %t1 : tensor<2x16x16xf32>, tensor<16xf32>) cache(%c0, %c1, %c2 : tensor<1x2x8x8xi8>, tensor<1x2x8x8xi8>, tensor<1x2x8xf16>) -> tensor<1x2x8x8xi8>, tensor<1x2x8x8xi8>
  return
}

// -----

// Results have the types of the cache tensors.
func.func @f(%k: tensor<1x2x1x16xf32>, %v: tensor<1x2x1x16xf32>, %p: index, %t0: tensor<2x16x16xf32>, %t1: tensor<16xf32>, %c0: tensor<1x2x8x8xi8>, %c1: tensor<1x2x8x8xi8>, %c2: tensor<1x2x8xf16>) {
  // expected-error @+1 {{expected result #2 to have the type of its destination 'tensor<1x2x8xf16>', found 'tensor<1x2x8xf32>'}}
  %r:3 = squant.kv_append #squant.kv_format<kvquant, bits = 4> keys(%k : tensor<1x2x1x16xf32>) values(%v : tensor<1x2x1x16xf32>) at(%p) tables(%t0, %t1 : tensor<2x16x16xf32>, tensor<16xf32>) cache(%c0, %c1, %c2 : tensor<1x2x8x8xi8>, tensor<1x2x8x8xi8>, tensor<1x2x8xf16>) -> tensor<1x2x8x8xi8>, tensor<1x2x8x8xi8>, tensor<1x2x8xf32>
  return
}

// -----

// Tensors and memrefs do not mix.
func.func @f(%k: tensor<1x2x1x16xf32>, %v: tensor<1x2x1x16xf32>, %p: index, %t0: tensor<2x16x16xf32>, %t1: tensor<16xf32>, %c0: memref<1x2x8x8xi8>, %c1: memref<1x2x8x8xi8>, %c2: memref<1x2x8xf16>) {
  // expected-error @+1 {{expected all shaped operands to be memrefs like the destination, found operand #0 of type 'tensor<1x2x1x16xf32>'}}
  squant.kv_append #squant.kv_format<kvquant, bits = 4> keys(%k : tensor<1x2x1x16xf32>) values(%v : tensor<1x2x1x16xf32>) at(%p) tables(%t0, %t1 : tensor<2x16x16xf32>, tensor<16xf32>) cache(%c0, %c1, %c2 : memref<1x2x8x8xi8>, memref<1x2x8x8xi8>, memref<1x2x8xf16>)
  return
}

// -----

// The memref form has no results.
func.func @f(%k: memref<1x2x1x16xf32>, %v: memref<1x2x1x16xf32>, %p: index, %t0: memref<2x16x16xf32>, %t1: memref<16xf32>, %c0: memref<1x2x8x8xi8>, %c1: memref<1x2x8x8xi8>, %c2: memref<1x2x8xf16>) {
  // expected-error @+1 {{expected no results when the destination is a memref, found 1}}
  %r = squant.kv_append #squant.kv_format<kvquant, bits = 4> keys(%k : memref<1x2x1x16xf32>) values(%v : memref<1x2x1x16xf32>) at(%p) tables(%t0, %t1 : memref<2x16x16xf32>, memref<16xf32>) cache(%c0, %c1, %c2 : memref<1x2x8x8xi8>, memref<1x2x8x8xi8>, memref<1x2x8xf16>) -> tensor<1x2x8x8xi8>
  return
}

// -----

// The head dimension is static.
func.func @f(%k: tensor<1x2x1x?xf32>, %v: tensor<1x2x1x?xf32>, %p: index, %t0: tensor<2x16x16xf32>, %t1: tensor<16xf32>, %c0: tensor<1x2x8x8xi8>, %c1: tensor<1x2x8x8xi8>, %c2: tensor<1x2x8xf16>) {
  // expected-error @+1 {{expected a static head dimension D ('keys' dimension 3)}}
  %r:3 = squant.kv_append #squant.kv_format<kvquant, bits = 4> keys(%k : tensor<1x2x1x?xf32>) values(%v : tensor<1x2x1x?xf32>) at(%p) tables(%t0, %t1 : tensor<2x16x16xf32>, tensor<16xf32>) cache(%c0, %c1, %c2 : tensor<1x2x8x8xi8>, tensor<1x2x8x8xi8>, tensor<1x2x8xf16>) -> tensor<1x2x8x8xi8>, tensor<1x2x8x8xi8>, tensor<1x2x8xf16>
  return
}

// -----

// The head dimension is a multiple of 8.
func.func @f(%k: tensor<1x2x1x12xf32>, %v: tensor<1x2x1x12xf32>, %p: index, %t0: tensor<2x12x16xf32>, %t1: tensor<16xf32>, %c0: tensor<1x2x8x6xi8>, %c1: tensor<1x2x8x6xi8>, %c2: tensor<1x2x8xf16>) {
  // expected-error @+1 {{expected the head dimension D to be a positive multiple of 8, found 12}}
  %r:3 = squant.kv_append #squant.kv_format<kvquant, bits = 4> keys(%k : tensor<1x2x1x12xf32>) values(%v : tensor<1x2x1x12xf32>) at(%p) tables(%t0, %t1 : tensor<2x12x16xf32>, tensor<16xf32>) cache(%c0, %c1, %c2 : tensor<1x2x8x6xi8>, tensor<1x2x8x6xi8>, tensor<1x2x8xf16>) -> tensor<1x2x8x6xi8>, tensor<1x2x8x6xi8>, tensor<1x2x8xf16>
  return
}

// -----

// New keys are [Bt, H, n, D].
func.func @f(%k: tensor<1x2x1xf32>, %v: tensor<1x2x1xf32>, %p: index, %t0: tensor<2x16x16xf32>, %t1: tensor<16xf32>, %c0: tensor<1x2x8x8xi8>, %c1: tensor<1x2x8x8xi8>, %c2: tensor<1x2x8xf16>) {
  // expected-error @+1 {{expected 'keys' of rank 4 ([Bt, H, n, D]), found rank 3}}
  %r:3 = squant.kv_append #squant.kv_format<kvquant, bits = 4> keys(%k : tensor<1x2x1xf32>) values(%v : tensor<1x2x1xf32>) at(%p) tables(%t0, %t1 : tensor<2x16x16xf32>, tensor<16xf32>) cache(%c0, %c1, %c2 : tensor<1x2x8x8xi8>, tensor<1x2x8x8xi8>, tensor<1x2x8xf16>) -> tensor<1x2x8x8xi8>, tensor<1x2x8x8xi8>, tensor<1x2x8xf16>
  return
}

// -----

// kivi groups of channels divide D.
func.func @f(%k: tensor<1x2x1x24xf32>, %v: tensor<1x2x1x24xf32>, %p: index, %c0: tensor<1x2x8x6xi8>, %c1: tensor<1x2x8x6xi8>, %c2: tensor<1x2x0x24xf16>, %c3: tensor<1x2x0x24xf16>, %c4: tensor<1x2x8x1xf16>, %c5: tensor<1x2x8x1xf16>, %c6: tensor<1x2x16x24xf16>, %c7: tensor<1x2x16x24xf16>) {
  // expected-error @+1 {{expected the head dimension D = 24 to be a multiple of the group size G = 16}}
  %r:8 = squant.kv_append #squant.kv_format<kivi, bits = 2, group = 16, residual = 16> keys(%k : tensor<1x2x1x24xf32>) values(%v : tensor<1x2x1x24xf32>) at(%p) cache(%c0, %c1, %c2, %c3, %c4, %c5, %c6, %c7 : tensor<1x2x8x6xi8>, tensor<1x2x8x6xi8>, tensor<1x2x0x24xf16>, tensor<1x2x0x24xf16>, tensor<1x2x8x1xf16>, tensor<1x2x8x1xf16>, tensor<1x2x16x24xf16>, tensor<1x2x16x24xf16>) -> tensor<1x2x8x6xi8>, tensor<1x2x8x6xi8>, tensor<1x2x0x24xf16>, tensor<1x2x0x24xf16>, tensor<1x2x8x1xf16>, tensor<1x2x8x1xf16>, tensor<1x2x16x24xf16>, tensor<1x2x16x24xf16>
  return
}

// -----

// At most D outlier slots.
func.func @f(%k: tensor<1x2x1x16xf32>, %v: tensor<1x2x1x16xf32>, %p: index, %t0: tensor<2x16x16xf32>, %t1: tensor<16xf32>, %c0: tensor<1x2x8x8xi8>, %c1: tensor<1x2x8x8xi8>, %c2: tensor<1x2x8xf16>) {
  // expected-error @+1 {{expected at most D = 16 outlier slots, found 17}}
  %r:3 = squant.kv_append #squant.kv_format<kvquant, bits = 4, outliers = 17> keys(%k : tensor<1x2x1x16xf32>) values(%v : tensor<1x2x1x16xf32>) at(%p) tables(%t0, %t1 : tensor<2x16x16xf32>, tensor<16xf32>) cache(%c0, %c1, %c2 : tensor<1x2x8x8xi8>, tensor<1x2x8x8xi8>, tensor<1x2x8xf16>) -> tensor<1x2x8x8xi8>, tensor<1x2x8x8xi8>, tensor<1x2x8xf16>
  return
}

// -----

// The format fixes the cache tensors.
func.func @f(%k: tensor<1x2x1x16xf32>, %v: tensor<1x2x1x16xf32>, %p: index, %t0: tensor<2x16x16xf32>, %t1: tensor<16xf32>, %c0: tensor<1x2x8x8xi8>, %c1: tensor<1x2x8x8xi8>, %c2: tensor<1x2x8xf16>) {
  // expected-error @+1 {{expected 9 cache tensors for #squant.kv_format<kvquant, bits = 4, sink = 1, outliers = 1> (key_codes, value_codes, value_scale, key_outlier_values, key_outlier_indices, value_outlier_values, value_outlier_indices, key_sink, value_sink), found 3}}
  %r:3 = squant.kv_append #squant.kv_format<kvquant, bits = 4, sink = 1, outliers = 1> keys(%k : tensor<1x2x1x16xf32>) values(%v : tensor<1x2x1x16xf32>) at(%p) tables(%t0, %t1 : tensor<2x16x16xf32>, tensor<16xf32>) cache(%c0, %c1, %c2 : tensor<1x2x8x8xi8>, tensor<1x2x8x8xi8>, tensor<1x2x8xf16>) -> tensor<1x2x8x8xi8>, tensor<1x2x8x8xi8>, tensor<1x2x8xf16>
  return
}

// -----

// key_codes is [Bt, H, L, D*B/8].
func.func @f(%k: tensor<1x2x1x16xf32>, %v: tensor<1x2x1x16xf32>, %p: index, %t0: tensor<2x16x16xf32>, %t1: tensor<16xf32>, %c0: tensor<2x8x8xi8>, %c1: tensor<1x2x8x8xi8>, %c2: tensor<1x2x8xf16>) {
  // expected-error @+1 {{expected 'key_codes' of rank 4 ([Bt, H, L, D*B/8]), found rank 3}}
  %r:3 = squant.kv_append #squant.kv_format<kvquant, bits = 4> keys(%k : tensor<1x2x1x16xf32>) values(%v : tensor<1x2x1x16xf32>) at(%p) tables(%t0, %t1 : tensor<2x16x16xf32>, tensor<16xf32>) cache(%c0, %c1, %c2 : tensor<2x8x8xi8>, tensor<1x2x8x8xi8>, tensor<1x2x8xf16>) -> tensor<2x8x8xi8>, tensor<1x2x8x8xi8>, tensor<1x2x8xf16>
  return
}

// -----

// Room for the sink tokens.
func.func @f(%k: tensor<1x2x1x16xf32>, %v: tensor<1x2x1x16xf32>, %p: index, %t0: tensor<2x16x16xf32>, %t1: tensor<16xf32>, %c0: tensor<1x2x0x8xi8>, %c1: tensor<1x2x0x8xi8>, %c2: tensor<1x2x0xf16>, %c3: tensor<1x2x0x1xf16>, %c4: tensor<1x2x0x1xi8>, %c5: tensor<1x2x0x1xf16>, %c6: tensor<1x2x0x1xi8>, %c7: tensor<1x2x1x16xf16>, %c8: tensor<1x2x1x16xf16>) {
  // expected-error @+1 {{expected at least S = 1 token slots (key_codes dimension 2), found 0}}
  %r:9 = squant.kv_append #squant.kv_format<kvquant, bits = 4, sink = 1, outliers = 1> keys(%k : tensor<1x2x1x16xf32>) values(%v : tensor<1x2x1x16xf32>) at(%p) tables(%t0, %t1 : tensor<2x16x16xf32>, tensor<16xf32>) cache(%c0, %c1, %c2, %c3, %c4, %c5, %c6, %c7, %c8 : tensor<1x2x0x8xi8>, tensor<1x2x0x8xi8>, tensor<1x2x0xf16>, tensor<1x2x0x1xf16>, tensor<1x2x0x1xi8>, tensor<1x2x0x1xf16>, tensor<1x2x0x1xi8>, tensor<1x2x1x16xf16>, tensor<1x2x1x16xf16>) -> tensor<1x2x0x8xi8>, tensor<1x2x0x8xi8>, tensor<1x2x0xf16>, tensor<1x2x0x1xf16>, tensor<1x2x0x1xi8>, tensor<1x2x0x1xf16>, tensor<1x2x0x1xi8>, tensor<1x2x1x16xf16>, tensor<1x2x1x16xf16>
  return
}

// -----

// Packed codes: D*B/8 bytes per token.
func.func @f(%k: tensor<1x2x1x16xf32>, %v: tensor<1x2x1x16xf32>, %p: index, %t0: tensor<2x16x16xf32>, %t1: tensor<16xf32>, %c0: tensor<1x2x8x6xi8>, %c1: tensor<1x2x8x8xi8>, %c2: tensor<1x2x8xf16>) {
  // expected-error @+1 {{expected 'key_codes' of shape [Bt, H, L, D*B/8] = [1, 2, 8, 8], found [1, 2, 8, 6]}}
  %r:3 = squant.kv_append #squant.kv_format<kvquant, bits = 4> keys(%k : tensor<1x2x1x16xf32>) values(%v : tensor<1x2x1x16xf32>) at(%p) tables(%t0, %t1 : tensor<2x16x16xf32>, tensor<16xf32>) cache(%c0, %c1, %c2 : tensor<1x2x8x6xi8>, tensor<1x2x8x8xi8>, tensor<1x2x8xf16>) -> tensor<1x2x8x6xi8>, tensor<1x2x8x8xi8>, tensor<1x2x8xf16>
  return
}

// -----

// Codes are i8 bytes.
func.func @f(%k: tensor<1x2x1x16xf32>, %v: tensor<1x2x1x16xf32>, %p: index, %t0: tensor<2x16x16xf32>, %t1: tensor<16xf32>, %c0: tensor<1x2x8x8xi32>, %c1: tensor<1x2x8x8xi8>, %c2: tensor<1x2x8xf16>) {
  // expected-error @+1 {{expected 'key_codes' element type to be i8 (packed codes), found 'i32'}}
  %r:3 = squant.kv_append #squant.kv_format<kvquant, bits = 4> keys(%k : tensor<1x2x1x16xf32>) values(%v : tensor<1x2x1x16xf32>) at(%p) tables(%t0, %t1 : tensor<2x16x16xf32>, tensor<16xf32>) cache(%c0, %c1, %c2 : tensor<1x2x8x8xi32>, tensor<1x2x8x8xi8>, tensor<1x2x8xf16>) -> tensor<1x2x8x8xi32>, tensor<1x2x8x8xi8>, tensor<1x2x8xf16>
  return
}

// -----

// kvquant value scales are per token.
func.func @f(%k: tensor<1x2x1x16xf32>, %v: tensor<1x2x1x16xf32>, %p: index, %t0: tensor<2x16x16xf32>, %t1: tensor<16xf32>, %c0: tensor<1x2x8x8xi8>, %c1: tensor<1x2x8x8xi8>, %c2: tensor<1x2x8x1xf16>) {
  // expected-error @+1 {{expected 'value_scale' of rank 3 ([Bt, H, L]), found rank 4}}
  %r:3 = squant.kv_append #squant.kv_format<kvquant, bits = 4> keys(%k : tensor<1x2x1x16xf32>) values(%v : tensor<1x2x1x16xf32>) at(%p) tables(%t0, %t1 : tensor<2x16x16xf32>, tensor<16xf32>) cache(%c0, %c1, %c2 : tensor<1x2x8x8xi8>, tensor<1x2x8x8xi8>, tensor<1x2x8x1xf16>) -> tensor<1x2x8x8xi8>, tensor<1x2x8x8xi8>, tensor<1x2x8x1xf16>
  return
}

// -----

// Every cache tensor has L token slots.
func.func @f(%k: tensor<1x2x1x16xf32>, %v: tensor<1x2x1x16xf32>, %p: index, %t0: tensor<2x16x16xf32>, %t1: tensor<16xf32>, %c0: tensor<1x2x8x8xi8>, %c1: tensor<1x2x8x8xi8>, %c2: tensor<1x2x7xf16>) {
  // expected-error @+1 {{expected 'value_scale' of shape [Bt, H, L] = [1, 2, 8], found [1, 2, 7]}}
  %r:3 = squant.kv_append #squant.kv_format<kvquant, bits = 4> keys(%k : tensor<1x2x1x16xf32>) values(%v : tensor<1x2x1x16xf32>) at(%p) tables(%t0, %t1 : tensor<2x16x16xf32>, tensor<16xf32>) cache(%c0, %c1, %c2 : tensor<1x2x8x8xi8>, tensor<1x2x8x8xi8>, tensor<1x2x7xf16>) -> tensor<1x2x8x8xi8>, tensor<1x2x8x8xi8>, tensor<1x2x7xf16>
  return
}

// -----

// Scales are floats.
func.func @f(%k: tensor<1x2x1x16xf32>, %v: tensor<1x2x1x16xf32>, %p: index, %t0: tensor<2x16x16xf32>, %t1: tensor<16xf32>, %c0: tensor<1x2x8x8xi8>, %c1: tensor<1x2x8x8xi8>, %c2: tensor<1x2x8xi16>) {
  // expected-error @+1 {{expected 'value_scale' element type to be f16, bf16 or f32, found 'i16'}}
  %r:3 = squant.kv_append #squant.kv_format<kvquant, bits = 4> keys(%k : tensor<1x2x1x16xf32>) values(%v : tensor<1x2x1x16xf32>) at(%p) tables(%t0, %t1 : tensor<2x16x16xf32>, tensor<16xf32>) cache(%c0, %c1, %c2 : tensor<1x2x8x8xi8>, tensor<1x2x8x8xi8>, tensor<1x2x8xi16>) -> tensor<1x2x8x8xi8>, tensor<1x2x8x8xi8>, tensor<1x2x8xi16>
  return
}

// -----

// Outlier indices are integers.
func.func @f(%k: tensor<1x2x1x16xf32>, %v: tensor<1x2x1x16xf32>, %p: index, %t0: tensor<2x16x16xf32>, %t1: tensor<16xf32>, %c0: tensor<1x2x8x8xi8>, %c1: tensor<1x2x8x8xi8>, %c2: tensor<1x2x8xf16>, %c3: tensor<1x2x8x1xf16>, %c4: tensor<1x2x8x1xf16>, %c5: tensor<1x2x8x1xf16>, %c6: tensor<1x2x8x1xi8>, %c7: tensor<1x2x1x16xf16>, %c8: tensor<1x2x1x16xf16>) {
  // expected-error @+1 {{expected 'key_outlier_indices' element type to be i8, i16 or i32, found 'f16'}}
  %r:9 = squant.kv_append #squant.kv_format<kvquant, bits = 4, sink = 1, outliers = 1> keys(%k : tensor<1x2x1x16xf32>) values(%v : tensor<1x2x1x16xf32>) at(%p) tables(%t0, %t1 : tensor<2x16x16xf32>, tensor<16xf32>) cache(%c0, %c1, %c2, %c3, %c4, %c5, %c6, %c7, %c8 : tensor<1x2x8x8xi8>, tensor<1x2x8x8xi8>, tensor<1x2x8xf16>, tensor<1x2x8x1xf16>, tensor<1x2x8x1xf16>, tensor<1x2x8x1xf16>, tensor<1x2x8x1xi8>, tensor<1x2x1x16xf16>, tensor<1x2x1x16xf16>) -> tensor<1x2x8x8xi8>, tensor<1x2x8x8xi8>, tensor<1x2x8xf16>, tensor<1x2x8x1xf16>, tensor<1x2x8x1xf16>, tensor<1x2x8x1xf16>, tensor<1x2x8x1xi8>, tensor<1x2x1x16xf16>, tensor<1x2x1x16xf16>
  return
}

// -----

// i8 indices address at most 256 channels.
func.func @f(%k: tensor<1x2x1x512xf32>, %v: tensor<1x2x1x512xf32>, %p: index, %t0: tensor<2x512x16xf32>, %t1: tensor<16xf32>, %c0: tensor<1x2x8x256xi8>, %c1: tensor<1x2x8x256xi8>, %c2: tensor<1x2x8xf16>, %c3: tensor<1x2x8x1xf16>, %c4: tensor<1x2x8x1xi8>, %c5: tensor<1x2x8x1xf16>, %c6: tensor<1x2x8x1xi16>, %c7: tensor<1x2x1x512xf16>, %c8: tensor<1x2x1x512xf16>) {
  // expected-error @+1 {{expected 'key_outlier_indices' element type to hold channel indices below D = 512, found 'i8'}}
  %r:9 = squant.kv_append #squant.kv_format<kvquant, bits = 4, sink = 1, outliers = 1> keys(%k : tensor<1x2x1x512xf32>) values(%v : tensor<1x2x1x512xf32>) at(%p) tables(%t0, %t1 : tensor<2x512x16xf32>, tensor<16xf32>) cache(%c0, %c1, %c2, %c3, %c4, %c5, %c6, %c7, %c8 : tensor<1x2x8x256xi8>, tensor<1x2x8x256xi8>, tensor<1x2x8xf16>, tensor<1x2x8x1xf16>, tensor<1x2x8x1xi8>, tensor<1x2x8x1xf16>, tensor<1x2x8x1xi16>, tensor<1x2x1x512xf16>, tensor<1x2x1x512xf16>) -> tensor<1x2x8x256xi8>, tensor<1x2x8x256xi8>, tensor<1x2x8xf16>, tensor<1x2x8x1xf16>, tensor<1x2x8x1xi8>, tensor<1x2x8x1xf16>, tensor<1x2x8x1xi16>, tensor<1x2x1x512xf16>, tensor<1x2x1x512xf16>
  return
}

// -----

// kivi key scales: one row per group of G tokens.
func.func @f(%k: tensor<1x2x1x16xf32>, %v: tensor<1x2x1x16xf32>, %p: index, %c0: tensor<1x2x8x4xi8>, %c1: tensor<1x2x8x4xi8>, %c2: tensor<1x2x3x16xf16>, %c3: tensor<1x2x2x16xf16>, %c4: tensor<1x2x8x4xf16>, %c5: tensor<1x2x8x4xf16>, %c6: tensor<1x2x4x16xf16>, %c7: tensor<1x2x4x16xf16>) {
  // expected-error @+1 {{expected 'key_scale' of shape [Bt, H, (L-S)/G, D] = [1, 2, 2, 16], found [1, 2, 3, 16]}}
  %r:8 = squant.kv_append #squant.kv_format<kivi, bits = 2, group = 4, residual = 4> keys(%k : tensor<1x2x1x16xf32>) values(%v : tensor<1x2x1x16xf32>) at(%p) cache(%c0, %c1, %c2, %c3, %c4, %c5, %c6, %c7 : tensor<1x2x8x4xi8>, tensor<1x2x8x4xi8>, tensor<1x2x3x16xf16>, tensor<1x2x2x16xf16>, tensor<1x2x8x4xf16>, tensor<1x2x8x4xf16>, tensor<1x2x4x16xf16>, tensor<1x2x4x16xf16>) -> tensor<1x2x8x4xi8>, tensor<1x2x8x4xi8>, tensor<1x2x3x16xf16>, tensor<1x2x2x16xf16>, tensor<1x2x8x4xf16>, tensor<1x2x8x4xf16>, tensor<1x2x4x16xf16>, tensor<1x2x4x16xf16>
  return
}

// -----

// kivi value scales: one per group of G channels.
func.func @f(%k: tensor<1x2x1x16xf32>, %v: tensor<1x2x1x16xf32>, %p: index, %c0: tensor<1x2x8x4xi8>, %c1: tensor<1x2x8x4xi8>, %c2: tensor<1x2x2x16xf16>, %c3: tensor<1x2x2x16xf16>, %c4: tensor<1x2x8x16xf16>, %c5: tensor<1x2x8x4xf16>, %c6: tensor<1x2x4x16xf16>, %c7: tensor<1x2x4x16xf16>) {
  // expected-error @+1 {{expected 'value_scale' of shape [Bt, H, L, D/G] = [1, 2, 8, 4], found [1, 2, 8, 16]}}
  %r:8 = squant.kv_append #squant.kv_format<kivi, bits = 2, group = 4, residual = 4> keys(%k : tensor<1x2x1x16xf32>) values(%v : tensor<1x2x1x16xf32>) at(%p) cache(%c0, %c1, %c2, %c3, %c4, %c5, %c6, %c7 : tensor<1x2x8x4xi8>, tensor<1x2x8x4xi8>, tensor<1x2x2x16xf16>, tensor<1x2x2x16xf16>, tensor<1x2x8x16xf16>, tensor<1x2x8x4xf16>, tensor<1x2x4x16xf16>, tensor<1x2x4x16xf16>) -> tensor<1x2x8x4xi8>, tensor<1x2x8x4xi8>, tensor<1x2x2x16xf16>, tensor<1x2x2x16xf16>, tensor<1x2x8x16xf16>, tensor<1x2x8x4xf16>, tensor<1x2x4x16xf16>, tensor<1x2x4x16xf16>
  return
}

// -----

// The residual buffers hold R tokens.
func.func @f(%k: tensor<1x2x1x16xf32>, %v: tensor<1x2x1x16xf32>, %p: index, %c0: tensor<1x2x8x4xi8>, %c1: tensor<1x2x8x4xi8>, %c2: tensor<1x2x2x16xf16>, %c3: tensor<1x2x2x16xf16>, %c4: tensor<1x2x8x4xf16>, %c5: tensor<1x2x8x4xf16>, %c6: tensor<1x2x4x16xf16>, %c7: tensor<1x2x8x16xf16>) {
  // expected-error @+1 {{expected 'value_residual' of shape [Bt, H, R, D] = [1, 2, 4, 16], found [1, 2, 8, 16]}}
  %r:8 = squant.kv_append #squant.kv_format<kivi, bits = 2, group = 4, residual = 4> keys(%k : tensor<1x2x1x16xf32>) values(%v : tensor<1x2x1x16xf32>) at(%p) cache(%c0, %c1, %c2, %c3, %c4, %c5, %c6, %c7 : tensor<1x2x8x4xi8>, tensor<1x2x8x4xi8>, tensor<1x2x2x16xf16>, tensor<1x2x2x16xf16>, tensor<1x2x8x4xf16>, tensor<1x2x8x4xf16>, tensor<1x2x4x16xf16>, tensor<1x2x8x16xf16>) -> tensor<1x2x8x4xi8>, tensor<1x2x8x4xi8>, tensor<1x2x2x16xf16>, tensor<1x2x2x16xf16>, tensor<1x2x8x4xf16>, tensor<1x2x8x4xf16>, tensor<1x2x4x16xf16>, tensor<1x2x8x16xf16>
  return
}

// -----

// The sinks hold S tokens.
func.func @f(%k: tensor<1x2x1x16xf32>, %v: tensor<1x2x1x16xf32>, %p: index, %t0: tensor<2x16x16xf32>, %t1: tensor<16xf32>, %c0: tensor<1x2x8x8xi8>, %c1: tensor<1x2x8x8xi8>, %c2: tensor<1x2x8xf16>, %c3: tensor<1x2x8x1xf16>, %c4: tensor<1x2x8x1xi8>, %c5: tensor<1x2x8x1xf16>, %c6: tensor<1x2x8x1xi8>, %c7: tensor<1x2x1x16xf16>, %c8: tensor<1x2x2x16xf16>) {
  // expected-error @+1 {{expected 'value_sink' of shape [Bt, H, S, D] = [1, 2, 1, 16], found [1, 2, 2, 16]}}
  %r:9 = squant.kv_append #squant.kv_format<kvquant, bits = 4, sink = 1, outliers = 1> keys(%k : tensor<1x2x1x16xf32>) values(%v : tensor<1x2x1x16xf32>) at(%p) tables(%t0, %t1 : tensor<2x16x16xf32>, tensor<16xf32>) cache(%c0, %c1, %c2, %c3, %c4, %c5, %c6, %c7, %c8 : tensor<1x2x8x8xi8>, tensor<1x2x8x8xi8>, tensor<1x2x8xf16>, tensor<1x2x8x1xf16>, tensor<1x2x8x1xi8>, tensor<1x2x8x1xf16>, tensor<1x2x8x1xi8>, tensor<1x2x1x16xf16>, tensor<1x2x2x16xf16>) -> tensor<1x2x8x8xi8>, tensor<1x2x8x8xi8>, tensor<1x2x8xf16>, tensor<1x2x8x1xf16>, tensor<1x2x8x1xi8>, tensor<1x2x8x1xf16>, tensor<1x2x8x1xi8>, tensor<1x2x1x16xf16>, tensor<1x2x2x16xf16>
  return
}

// -----

// O outlier slots per token.
func.func @f(%k: tensor<1x2x1x16xf32>, %v: tensor<1x2x1x16xf32>, %p: index, %t0: tensor<2x16x16xf32>, %t1: tensor<16xf32>, %c0: tensor<1x2x8x8xi8>, %c1: tensor<1x2x8x8xi8>, %c2: tensor<1x2x8xf16>, %c3: tensor<1x2x8x2xf16>, %c4: tensor<1x2x8x1xi8>, %c5: tensor<1x2x8x1xf16>, %c6: tensor<1x2x8x1xi8>, %c7: tensor<1x2x1x16xf16>, %c8: tensor<1x2x1x16xf16>) {
  // expected-error @+1 {{expected 'key_outlier_values' of shape [Bt, H, L, O] = [1, 2, 8, 1], found [1, 2, 8, 2]}}
  %r:9 = squant.kv_append #squant.kv_format<kvquant, bits = 4, sink = 1, outliers = 1> keys(%k : tensor<1x2x1x16xf32>) values(%v : tensor<1x2x1x16xf32>) at(%p) tables(%t0, %t1 : tensor<2x16x16xf32>, tensor<16xf32>) cache(%c0, %c1, %c2, %c3, %c4, %c5, %c6, %c7, %c8 : tensor<1x2x8x8xi8>, tensor<1x2x8x8xi8>, tensor<1x2x8xf16>, tensor<1x2x8x2xf16>, tensor<1x2x8x1xi8>, tensor<1x2x8x1xf16>, tensor<1x2x8x1xi8>, tensor<1x2x1x16xf16>, tensor<1x2x1x16xf16>) -> tensor<1x2x8x8xi8>, tensor<1x2x8x8xi8>, tensor<1x2x8xf16>, tensor<1x2x8x2xf16>, tensor<1x2x8x1xi8>, tensor<1x2x8x1xf16>, tensor<1x2x8x1xi8>, tensor<1x2x1x16xf16>, tensor<1x2x1x16xf16>
  return
}

// -----

// kivi takes no tables.
func.func @f(%k: tensor<1x2x1x16xf32>, %v: tensor<1x2x1x16xf32>, %p: index, %t0: tensor<2x16x16xf32>, %t1: tensor<16xf32>, %c0: tensor<1x2x8x4xi8>, %c1: tensor<1x2x8x4xi8>, %c2: tensor<1x2x2x16xf16>, %c3: tensor<1x2x2x16xf16>, %c4: tensor<1x2x8x4xf16>, %c5: tensor<1x2x8x4xf16>, %c6: tensor<1x2x4x16xf16>, %c7: tensor<1x2x4x16xf16>) {
  // expected-error @+1 {{expected no tables for kivi, found 2}}
  %r:8 = squant.kv_append #squant.kv_format<kivi, bits = 2, group = 4, residual = 4> keys(%k : tensor<1x2x1x16xf32>) values(%v : tensor<1x2x1x16xf32>) at(%p) tables(%t0, %t1 : tensor<2x16x16xf32>, tensor<16xf32>) cache(%c0, %c1, %c2, %c3, %c4, %c5, %c6, %c7 : tensor<1x2x8x4xi8>, tensor<1x2x8x4xi8>, tensor<1x2x2x16xf16>, tensor<1x2x2x16xf16>, tensor<1x2x8x4xf16>, tensor<1x2x8x4xf16>, tensor<1x2x4x16xf16>, tensor<1x2x4x16xf16>) -> tensor<1x2x8x4xi8>, tensor<1x2x8x4xi8>, tensor<1x2x2x16xf16>, tensor<1x2x2x16xf16>, tensor<1x2x8x4xf16>, tensor<1x2x8x4xf16>, tensor<1x2x4x16xf16>, tensor<1x2x4x16xf16>
  return
}

// -----

// kvquant takes key and value tables.
func.func @f(%k: tensor<1x2x1x16xf32>, %v: tensor<1x2x1x16xf32>, %p: index, %t0: tensor<2x16x16xf32>, %c0: tensor<1x2x8x8xi8>, %c1: tensor<1x2x8x8xi8>, %c2: tensor<1x2x8xf16>) {
  // expected-error @+1 {{expected 2 tables (key_lut, value_lut) for kvquant, found 1}}
  %r:3 = squant.kv_append #squant.kv_format<kvquant, bits = 4> keys(%k : tensor<1x2x1x16xf32>) values(%v : tensor<1x2x1x16xf32>) at(%p) tables(%t0 : tensor<2x16x16xf32>) cache(%c0, %c1, %c2 : tensor<1x2x8x8xi8>, tensor<1x2x8x8xi8>, tensor<1x2x8xf16>) -> tensor<1x2x8x8xi8>, tensor<1x2x8x8xi8>, tensor<1x2x8xf16>
  return
}

// -----

// Key tables are per channel.
func.func @f(%k: tensor<1x2x1x16xf32>, %v: tensor<1x2x1x16xf32>, %p: index, %t0: tensor<2x16xf32>, %t1: tensor<16xf32>, %c0: tensor<1x2x8x8xi8>, %c1: tensor<1x2x8x8xi8>, %c2: tensor<1x2x8xf16>) {
  // expected-error @+1 {{expected 'key_lut' of rank 3 ([H, D, 2^B]), found rank 2}}
  %r:3 = squant.kv_append #squant.kv_format<kvquant, bits = 4> keys(%k : tensor<1x2x1x16xf32>) values(%v : tensor<1x2x1x16xf32>) at(%p) tables(%t0, %t1 : tensor<2x16xf32>, tensor<16xf32>) cache(%c0, %c1, %c2 : tensor<1x2x8x8xi8>, tensor<1x2x8x8xi8>, tensor<1x2x8xf16>) -> tensor<1x2x8x8xi8>, tensor<1x2x8x8xi8>, tensor<1x2x8xf16>
  return
}

// -----

// Key tables have 2^B entries.
func.func @f(%k: tensor<1x2x1x16xf32>, %v: tensor<1x2x1x16xf32>, %p: index, %t0: tensor<2x16x8xf32>, %t1: tensor<16xf32>, %c0: tensor<1x2x8x8xi8>, %c1: tensor<1x2x8x8xi8>, %c2: tensor<1x2x8xf16>) {
  // expected-error @+1 {{expected 'key_lut' of shape [H, D, 2^B] = [2, 16, 16], found [2, 16, 8]}}
  %r:3 = squant.kv_append #squant.kv_format<kvquant, bits = 4> keys(%k : tensor<1x2x1x16xf32>) values(%v : tensor<1x2x1x16xf32>) at(%p) tables(%t0, %t1 : tensor<2x16x8xf32>, tensor<16xf32>) cache(%c0, %c1, %c2 : tensor<1x2x8x8xi8>, tensor<1x2x8x8xi8>, tensor<1x2x8xf16>) -> tensor<1x2x8x8xi8>, tensor<1x2x8x8xi8>, tensor<1x2x8xf16>
  return
}

// -----

// Key tables are floats.
func.func @f(%k: tensor<1x2x1x16xf32>, %v: tensor<1x2x1x16xf32>, %p: index, %t0: tensor<2x16x16xi32>, %t1: tensor<16xf32>, %c0: tensor<1x2x8x8xi8>, %c1: tensor<1x2x8x8xi8>, %c2: tensor<1x2x8xf16>) {
  // expected-error @+1 {{expected 'key_lut' element type to be f16, bf16 or f32, found 'i32'}}
  %r:3 = squant.kv_append #squant.kv_format<kvquant, bits = 4> keys(%k : tensor<1x2x1x16xf32>) values(%v : tensor<1x2x1x16xf32>) at(%p) tables(%t0, %t1 : tensor<2x16x16xi32>, tensor<16xf32>) cache(%c0, %c1, %c2 : tensor<1x2x8x8xi8>, tensor<1x2x8x8xi8>, tensor<1x2x8xf16>) -> tensor<1x2x8x8xi8>, tensor<1x2x8x8xi8>, tensor<1x2x8xf16>
  return
}

// -----

// The value table is shared.
func.func @f(%k: tensor<1x2x1x16xf32>, %v: tensor<1x2x1x16xf32>, %p: index, %t0: tensor<2x16x16xf32>, %t1: tensor<2x16xf32>, %c0: tensor<1x2x8x8xi8>, %c1: tensor<1x2x8x8xi8>, %c2: tensor<1x2x8xf16>) {
  // expected-error @+1 {{expected 'value_lut' of rank 1 ([2^B]), found rank 2}}
  %r:3 = squant.kv_append #squant.kv_format<kvquant, bits = 4> keys(%k : tensor<1x2x1x16xf32>) values(%v : tensor<1x2x1x16xf32>) at(%p) tables(%t0, %t1 : tensor<2x16x16xf32>, tensor<2x16xf32>) cache(%c0, %c1, %c2 : tensor<1x2x8x8xi8>, tensor<1x2x8x8xi8>, tensor<1x2x8xf16>) -> tensor<1x2x8x8xi8>, tensor<1x2x8x8xi8>, tensor<1x2x8xf16>
  return
}

// -----

// The value table has 2^B entries.
func.func @f(%k: tensor<1x2x1x16xf32>, %v: tensor<1x2x1x16xf32>, %p: index, %t0: tensor<2x16x16xf32>, %t1: tensor<8xf32>, %c0: tensor<1x2x8x8xi8>, %c1: tensor<1x2x8x8xi8>, %c2: tensor<1x2x8xf16>) {
  // expected-error @+1 {{expected 'value_lut' of shape [2^B] = [16], found [8]}}
  %r:3 = squant.kv_append #squant.kv_format<kvquant, bits = 4> keys(%k : tensor<1x2x1x16xf32>) values(%v : tensor<1x2x1x16xf32>) at(%p) tables(%t0, %t1 : tensor<2x16x16xf32>, tensor<8xf32>) cache(%c0, %c1, %c2 : tensor<1x2x8x8xi8>, tensor<1x2x8x8xi8>, tensor<1x2x8xf16>) -> tensor<1x2x8x8xi8>, tensor<1x2x8x8xi8>, tensor<1x2x8xf16>
  return
}

// -----

// The value table is floats.
func.func @f(%k: tensor<1x2x1x16xf32>, %v: tensor<1x2x1x16xf32>, %p: index, %t0: tensor<2x16x16xf32>, %t1: tensor<16xi8>, %c0: tensor<1x2x8x8xi8>, %c1: tensor<1x2x8x8xi8>, %c2: tensor<1x2x8xf16>) {
  // expected-error @+1 {{expected 'value_lut' element type to be f16, bf16 or f32, found 'i8'}}
  %r:3 = squant.kv_append #squant.kv_format<kvquant, bits = 4> keys(%k : tensor<1x2x1x16xf32>) values(%v : tensor<1x2x1x16xf32>) at(%p) tables(%t0, %t1 : tensor<2x16x16xf32>, tensor<16xi8>) cache(%c0, %c1, %c2 : tensor<1x2x8x8xi8>, tensor<1x2x8x8xi8>, tensor<1x2x8xf16>) -> tensor<1x2x8x8xi8>, tensor<1x2x8x8xi8>, tensor<1x2x8xf16>
  return
}

// -----

// New tokens for every KV head.
func.func @f(%k: tensor<1x3x1x16xf32>, %v: tensor<1x3x1x16xf32>, %p: index, %t0: tensor<2x16x16xf32>, %t1: tensor<16xf32>, %c0: tensor<1x2x8x8xi8>, %c1: tensor<1x2x8x8xi8>, %c2: tensor<1x2x8xf16>) {
  // expected-error @+1 {{expected 'keys' of shape [Bt, H, n, D] = [1, 2, 1, 16], found [1, 3, 1, 16]}}
  %r:3 = squant.kv_append #squant.kv_format<kvquant, bits = 4> keys(%k : tensor<1x3x1x16xf32>) values(%v : tensor<1x3x1x16xf32>) at(%p) tables(%t0, %t1 : tensor<2x16x16xf32>, tensor<16xf32>) cache(%c0, %c1, %c2 : tensor<1x2x8x8xi8>, tensor<1x2x8x8xi8>, tensor<1x2x8xf16>) -> tensor<1x2x8x8xi8>, tensor<1x2x8x8xi8>, tensor<1x2x8xf16>
  return
}

// -----

// New keys are floats.
func.func @f(%k: tensor<1x2x1x16xi32>, %v: tensor<1x2x1x16xi32>, %p: index, %t0: tensor<2x16x16xf32>, %t1: tensor<16xf32>, %c0: tensor<1x2x8x8xi8>, %c1: tensor<1x2x8x8xi8>, %c2: tensor<1x2x8xf16>) {
  // expected-error @+1 {{expected 'keys' element type to be f16, bf16 or f32, found 'i32'}}
  %r:3 = squant.kv_append #squant.kv_format<kvquant, bits = 4> keys(%k : tensor<1x2x1x16xi32>) values(%v : tensor<1x2x1x16xi32>) at(%p) tables(%t0, %t1 : tensor<2x16x16xf32>, tensor<16xf32>) cache(%c0, %c1, %c2 : tensor<1x2x8x8xi8>, tensor<1x2x8x8xi8>, tensor<1x2x8xf16>) -> tensor<1x2x8x8xi8>, tensor<1x2x8x8xi8>, tensor<1x2x8xf16>
  return
}

// -----

// As many new values as keys.
func.func @f(%k: tensor<1x2x1x16xf32>, %v: tensor<1x2x2x16xf32>, %p: index, %t0: tensor<2x16x16xf32>, %t1: tensor<16xf32>, %c0: tensor<1x2x8x8xi8>, %c1: tensor<1x2x8x8xi8>, %c2: tensor<1x2x8xf16>) {
  // expected-error @+1 {{expected 'values' of the 'keys' shape [1, 2, 1, 16], found [1, 2, 2, 16]}}
  %r:3 = squant.kv_append #squant.kv_format<kvquant, bits = 4> keys(%k : tensor<1x2x1x16xf32>) values(%v : tensor<1x2x2x16xf32>) at(%p) tables(%t0, %t1 : tensor<2x16x16xf32>, tensor<16xf32>) cache(%c0, %c1, %c2 : tensor<1x2x8x8xi8>, tensor<1x2x8x8xi8>, tensor<1x2x8xf16>) -> tensor<1x2x8x8xi8>, tensor<1x2x8x8xi8>, tensor<1x2x8xf16>
  return
}

// -----

// Statically out of range: position + n > L.
func.func @f(%k: tensor<1x2x3x16xf32>, %v: tensor<1x2x3x16xf32>, %p: index, %t0: tensor<2x16x16xf32>, %t1: tensor<16xf32>, %c0: tensor<1x2x8x8xi8>, %c1: tensor<1x2x8x8xi8>, %c2: tensor<1x2x8xf16>) {
  %c6 = arith.constant 6 : index
  // expected-error @+1 {{'position' 6 + 3 new tokens exceeds the L = 8 token slots}}
  %r:3 = squant.kv_append #squant.kv_format<kvquant, bits = 4> keys(%k : tensor<1x2x3x16xf32>) values(%v : tensor<1x2x3x16xf32>) at(%c6) tables(%t0, %t1 : tensor<2x16x16xf32>, tensor<16xf32>) cache(%c0, %c1, %c2 : tensor<1x2x8x8xi8>, tensor<1x2x8x8xi8>, tensor<1x2x8xf16>) -> tensor<1x2x8x8xi8>, tensor<1x2x8x8xi8>, tensor<1x2x8xf16>
  return
}

// -----

// Statically out of range without overflowing: position INT64_MAX (a
// fuzzer finding: the check computed position + n).
func.func @f(%k: tensor<1x2x3x16xf32>, %v: tensor<1x2x3x16xf32>, %p: index, %t0: tensor<2x16x16xf32>, %t1: tensor<16xf32>, %c0: tensor<1x2x8x8xi8>, %c1: tensor<1x2x8x8xi8>, %c2: tensor<1x2x8xf16>) {
  %c6 = arith.constant 9223372036854775807 : index
  // expected-error @+1 {{'position' 9223372036854775807 + 3 new tokens exceeds the L = 8 token slots}}
  %r:3 = squant.kv_append #squant.kv_format<kvquant, bits = 4> keys(%k : tensor<1x2x3x16xf32>) values(%v : tensor<1x2x3x16xf32>) at(%c6) tables(%t0, %t1 : tensor<2x16x16xf32>, tensor<16xf32>) cache(%c0, %c1, %c2 : tensor<1x2x8x8xi8>, tensor<1x2x8x8xi8>, tensor<1x2x8xf16>) -> tensor<1x2x8x8xi8>, tensor<1x2x8x8xi8>, tensor<1x2x8xf16>
  return
}

// -----

// Negative position.
func.func @f(%k: tensor<1x2x1x16xf32>, %v: tensor<1x2x1x16xf32>, %p: index, %t0: tensor<2x16x16xf32>, %t1: tensor<16xf32>, %c0: tensor<1x2x8x8xi8>, %c1: tensor<1x2x8x8xi8>, %c2: tensor<1x2x8xf16>) {
  %cm = arith.constant -1 : index
  // expected-error @+1 {{expected a non-negative 'position', found -1}}
  %r:3 = squant.kv_append #squant.kv_format<kvquant, bits = 4> keys(%k : tensor<1x2x1x16xf32>) values(%v : tensor<1x2x1x16xf32>) at(%cm) tables(%t0, %t1 : tensor<2x16x16xf32>, tensor<16xf32>) cache(%c0, %c1, %c2 : tensor<1x2x8x8xi8>, tensor<1x2x8x8xi8>, tensor<1x2x8xf16>) -> tensor<1x2x8x8xi8>, tensor<1x2x8x8xi8>, tensor<1x2x8xf16>
  return
}

// -----

// Dequantized tokens are [Bt, H, n, D].
func.func @f(%s: index, %l: index, %t0: tensor<2x16x16xf32>, %t1: tensor<16xf32>, %c0: tensor<1x2x8x8xi8>, %c1: tensor<1x2x8x8xi8>, %c2: tensor<1x2x8xf16>, %ok: tensor<1x2x16xf32>, %ov: tensor<1x2x16xf32>) {
  // expected-error @+1 {{expected 'outs' of rank 4 ([Bt, H, n, D]), found rank 3}}
  %d:2 = squant.kv_dequantize #squant.kv_format<kvquant, bits = 4> tables(%t0, %t1 : tensor<2x16x16xf32>, tensor<16xf32>) cache(%c0, %c1, %c2 : tensor<1x2x8x8xi8>, tensor<1x2x8x8xi8>, tensor<1x2x8xf16>) start(%s) len(%l) outs(%ok, %ov : tensor<1x2x16xf32>, tensor<1x2x16xf32>) -> tensor<1x2x16xf32>, tensor<1x2x16xf32>
  return
}

// -----

// Keys and values for the same tokens.
func.func @f(%s: index, %l: index, %t0: tensor<2x16x16xf32>, %t1: tensor<16xf32>, %c0: tensor<1x2x8x8xi8>, %c1: tensor<1x2x8x8xi8>, %c2: tensor<1x2x8xf16>, %ok: tensor<1x2x4x16xf32>, %ov: tensor<1x2x5x16xf32>) {
  // expected-error @+1 {{expected both 'outs' to hold the same number of tokens, found 4 and 5}}
  %d:2 = squant.kv_dequantize #squant.kv_format<kvquant, bits = 4> tables(%t0, %t1 : tensor<2x16x16xf32>, tensor<16xf32>) cache(%c0, %c1, %c2 : tensor<1x2x8x8xi8>, tensor<1x2x8x8xi8>, tensor<1x2x8xf16>) start(%s) len(%l) outs(%ok, %ov : tensor<1x2x4x16xf32>, tensor<1x2x5x16xf32>) -> tensor<1x2x4x16xf32>, tensor<1x2x5x16xf32>
  return
}

// -----

// Statically out of range: start + n > L.
func.func @f(%s: index, %l: index, %t0: tensor<2x16x16xf32>, %t1: tensor<16xf32>, %c0: tensor<1x2x8x8xi8>, %c1: tensor<1x2x8x8xi8>, %c2: tensor<1x2x8xf16>, %ok: tensor<1x2x4x16xf32>, %ov: tensor<1x2x4x16xf32>) {
  %c5 = arith.constant 5 : index
  // expected-error @+1 {{'start' 5 + 4 dequantized tokens exceeds the L = 8 token slots}}
  %d:2 = squant.kv_dequantize #squant.kv_format<kvquant, bits = 4> tables(%t0, %t1 : tensor<2x16x16xf32>, tensor<16xf32>) cache(%c0, %c1, %c2 : tensor<1x2x8x8xi8>, tensor<1x2x8x8xi8>, tensor<1x2x8xf16>) start(%c5) len(%l) outs(%ok, %ov : tensor<1x2x4x16xf32>, tensor<1x2x4x16xf32>) -> tensor<1x2x4x16xf32>, tensor<1x2x4x16xf32>
  return
}

// -----

// Statically out of range: len > L.
func.func @f(%s: index, %l: index, %t0: tensor<2x16x16xf32>, %t1: tensor<16xf32>, %c0: tensor<1x2x8x8xi8>, %c1: tensor<1x2x8x8xi8>, %c2: tensor<1x2x8xf16>, %ok: tensor<1x2x4x16xf32>, %ov: tensor<1x2x4x16xf32>) {
  %c9 = arith.constant 9 : index
  // expected-error @+1 {{'len' 9 exceeds the L = 8 token slots}}
  %d:2 = squant.kv_dequantize #squant.kv_format<kvquant, bits = 4> tables(%t0, %t1 : tensor<2x16x16xf32>, tensor<16xf32>) cache(%c0, %c1, %c2 : tensor<1x2x8x8xi8>, tensor<1x2x8x8xi8>, tensor<1x2x8xf16>) start(%s) len(%c9) outs(%ok, %ov : tensor<1x2x4x16xf32>, tensor<1x2x4x16xf32>) -> tensor<1x2x4x16xf32>, tensor<1x2x4x16xf32>
  return
}

// -----

// Dequantized values are floats.
func.func @f(%s: index, %l: index, %t0: tensor<2x16x16xf32>, %t1: tensor<16xf32>, %c0: tensor<1x2x8x8xi8>, %c1: tensor<1x2x8x8xi8>, %c2: tensor<1x2x8xf16>, %ok: tensor<1x2x4x16xf32>, %ov: tensor<1x2x4x16xi32>) {
  // expected-error @+1 {{expected 'outs' element type to be f16, bf16 or f32, found 'i32'}}
  %d:2 = squant.kv_dequantize #squant.kv_format<kvquant, bits = 4> tables(%t0, %t1 : tensor<2x16x16xf32>, tensor<16xf32>) cache(%c0, %c1, %c2 : tensor<1x2x8x8xi8>, tensor<1x2x8x8xi8>, tensor<1x2x8xf16>) start(%s) len(%l) outs(%ok, %ov : tensor<1x2x4x16xf32>, tensor<1x2x4x16xi32>) -> tensor<1x2x4x16xf32>, tensor<1x2x4x16xi32>
  return
}

// -----

// Queries are [Bt, Hq, D].
func.func @f(%l: index, %p: index, %q: tensor<1x8x2x16xf32>, %t0: tensor<2x16x16xf32>, %t1: tensor<16xf32>, %c0: tensor<1x2x8x8xi8>, %c1: tensor<1x2x8x8xi8>, %c2: tensor<1x2x8xf16>, %o: tensor<1x8x16xf32>) {
  // expected-error @+1 {{expected 'query' of rank 3 ([Bt, Hq, D]), found rank 4}}
  %r = squant.kv_attention #squant.kv_format<kvquant, bits = 4> query(%q : tensor<1x8x2x16xf32>) len(%l) position(%p) tables(%t0, %t1 : tensor<2x16x16xf32>, tensor<16xf32>) cache(%c0, %c1, %c2 : tensor<1x2x8x8xi8>, tensor<1x2x8x8xi8>, tensor<1x2x8xf16>) rope(half) outs(%o : tensor<1x8x16xf32>) -> tensor<1x8x16xf32>
  return
}

// -----

// Queries are floats.
func.func @f(%l: index, %p: index, %q: tensor<1x8x16xi32>, %t0: tensor<2x16x16xf32>, %t1: tensor<16xf32>, %c0: tensor<1x2x8x8xi8>, %c1: tensor<1x2x8x8xi8>, %c2: tensor<1x2x8xf16>, %o: tensor<1x8x16xf32>) {
  // expected-error @+1 {{expected 'query' element type to be f16, bf16 or f32, found 'i32'}}
  %r = squant.kv_attention #squant.kv_format<kvquant, bits = 4> query(%q : tensor<1x8x16xi32>) len(%l) position(%p) tables(%t0, %t1 : tensor<2x16x16xf32>, tensor<16xf32>) cache(%c0, %c1, %c2 : tensor<1x2x8x8xi8>, tensor<1x2x8x8xi8>, tensor<1x2x8xf16>) rope(half) outs(%o : tensor<1x8x16xf32>) -> tensor<1x8x16xf32>
  return
}

// -----

// The output is floats.
func.func @f(%l: index, %p: index, %q: tensor<1x8x16xf32>, %t0: tensor<2x16x16xf32>, %t1: tensor<16xf32>, %c0: tensor<1x2x8x8xi8>, %c1: tensor<1x2x8x8xi8>, %c2: tensor<1x2x8xf16>, %o: tensor<1x8x16xi8>) {
  // expected-error @+1 {{expected 'outs' element type to be f16, bf16 or f32, found 'i8'}}
  %r = squant.kv_attention #squant.kv_format<kvquant, bits = 4> query(%q : tensor<1x8x16xf32>) len(%l) position(%p) tables(%t0, %t1 : tensor<2x16x16xf32>, tensor<16xf32>) cache(%c0, %c1, %c2 : tensor<1x2x8x8xi8>, tensor<1x2x8x8xi8>, tensor<1x2x8xf16>) rope(half) outs(%o : tensor<1x8x16xi8>) -> tensor<1x8x16xi8>
  return
}

// -----

// Static head dimension.
func.func @f(%l: index, %p: index, %q: tensor<1x8x?xf32>, %t0: tensor<2x16x16xf32>, %t1: tensor<16xf32>, %c0: tensor<1x2x8x8xi8>, %c1: tensor<1x2x8x8xi8>, %c2: tensor<1x2x8xf16>, %o: tensor<1x8x16xf32>) {
  // expected-error @+1 {{expected a static head dimension D ('query' dimension 2)}}
  %r = squant.kv_attention #squant.kv_format<kvquant, bits = 4> query(%q : tensor<1x8x?xf32>) len(%l) position(%p) tables(%t0, %t1 : tensor<2x16x16xf32>, tensor<16xf32>) cache(%c0, %c1, %c2 : tensor<1x2x8x8xi8>, tensor<1x2x8x8xi8>, tensor<1x2x8xf16>) rope(half) outs(%o : tensor<1x8x16xf32>) -> tensor<1x8x16xf32>
  return
}

// -----

// One output row per query head.
func.func @f(%l: index, %p: index, %q: tensor<1x8x16xf32>, %t0: tensor<2x16x16xf32>, %t1: tensor<16xf32>, %c0: tensor<1x2x8x8xi8>, %c1: tensor<1x2x8x8xi8>, %c2: tensor<1x2x8xf16>, %o: tensor<1x4x16xf32>) {
  // expected-error @+1 {{expected 'outs' of shape [Bt, Hq, D] = [1, 8, 16], found [1, 4, 16]}}
  %r = squant.kv_attention #squant.kv_format<kvquant, bits = 4> query(%q : tensor<1x8x16xf32>) len(%l) position(%p) tables(%t0, %t1 : tensor<2x16x16xf32>, tensor<16xf32>) cache(%c0, %c1, %c2 : tensor<1x2x8x8xi8>, tensor<1x2x8x8xi8>, tensor<1x2x8xf16>) rope(half) outs(%o : tensor<1x4x16xf32>) -> tensor<1x4x16xf32>
  return
}

// -----

// The batch of the cache.
func.func @f(%l: index, %p: index, %q: tensor<2x8x16xf32>, %t0: tensor<2x16x16xf32>, %t1: tensor<16xf32>, %c0: tensor<1x2x8x8xi8>, %c1: tensor<1x2x8x8xi8>, %c2: tensor<1x2x8xf16>, %o: tensor<2x8x16xf32>) {
  // expected-error @+1 {{expected 'query' dimension 0 to equal the cache batch Bt = 1, found 2}}
  %r = squant.kv_attention #squant.kv_format<kvquant, bits = 4> query(%q : tensor<2x8x16xf32>) len(%l) position(%p) tables(%t0, %t1 : tensor<2x16x16xf32>, tensor<16xf32>) cache(%c0, %c1, %c2 : tensor<1x2x8x8xi8>, tensor<1x2x8x8xi8>, tensor<1x2x8xf16>) rope(half) outs(%o : tensor<2x8x16xf32>) -> tensor<2x8x16xf32>
  return
}

// -----

// Grouped-query attention: Hq is a multiple of H.
func.func @f(%l: index, %p: index, %q: tensor<1x3x16xf32>, %t0: tensor<2x16x16xf32>, %t1: tensor<16xf32>, %c0: tensor<1x2x8x8xi8>, %c1: tensor<1x2x8x8xi8>, %c2: tensor<1x2x8xf16>, %o: tensor<1x3x16xf32>) {
  // expected-error @+1 {{expected the number of query heads Hq = 3 to be a positive multiple of the number of KV heads H = 2}}
  %r = squant.kv_attention #squant.kv_format<kvquant, bits = 4> query(%q : tensor<1x3x16xf32>) len(%l) position(%p) tables(%t0, %t1 : tensor<2x16x16xf32>, tensor<16xf32>) cache(%c0, %c1, %c2 : tensor<1x2x8x8xi8>, tensor<1x2x8x8xi8>, tensor<1x2x8xf16>) rope(half) outs(%o : tensor<1x3x16xf32>) -> tensor<1x3x16xf32>
  return
}

// -----

// A positive RoPE base.
func.func @f(%l: index, %p: index, %q: tensor<1x8x16xf32>, %t0: tensor<2x16x16xf32>, %t1: tensor<16xf32>, %c0: tensor<1x2x8x8xi8>, %c1: tensor<1x2x8x8xi8>, %c2: tensor<1x2x8xf16>, %o: tensor<1x8x16xf32>) {
  // expected-error @+1 {{expected a positive 'rope_theta', found 0}}
  %r = squant.kv_attention #squant.kv_format<kvquant, bits = 4> query(%q : tensor<1x8x16xf32>) len(%l) position(%p) tables(%t0, %t1 : tensor<2x16x16xf32>, tensor<16xf32>) cache(%c0, %c1, %c2 : tensor<1x2x8x8xi8>, tensor<1x2x8x8xi8>, tensor<1x2x8xf16>) rope(half) outs(%o : tensor<1x8x16xf32>) {rope_theta = 0.0 : f32} -> tensor<1x8x16xf32>
  return
}

// -----

// Statically out of range: len > L.
func.func @f(%l: index, %p: index, %q: tensor<1x8x16xf32>, %t0: tensor<2x16x16xf32>, %t1: tensor<16xf32>, %c0: tensor<1x2x8x8xi8>, %c1: tensor<1x2x8x8xi8>, %c2: tensor<1x2x8xf16>, %o: tensor<1x8x16xf32>) {
  %c9 = arith.constant 9 : index
  // expected-error @+1 {{'len' 9 exceeds the L = 8 token slots}}
  %r = squant.kv_attention #squant.kv_format<kvquant, bits = 4> query(%q : tensor<1x8x16xf32>) len(%c9) position(%p) tables(%t0, %t1 : tensor<2x16x16xf32>, tensor<16xf32>) cache(%c0, %c1, %c2 : tensor<1x2x8x8xi8>, tensor<1x2x8x8xi8>, tensor<1x2x8xf16>) rope(half) outs(%o : tensor<1x8x16xf32>) -> tensor<1x8x16xf32>
  return
}

// -----

// Negative query position.
func.func @f(%l: index, %p: index, %q: tensor<1x8x16xf32>, %t0: tensor<2x16x16xf32>, %t1: tensor<16xf32>, %c0: tensor<1x2x8x8xi8>, %c1: tensor<1x2x8x8xi8>, %c2: tensor<1x2x8xf16>, %o: tensor<1x8x16xf32>) {
  %cm = arith.constant -1 : index
  // expected-error @+1 {{expected a non-negative 'position', found -1}}
  %r = squant.kv_attention #squant.kv_format<kvquant, bits = 4> query(%q : tensor<1x8x16xf32>) len(%l) position(%cm) tables(%t0, %t1 : tensor<2x16x16xf32>, tensor<16xf32>) cache(%c0, %c1, %c2 : tensor<1x2x8x8xi8>, tensor<1x2x8x8xi8>, tensor<1x2x8xf16>) rope(half) outs(%o : tensor<1x8x16xf32>) -> tensor<1x8x16xf32>
  return
}

// -----

// Negative length.
func.func @f(%l: index, %p: index, %q: tensor<1x8x16xf32>, %t0: tensor<2x16x16xf32>, %t1: tensor<16xf32>, %c0: tensor<1x2x8x8xi8>, %c1: tensor<1x2x8x8xi8>, %c2: tensor<1x2x8xf16>, %o: tensor<1x8x16xf32>) {
  %cm = arith.constant -1 : index
  // expected-error @+1 {{expected a non-negative 'len', found -1}}
  %r = squant.kv_attention #squant.kv_format<kvquant, bits = 4> query(%q : tensor<1x8x16xf32>) len(%cm) position(%p) tables(%t0, %t1 : tensor<2x16x16xf32>, tensor<16xf32>) cache(%c0, %c1, %c2 : tensor<1x2x8x8xi8>, tensor<1x2x8x8xi8>, tensor<1x2x8xf16>) rope(half) outs(%o : tensor<1x8x16xf32>) -> tensor<1x8x16xf32>
  return
}
