// RUN: squant-opt %s -split-input-file -verify-diagnostics

//===----------------------------------------------------------------------===//
// Tensor / memref forms (shared by every op)
//===----------------------------------------------------------------------===//

func.func @mixed_tensor_init(%c: memref<4x32xi4>, %l: tensor<4x16xf32>, %i: tensor<4x32xf32>) {
  // expected-error @+1 {{expected all operands to be tensors when 'outs' is a tensor, found operand #0 of type 'memref<4x32xi4>'}}
  %0 = squant.lut_dequant ins(%c, %l : memref<4x32xi4>, tensor<4x16xf32>) outs(%i : tensor<4x32xf32>) -> tensor<4x32xf32>
  return
}

// -----

func.func @mixed_memref_init(%c: tensor<4x32xi4>, %l: memref<4x16xf32>, %i: memref<4x32xf32>) {
  // expected-error @+1 {{expected all operands to be memrefs when 'outs' is a memref, found operand #0 of type 'tensor<4x32xi4>'}}
  squant.lut_dequant ins(%c, %l : tensor<4x32xi4>, memref<4x16xf32>) outs(%i : memref<4x32xf32>)
  return
}

// -----

func.func @tensor_form_without_result(%c: tensor<4x32xi4>, %l: tensor<4x16xf32>, %i: tensor<4x32xf32>) {
  // expected-error @+1 {{expected one result of the type of 'outs' when 'outs' is a tensor, found 0 results}}
  squant.lut_dequant ins(%c, %l : tensor<4x32xi4>, tensor<4x16xf32>) outs(%i : tensor<4x32xf32>)
  return
}

// -----

func.func @result_type_mismatch(%c: tensor<4x32xi4>, %l: tensor<4x16xf32>, %i: tensor<4x32xf32>) {
  // expected-error @+1 {{expected the result type to match the type of 'outs' 'tensor<4x32xf32>', found 'tensor<4x32xf16>'}}
  %0 = squant.lut_dequant ins(%c, %l : tensor<4x32xi4>, tensor<4x16xf32>) outs(%i : tensor<4x32xf32>) -> tensor<4x32xf16>
  return
}

// -----

func.func @memref_form_with_result(%c: memref<4x32xi4>, %l: memref<4x16xf32>, %i: memref<4x32xf32>) {
  // expected-error @+1 {{expected no results when 'outs' is a memref, found 1}}
  %0 = squant.lut_dequant ins(%c, %l : memref<4x32xi4>, memref<4x16xf32>) outs(%i : memref<4x32xf32>) -> tensor<4x32xf32>
  return
}

// -----

//===----------------------------------------------------------------------===//
// Codes and tables (lut_dequant, lut_matmul)
//===----------------------------------------------------------------------===//

func.func @codes_rank(%c: tensor<4x32x2xi4>, %l: tensor<4x16xf32>, %i: tensor<4x32xf32>) {
  // expected-error @+1 {{expected 'codes' of rank 2 ([N, K]), found rank 3}}
  %0 = squant.lut_dequant ins(%c, %l : tensor<4x32x2xi4>, tensor<4x16xf32>) outs(%i : tensor<4x32xf32>) -> tensor<4x32xf32>
  return
}

// -----

func.func @codes_too_wide(%c: tensor<4x32xi16>, %l: tensor<4x16xf32>, %i: tensor<4x32xf32>) {
  // expected-error @+1 {{expected 'codes' element type to be a signless integer of 2 to 8 bits, found 'i16'}}
  %0 = squant.lut_dequant ins(%c, %l : tensor<4x32xi16>, tensor<4x16xf32>) outs(%i : tensor<4x32xf32>) -> tensor<4x32xf32>
  return
}

// -----

func.func @codes_one_bit(%c: tensor<4x32xi1>, %l: tensor<4x2xf32>, %i: tensor<4x32xf32>) {
  // expected-error @+1 {{expected 'codes' element type to be a signless integer of 2 to 8 bits, found 'i1'}}
  %0 = squant.lut_dequant ins(%c, %l : tensor<4x32xi1>, tensor<4x2xf32>) outs(%i : tensor<4x32xf32>) -> tensor<4x32xf32>
  return
}

