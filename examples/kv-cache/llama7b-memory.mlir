// LLaMA-7B attention shapes (32 heads x 128, no GQA, Lmax = 4096, batch 1)
// in several KV-cache formats, for the memory report:
//
//   squant-opt --squant-kv-memory-report --mlir-print-op-on-diagnostic=false \
//     examples/kv-cache/llama7b-memory.mlir -o /dev/null
//
// (docs/kv-cache.md has the resulting table; test/Dialect/SQuant/Transforms/
// kv-memory-report.mlir checks it.)

// KVQuant format, 2 bits, 1% outliers: ceil(0.01 * 128) = 2 slots per 128-channel
// vector (1.56%), fp16 outlier values with 8-bit channel indices, fp16 value scales.
func.func @kvquant_2bit(%q: tensor<1x32x128xf16>,
    %len: index,
    %t0: tensor<32x128x4xf32>,
    %t1: tensor<4xf32>,
    %c0: tensor<1x32x4096x32xi8>,
    %c1: tensor<1x32x4096x32xi8>,
    %c2: tensor<1x32x4096xf16>,
    %c3: tensor<1x32x4096x2xf16>,
    %c4: tensor<1x32x4096x2xi8>,
    %c5: tensor<1x32x4096x2xf16>,
    %c6: tensor<1x32x4096x2xi8>,
    %o: tensor<1x32x128xf32>)
    -> tensor<1x32x128xf32> {
  %r = squant.kv_attention #squant.kv_format<kvquant, bits = 2, outliers = 2>
         query(%q : tensor<1x32x128xf16>) len(%len) position(%len)
         tables(%t0, %t1 : tensor<32x128x4xf32>, tensor<4xf32>)
         cache(%c0, %c1, %c2, %c3, %c4, %c5, %c6
               : tensor<1x32x4096x32xi8>,
                 tensor<1x32x4096x32xi8>,
                 tensor<1x32x4096xf16>,
                 tensor<1x32x4096x2xf16>,
                 tensor<1x32x4096x2xi8>,
                 tensor<1x32x4096x2xf16>,
                 tensor<1x32x4096x2xi8>)
         rope(half) outs(%o : tensor<1x32x128xf32>) -> tensor<1x32x128xf32>
  return %r : tensor<1x32x128xf32>
}

// The same at 3 bits (compare with KVQuant's own layout: 3776 bytes/token/layer).
func.func @kvquant_3bit(%q: tensor<1x32x128xf16>,
    %len: index,
    %t0: tensor<32x128x8xf32>,
    %t1: tensor<8xf32>,
    %c0: tensor<1x32x4096x48xi8>,
    %c1: tensor<1x32x4096x48xi8>,
    %c2: tensor<1x32x4096xf16>,
    %c3: tensor<1x32x4096x2xf16>,
    %c4: tensor<1x32x4096x2xi8>,
    %c5: tensor<1x32x4096x2xf16>,
    %c6: tensor<1x32x4096x2xi8>,
    %o: tensor<1x32x128xf32>)
    -> tensor<1x32x128xf32> {
  %r = squant.kv_attention #squant.kv_format<kvquant, bits = 3, outliers = 2>
         query(%q : tensor<1x32x128xf16>) len(%len) position(%len)
         tables(%t0, %t1 : tensor<32x128x8xf32>, tensor<8xf32>)
         cache(%c0, %c1, %c2, %c3, %c4, %c5, %c6
               : tensor<1x32x4096x48xi8>,
                 tensor<1x32x4096x48xi8>,
                 tensor<1x32x4096xf16>,
                 tensor<1x32x4096x2xf16>,
                 tensor<1x32x4096x2xi8>,
                 tensor<1x32x4096x2xf16>,
                 tensor<1x32x4096x2xi8>)
         rope(half) outs(%o : tensor<1x32x128xf32>) -> tensor<1x32x128xf32>
  return %r : tensor<1x32x128xf32>
}

