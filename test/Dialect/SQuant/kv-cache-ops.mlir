// RUN: squant-opt %s | squant-opt | FileCheck %s
// RUN: squant-opt %s --mlir-print-op-generic | squant-opt | FileCheck %s

// Round trips of the KV-cache ops, in both formats, tensor and memref forms,
// with dynamic batch and token slots.

// KVQuant, LLaMA-7B shapes (32 heads x 128) at 3 bits, 2 outlier slots per
// vector and one sink token; batch 1, Lmax 4096; 4:1 grouped-query attention
// would use 8 KV heads, here H = Hq = 32.
// CHECK-LABEL: func @kvquant
func.func @kvquant(%k: tensor<1x32x1x128xf16>, %v: tensor<1x32x1x128xf16>, %pos: index,
                   %klut: tensor<32x128x8xf32>, %vlut: tensor<8xf32>,
                   %kc: tensor<1x32x4096x48xi8>, %vc: tensor<1x32x4096x48xi8>,
                   %vs: tensor<1x32x4096xf16>,
                   %kov: tensor<1x32x4096x2xf16>, %koi: tensor<1x32x4096x2xi8>,
                   %vov: tensor<1x32x4096x2xf16>, %voi: tensor<1x32x4096x2xi8>,
                   %ks: tensor<1x32x1x128xf16>, %vsk: tensor<1x32x1x128xf16>,
                   %q: tensor<1x32x128xf16>, %o: tensor<1x32x128xf32>,
                   %dk: tensor<1x32x16x128xf32>, %dv: tensor<1x32x16x128xbf16>)
    -> (tensor<1x32x128xf32>, tensor<1x32x16x128xf32>) {
  // CHECK: %[[C:.*]]:9 = squant.kv_append #squant.kv_format<kvquant, bits = 3, sink = 1, outliers = 2> keys(%{{.*}} : tensor<1x32x1x128xf16>) values(%{{.*}} : tensor<1x32x1x128xf16>) at(%{{.*}}) tables(%{{.*}}, %{{.*}} : tensor<32x128x8xf32>, tensor<8xf32>) cache({{.*}} : tensor<1x32x4096x48xi8>, tensor<1x32x4096x48xi8>, tensor<1x32x4096xf16>, tensor<1x32x4096x2xf16>, tensor<1x32x4096x2xi8>, tensor<1x32x4096x2xf16>, tensor<1x32x4096x2xi8>, tensor<1x32x1x128xf16>, tensor<1x32x1x128xf16>) -> tensor<1x32x4096x48xi8>, tensor<1x32x4096x48xi8>, tensor<1x32x4096xf16>
  %c:9 = squant.kv_append #squant.kv_format<kvquant, bits = 3, sink = 1, outliers = 2>
           keys(%k : tensor<1x32x1x128xf16>) values(%v : tensor<1x32x1x128xf16>) at(%pos)
           tables(%klut, %vlut : tensor<32x128x8xf32>, tensor<8xf32>)
           cache(%kc, %vc, %vs, %kov, %koi, %vov, %voi, %ks, %vsk
                 : tensor<1x32x4096x48xi8>, tensor<1x32x4096x48xi8>, tensor<1x32x4096xf16>,
                   tensor<1x32x4096x2xf16>, tensor<1x32x4096x2xi8>,
                   tensor<1x32x4096x2xf16>, tensor<1x32x4096x2xi8>,
                   tensor<1x32x1x128xf16>, tensor<1x32x1x128xf16>)
           -> tensor<1x32x4096x48xi8>, tensor<1x32x4096x48xi8>, tensor<1x32x4096xf16>,
              tensor<1x32x4096x2xf16>, tensor<1x32x4096x2xi8>,
              tensor<1x32x4096x2xf16>, tensor<1x32x4096x2xi8>,
              tensor<1x32x1x128xf16>, tensor<1x32x1x128xf16>
  %len = arith.constant 17 : index
  %last = arith.constant 16 : index
  // CHECK: squant.kv_attention #squant.kv_format<kvquant, bits = 3, sink = 1, outliers = 2> query(%{{.*}} : tensor<1x32x128xf16>) len(%{{.*}}) position(%{{.*}}) tables({{.*}}) cache(%[[C]]#0, %[[C]]#1, %[[C]]#2, %[[C]]#3, %[[C]]#4, %[[C]]#5, %[[C]]#6, %[[C]]#7, %[[C]]#8 : {{.*}}) rope(half) outs(%{{.*}} : tensor<1x32x128xf32>) {rope_theta = 5.000000e+05 : f32, scale = 1.250000e-01 : f32} -> tensor<1x32x128xf32>
  %a = squant.kv_attention #squant.kv_format<kvquant, bits = 3, sink = 1, outliers = 2>
         query(%q : tensor<1x32x128xf16>) len(%len) position(%last)
         tables(%klut, %vlut : tensor<32x128x8xf32>, tensor<8xf32>)
         cache(%c#0, %c#1, %c#2, %c#3, %c#4, %c#5, %c#6, %c#7, %c#8
               : tensor<1x32x4096x48xi8>, tensor<1x32x4096x48xi8>, tensor<1x32x4096xf16>,
                 tensor<1x32x4096x2xf16>, tensor<1x32x4096x2xi8>,
                 tensor<1x32x4096x2xf16>, tensor<1x32x4096x2xi8>,
                 tensor<1x32x1x128xf16>, tensor<1x32x1x128xf16>)
         rope(half) outs(%o : tensor<1x32x128xf32>) {rope_theta = 5.0e5 : f32, scale = 0.125 : f32}
         -> tensor<1x32x128xf32>
  %c0 = arith.constant 0 : index
  // CHECK: squant.kv_dequantize #squant.kv_format<kvquant, bits = 3, sink = 1, outliers = 2> tables({{.*}}) cache({{.*}}) start(%{{.*}}) len(%{{.*}}) outs(%{{.*}}, %{{.*}} : tensor<1x32x16x128xf32>, tensor<1x32x16x128xbf16>) -> tensor<1x32x16x128xf32>, tensor<1x32x16x128xbf16>
  %d:2 = squant.kv_dequantize #squant.kv_format<kvquant, bits = 3, sink = 1, outliers = 2>
           tables(%klut, %vlut : tensor<32x128x8xf32>, tensor<8xf32>)
           cache(%c#0, %c#1, %c#2, %c#3, %c#4, %c#5, %c#6, %c#7, %c#8
                 : tensor<1x32x4096x48xi8>, tensor<1x32x4096x48xi8>, tensor<1x32x4096xf16>,
                   tensor<1x32x4096x2xf16>, tensor<1x32x4096x2xi8>,
                   tensor<1x32x4096x2xf16>, tensor<1x32x4096x2xi8>,
                   tensor<1x32x1x128xf16>, tensor<1x32x1x128xf16>)
           start(%c0) len(%len)
           outs(%dk, %dv : tensor<1x32x16x128xf32>, tensor<1x32x16x128xbf16>)
           -> tensor<1x32x16x128xf32>, tensor<1x32x16x128xbf16>
  return %a, %d#0 : tensor<1x32x128xf32>, tensor<1x32x16x128xf32>
}