// -----

func.func @lut_not_float(%c: tensor<4x32xi4>, %l: tensor<4x16xi32>, %i: tensor<4x32xf32>) {
  // expected-error @+1 {{expected 'lut' element type to be f16, bf16 or f32, found 'i32'}}
  %0 = squant.lut_dequant ins(%c, %l : tensor<4x32xi4>, tensor<4x16xi32>) outs(%i : tensor<4x32xf32>) -> tensor<4x32xf32>
  return
}

// -----

func.func @lut_rank(%c: tensor<4x32xi4>, %l: tensor<4x2x2x16xf32>, %i: tensor<4x32xf32>) {
  // expected-error @+1 {{expected 'lut' of rank 1 ([2^B]), 2 ([N, 2^B]) or 3 ([N, K/G, 2^B]), found rank 4}}
  %0 = squant.lut_dequant ins(%c, %l : tensor<4x32xi4>, tensor<4x2x2x16xf32>) outs(%i : tensor<4x32xf32>) -> tensor<4x32xf32>
  return
}

// -----

func.func @lut_entries(%c: tensor<4x32xi3>, %l: tensor<4x16xf32>, %i: tensor<4x32xf32>) {
  // expected-error @+1 {{expected the last dimension of 'lut' to be 2^B = 8 for 'i3' codes, found 16}}
  %0 = squant.lut_dequant ins(%c, %l : tensor<4x32xi3>, tensor<4x16xf32>) outs(%i : tensor<4x32xf32>) -> tensor<4x32xf32>
  return
}

// -----

func.func @lut_channels(%c: tensor<4x32xi4>, %l: tensor<8x16xf32>, %i: tensor<4x32xf32>) {
  // expected-error @+1 {{expected 'lut' dimension 0 to equal N = 4 (codes dimension 0), found 8}}
  %0 = squant.lut_dequant ins(%c, %l : tensor<4x32xi4>, tensor<8x16xf32>) outs(%i : tensor<4x32xf32>) -> tensor<4x32xf32>
  return
}

// -----

func.func @lut_zero_groups(%c: tensor<4x32xi4>, %l: tensor<4x0x16xf32>, %i: tensor<4x32xf32>) {
  // expected-error @+1 {{expected a non-zero number of groups (lut dimension 1)}}
  %0 = squant.lut_dequant ins(%c, %l : tensor<4x32xi4>, tensor<4x0x16xf32>) outs(%i : tensor<4x32xf32>) -> tensor<4x32xf32>
  return
}

// -----

func.func @lut_groups_divide_k(%c: tensor<4x32xi4>, %l: tensor<4x3x16xf32>, %i: tensor<4x32xf32>) {
  // expected-error @+1 {{expected the number of groups (lut dimension 1) to divide K = 32, found 3}}
  %0 = squant.lut_dequant ins(%c, %l : tensor<4x32xi4>, tensor<4x3x16xf32>) outs(%i : tensor<4x32xf32>) -> tensor<4x32xf32>
  return
}

// -----

func.func @dequant_out_not_float(%c: tensor<4x32xi4>, %l: tensor<4x16xf32>, %i: tensor<4x32xi32>) {
  // expected-error @+1 {{expected 'outs' element type to be f16, bf16 or f32, found 'i32'}}
  %0 = squant.lut_dequant ins(%c, %l : tensor<4x32xi4>, tensor<4x16xf32>) outs(%i : tensor<4x32xi32>) -> tensor<4x32xi32>
  return
}

// -----

func.func @dequant_out_shape(%c: tensor<4x32xi4>, %l: tensor<4x16xf32>, %i: tensor<4x16xf32>) {
  // expected-error @+1 {{expected 'outs' of shape [N, K] = [4, 32], found [4, 16]}}
  %0 = squant.lut_dequant ins(%c, %l : tensor<4x32xi4>, tensor<4x16xf32>) outs(%i : tensor<4x16xf32>) -> tensor<4x16xf32>
  return
}

// -----

