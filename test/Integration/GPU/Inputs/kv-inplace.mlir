// kv_append on tensors where bufferization must decide between writing the
// cache in place and copying it: a loop-carried cache (in place), then an
// append whose old cache is still read afterwards (a copy). Used by
// emulate-kv-inplace.test.
#kvq = #squant.kv_format<kvquant, bits = 3, sink = 1, outliers = 1>
!c = tensor<1x2x12x6xi8>
!s = tensor<1x2x12xf16>
!o = tensor<1x2x12x1xf16>
!i = tensor<1x2x12x1xi8>
!k = tensor<1x2x1x16xf16>
func.func @case(%keys: tensor<1x2x6x16xf32> {squant.name = "keys"},
                %values: tensor<1x2x6x16xf32> {squant.name = "values"},
                %query: tensor<1x1x4x16xf32> {squant.name = "query"},
                %klut: tensor<2x16x8xf32> {squant.name = "key_lut"},
                %vlut: tensor<8xf32> {squant.name = "value_lut"})
    -> (!c {squant.name = "key_codes"}, !c {squant.name = "old_key_codes"},
        !s {squant.name = "value_scale"}, !o {squant.name = "key_outlier_values"},
        tensor<1x4x16xf32> {squant.name = "o_old"}, tensor<1x4x16xf32> {squant.name = "o"}) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c5 = arith.constant 5 : index
  %c6 = arith.constant 6 : index
  %z8 = arith.constant 0 : i8
  %zf = arith.constant 0.0 : f16
  %e0 = tensor.empty() : !c
  %kc = linalg.fill ins(%z8 : i8) outs(%e0 : !c) -> !c
  %e1 = tensor.empty() : !c
  %vc = linalg.fill ins(%z8 : i8) outs(%e1 : !c) -> !c
  %e2 = tensor.empty() : !s
  %vs = linalg.fill ins(%zf : f16) outs(%e2 : !s) -> !s
  %e3 = tensor.empty() : !o
  %kov = linalg.fill ins(%zf : f16) outs(%e3 : !o) -> !o
  %e4 = tensor.empty() : !i
  %koi = linalg.fill ins(%z8 : i8) outs(%e4 : !i) -> !i
  %e5 = tensor.empty() : !o
  %vov = linalg.fill ins(%zf : f16) outs(%e5 : !o) -> !o
  %e6 = tensor.empty() : !i
  %voi = linalg.fill ins(%z8 : i8) outs(%e6 : !i) -> !i
  %e7 = tensor.empty() : !k
  %ks = linalg.fill ins(%zf : f16) outs(%e7 : !k) -> !k
  %e8 = tensor.empty() : !k
  %vsk = linalg.fill ins(%zf : f16) outs(%e8 : !k) -> !k
  // Tokens 0..4, one per iteration: the cache is carried by the loop.
  %r:9 = scf.for %t = %c0 to %c5 step %c1
      iter_args(%a0 = %kc, %a1 = %vc, %a2 = %vs, %a3 = %kov, %a4 = %koi, %a5 = %vov, %a6 = %voi, %a7 = %ks, %a8 = %vsk)
      -> (!c, !c, !s, !o, !i, !o, !i, !k, !k) {
    %k1 = tensor.extract_slice %keys[0, 0, %t, 0] [1, 2, 1, 16] [1, 1, 1, 1] : tensor<1x2x6x16xf32> to tensor<1x2x1x16xf32>
    %v1 = tensor.extract_slice %values[0, 0, %t, 0] [1, 2, 1, 16] [1, 1, 1, 1] : tensor<1x2x6x16xf32> to tensor<1x2x1x16xf32>
    %u:9 = squant.kv_append #kvq keys(%k1 : tensor<1x2x1x16xf32>) values(%v1 : tensor<1x2x1x16xf32>) at(%t)
        tables(%klut, %vlut : tensor<2x16x8xf32>, tensor<8xf32>)
        cache(%a0, %a1, %a2, %a3, %a4, %a5, %a6, %a7, %a8 : !c, !c, !s, !o, !i, !o, !i, !k, !k)
        -> !c, !c, !s, !o, !i, !o, !i, !k, !k
    scf.yield %u#0, %u#1, %u#2, %u#3, %u#4, %u#5, %u#6, %u#7, %u#8 : !c, !c, !s, !o, !i, !o, !i, !k, !k
  }
  // Token 5: the cache before it is still read below (attention, result).
  %k5 = tensor.extract_slice %keys[0, 0, 5, 0] [1, 2, 1, 16] [1, 1, 1, 1] : tensor<1x2x6x16xf32> to tensor<1x2x1x16xf32>
  %v5 = tensor.extract_slice %values[0, 0, 5, 0] [1, 2, 1, 16] [1, 1, 1, 1] : tensor<1x2x6x16xf32> to tensor<1x2x1x16xf32>
  %n:9 = squant.kv_append #kvq keys(%k5 : tensor<1x2x1x16xf32>) values(%v5 : tensor<1x2x1x16xf32>) at(%c5)
      tables(%klut, %vlut : tensor<2x16x8xf32>, tensor<8xf32>)
      cache(%r#0, %r#1, %r#2, %r#3, %r#4, %r#5, %r#6, %r#7, %r#8 : !c, !c, !s, !o, !i, !o, !i, !k, !k)
      -> !c, !c, !s, !o, !i, !o, !i, !k, !k
  %q = tensor.extract_slice %query[0, 0, 0, 0] [1, 1, 4, 16] [1, 1, 1, 1] : tensor<1x1x4x16xf32> to tensor<1x4x16xf32>
  %oe = tensor.empty() : tensor<1x4x16xf32>
  %oold = squant.kv_attention #kvq query(%q : tensor<1x4x16xf32>) len(%c5) position(%c5)
      tables(%klut, %vlut : tensor<2x16x8xf32>, tensor<8xf32>)
      cache(%r#0, %r#1, %r#2, %r#3, %r#4, %r#5, %r#6, %r#7, %r#8 : !c, !c, !s, !o, !i, !o, !i, !k, !k)
      rope(half) outs(%oe : tensor<1x4x16xf32>) -> tensor<1x4x16xf32>
  %onew = squant.kv_attention #kvq query(%q : tensor<1x4x16xf32>) len(%c6) position(%c5)
      tables(%klut, %vlut : tensor<2x16x8xf32>, tensor<8xf32>)
      cache(%n#0, %n#1, %n#2, %n#3, %n#4, %n#5, %n#6, %n#7, %n#8 : !c, !c, !s, !o, !i, !o, !i, !k, !k)
      rope(half) outs(%oe : tensor<1x4x16xf32>) -> tensor<1x4x16xf32>
  return %n#0, %r#0, %n#2, %n#3, %oold, %onew : !c, !c, !s, !o, tensor<1x4x16xf32>, tensor<1x4x16xf32>
}