// KIVI, 2 bits, G = 32, R = 128, dynamic batch and token slots, GQA 4:1,
// no sink, interleaved RoPE; the default rope_theta is not printed.
// CHECK-LABEL: func @kivi_dynamic
func.func @kivi_dynamic(%k: tensor<?x8x4x64xbf16>, %v: tensor<?x8x4x64xbf16>, %pos: index,
                        %kc: tensor<?x8x?x16xi8>, %vc: tensor<?x8x?x16xi8>,
                        %ksc: tensor<?x8x?x64xf16>, %kz: tensor<?x8x?x64xf16>,
                        %vsc: tensor<?x8x?x2xf16>, %vz: tensor<?x8x?x2xf16>,
                        %kr: tensor<?x8x128x64xf16>, %vr: tensor<?x8x128x64xf16>,
                        %q: tensor<?x32x64xf32>, %o: tensor<?x32x64xf16>) -> tensor<?x32x64xf16> {
  // CHECK: squant.kv_append #squant.kv_format<kivi, bits = 2, group = 32, residual = 128> keys(%{{.*}} : tensor<?x8x4x64xbf16>)
  %c:8 = squant.kv_append #squant.kv_format<kivi, bits = 2, group = 32, residual = 128>
           keys(%k : tensor<?x8x4x64xbf16>) values(%v : tensor<?x8x4x64xbf16>) at(%pos)
           cache(%kc, %vc, %ksc, %kz, %vsc, %vz, %kr, %vr
                 : tensor<?x8x?x16xi8>, tensor<?x8x?x16xi8>, tensor<?x8x?x64xf16>,
                   tensor<?x8x?x64xf16>, tensor<?x8x?x2xf16>, tensor<?x8x?x2xf16>,
                   tensor<?x8x128x64xf16>, tensor<?x8x128x64xf16>)
           -> tensor<?x8x?x16xi8>, tensor<?x8x?x16xi8>, tensor<?x8x?x64xf16>,
              tensor<?x8x?x64xf16>, tensor<?x8x?x2xf16>, tensor<?x8x?x2xf16>,
              tensor<?x8x128x64xf16>, tensor<?x8x128x64xf16>
  // CHECK: squant.kv_attention #squant.kv_format<kivi, bits = 2, group = 32, residual = 128> query(%{{.*}} : tensor<?x32x64xf32>) len(%{{.*}}) position(%{{.*}}) cache({{.*}}) rope(interleaved) outs(%{{.*}} : tensor<?x32x64xf16>) -> tensor<?x32x64xf16>
  %a = squant.kv_attention #squant.kv_format<kivi, bits = 2, group = 32, residual = 128>
         query(%q : tensor<?x32x64xf32>) len(%pos) position(%pos)
         cache(%c#0, %c#1, %c#2, %c#3, %c#4, %c#5, %c#6, %c#7
               : tensor<?x8x?x16xi8>, tensor<?x8x?x16xi8>, tensor<?x8x?x64xf16>,
                 tensor<?x8x?x64xf16>, tensor<?x8x?x2xf16>, tensor<?x8x?x2xf16>,
                 tensor<?x8x128x64xf16>, tensor<?x8x128x64xf16>)
         rope(interleaved) outs(%o : tensor<?x32x64xf16>) -> tensor<?x32x64xf16>
  return %a : tensor<?x32x64xf16>
}