//===----------------------------------------------------------------------===//
// lut_matmul
//===----------------------------------------------------------------------===//

func.func @x_rank(%x: tensor<32xf32>, %c: tensor<4x32xi4>, %l: tensor<4x16xf32>, %i: tensor<1x4xf32>) {
  // expected-error @+1 {{expected 'x' of rank 2 ([M, K]), found rank 1}}
  %0 = squant.lut_matmul ins(%x, %c, %l : tensor<32xf32>, tensor<4x32xi4>, tensor<4x16xf32>) outs(%i : tensor<1x4xf32>) -> tensor<1x4xf32>
  return
}

// -----

func.func @x_not_float(%x: tensor<1x32xi8>, %c: tensor<4x32xi4>, %l: tensor<4x16xf32>, %i: tensor<1x4xf32>) {
  // expected-error @+1 {{expected 'x' element type to be f16, bf16 or f32, found 'i8'}}
  %0 = squant.lut_matmul ins(%x, %c, %l : tensor<1x32xi8>, tensor<4x32xi4>, tensor<4x16xf32>) outs(%i : tensor<1x4xf32>) -> tensor<1x4xf32>
  return
}

// -----

func.func @matmul_out_not_float(%x: tensor<1x32xf32>, %c: tensor<4x32xi4>, %l: tensor<4x16xf32>, %i: tensor<1x4xi32>) {
  // expected-error @+1 {{expected 'outs' element type to be f16, bf16 or f32, found 'i32'}}
  %0 = squant.lut_matmul ins(%x, %c, %l : tensor<1x32xf32>, tensor<4x32xi4>, tensor<4x16xf32>) outs(%i : tensor<1x4xi32>) -> tensor<1x4xi32>
  return
}

// -----

func.func @matmul_k_mismatch(%x: tensor<1x64xf32>, %c: tensor<4x32xi4>, %l: tensor<4x16xf32>, %i: tensor<1x4xf32>) {
  // expected-error @+1 {{expected 'x' dimension 1 (K) to equal codes dimension 1 = 32, found 64}}
  %0 = squant.lut_matmul ins(%x, %c, %l : tensor<1x64xf32>, tensor<4x32xi4>, tensor<4x16xf32>) outs(%i : tensor<1x4xf32>) -> tensor<1x4xf32>
  return
}

// -----

func.func @matmul_out_shape(%x: tensor<2x32xf32>, %c: tensor<4x32xi4>, %l: tensor<4x16xf32>, %i: tensor<4x2xf32>) {
  // expected-error @+1 {{expected 'outs' of shape [M, N] = [2, 4], found [4, 2]}}
  %0 = squant.lut_matmul ins(%x, %c, %l : tensor<2x32xf32>, tensor<4x32xi4>, tensor<4x16xf32>) outs(%i : tensor<4x2xf32>) -> tensor<4x2xf32>
  return
}

// -----

func.func @outliers_dense(%x: tensor<1x32xf32>, %c: tensor<4x32xi4>, %l: tensor<4x16xf32>, %s: tensor<4x32xf32>, %i: tensor<1x4xf32>) {
  // expected-error @+1 {{expected 'outliers' to be a sparse tensor with CSR encoding (identity map, dense then compressed levels), found 'tensor<4x32xf32>'}}
  %0 = squant.lut_matmul ins(%x, %c, %l : tensor<1x32xf32>, tensor<4x32xi4>, tensor<4x16xf32>) outliers(%s : tensor<4x32xf32>) outs(%i : tensor<1x4xf32>) -> tensor<1x4xf32>
  return
}

// -----

