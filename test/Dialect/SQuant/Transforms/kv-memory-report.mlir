// RUN: squant-opt %squant_src/examples/kv-cache/llama7b-memory.mlir --squant-kv-memory-report --mlir-print-op-on-diagnostic=false -o /dev/null 2>&1 | FileCheck %s --check-prefix=LLAMA
// RUN: squant-opt %s --squant-kv-memory-report --mlir-print-op-on-diagnostic=false 2>&1 | FileCheck %s
// RUN: squant-opt --help | FileCheck %s --check-prefix=HELP
// HELP: --squant-kv-memory-report {{.*}}- Report the memory of every KV cache: bytes per token per layer

// Bytes per token per layer for LLaMA-7B shapes (H = 32 KV heads, D = 128),
// computed by hand:
//   codes:     2 (K, V) * 32 * 128 * B / 8          = 1024 B   (2048/3072/4096)
//   scales:    32 heads * 2 B (f16)                 = 64
//   outliers:  1% of 128 -> 2 slots per vector; per K and V:
//              32 * 2 * 2 B (f16 values) = 128, 32 * 2 * 1 B (i8 indices) = 64
//   total:     2 bits 2048 + 64 + 384 = 2496, 3 bits 3520, 4 bits 4544
//   fp16:      2 * 32 * 128 * 2 = 16384; 16384 / 3520 = 4.65
//   tables:    32 * 128 * 2^B * 4 + 2^B * 4 (3 bits: 131104)
//   f32 values / i32 indices at 3 bits: 3072 + 64 + 4 * 256 = 4160
//   KIVI-2 (G = 32, R = 128): codes 2048, key scale/zero 32*128*2/32 = 256
//   each, value scale/zero 32*(128/32)*2 = 256 each -> 3072; residual
//   2 * 32 * 128 * 128 * 2 = 2097152 bytes per layer.
// LLAMA: remark: kv cache #squant.kv_format<kvquant, bits = 2, outliers = 2>, H = 32 KV heads x D = 128: 2496 bytes/token/layer (key_codes 1024, value_codes 1024, value_scale 64, key_outlier_values 128, key_outlier_indices 64, value_outlier_values 128, value_outlier_indices 64); fixed 0 bytes/layer; tables 65552 bytes/layer; fp16 cache 16384 bytes/token/layer (6.56x this cache)
// LLAMA: remark: kv cache #squant.kv_format<kvquant, bits = 3, outliers = 2>, H = 32 KV heads x D = 128: 3520 bytes/token/layer ({{.*}}); fixed 0 bytes/layer; tables 131104 bytes/layer; fp16 cache 16384 bytes/token/layer (4.65x this cache)
// LLAMA: remark: kv cache #squant.kv_format<kvquant, bits = 4, outliers = 2>, H = 32 KV heads x D = 128: 4544 bytes/token/layer ({{.*}}); fixed 0 bytes/layer; tables 262208 bytes/layer; fp16 cache 16384 bytes/token/layer (3.61x this cache)
// LLAMA: remark: kv cache #squant.kv_format<kvquant, bits = 3, outliers = 2>, H = 32 KV heads x D = 128: 4160 bytes/token/layer (key_codes 1536, value_codes 1536, value_scale 64, key_outlier_values 256, key_outlier_indices 256, value_outlier_values 256, value_outlier_indices 256)
// LLAMA: remark: kv cache #squant.kv_format<kivi, bits = 2, group = 32, residual = 128>, H = 32 KV heads x D = 128: 3072 bytes/token/layer (key_codes 1024, value_codes 1024, key_scale 256, key_zero 256, value_scale 256, value_zero 256); fixed 2097152 bytes/layer (key_residual 1048576, value_residual 1048576); tables 0 bytes/layer
// LLAMA-NOT: remark

// Sinks are fixed bytes; GQA (4 KV heads here) shrinks everything by H.
// CHECK: remark: kv cache #squant.kv_format<kvquant, bits = 4, sink = 2>, H = 4 KV heads x D = 64: 264 bytes/token/layer (key_codes 128, value_codes 128, value_scale 8); fixed 2048 bytes/layer (key_sink 1024, value_sink 1024); tables 16448 bytes/layer; fp16 cache 1024 bytes/token/layer (3.88x this cache)
func.func @sink(%q: tensor<1x16x64xf32>, %len: index, %kl: tensor<4x64x16xf32>, %vl: tensor<16xf32>,
                %kc: tensor<1x4x32x32xi8>, %vc: tensor<1x4x32x32xi8>, %vs: tensor<1x4x32xf16>,
                %ks: tensor<1x4x2x64xf16>, %vk: tensor<1x4x2x64xf16>, %o: tensor<1x16x64xf32>) -> tensor<1x16x64xf32> {
  %r = squant.kv_attention #squant.kv_format<kvquant, bits = 4, sink = 2>
         query(%q : tensor<1x16x64xf32>) len(%len) position(%len)
         tables(%kl, %vl : tensor<4x64x16xf32>, tensor<16xf32>)
         cache(%kc, %vc, %vs, %ks, %vk : tensor<1x4x32x32xi8>, tensor<1x4x32x32xi8>, tensor<1x4x32xf16>, tensor<1x4x2x64xf16>, tensor<1x4x2x64xf16>)
         rope(half) outs(%o : tensor<1x16x64xf32>) -> tensor<1x16x64xf32>
  return %r : tensor<1x16x64xf32>
}

// A dynamic number of KV heads cannot be accounted.
// CHECK: remark: kv cache #squant.kv_format<kivi, bits = 2, group = 8, residual = 8>: the number of KV heads is dynamic, no memory report
func.func @dynamic_heads(%k: tensor<1x?x1x16xf32>, %p: index,
                         %kc: tensor<1x?x8x4xi8>, %ks: tensor<1x?x1x16xf16>, %vs: tensor<1x?x8x2xf16>,
                         %r: tensor<1x?x8x16xf16>) {
  %c:8 = squant.kv_append #squant.kv_format<kivi, bits = 2, group = 8, residual = 8>
           keys(%k : tensor<1x?x1x16xf32>) values(%k : tensor<1x?x1x16xf32>) at(%p)
           cache(%kc, %kc, %ks, %ks, %vs, %vs, %r, %r : tensor<1x?x8x4xi8>, tensor<1x?x8x4xi8>, tensor<1x?x1x16xf16>, tensor<1x?x1x16xf16>, tensor<1x?x8x2xf16>, tensor<1x?x8x2xf16>, tensor<1x?x8x16xf16>, tensor<1x?x8x16xf16>)
           -> tensor<1x?x8x4xi8>, tensor<1x?x8x4xi8>, tensor<1x?x1x16xf16>, tensor<1x?x1x16xf16>, tensor<1x?x8x2xf16>, tensor<1x?x8x2xf16>, tensor<1x?x8x16xf16>, tensor<1x?x8x16xf16>
  return
}