// The memref form (after bufferization): no results, the cache written in
// place; kivi with a sink and 3-bit codes (D = 40: 15 bytes per token).
// CHECK-LABEL: func @memref_form
func.func @memref_form(%k: memref<2x1x1x40xf32>, %pos: index,
                       %kc: memref<2x1x64x15xi8>, %ksc: memref<2x1x15x40xf32>,
                       %vsc: memref<2x1x64x10xf32>, %ks: memref<2x1x4x40xf16>,
                       %kr: memref<2x1x8x40xf16>, %q: memref<2x2x40xf32>, %o: memref<2x2x40xf32>) {
  // CHECK: squant.kv_append #squant.kv_format<kivi, bits = 3, group = 4, sink = 4, residual = 8> keys(%{{.*}} : memref<2x1x1x40xf32>) values(%{{.*}} : memref<2x1x1x40xf32>) at(%{{.*}}) cache({{.*}} : memref<2x1x64x15xi8>, memref<2x1x64x15xi8>, memref<2x1x15x40xf32>, memref<2x1x15x40xf32>, memref<2x1x64x10xf32>, memref<2x1x64x10xf32>, memref<2x1x4x40xf16>, memref<2x1x4x40xf16>, memref<2x1x8x40xf16>, memref<2x1x8x40xf16>){{$}}
  squant.kv_append #squant.kv_format<kivi, bits = 3, group = 4, sink = 4, residual = 8>
    keys(%k : memref<2x1x1x40xf32>) values(%k : memref<2x1x1x40xf32>) at(%pos)
    cache(%kc, %kc, %ksc, %ksc, %vsc, %vsc, %ks, %ks, %kr, %kr
          : memref<2x1x64x15xi8>, memref<2x1x64x15xi8>, memref<2x1x15x40xf32>,
            memref<2x1x15x40xf32>, memref<2x1x64x10xf32>, memref<2x1x64x10xf32>,
            memref<2x1x4x40xf16>, memref<2x1x4x40xf16>, memref<2x1x8x40xf16>,
            memref<2x1x8x40xf16>)
  // CHECK: squant.kv_attention {{.*}} rope(none) outs(%{{.*}} : memref<2x2x40xf32>){{$}}
  squant.kv_attention #squant.kv_format<kivi, bits = 3, group = 4, sink = 4, residual = 8>
    query(%q : memref<2x2x40xf32>) len(%pos) position(%pos)
    cache(%kc, %kc, %ksc, %ksc, %vsc, %vsc, %ks, %ks, %kr, %kr
          : memref<2x1x64x15xi8>, memref<2x1x64x15xi8>, memref<2x1x15x40xf32>,
            memref<2x1x15x40xf32>, memref<2x1x64x10xf32>, memref<2x1x64x10xf32>,
            memref<2x1x4x40xf16>, memref<2x1x4x40xf16>, memref<2x1x8x40xf16>,
            memref<2x1x8x40xf16>)
    rope(none) outs(%o : memref<2x2x40xf32>)
  return
}