#CSC = #sparse_tensor.encoding<{map = (d0, d1) -> (d1 : dense, d0 : compressed)}>
func.func @outliers_csc(%x: tensor<1x32xf32>, %c: tensor<4x32xi4>, %l: tensor<4x16xf32>, %s: tensor<4x32xf32, #CSC>, %i: tensor<1x4xf32>) {
  // expected-error @+1 {{expected 'outliers' to be a sparse tensor with CSR encoding}}
  %0 = squant.lut_matmul ins(%x, %c, %l : tensor<1x32xf32>, tensor<4x32xi4>, tensor<4x16xf32>) outliers(%s : tensor<4x32xf32, #CSC>) outs(%i : tensor<1x4xf32>) -> tensor<1x4xf32>
  return
}

// -----

#CSR = #sparse_tensor.encoding<{map = (d0, d1) -> (d0 : dense, d1 : compressed)}>
func.func @outliers_shape(%x: tensor<1x32xf32>, %c: tensor<4x32xi4>, %l: tensor<4x16xf32>, %s: tensor<4x16xf32, #CSR>, %i: tensor<1x4xf32>) {
  // expected-error @+1 {{expected 'outliers' of shape [N, K] = [4, 32], found [4, 16]}}
  %0 = squant.lut_matmul ins(%x, %c, %l : tensor<1x32xf32>, tensor<4x32xi4>, tensor<4x16xf32>) outliers(%s : tensor<4x16xf32, #CSR>) outs(%i : tensor<1x4xf32>) -> tensor<1x4xf32>
  return
}

// -----

#CSR = #sparse_tensor.encoding<{map = (d0, d1) -> (d0 : dense, d1 : compressed)}>
func.func @outliers_not_float(%x: tensor<1x32xf32>, %c: tensor<4x32xi4>, %l: tensor<4x16xf32>, %s: tensor<4x32xi32, #CSR>, %i: tensor<1x4xf32>) {
  // expected-error @+1 {{expected 'outliers' element type to be f16, bf16 or f32, found 'i32'}}
  %0 = squant.lut_matmul ins(%x, %c, %l : tensor<1x32xf32>, tensor<4x32xi4>, tensor<4x16xf32>) outliers(%s : tensor<4x32xi32, #CSR>) outs(%i : tensor<1x4xf32>) -> tensor<1x4xf32>
  return
}

// -----

#CSR = #sparse_tensor.encoding<{map = (d0, d1) -> (d0 : dense, d1 : compressed)}>
func.func @outliers_memref_form(%x: memref<1x32xf32>, %c: memref<4x32xi4>, %l: memref<4x16xf32>, %s: tensor<4x32xf32, #CSR>, %i: memref<1x4xf32>) {
  // expected-error @+1 {{expected all operands to be memrefs when 'outs' is a memref, found operand #3}}
  squant.lut_matmul ins(%x, %c, %l : memref<1x32xf32>, memref<4x32xi4>, memref<4x16xf32>) outliers(%s : tensor<4x32xf32, #CSR>) outs(%i : memref<1x4xf32>)
  return
}

// -----

//===----------------------------------------------------------------------===//
// pack / unpack
//===----------------------------------------------------------------------===//

func.func @pack_codes_rank(%c: tensor<128xi4>, %p: tensor<16x1xi32>) {
  // expected-error @+1 {{expected 'codes' of rank 2 ([N, K]), found rank 1}}
  %0 = squant.pack squeezellm ins(%c : tensor<128xi4>) outs(%p : tensor<16x1xi32>) -> tensor<16x1xi32>
  return
}

// -----

func.func @pack_bits(%c: tensor<4x32xi5>, %p: tensor<5x4xi32>) {
  // expected-error @+1 {{expected 'codes' element type to be i2, i3, i4 or i8, found 'i5'}}
  %0 = squant.pack squeezellm ins(%c : tensor<4x32xi5>) outs(%p : tensor<5x4xi32>) -> tensor<5x4xi32>
  return
}

// -----

func.func @pack_words_rank(%c: tensor<4x32xi4>, %p: tensor<16xi32>) {
  // expected-error @+1 {{expected 'outs' of rank 2 ([K*B/32, N]), found rank 1}}
  %0 = squant.pack squeezellm ins(%c : tensor<4x32xi4>) outs(%p : tensor<16xi32>) -> tensor<16xi32>
  return
}

// -----

func.func @pack_words_type(%c: tensor<4x32xi4>, %p: tensor<4x4xi16>) {
  // expected-error @+1 {{expected 'outs' element type to be i32, found 'i16'}}
  %0 = squant.pack squeezellm ins(%c : tensor<4x32xi4>) outs(%p : tensor<4x4xi16>) -> tensor<4x4xi16>
  return
}

// -----

func.func @pack_squeezellm_k(%c: tensor<4x40xi3>, %p: tensor<4x4xi32>) {
  // expected-error @+1 {{squeezellm layout requires K * B to be a multiple of 32, found K = 40 with B = 3}}
  %0 = squant.pack squeezellm ins(%c : tensor<4x40xi3>) outs(%p : tensor<4x4xi32>) -> tensor<4x4xi32>
  return
}

// -----

func.func @pack_squeezellm_shape(%c: tensor<4x32xi3>, %p: tensor<4x3xi32>) {
  // expected-error @+1 {{expected 'outs' of shape [K*B/32, N] = [3, 4], found [4, 3]}}
  %0 = squant.pack squeezellm ins(%c : tensor<4x32xi3>) outs(%p : tensor<4x3xi32>) -> tensor<4x3xi32>
  return
}

// -----

func.func @pack_row_major_shape(%c: tensor<4x40xi3>, %p: tensor<4x3xi32>) {
  // expected-error @+1 {{expected 'outs' of shape [N, ceil(K*B/32)] = [4, 4], found [4, 3]}}
  %0 = squant.pack row_major ins(%c : tensor<4x40xi3>) outs(%p : tensor<4x3xi32>) -> tensor<4x3xi32>
  return
}

// -----

func.func @unpack_shape(%p: tensor<16x4xi32>, %c: tensor<4x32xi4>) {
  // expected-error @+1 {{expected 'packed' of shape [K*B/32, N] = [4, 4], found [16, 4]}}
  %0 = squant.unpack squeezellm ins(%p : tensor<16x4xi32>) outs(%c : tensor<4x32xi4>) -> tensor<4x32xi4>
  return
}

// -----

func.func @unknown_layout(%p: tensor<4x4xi32>, %c: tensor<4x32xi4>) {
  // expected-error @+1 {{expected string or keyword containing one of the following enum values for attribute 'layout' [squeezellm, row_major]}}
  %0 = squant.unpack column_major ins(%p : tensor<4x4xi32>) outs(%c : tensor<4x32xi4>) -> tensor<4x32xi4>
  return
}

// -----

//===----------------------------------------------------------------------===//
// build_lut
//===----------------------------------------------------------------------===//

func.func @lut_scale_not_float(%s: tensor<4xi32>, %i: tensor<4x16xf32>) {
  // expected-error @+1 {{expected 'scale' element type to be f16, bf16 or f32, found 'i32'}}
  %0 = squant.build_lut nf4 scale(%s : tensor<4xi32>) outs(%i : tensor<4x16xf32>) -> tensor<4x16xf32>
  return
}

// -----

func.func @lut_out_not_float(%s: tensor<4xf32>, %i: tensor<4x16xi8>) {
  // expected-error @+1 {{expected 'outs' element type to be f16, bf16 or f32, found 'i8'}}
  %0 = squant.build_lut nf4 scale(%s : tensor<4xf32>) outs(%i : tensor<4x16xi8>) -> tensor<4x16xi8>
  return
}

// -----

func.func @lut_scale_rank(%s: tensor<4x2x2xf32>, %i: tensor<4x2x2x16xf32>) {
  // expected-error @+1 {{expected 'scale' of rank 0, 1 or 2, found rank 3}}
  %0 = squant.build_lut nf4 scale(%s : tensor<4x2x2xf32>) outs(%i : tensor<4x2x2x16xf32>) -> tensor<4x2x2x16xf32>
  return
}

// -----

func.func @lut_out_rank(%s: tensor<4x2xf32>, %i: tensor<4x16xf32>) {
  // expected-error @+1 {{expected 'outs' of rank 3 (the scale shape plus the table), found rank 2}}
  %0 = squant.build_lut nf4 scale(%s : tensor<4x2xf32>) outs(%i : tensor<4x16xf32>) -> tensor<4x16xf32>
  return
}

// -----

func.func @lut_out_leading(%s: tensor<4x2xf32>, %i: tensor<4x3x16xf32>) {
  // expected-error @+1 {{expected the leading dimensions of 'outs' to match the 'scale' shape [4, 2], found [4, 3]}}
  %0 = squant.build_lut nf4 scale(%s : tensor<4x2xf32>) outs(%i : tensor<4x3x16xf32>) -> tensor<4x3x16xf32>
  return
}

// -----

func.func @affine_needs_zero(%s: tensor<4xf32>, %i: tensor<4x16xf32>) {
  // expected-error @+1 {{format 'affine' requires a 'zero' operand}}
  %0 = squant.build_lut affine scale(%s : tensor<4xf32>) outs(%i : tensor<4x16xf32>) -> tensor<4x16xf32>
  return
}

// -----

func.func @affine_entries(%s: tensor<4xf32>, %z: tensor<4xf32>, %i: tensor<4x12xf32>) {
  // expected-error @+1 {{expected 2^B table entries with 2 <= B <= 8 for format 'affine', found 12}}
  %0 = squant.build_lut affine scale(%s : tensor<4xf32>) zero(%z : tensor<4xf32>) outs(%i : tensor<4x12xf32>) -> tensor<4x12xf32>
  return
}

// -----

func.func @affine_zero_type(%s: tensor<4xf32>, %z: tensor<4xindex>, %i: tensor<4x16xf32>) {
  // expected-error @+1 {{expected 'zero' element type to be an integer or float, found 'index'}}
  %0 = squant.build_lut affine scale(%s : tensor<4xf32>) zero(%z : tensor<4xindex>) outs(%i : tensor<4x16xf32>) -> tensor<4x16xf32>
  return
}

// -----

func.func @affine_zero_shape(%s: tensor<4xf32>, %z: tensor<2xf32>, %i: tensor<4x16xf32>) {
  // expected-error @+1 {{expected 'zero' of the 'scale' shape [4], found [2]}}
  %0 = squant.build_lut affine scale(%s : tensor<4xf32>) zero(%z : tensor<2xf32>) outs(%i : tensor<4x16xf32>) -> tensor<4x16xf32>
  return
}

// -----

func.func @codebook_no_zero(%s: tensor<4xf32>, %z: tensor<4xf32>, %i: tensor<4x16xf32>) {
  // expected-error @+1 {{format 'fp4_e2m1' takes no 'zero' operand}}
  %0 = squant.build_lut fp4_e2m1 scale(%s : tensor<4xf32>) zero(%z : tensor<4xf32>) outs(%i : tensor<4x16xf32>) -> tensor<4x16xf32>
  return
}

// -----

func.func @codebook_entries(%s: tensor<4xf32>, %i: tensor<4x8xf32>) {
  // expected-error @+1 {{expected 16 table entries for format 'iq4_nl', found 8}}
  %0 = squant.build_lut iq4_nl scale(%s : tensor<4xf32>) outs(%i : tensor<4x8xf32>) -> tensor<4x8xf32>
  return
}

// -----

//===----------------------------------------------------------------------===//
// Dialect attributes
//===----------------------------------------------------------------------===//

// expected-error @+1 {{expected 'squant.name' on argument #0 to be a string, found 3 : i64}}
func.func @name_not_string(%x: tensor<4xf32> {squant.name = 3}) {
  return
}

// -----

// expected-error @+1 {{expected 'squant.host' on argument #1 to be a unit attribute, found "yes"}}
func.func @host_not_unit(%x: tensor<4xf32>, %p: memref<1xi32> {squant.host = "yes"}) {
  return
}

// -----

// expected-error @+1 {{unknown squant attribute 'squant.host' on result #0}}
func.func @host_on_result(%x: tensor<4xf32>) -> (tensor<4xf32> {squant.host}) {
  return %x : tensor<4xf32>
}

// -----

// expected-error @+1 {{unknown squant attribute 'squant.nmae' on result #0}}
func.func @unknown_attr(%x: tensor<4xf32>) -> (tensor<4xf32> {squant.nmae = "y"}) {
  return %x : tensor<4xf32>
}