// The same at 4 bits.
func.func @kvquant_4bit(%q: tensor<1x32x128xf16>,
    %len: index,
    %t0: tensor<32x128x16xf32>,
    %t1: tensor<16xf32>,
    %c0: tensor<1x32x4096x64xi8>,
    %c1: tensor<1x32x4096x64xi8>,
    %c2: tensor<1x32x4096xf16>,
    %c3: tensor<1x32x4096x2xf16>,
    %c4: tensor<1x32x4096x2xi8>,
    %c5: tensor<1x32x4096x2xf16>,
    %c6: tensor<1x32x4096x2xi8>,
    %o: tensor<1x32x128xf32>)
    -> tensor<1x32x128xf32> {
  %r = squant.kv_attention #squant.kv_format<kvquant, bits = 4, outliers = 2>
         query(%q : tensor<1x32x128xf16>) len(%len) position(%len)
         tables(%t0, %t1 : tensor<32x128x16xf32>, tensor<16xf32>)
         cache(%c0, %c1, %c2, %c3, %c4, %c5, %c6
               : tensor<1x32x4096x64xi8>,
                 tensor<1x32x4096x64xi8>,
                 tensor<1x32x4096xf16>,
                 tensor<1x32x4096x2xf16>,
                 tensor<1x32x4096x2xi8>,
                 tensor<1x32x4096x2xf16>,
                 tensor<1x32x4096x2xi8>)
         rope(half) outs(%o : tensor<1x32x128xf32>) -> tensor<1x32x128xf32>
  return %r : tensor<1x32x128xf32>
}

// 3 bits with f32 outlier values and i32 indices, to show what the narrow
// outlier storage saves.
func.func @kvquant_3bit_wide_outliers(%q: tensor<1x32x128xf16>,
    %len: index,
    %t0: tensor<32x128x8xf32>,
    %t1: tensor<8xf32>,
    %c0: tensor<1x32x4096x48xi8>,
    %c1: tensor<1x32x4096x48xi8>,
    %c2: tensor<1x32x4096xf16>,
    %c3: tensor<1x32x4096x2xf32>,
    %c4: tensor<1x32x4096x2xi32>,
    %c5: tensor<1x32x4096x2xf32>,
    %c6: tensor<1x32x4096x2xi32>,
    %o: tensor<1x32x128xf32>)
    -> tensor<1x32x128xf32> {
  %r = squant.kv_attention #squant.kv_format<kvquant, bits = 3, outliers = 2>
         query(%q : tensor<1x32x128xf16>) len(%len) position(%len)
         tables(%t0, %t1 : tensor<32x128x8xf32>, tensor<8xf32>)
         cache(%c0, %c1, %c2, %c3, %c4, %c5, %c6
               : tensor<1x32x4096x48xi8>,
                 tensor<1x32x4096x48xi8>,
                 tensor<1x32x4096xf16>,
                 tensor<1x32x4096x2xf32>,
                 tensor<1x32x4096x2xi32>,
                 tensor<1x32x4096x2xf32>,
                 tensor<1x32x4096x2xi32>)
         rope(half) outs(%o : tensor<1x32x128xf32>) -> tensor<1x32x128xf32>
  return %r : tensor<1x32x128xf32>
}

// KIVI-2 (2 bits, G = 32, R = 128), fp16 scales and zero points.
func.func @kivi_2bit(%q: tensor<1x32x128xf16>,
    %len: index,
    %c0: tensor<1x32x4096x32xi8>,
    %c1: tensor<1x32x4096x32xi8>,
    %c2: tensor<1x32x128x128xf16>,
    %c3: tensor<1x32x128x128xf16>,
    %c4: tensor<1x32x4096x4xf16>,
    %c5: tensor<1x32x4096x4xf16>,
    %c6: tensor<1x32x128x128xf16>,
    %c7: tensor<1x32x128x128xf16>,
    %o: tensor<1x32x128xf32>)
    -> tensor<1x32x128xf32> {
  %r = squant.kv_attention #squant.kv_format<kivi, bits = 2, group = 32, residual = 128>
         query(%q : tensor<1x32x128xf16>) len(%len) position(%len)
         cache(%c0, %c1, %c2, %c3, %c4, %c5, %c6, %c7
               : tensor<1x32x4096x32xi8>,
                 tensor<1x32x4096x32xi8>,
                 tensor<1x32x128x128xf16>,
                 tensor<1x32x128x128xf16>,
                 tensor<1x32x4096x4xf16>,
                 tensor<1x32x4096x4xf16>,
                 tensor<1x32x128x128xf16>,
                 tensor<1x32x128x128xf16>)
         rope(half) outs(%o : tensor<1x32x128xf32>) -> tensor<1x32x128xf32>
  return %r : tensor<1x32x128xf32>
}
